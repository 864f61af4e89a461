//! The `podctl` binary's manifest commands as an operator runs them: exit codes, where the
//! diagnostics go, `PODCTL_MANIFESTS`, and the graph output (snapshot-tested).

use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

fn examples(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests/examples")
        .join(name)
}

fn podctl() -> Command {
    let mut cmd = Command::cargo_bin("podctl").expect("the podctl binary");
    // The operator's environment must not pick the directory for a test.
    cmd.env_remove("PODCTL_MANIFESTS").env_remove("RUST_LOG");
    cmd
}

#[test]
fn validate_exits_0_on_the_examples() {
    for example in ["production", "minimal"] {
        podctl()
            .args(["validate", "-f"])
            .arg(examples(example))
            .assert()
            .code(0)
            .stdout(predicate::str::contains(": valid: "))
            .stderr("");
    }
}

#[test]
fn validate_quiet_prints_nothing_when_valid() {
    podctl()
        .args(["validate", "--quiet", "-f"])
        .arg(examples("production"))
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
}

#[test]
fn validate_exits_2_with_file_line_col_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("app.yaml"),
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: nginx\n  colour: blue\n",
    )
    .expect("write");
    fs::write(dir.path().join("bad.yml"), "kind: Contaner\n").expect("write");
    let shown = dir.path().display().to_string();
    podctl()
        .args(["validate", "-f"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains(format!(
                "{shown}/app.yaml:6:3: unknown field `colour` in `spec`\n  hint: "
            ))
            .and(predicate::str::contains(format!(
                "{shown}/bad.yml:1:1: missing `apiVersion`"
            )))
            .and(predicate::str::contains(format!(
                "{shown}/bad.yml:1:7: unknown kind `Contaner`"
            )))
            .and(predicate::str::ends_with(
                "error: revision rejected: 3 errors in 2 files\n",
            )),
        );
}

#[test]
fn validate_exits_2_on_a_missing_directory_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    podctl()
        .args(["validate", "-f"])
        .arg(&missing)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::starts_with(format!(
            "error: cannot read manifest directory {}: No such file or directory",
            missing.display()
        )));
}

#[test]
fn validate_exits_2_when_given_a_file() {
    let file = examples("minimal").join("web.yaml");
    podctl()
        .args(["validate", "-f"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a directory"));
}

#[test]
fn podctl_manifests_env_is_honoured() {
    podctl()
        .arg("validate")
        .env("PODCTL_MANIFESTS", examples("production"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "5 objects in 2 files (5 documents)",
        ));
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("x.yaml"), "kind: Nope\n").expect("write");
    podctl()
        .arg("validate")
        .env("PODCTL_MANIFESTS", dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("x.yaml:1:1: missing `apiVersion`"));
    // `-f` wins over the environment.
    podctl()
        .args(["validate", "-f"])
        .arg(examples("minimal"))
        .env("PODCTL_MANIFESTS", dir.path())
        .assert()
        .code(0);
}

#[test]
fn graph_text_of_the_production_example() {
    let out = podctl()
        .args(["graph", "-f"])
        .arg(examples("production"))
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    insta::assert_snapshot!("graph_text", String::from_utf8(out).expect("utf-8"));
}

#[test]
fn graph_dot_of_the_production_example() {
    let out = podctl()
        .args(["graph", "--format", "dot", "-f"])
        .arg(examples("production"))
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("digraph"))
        .get_output()
        .stdout
        .clone();
    insta::assert_snapshot!("graph_dot", String::from_utf8(out).expect("utf-8"));
}

#[test]
fn graph_exits_2_on_an_invalid_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("x.yaml"), "kind: Nope\n").expect("write");
    podctl()
        .args(["graph", "-f"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stdout("");
}

#[test]
fn help_of_each_manifest_command_shows_examples() {
    for command in ["validate", "graph"] {
        podctl().args([command, "--help"]).assert().code(0).stdout(
            predicate::str::contains("Examples:").and(predicate::str::contains(format!(
                "podctl {command} -f ./manifests"
            ))),
        );
    }
}

#[test]
fn diff_json_of_an_invalid_revision_is_a_json_list_of_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("app.yaml"),
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: nginx\n  colour: blue\n",
    )
    .expect("write");
    let out = podctl()
        .args(["diff", "-o", "json", "-f"])
        .arg(dir.path())
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("stdout is JSON");
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["schemaVersion"], 1);
    let error = &doc["errors"][0];
    assert_eq!((&error["line"], &error["col"]), (&6.into(), &3.into()));
    assert!(
        error["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("app.yaml")),
        "{error}"
    );
    assert_eq!(error["message"], "unknown field `colour` in `spec`");
}

#[test]
fn validate_takes_the_directory_as_an_argument_too() {
    podctl()
        .arg("validate")
        .arg(examples("production"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("valid: 5 objects in 2 files"));
}

/// A file or directory name is anyone's text: a name carrying terminal escapes (set the
/// window title, clear the screen, a bidi override) is printed escaped, never raw.
#[test]
fn validate_should_escape_control_characters_in_file_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hostile = dir.path().join("x\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}");
    fs::create_dir(&hostile).expect("mkdir");
    fs::write(
        hostile.join("ok.yaml"),
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec: {image: nginx}\n",
    )
    .expect("write");
    let out = podctl()
        .args(["validate", "-f"])
        .arg(&hostile)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("x\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{202e}"),
        "{stdout}"
    );

    fs::write(hostile.join("bad\u{1b}[8m.yaml"), "kind: Contaner\n").expect("write");
    let out = podctl()
        .args(["validate", "-f"])
        .arg(&hostile)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad\\u{1b}[8m.yaml"), "{stderr}");
    for unsafe_char in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(
            !stderr.contains(unsafe_char),
            "raw {unsafe_char:?} in {stderr}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(unsafe_char),
            "raw {unsafe_char:?} on stdout"
        );
    }
}

#[test]
fn update_of_a_container_without_an_update_policy_exits_2_with_a_hint() {
    podctl()
        .args(["update", "--check", "postgresql", "nosuch", "-f"])
        .arg(examples("production"))
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("container/postgresql has update.policy none").and(
                predicate::str::contains("hint: set `update: {policy: registry}`"),
            ),
        );
    podctl()
        .args(["update", "--check", "nosuch", "-f"])
        .arg(examples("production"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "container/nosuch is not in the manifests",
        ));
}

#[test]
fn validate_hosts_checks_each_hosts_revision_and_objects_for_no_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manifests, hosts) = (dir.path().join("m"), dir.path().join("hosts"));
    fs::create_dir_all(&manifests).expect("mkdir");
    fs::create_dir_all(&hosts).expect("mkdir");
    fs::write(
        manifests.join("a.yaml"),
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata:\n  name: db\n  hosts: {selector: {role: dbb}}\nspec: {image: docker.io/library/postgres:16}\n---\napiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: app}\nspec:\n  image: docker.io/library/busybox:1\n  dependsOn: [web]\n---\napiVersion: podctl.io/v1\nkind: Container\nmetadata:\n  name: web\n  hosts: {names: [web-1]}\nspec: {image: docker.io/library/nginx:1}\n",
    )
    .expect("write");
    fs::write(
        hosts.join("web-1.yaml"),
        "name: web-1\nlabels: {role: web}\n",
    )
    .expect("write");
    fs::write(hosts.join("db-1.yaml"), "name: db-1\nlabels: {role: db}\n").expect("write");
    podctl()
        .arg("validate")
        .arg("--hosts")
        .arg(&hosts)
        .arg(&manifests)
        .env_remove("PODCTL_HOST_FILE")
        .assert()
        .code(2)
        .stdout(
            predicate::str::contains("host web-1")
                .and(predicate::str::contains("valid: 2 objects")),
        )
        .stderr(
            predicate::str::contains("host db-1")
                .and(predicate::str::contains(
                    "a.yaml:13:15: container `web` is not defined",
                ))
                .and(predicate::str::contains(
                    "a.yaml:5:3: container/db is for no host",
                )),
        );
}
