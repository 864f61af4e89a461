//! Diagnostics of backups: a Volume's `backup` and `BackupRepository` point at FILE:LINE:COL
//! and say what to do; a valid set loads with the graph edges volume -> repository -> secret.

mod common;

use common::Fixture;
use podctl_api::{Kind, Name, ObjectRef};

const GOOD: &str = "apiVersion: podctl.io/v1
kind: Secret
metadata: {name: restic-password}
spec: {source: {file: /etc/podctl/restic}}
---
apiVersion: podctl.io/v1
kind: BackupRepository
metadata: {name: main}
spec: {repository: /srv/backups/restic, passwordSecret: restic-password}
---
apiVersion: podctl.io/v1
kind: Volume
metadata: {name: data}
spec:
  backup:
    repository: main
    retention: {keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 6}
    consistency: stop
";

fn obj(kind: Kind, name: &str) -> ObjectRef {
    ObjectRef::new(kind, name.parse::<Name>().expect("name"))
}

#[test]
fn backup_manifests_should_load_with_edges_volume_repository_secret() {
    let fx = Fixture::new(&[("b.yaml", GOOD)]);
    let revision = fx.load().expect("valid");
    let graph = revision.graph();
    assert_eq!(
        graph.dependencies(&obj(Kind::Volume, "data")),
        [&obj(Kind::BackupRepository, "main")]
    );
    assert_eq!(
        graph.dependencies(&obj(Kind::BackupRepository, "main")),
        [&obj(Kind::Secret, "restic-password")]
    );
}

#[test]
fn backup_references_an_empty_schedule_and_empty_retention_should_be_reported_at_their_place() {
    let text = GOOD
        .replace(
            "passwordSecret: restic-password",
            "passwordSecret: restic-pasword",
        )
        .replace(
            "    repository: main\n",
            "    repository: mian\n    schedule: ''\n",
        )
        .replace(
            "{keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 6}",
            "{keepLast: 0}",
        );
    let fx = Fixture::new(&[("b.yaml", &text)]);
    assert_eq!(
        fx.errors(),
        [
            "b.yaml:9:57: secret `restic-pasword` is not defined in this revision",
            "b.yaml:16:17: backuprepository `mian` is not defined in this revision",
            "b.yaml:17:15: `backup.schedule` must be a systemd calendar expression on one line",
            "b.yaml:18:5: `backup.retention` sets no `keep*` rule above 0",
        ]
    );
    let hints = fx.hints();
    assert!(
        hints[0]
            .as_deref()
            .is_some_and(|h| h.contains("did you mean `restic-password`"))
    );
    assert!(
        hints[1]
            .as_deref()
            .is_some_and(|h| h.contains("did you mean `main`"))
    );
    assert!(
        hints[2]
            .as_deref()
            .is_some_and(|h| h.contains("systemd-analyze calendar"))
    );
}

#[test]
fn unknown_consistency_and_backup_before_should_be_rejected() {
    let text = GOOD.replace("consistency: stop", "consistency: pause")
        + "---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: app}
spec:
  image: docker.io/library/busybox:1
  update: {backupBefore: true}
";
    let fx = Fixture::new(&[("b.yaml", &text)]);
    let errors = fx.errors();
    assert!(errors.iter().any(|e| e == "b.yaml:18:18: spec.backup.consistency: unknown value `pause`; expected one of `stop`, `none`"), "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("b.yaml:25:12: `update.backupBefore` on container `app`, but none of its volumes has a `backup`")),
        "{errors:?}"
    );
}

const DB: &str = "---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: db}
spec:
  image: docker.io/library/busybox:1
  volumes: [{volume: data, path: /data}]
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: other}
spec:
  image: docker.io/library/busybox:1
";

#[test]
fn a_consistency_command_should_load_with_its_default_timeout() {
    let text = GOOD.replace(
        "consistency: stop",
        "consistency: {container: db, command: [sh, -c, 'echo dump > /data/dump']}",
    ) + DB;
    let fx = Fixture::new(&[("b.yaml", &text)]);
    let revision = fx.load().expect("valid");
    let volume = revision
        .get(&obj(Kind::Volume, "data"))
        .and_then(|o| o.as_volume())
        .and_then(|v| v.backup.clone())
        .expect("backup");
    let podctl_api::Consistency::Command(command) = volume.consistency else {
        panic!("not a command: {:?}", volume.consistency);
    };
    assert_eq!(command.container.as_str(), "db");
    assert_eq!(command.command, ["sh", "-c", "echo dump > /data/dump"]);
    assert_eq!(command.timeout.as_std().as_secs(), 600);
}

#[test]
fn a_consistency_command_should_name_a_container_that_mounts_the_volume() {
    let cases = [
        (
            "{container: other, command: [true]}",
            "b.yaml:18:30: container `other` does not mount volume `data`: what its command writes would not be in the backup",
        ),
        (
            "{container: dbb, command: [true]}",
            "b.yaml:18:30: container `dbb` is not defined in this revision",
        ),
        (
            "{container: db, command: []}",
            "b.yaml:18:34: `consistency.command` is empty",
        ),
        (
            "{container: db, command: [true], timeout: 0s}",
            "b.yaml:18:51: `consistency.timeout` is 0: the command would never be given time to run",
        ),
        (
            "{container: db, comand: [true]}",
            "b.yaml:18:34: unknown field `comand` in `spec.backup.consistency`",
        ),
    ];
    for (value, want) in cases {
        let text = GOOD.replace("consistency: stop", &format!("consistency: {value}")) + DB;
        let fx = Fixture::new(&[("b.yaml", &text)]);
        let errors = fx.errors();
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "{value}: {errors:?}"
        );
    }
}

#[test]
fn backup_before_should_load_on_a_container_with_a_backed_up_volume() {
    let text = GOOD.to_owned()
        + "---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: app}
spec:
  image: docker.io/library/busybox:1
  volumes: [{volume: data, path: /data}]
  update: {backupBefore: true}
";
    let fx = Fixture::new(&[("b.yaml", &text)]);
    let revision = fx.load().expect("valid");
    let app = revision
        .get(&obj(Kind::Container, "app"))
        .and_then(|o| o.as_container())
        .expect("app");
    assert!(app.update.backup_before);
}
