//! `podctl import` and `podctl export` as an operator runs them: what goes to stdout and
//! stderr, the files written, `.env` interpolation, and the exit codes (`--strict`).

use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

fn podctl() -> Command {
    let mut cmd = Command::cargo_bin("podctl").expect("the podctl binary");
    cmd.env_remove("PODCTL_MANIFESTS")
        .env_remove("RUST_LOG")
        .env_remove("COMPOSE_PROJECT_NAME");
    cmd
}

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compose")
        .join(name)
}

#[test]
fn import_compose_prints_manifests_and_warns_on_stderr_with_exit_0() {
    podctl()
        .args(["import", "compose"])
        .arg(corpus("08-wordpress-mysql.yaml"))
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("kind: Container")
                .and(predicate::str::contains("name: wordpress")),
        )
        .stderr(predicate::str::contains(
            "08-wordpress-mysql.yaml:13:5: warning: not mapped: `services.db.expose`",
        ));
}

#[test]
fn import_compose_strict_fails_with_2_and_writes_nothing() {
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("m");
    podctl()
        .args(["import", "compose", "--strict", "-o"])
        .arg(&target)
        .arg(corpus("08-wordpress-mysql.yaml"))
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "1 key not mapped (--strict); nothing was written",
        ));
    assert!(!target.exists());
}

#[test]
fn import_compose_writes_one_file_per_object_that_validate_accepts() {
    let out = tempfile::tempdir().expect("tempdir");
    podctl()
        .args(["import", "compose", "--strict", "-o"])
        .arg(out.path())
        .arg(corpus("01-webapp-postgres-redis.yaml"))
        .assert()
        .code(0)
        .stdout("")
        .stderr(predicate::str::contains(
            "6 manifests written (0 keys not mapped)",
        ));
    let mut names: Vec<String> = fs::read_dir(out.path())
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cache.container.yaml",
            "db.container.yaml",
            "pgdata.volume.yaml",
            "redisdata.volume.yaml",
            "shop-default.network.yaml",
            "web.container.yaml"
        ]
    );
    podctl()
        .args(["validate", "-f"])
        .arg(out.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("valid: 6 objects in 6 files"));
}

#[test]
fn import_compose_reads_dot_env_beside_the_file_and_the_environment_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  app:\n    image: ghcr.io/example/app:${TAG}\n    environment:\n      MODE: ${MODE:?set MODE}\n",
    )
    .expect("write");
    fs::write(dir.path().join(".env"), "TAG=1.2\nMODE=from-dotenv\n").expect("write");
    podctl()
        .args(["import", "compose"])
        .arg(dir.path().join("compose.yaml"))
        .env("MODE", "from-environment")
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("image: ghcr.io/example/app:1.2")
                .and(predicate::str::contains("MODE: from-environment")),
        );
    fs::write(dir.path().join(".env"), "TAG=1.2\n").expect("write");
    podctl()
        .args(["import", "compose"])
        .arg(dir.path().join("compose.yaml"))
        .env_remove("MODE")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "compose.yaml:5:13: required variable `MODE` is missing a value: set MODE",
        ));
}

#[test]
fn export_then_import_quadlet_gives_the_manifests_back() {
    let units = tempfile::tempdir().expect("tempdir");
    let examples =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples/production");
    podctl()
        .args(["export", "quadlet", "--podman-version", "5.0", "-f"])
        .arg(&examples)
        .arg("-o")
        .arg(units.path())
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "3 files written for podman 5.0 (4 fields not expressible in Quadlet)",
        ));
    assert!(units.path().join("myapp.container").is_file());
    let back = tempfile::tempdir().expect("tempdir");
    podctl()
        .args(["import", "quadlet", "--strict", "-o"])
        .arg(back.path())
        .arg(units.path())
        .assert()
        .code(0);
    let hash = |dir: &std::path::Path| {
        let out = podctl()
            .args(["validate", "-f"])
            .arg(dir)
            .output()
            .expect("validate");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.rsplit(' ')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(hash(back.path()), hash(&examples));
    podctl()
        .args([
            "export",
            "quadlet",
            "--strict",
            "--podman-version",
            "5.0",
            "-f",
        ])
        .arg(&examples)
        .arg("-o")
        .arg(units.path().join("strict"))
        .assert()
        .code(2);
    podctl()
        .args(["export", "quadlet", "--podman-version", "4.3", "-f"])
        .arg(&examples)
        .arg("-o")
        .arg(units.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("podman 4.3 has no Quadlet"));
}
