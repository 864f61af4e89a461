//! Planning a HostSettings: podctl's sysctl.d file and journald drop-in written (then
//! systemd-sysctl or journald restarted to apply them), each parameter read back from the
//! kernel. A parameter another sysctl.d file sets after podctl's is not fought over: the
//! object reports which file wins. A HostSettings that left the revision takes its files
//! with it.

use podctl_api::{HostSettingsSpec, Kind, Name, ObjectRef, Revision};

use super::{Action, Change, Step};
use crate::observe::Observed;
use crate::observe::host_settings::{HostSettingsStatus, OwnedFile, fold};
use crate::plan::reason::RepairReason;
use crate::render::host_settings::{journald_file, object_of, sysctl_file};

const SYSCTL_SERVICE: &str = "systemd-sysctl.service";
const JOURNALD_SERVICE: &str = "systemd-journald.service";

pub(super) fn plan(object: &ObjectRef, spec: &HostSettingsSpec, observed: &Observed) -> Step {
    let host = &observed.host_settings;
    if let Some(message) = unknown_keys(spec, host).or_else(|| foreign_files(host)) {
        return Step::new(object.clone(), Change::Error { message }, Vec::new());
    }
    let mut actions = Vec::new();
    let mut fields = Vec::new();
    let (sysctl, journald) = (
        sysctl_file(&object.name, spec),
        journald_file(&object.name, spec),
    );
    for (field, path, current, desired, service) in [
        (
            "sysctl",
            &host.sysctl_path,
            &host.sysctl_file,
            &sysctl,
            SYSCTL_SERVICE,
        ),
        (
            "journald",
            &host.journald_path,
            &host.journald_file,
            &journald,
            JOURNALD_SERVICE,
        ),
    ] {
        if converge_file(&mut actions, path, current.as_ref(), desired.as_deref()) {
            actions.push(Action::RestartUnit {
                unit: service.to_owned(),
            });
            fields.push(field.to_owned());
        }
    }
    if !fields.is_empty() {
        return Step::new(object.clone(), Change::Update { fields }, actions);
    }
    match drift(spec, host) {
        Drift::None => Step::new(object.clone(), Change::UpToDate, Vec::new()),
        Drift::Overridden(message) => {
            Step::new(object.clone(), Change::Conflict { message }, Vec::new())
        }
        Drift::Changed { key, value } => Step::new(
            object.clone(),
            Change::Repair {
                reason: RepairReason::SysctlChanged { key, value },
            },
            vec![Action::RestartUnit {
                unit: SYSCTL_SERVICE.to_owned(),
            }],
        ),
    }
}

/// A parameter this kernel does not have: an error, before anything is written (systemd-
/// sysctl would skip it and the object would never converge).
fn unknown_keys(spec: &HostSettingsSpec, host: &HostSettingsStatus) -> Option<String> {
    let unknown: Vec<&str> = spec
        .sysctl
        .keys()
        .filter(|k| host.values.get(*k).is_some_and(Option::is_none))
        .map(String::as_str)
        .collect();
    (!unknown.is_empty()).then(|| {
        format!(
            "this kernel has no sysctl {} (no such file under /proc/sys); check the name with `sysctl -a`",
            unknown.join(", ")
        )
    })
}

/// podctl's file names are taken by files it did not write.
fn foreign_files(host: &HostSettingsStatus) -> Option<String> {
    [
        (&host.sysctl_path, &host.sysctl_file),
        (&host.journald_path, &host.journald_file),
    ]
    .into_iter()
    .find(|(_, f)| f.as_ref().is_some_and(|f| !f.managed))
    .map(|(path, _)| {
        format!(
            "{} exists and podctl did not write it; move it away (podctl never overwrites a file it does not own)",
            path.display()
        )
    })
}

/// Pushes the write or removal that makes `path` hold `desired`; whether it changed.
fn converge_file(
    actions: &mut Vec<Action>,
    path: &std::path::Path,
    current: Option<&OwnedFile>,
    desired: Option<&str>,
) -> bool {
    match (current, desired) {
        (Some(f), Some(d)) if f.content == d => false,
        (_, Some(d)) => {
            actions.push(Action::WriteFile {
                path: path.to_owned(),
                content: d.to_owned(),
            });
            true
        }
        (Some(_), None) => {
            actions.push(Action::RemoveFile {
                path: path.to_owned(),
            });
            true
        }
        (None, None) => false,
    }
}

enum Drift {
    None,
    /// Another sysctl.d file, applied after podctl's, sets the parameter.
    Overridden(String),
    /// The kernel's value changed behind the files (`sysctl -w`): applying them again fixes it.
    Changed {
        key: String,
        value: String,
    },
}

fn drift(spec: &HostSettingsSpec, host: &HostSettingsStatus) -> Drift {
    for (key, want) in &spec.sysctl {
        let Some(Some(have)) = host.values.get(key) else {
            continue;
        };
        if *have == fold(want) {
            continue;
        }
        return match host.winners.get(key) {
            Some(winner) if *winner != host.sysctl_path => Drift::Overridden(format!(
                "sysctl {key} is {have}, not {want}: {} sets it and systemd-sysctl applies it after podctl's {}; remove the line there, or set the value you want in the manifest",
                winner.display(),
                host.sysctl_path.display()
            )),
            _ => Drift::Changed {
                key: key.clone(),
                value: have.clone(),
            },
        };
    }
    Drift::None
}

/// A HostSettings that left the revision: its files removed (and the services restarted so
/// the defaults apply again). The object is named by the files themselves.
pub(super) fn removals(revision: &Revision, observed: &Observed) -> Vec<Step> {
    if revision.of_kind(Kind::HostSettings).next().is_some() {
        return Vec::new();
    }
    let host = &observed.host_settings;
    let mut actions = Vec::new();
    let mut name = None;
    for (path, file, service) in [
        (&host.sysctl_path, &host.sysctl_file, SYSCTL_SERVICE),
        (&host.journald_path, &host.journald_file, JOURNALD_SERVICE),
    ] {
        let Some(file) = file.as_ref().filter(|f| f.managed) else {
            continue;
        };
        name = name.or_else(|| object_of(&file.content).and_then(|n| n.parse::<Name>().ok()));
        actions.push(Action::RemoveFile { path: path.clone() });
        actions.push(Action::RestartUnit {
            unit: service.to_owned(),
        });
    }
    match (name, actions.is_empty()) {
        (Some(name), false) => vec![Step::new(
            ObjectRef::new(Kind::HostSettings, name),
            Change::Delete,
            actions,
        )],
        _ => Vec::new(),
    }
}
