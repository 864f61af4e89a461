//! Parsing of podman 4.3 output captured on Debian 12, and the command runner against a fake
//! podman script.

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/podman");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

#[test]
fn version_should_parse_podman_4_3_client_version() {
    let v: PodmanVersion = serde_json::from_str(&fixture("version-4.3.json")).unwrap();
    assert_eq!(v.client.version, "4.3.1");
    assert_eq!(v.client.api_version, "4.3.1");
    assert_eq!(v.client_semver(), (4, 3, 1));
}

#[test]
fn client_semver_should_tolerate_suffixes() {
    let v: PodmanVersion =
        serde_json::from_str(r#"{"Client":{"Version":"5.2.0-dev"},"Server":{}}"#).unwrap();
    assert_eq!(v.client_semver(), (5, 2, 0));
}

#[test]
fn containers_should_parse_states_exit_codes_labels_and_health() {
    let cs: Vec<Container> = parse_list(&fixture("ps-4.3.json")).unwrap();
    let by_name = |n: &str| cs.iter().find(|c| c.name() == n).unwrap();

    let exited = by_name("fxexit");
    assert_eq!(exited.state, ContainerState::Exited);
    assert!(exited.exited);
    assert_eq!(exited.exit_code, 3);
    assert_eq!(exited.image, "127.0.0.1:5000/bb:v1");
    assert_eq!(exited.health(), None);

    let healthy = by_name("fxhealth");
    assert!(healthy.is_running());
    assert_eq!(healthy.health(), Some(Health::Healthy));

    let created = by_name("fxcreated");
    assert_eq!(created.state, ContainerState::Created);
    assert_eq!(
        created.labels.get("io.podctl.managed").map(String::as_str),
        Some("true")
    );
    assert_eq!(created.id.len(), 64);
}

#[test]
fn containers_should_accept_podman_5_shapes_with_nulls() {
    let cs: Vec<Container> = parse_list(
        r#"[{"Id":"abc","Names":["x"],"Image":"i","State":"running","Labels":null,
             "Created":1,"ExitCode":0,"Exited":false,"Status":"Up 1 second (starting)",
             "Networks":["podman"],"Mounts":null,"StartedAt":1,"CreatedAt":"1 second ago"}]"#,
    )
    .unwrap();
    assert!(cs[0].labels.is_empty());
    assert_eq!(cs[0].health(), Some(Health::Starting));
    let empty: Vec<Container> = parse_list("\n").unwrap();
    assert!(empty.is_empty());
}

#[test]
fn volumes_should_parse_labels_and_options() {
    let vs: Vec<Volume> = parse_list(&fixture("volume-ls-4.3.json")).unwrap();
    assert_eq!(vs.len(), 1);
    assert_eq!(vs[0].name, "fxvol");
    assert_eq!(vs[0].driver, "local");
    assert_eq!(vs[0].labels["io.podctl.name"], "fx");
    assert_eq!(vs[0].options["type"], "tmpfs");
}

#[test]
fn networks_should_parse_subnets_flags_and_missing_labels() {
    let ns: Vec<Network> = parse_list(&fixture("network-ls-4.3.json")).unwrap();
    let fx = ns.iter().find(|n| n.name == "fxnet").unwrap();
    assert_eq!(fx.driver, "bridge");
    assert!(fx.internal);
    assert!(!fx.ipv6_enabled);
    assert_eq!(fx.subnets[0].subnet, "10.89.77.0/24");
    assert_eq!(fx.subnets[0].gateway.as_deref(), Some("10.89.77.1"));
    assert_eq!(fx.labels["io.podctl.managed"], "true");
    // The default network has no "labels" key at all.
    let default = ns.iter().find(|n| n.name == "podman").unwrap();
    assert!(default.labels.is_empty());
}

#[test]
fn images_should_merge_podman_4_3_duplicate_entries_per_id() {
    let raw: Vec<Image> = parse_list(&fixture("images-4.3.json")).unwrap();
    assert_eq!(raw.len(), 4);
    let images = dedup_images(raw);
    assert_eq!(images.len(), 3, "{images:#?}");
    let bb = images
        .iter()
        .find(|i| i.names.iter().any(|n| n == "localhost/bb:v2"))
        .unwrap();
    assert!(bb.names.contains(&"localhost/bb:latest".to_owned()));
    assert!(bb.digest.starts_with("sha256:"));
    assert_eq!(bb.labels["org.opencontainers.image.version"], "v2");
    // A dangling image: "Names" and "RepoTags" are null.
    assert!(images.iter().any(|i| i.names.is_empty()));
}

#[test]
fn secrets_should_parse_inspect_with_labels() {
    let raw: Vec<types::SecretInspect> = parse_list(&fixture("secret-inspect-4.3.json")).unwrap();
    let secrets: Vec<Secret> = raw.into_iter().map(Secret::from).collect();
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].name, "fxsec");
    assert_eq!(secrets[0].driver, "file");
    assert_eq!(secrets[0].labels["io.podctl.managed"], "true");
    assert_eq!(secrets[0].id, fixture("secret-ls-ids-4.3.txt").trim());
}

#[test]
fn argv_should_quote_what_a_shell_would_split() {
    let argv = Argv(vec![
        "podman".into(),
        "secret".into(),
        "ls".into(),
        "--format".into(),
        "{{.ID}}".into(),
        "a b".into(),
        "it's".into(),
    ]);
    assert_eq!(
        argv.to_string(),
        r"podman secret ls --format {{.ID}} 'a b' 'it'\''s'"
    );
}

/// A fake podman that records its argv and stdin, then fails like podman does.
fn fake_podman(dir: &Path, exit: u8) -> Podman {
    use std::os::unix::fs::PermissionsExt as _;
    let script = dir.join("podman");
    let body = format!(
        "#!/bin/sh\necho \"$@\" > '{d}/argv'\ncat > '{d}/stdin'\necho 'Error: boom: no such thing' >&2\nexit {exit}\n",
        d = dir.display()
    );
    std::fs::write(&script, body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    Podman::with_program(script)
}

#[tokio::test]
async fn create_secret_should_pass_value_on_stdin_only() {
    let dir = tempfile::tempdir().unwrap();
    let podman = fake_podman(dir.path(), 125);
    let labels = Labels::from([("io.podctl.managed".to_owned(), "true".to_owned())]);
    let err = podman
        .create_secret("db-password", b"hunter2-value", &labels)
        .await
        .unwrap_err();

    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    assert_eq!(
        argv.trim(),
        "secret create --label io.podctl.managed=true db-password -"
    );
    assert_eq!(
        std::fs::read(dir.path().join("stdin")).unwrap(),
        b"hunter2-value"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("secret create"), "{shown}");
    assert!(shown.contains("Error: boom"), "{shown}");
    assert!(err.is_not_found());
}

#[tokio::test]
async fn failed_command_should_carry_argv_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let podman = fake_podman(dir.path(), 1);
    let err = podman.remove_volume("data").await.unwrap_err();
    let PodmanError::Failed { argv, stderr, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(argv.0[1..], ["volume", "rm", "data"]);
    assert!(stderr.contains("boom"));
    // image exists: exit 1 means "no", not an error.
    assert!(!podman.image_exists("x").await.unwrap());
}

#[tokio::test]
async fn missing_program_should_be_a_spawn_error_naming_it() {
    let podman = Podman::with_program("/nonexistent/podman");
    let err = podman.containers().await.unwrap_err();
    assert!(matches!(err, PodmanError::Spawn { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/podman ps --all"),
        "{err}"
    );
}

/// The API's shape of a container (`GET /libpod/containers/json`): `Created` as RFC 3339
/// text and the health word alone in `Status`.
#[test]
fn api_containers_should_parse_like_the_cli_ones() {
    let json = r#"[{"Created":"2026-12-02T14:49:58.913130194Z","Id":"dd78","Image":"localhost/bb:v1","ImageID":"929c","Labels":{"io.podctl.managed":"true"},"Names":["h1"],"Networks":["podman"],"State":"running","Status":"healthy","ExitCode":0,"Exited":false},
                   {"Created":"2026-12-02T14:49:58Z","Id":"ee11","Names":["plain"],"State":"exited","Status":"","ExitCode":3,"Exited":true}]"#;
    let cs: Vec<Container> = parse_list(json).unwrap();
    assert_eq!(cs[0].name(), "h1");
    assert!(cs[0].is_running());
    assert_eq!(cs[0].health(), Some(Health::Healthy));
    assert_eq!(cs[1].health(), None);
    assert_eq!(cs[1].exit_code, 3);
}
