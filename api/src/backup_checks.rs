//! Checks of backups: a volume's `backup` and a `BackupRepository` name objects that exist,
//! keep at least one snapshot, and ask for nothing podctl does not do yet.

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::kinds::{BackupRepositorySpec, Kind, Object, ObjectRef, Origin, VolumeSpec};
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
    if backup.schedule.is_some() {
        out.push(
            Diagnostic::new(
                origin.at_key(&[Key("spec"), Key("backup")], "schedule"),
                "`backup.schedule` is not supported yet: podctl does not render backup timers",
            )
            .with_hint(format!(
                "remove `schedule` and run `podctl backup run {} -f DIR` from a systemd timer of your own",
                object.name()
            )),
        );
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

/// `update.backupBefore: true`: reserved until the hook into updates exists.
pub(crate) fn backup_before_unsupported(origin: &Origin) -> Diagnostic {
    Diagnostic::new(
        origin.at_key(&[Key("spec"), Key("update")], "backupBefore"),
        "`update.backupBefore` is not supported yet: updates do not take snapshots",
    )
    .with_hint(
        "remove `backupBefore`, and run `podctl backup run VOLUME -f DIR` before an update by hand",
    )
}
