//! Checks of backups: a volume's `backup` and a `BackupRepository` name objects that exist,
//! keep at least one snapshot, schedule on one line and run a consistency command where its
//! output lands in the backup; `update.backupBefore` has a volume to back up.

use std::collections::HashMap;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::kinds::{
    BackupRepositorySpec, Consistency, ConsistencyCommand, ContainerSpec, Kind, Object, ObjectRef,
    Origin, VolumeBackup, VolumeSpec,
};
use crate::name::Name;
use crate::validate::{Declarations, suggestion};
use crate::yaml::PathStep::Key;

/// A reference at `path` to `kind/name` that no manifest declares.
fn missing(
    object: &Object,
    declared: &Declarations<'_>,
    kind: Kind,
    name: &Name,
    path: &[crate::yaml::PathStep<'_>],
) -> Option<Diagnostic> {
    if declared.contains_key(&ObjectRef::new(kind, name.clone())) {
        return None;
    }
    Some(
        Diagnostic::new(
            object.origin.at(path),
            format!(
                "{} `{name}` is not defined in this revision",
                kind.lowercase()
            ),
        )
        .with_hint(format!(
            "add a `kind: {kind}` manifest named `{name}`, or fix the name{}",
            suggestion(declared, kind, name)
        )),
    )
}

pub(crate) fn check_volume(
    object: &Object,
    v: &VolumeSpec,
    index: &HashMap<ObjectRef, &Object>,
    declared: &Declarations<'_>,
    out: &mut Diagnostics,
) {
    let Some(backup) = &v.backup else {
        return;
    };
    let origin = &object.origin;
    if let Some(d) = missing(
        object,
        declared,
        Kind::BackupRepository,
        &backup.repository,
        &[Key("spec"), Key("backup"), Key("repository")],
    ) {
        out.push(d);
    }
    check_schedule(object, backup, out);
    if let Consistency::Command(c) = &backup.consistency {
        check_command(object, c, index, declared, out);
    }
    if let Some(retention) = &backup.retention
        && retention.rules().iter().all(|(_, n)| *n == 0)
    {
        out.push(
            Diagnostic::new(
                origin.at_key(&[Key("spec"), Key("backup")], "retention"),
                "`backup.retention` sets no `keep*` rule above 0",
            )
            .with_hint("e.g. `retention: {keepDaily: 7, keepWeekly: 4}`, or remove `retention` to keep every snapshot"),
        );
    }
}

/// `schedule` goes into a timer's `OnCalendar=` line: one line of printable text. Whether
/// systemd understands the expression is told at apply (the timer does not load otherwise).
fn check_schedule(object: &Object, backup: &VolumeBackup, out: &mut Diagnostics) {
    let at = [Key("spec"), Key("backup")];
    match &backup.schedule {
        Some(s) if s.trim().is_empty() || s.chars().any(char::is_control) => out.push(
            Diagnostic::new(
                object.origin.at(&[Key("spec"), Key("backup"), Key("schedule")]),
                "`backup.schedule` must be a systemd calendar expression on one line",
            )
            .with_hint("e.g. `daily`, `*-*-* 03:00` or `Mon..Fri 22:30`; `systemd-analyze calendar EXPR` checks one"),
        ),
        Some(_) => {}
        None if backup.randomized_delay.is_some() => out.push(
            Diagnostic::new(
                object.origin.at_key(&at, "randomizedDelay"),
                "`backup.randomizedDelay` without `schedule`: there is no timer to delay",
            )
            .with_hint("add `schedule: daily` (or another calendar expression), or remove `randomizedDelay`"),
        ),
        None => {}
    }
}

/// `consistency: {container, command}`: a command to run, in a Container of the revision
/// that mounts this volume (or the command's output would not be in the backup).
fn check_command(
    object: &Object,
    c: &ConsistencyCommand,
    index: &HashMap<ObjectRef, &Object>,
    declared: &Declarations<'_>,
    out: &mut Diagnostics,
) {
    let at = [Key("spec"), Key("backup"), Key("consistency")];
    if c.command.is_empty() || c.command[0].trim().is_empty() {
        out.push(
            Diagnostic::new(
                object.origin.at_key(&at, "command"),
                "`consistency.command` is empty",
            )
            .with_hint("the program and its arguments, e.g. `command: [pg_dumpall, -f, /var/lib/postgresql/data/dump.sql]`"),
        );
    }
    if c.timeout.as_std().is_zero() {
        out.push(
            Diagnostic::new(
                object.origin.at_key(&at, "timeout"),
                "`consistency.timeout` is 0: the command would never be given time to run",
            )
            .with_hint("give the command time, e.g. `timeout: 10m` (the default)"),
        );
    }
    let mut container_at = at.to_vec();
    container_at.push(Key("container"));
    if let Some(d) = missing(
        object,
        declared,
        Kind::Container,
        &c.container,
        &container_at,
    ) {
        out.push(d);
        return;
    }
    let mounts = index
        .get(&ObjectRef::new(Kind::Container, c.container.clone()))
        .and_then(|o| o.as_container())
        .is_some_and(|spec| {
            spec.volumes
                .iter()
                .any(|m| m.volume.as_ref() == Some(object.name()))
        });
    if !mounts {
        out.push(
            Diagnostic::new(
                object.origin.at(&container_at),
                format!(
                    "container `{}` does not mount volume `{}`: what its command writes would not be in the backup",
                    c.container,
                    object.name()
                ),
            )
            .with_hint(format!(
                "name a container with `volumes: [{{volume: {}, path: ...}}]`",
                object.name()
            )),
        );
    }
}

pub(crate) fn check_repository(
    object: &Object,
    r: &BackupRepositorySpec,
    declared: &Declarations<'_>,
    out: &mut Diagnostics,
) {
    if r.repository.trim().is_empty() || r.repository.contains(|c: char| c.is_control()) {
        out.push(
            Diagnostic::new(
                object.origin.at(&[Key("spec"), Key("repository")]),
                "`repository` is empty or contains a control character",
            )
            .with_hint("a restic repository string, e.g. `/srv/backups/restic` or `sftp:backup@host:/srv/restic`"),
        );
    }
    if let Some(d) = missing(
        object,
        declared,
        Kind::Secret,
        &r.password_secret,
        &[Key("spec"), Key("passwordSecret")],
    ) {
        out.push(d);
    }
}

/// `update.backupBefore: true` backs up the container's volumes that have a `backup`; with
/// none of them, it would do nothing while the operator believes updates are covered.
pub(crate) fn backup_before_without_backup(
    origin: &Origin,
    c: &ContainerSpec,
    container: &Name,
    index: &HashMap<ObjectRef, &Object>,
) -> Option<Diagnostic> {
    let backed_up = c.volumes.iter().filter_map(|m| m.volume.as_ref()).any(|v| {
        index
            .get(&ObjectRef::new(Kind::Volume, v.clone()))
            .and_then(|o| o.as_volume())
            .is_some_and(|spec| spec.backup.is_some())
    });
    (!backed_up).then(|| {
        Diagnostic::new(
            origin.at_key(&[Key("spec"), Key("update")], "backupBefore"),
            format!(
                "`update.backupBefore` on container `{container}`, but none of its volumes has a `backup`: nothing would be backed up before an update"
            ),
        )
        .with_hint("give a mounted Volume `backup: {repository: NAME}`, or remove `backupBefore`")
    })
}
