//! Planner tests of volumes' backup schedules: the timer and its service written, enabled
//! and started; repaired when stopped; removed with the schedule or the volume.

use std::collections::BTreeMap;
use std::path::PathBuf;

use podctl_api::{Kind, ObjectRef, Revision};

use super::*;
use crate::observe::{
    ActiveState, LoadState, Observed, UnitFileOnDisk, UnitFileState, UnitStatus, VolumeStatus,
};
use crate::render::backup_timer::units;
use crate::render::labels;

const REPO: &str = "apiVersion: podctl.io/v1\nkind: Secret\nmetadata: {name: pw}\nspec:\n  source: {file: /etc/pw}\n---\napiVersion: podctl.io/v1\nkind: BackupRepository\nmetadata: {name: main}\nspec: {repository: /srv/restic, passwordSecret: pw}\n";
const SCHEDULED: &str = "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: data}\nspec:\n  backup: {repository: main, schedule: daily, consistency: none}\n";
const UNSCHEDULED: &str = "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: data}\nspec:\n  backup: {repository: main, consistency: none}\n";
const SERVICE: &str = "podctl-backup@data.service";
const TIMER: &str = "podctl-backup@data.timer";

fn revision(files: &[&str]) -> Revision {
    let named: Vec<(String, &str)> = files
        .iter()
        .enumerate()
        .map(|(i, text)| (format!("{i}.yaml"), *text))
        .collect();
    let pairs: Vec<(&str, &str)> = named.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    super::tests::revision(&pairs)
}

fn data() -> ObjectRef {
    ObjectRef::new(Kind::Volume, "data".parse().expect("name"))
}

/// The volume `data` exists (managed, retained); no backup units yet.
fn host_with_volume() -> Observed {
    let mut observed = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    let mut l: BTreeMap<String, String> = crate::ownership::mark_labels(Kind::Volume, "data", "x");
    l.insert(labels::RECLAIM.into(), "Retain".into());
    observed.volumes.insert(
        "data".into(),
        VolumeStatus {
            driver: "local".into(),
            labels: l,
            ..VolumeStatus::default()
        },
    );
    observed
}

/// `host_with_volume` after a perfect apply of `SCHEDULED`: both files, the timer enabled
/// and waiting.
fn scheduled_host() -> Observed {
    let mut observed = host_with_volume();
    let rev = revision(&[REPO, SCHEDULED]);
    let spec = rev
        .get(&data())
        .and_then(|o| o.as_volume())
        .expect("volume");
    let backup = spec.backup.as_ref().expect("backup");
    for (unit, content) in units(&data().name, backup, &RenderContext::default().backup) {
        observed.unit_files.insert(
            unit.clone(),
            UnitFileOnDisk {
                path: observed.unit_dir.join(&unit),
                content,
                managed: true,
            },
        );
    }
    observed.units.insert(
        TIMER.into(),
        UnitStatus {
            load_state: LoadState::Loaded,
            active_state: ActiveState::Active,
            sub_state: "waiting".into(),
            unit_file_state: UnitFileState::Enabled,
            ..UnitStatus::default()
        },
    );
    observed
}

fn shown(step: &Step) -> Vec<String> {
    step.actions.iter().map(ToString::to_string).collect()
}

#[test]
fn a_schedule_should_write_both_units_then_enable_and_start_the_timer() {
    let rev = revision(&[REPO, SCHEDULED]);
    let plan = plan(&rev, &host_with_volume(), &RenderContext::default());
    let step = plan.step(&data()).expect("volume step");
    assert_eq!(
        step.change,
        Change::Update {
            fields: vec!["backup.schedule".into()]
        }
    );
    assert_eq!(
        shown(step),
        [
            format!("write {SERVICE}"),
            format!("write {TIMER}"),
            format!("enable {TIMER}"),
            format!("start {TIMER}"),
        ]
    );
}

#[test]
fn a_converged_schedule_should_plan_nothing_and_a_stopped_timer_should_be_repaired() {
    let rev = revision(&[REPO, SCHEDULED]);
    let mut observed = scheduled_host();
    let plan = plan(&rev, &observed, &RenderContext::default());
    let step = plan.step(&data()).expect("volume step");
    assert!(step.is_noop(), "{step:#?}");

    observed.units.get_mut(TIMER).expect("timer").active_state = ActiveState::Inactive;
    let repaired = super::plan(&rev, &observed, &RenderContext::default());
    let step = repaired.step(&data()).expect("volume step");
    assert!(
        matches!(step.change, Change::Repair { .. }),
        "{:?}",
        step.change
    );
    assert_eq!(shown(step), [format!("start {TIMER}")]);
}

#[test]
fn a_new_schedule_should_restart_the_running_timer() {
    let rev = revision(&[REPO, &SCHEDULED.replace("daily", "weekly")]);
    let plan = plan(&rev, &scheduled_host(), &RenderContext::default());
    let step = plan.step(&data()).expect("volume step");
    assert_eq!(
        shown(step),
        [format!("write {TIMER}"), format!("restart {TIMER}")]
    );
}

#[test]
fn a_dropped_schedule_should_stop_disable_and_remove_both_units() {
    let rev = revision(&[REPO, UNSCHEDULED]);
    let plan = plan(&rev, &scheduled_host(), &RenderContext::default());
    let step = plan.step(&data()).expect("volume step");
    assert_eq!(
        shown(step),
        [
            format!("stop {TIMER}"),
            format!("disable {TIMER}"),
            format!("remove {TIMER}"),
            format!("remove {SERVICE}"),
        ]
    );
}

#[test]
fn a_retained_volume_that_left_should_keep_its_data_but_lose_its_timer_unless_not_pruning() {
    let rev = revision(&[REPO]);
    let plan = plan(&rev, &scheduled_host(), &RenderContext::default());
    let step = plan.step(&data()).expect("volume step");
    assert!(
        matches!(step.change, Change::Orphaned { .. }),
        "{:?}",
        step.change
    );
    assert!(
        shown(step).contains(&format!("remove {TIMER}")),
        "{step:#?}"
    );
    let kept = plan.without_pruning();
    assert!(kept.step(&data()).expect("volume step").actions.is_empty());
}

#[test]
fn a_foreign_unit_file_with_the_timer_name_should_be_a_conflict() {
    let rev = revision(&[REPO, SCHEDULED]);
    let mut observed = host_with_volume();
    observed.unit_files.insert(
        TIMER.into(),
        UnitFileOnDisk {
            path: observed.unit_dir.join(TIMER),
            content: String::new(),
            managed: false,
        },
    );
    let plan = plan(&rev, &observed, &RenderContext::default());
    let step = plan.step(&data()).expect("volume step");
    assert!(
        matches!(&step.change, Change::Conflict { message } if message.contains("does not manage")),
        "{:?}",
        step.change
    );
    assert!(step.actions.is_empty());
}
