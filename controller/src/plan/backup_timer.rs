//! Planning a volume's backup schedule: its two units (`render::backup_timer`) written,
//! the timer enabled and running; a schedule that left the manifest (or a volume that left
//! the revision) takes its units with it. The actions join the volume's own step, so `diff`
//! and `apply` show them under `volume/NAME`.

use std::collections::BTreeSet;

use podctl_api::{Kind, Name, ObjectRef, Revision, VolumeSpec};

use super::{Action, Change, Step};
use crate::observe::Observed;
use crate::plan::reason::RepairReason;
use crate::render::RenderContext;
use crate::render::backup_timer::{self, timer_name, volume_of};

/// Adds what `spec`'s schedule needs to the volume's `step`. A step that cannot go on (a
/// conflict, an immutable change) is left alone: its volume is not what the manifest says.
pub(super) fn attach(step: &mut Step, spec: &VolumeSpec, observed: &Observed, ctx: &RenderContext) {
    if matches!(step.change, Change::Conflict { .. } | Change::Error { .. }) {
        return;
    }
    let volume = &step.object.name;
    let desired = spec
        .backup
        .as_ref()
        .map(|b| backup_timer::units(volume, b, &ctx.backup))
        .unwrap_or_default();
    let (actions, change) = if desired.is_empty() {
        (removal(volume.as_str(), observed), None)
    } else {
        match converge(volume, &desired, observed) {
            Ok(done) => done,
            Err(message) => {
                step.change = Change::Conflict { message };
                step.actions.clear();
                return;
            }
        }
    };
    if actions.is_empty() {
        return;
    }
    if step.change == Change::UpToDate {
        step.change = change.unwrap_or_else(|| Change::Update {
            fields: vec!["backup.schedule".to_owned()],
        });
    }
    step.actions.extend(actions);
}

/// Writes what differs, enables and starts the timer. The change is an update of
/// `backup.schedule` when a file is new or different, a repair when only the timer's state
/// drifted (stopped or disabled by hand).
fn converge(
    volume: &Name,
    desired: &[(String, String)],
    observed: &Observed,
) -> Result<(Vec<Action>, Option<Change>), String> {
    let mut actions = Vec::new();
    for (unit, content) in desired {
        match observed.unit_files.get(unit) {
            Some(file) if !file.managed => {
                return Err(format!(
                    "{unit} exists in {} and podctl does not manage it; remove it or drop `backup.schedule` from volume {volume}",
                    observed.unit_dir.display()
                ));
            }
            Some(file) if &file.content == content => {}
            _ => actions.push(Action::WriteUnit {
                unit: unit.clone(),
                content: content.clone(),
            }),
        }
    }
    let written = !actions.is_empty();
    let timer = timer_name(volume.as_str());
    let status = observed.units.get(&timer);
    let mut repair = None;
    if !status.is_some_and(|s| s.is_enabled()) {
        actions.push(Action::EnableUnit {
            unit: timer.clone(),
        });
        repair = Some(RepairReason::NotEnabled);
    }
    match status {
        // A running timer whose file changed is restarted: its next elapse is computed
        // from the new schedule.
        Some(s) if s.is_running() && written => {
            actions.push(Action::RestartUnit { unit: timer });
        }
        Some(s) if s.is_running() => {}
        _ => {
            if let Some(s) = status {
                repair = repair.or(Some(RepairReason::UnitInactive(s.active_state.clone())));
            }
            actions.push(Action::StartUnit { unit: timer });
        }
    }
    let change = match (written, repair) {
        (false, Some(reason)) if status.is_some() => Some(Change::Repair { reason }),
        _ => None,
    };
    Ok((actions, change))
}

/// Stops and disables the timer and removes both files of `volume`'s schedule, if podctl
/// wrote them. A backup the service is running is let finish: only the timer is stopped.
fn removal(volume: &str, observed: &Observed) -> Vec<Action> {
    let mut units: Vec<&str> = managed_units(observed)
        .into_iter()
        .filter(|(_, v)| *v == volume)
        .map(|(unit, _)| unit)
        .collect();
    // The timer first: it must not start the service while that one's file goes.
    units.sort_by_key(|unit| !unit.ends_with(".timer"));
    let mut actions = Vec::new();
    for (unit, file) in units
        .into_iter()
        .filter_map(|unit| Some((unit, observed.unit_files.get(unit)?)))
    {
        let status = observed.units.get(unit);
        if unit.ends_with(".timer") {
            if status.is_some_and(|s| s.is_running()) {
                actions.push(Action::StopUnit {
                    unit: unit.to_owned(),
                });
            }
            if status.is_some_and(|s| s.is_enabled()) {
                actions.push(Action::DisableUnit {
                    unit: unit.to_owned(),
                });
            }
        }
        actions.push(Action::RemoveUnitFile {
            unit: unit.to_owned(),
            path: file.path.clone(),
        });
    }
    actions
}

/// podctl's backup unit files on disk, with their volume.
fn managed_units(observed: &Observed) -> Vec<(&str, &str)> {
    observed
        .unit_files
        .iter()
        .filter(|(_, f)| f.managed)
        .filter_map(|(unit, _)| Some((unit.as_str(), volume_of(unit)?)))
        .collect()
}

/// The schedules of volumes that left the revision: their units are removed with the
/// volume's removal step (deleted or orphaned: a retained volume keeps its data, not its
/// timer), or in a step of their own when podman has no such volume any more.
pub(super) fn removals(revision: &Revision, observed: &Observed, steps: &mut Vec<Step>) {
    let declared: BTreeSet<&str> = revision
        .of_kind(Kind::Volume)
        .map(|o| o.name().as_str())
        .collect();
    let gone: BTreeSet<&str> = managed_units(observed)
        .into_iter()
        .map(|(_, volume)| volume)
        .filter(|volume| !declared.contains(volume))
        .collect();
    for volume in gone {
        let Ok(name) = volume.parse::<Name>() else {
            continue;
        };
        let object = ObjectRef::new(Kind::Volume, name);
        let actions = removal(volume, observed);
        match steps.iter_mut().find(|s| s.object == object) {
            // Before the volume's own removal: the timer must not start a backup of a
            // volume that is being deleted.
            Some(step) => {
                step.actions.splice(0..0, actions);
            }
            None => steps.push(Step::new(object, Change::Delete, actions)),
        }
    }
}
