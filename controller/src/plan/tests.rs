//! Planner tests: a desired revision against hand-made observed states.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use podctl_api::{Diagnostics, Kind, ObjectRef, Revision, SourceFile, from_sources};

use super::*;
use crate::observe::{
    ActiveState, ContainerState, ContainerStatus, LoadState, Observed, UnitFileOnDisk,
    UnitFileState, UnitStatus,
};
use crate::render::labels;

pub(crate) const DB: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: db}\nspec:\n  image: localhost/bb:v1\n";
pub(crate) const APP: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: app}\nspec:\n  image: localhost/bb:v1\n  dependsOn: [db]\n  env: {MODE: one}\n";

pub(crate) fn revision(files: &[(&str, &str)]) -> Revision {
    let sources = files
        .iter()
        .map(|(name, text)| SourceFile {
            path: Path::new(name).into(),
            text: (*text).to_string(),
        })
        .collect();
    from_sources(
        Path::new("m"),
        Path::new("m"),
        sources,
        Diagnostics::default(),
    )
    .expect("valid revision")
}

fn container(name: &str) -> ObjectRef {
    ObjectRef::new(Kind::Container, name.parse().expect("name"))
}

/// The host after a perfect apply of `revision`: files written, units running, enabled.
pub(crate) fn converged(revision: &Revision) -> Observed {
    let observed = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    with_containers_converged(observed, revision, &RenderContext::default())
}

/// `observed` plus every container of `revision` as a perfect apply with `ctx` leaves it.
pub(crate) fn with_containers_converged(
    mut observed: Observed,
    revision: &Revision,
    ctx: &RenderContext,
) -> Observed {
    observed.images.insert("localhost/bb:v1".into());
    for object in revision.of_kind(Kind::Container) {
        // A perfect apply pins the image (when its ID is known) and records the pin.
        let reference = crate::render::container::image_reference(
            object.as_container().expect("container"),
            revision,
        )
        .expect("image")
        .to_string();
        let mut ctx = ctx.clone();
        let image_id = observed.image_ids.get(&reference).cloned();
        if let Some(id) = &image_id {
            ctx.image_pins.insert(object.name().to_string(), id.clone());
            let mut record = crate::rollout::RolloutRecord::new(object.name().as_str());
            record.current = Some(crate::rollout::ImagePin {
                reference: reference.clone(),
                image_id: id.clone(),
            });
            observed.rollouts.insert(object.name().to_string(), record);
        }
        let unit = container_unit(object, revision, &ctx).expect("renders");
        observed.unit_files.insert(
            unit.name.clone(),
            UnitFileOnDisk {
                path: observed.unit_dir.join(&unit.name),
                content: unit.content.clone(),
                managed: true,
            },
        );
        observed.units.insert(
            unit.name.clone(),
            UnitStatus {
                load_state: LoadState::Loaded,
                active_state: ActiveState::Active,
                sub_state: "running".into(),
                fragment_path: Some(observed.unit_dir.join(&unit.name)),
                unit_file_state: UnitFileState::Enabled,
                n_restarts: Some(0),
                ..UnitStatus::default()
            },
        );
        let mut l = BTreeMap::new();
        l.insert(labels::MANAGED.to_string(), "true".to_string());
        l.insert(labels::KIND.to_string(), "container".to_string());
        l.insert(labels::HASH.to_string(), unit.hash.clone());
        observed.containers.insert(
            object.name().to_string(),
            ContainerStatus {
                id: format!("id-{}", object.name()),
                name: object.name().to_string(),
                state: ContainerState::Running,
                labels: l,
                image: reference,
                image_id: image_id.unwrap_or_default(),
                ..ContainerStatus::default()
            },
        );
    }
    observed
}

#[test]
fn fresh_host_creates_every_container_in_dependency_order() {
    let rev = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let observed = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    let plan = plan(&rev, &observed, &RenderContext::default());
    let order: Vec<String> = plan.steps.iter().map(|s| s.object.to_string()).collect();
    assert_eq!(order, ["container/db", "container/app"]);
    let db = plan.step(&container("db")).expect("db step");
    assert_eq!(db.change, Change::Create);
    let verbs: Vec<&str> = db.actions.iter().map(Action::verb).collect();
    assert_eq!(verbs, ["pull", "write", "enable", "start"]);
}

#[test]
fn converged_host_plans_nothing() {
    let rev = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let plan = plan(&rev, &converged(&rev), &RenderContext::default());
    assert!(!plan.has_changes(), "{plan:#?}");
}

#[test]
fn changed_env_restarts_only_that_container_and_names_the_field() {
    let old = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let new = revision(&[
        ("a.yaml", &APP.replace("MODE: one", "MODE: two")),
        ("d.yaml", DB),
    ]);
    let plan = plan(&new, &converged(&old), &RenderContext::default());
    let app = plan.step(&container("app")).expect("app");
    assert_eq!(
        app.change,
        Change::Update {
            fields: vec!["env".into()]
        }
    );
    let verbs: Vec<&str> = app.actions.iter().map(Action::verb).collect();
    assert_eq!(verbs, ["write", "enable", "restart"]);
    assert!(plan.step(&container("db")).expect("db").is_noop());
}

#[test]
fn a_dependent_of_a_restarted_container_is_restarted_by_systemd_once() {
    let old = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let db_changed = DB.replace("bb:v1\n", "bb:v1\n  env: {X: y}\n");
    let both = revision(&[
        ("a.yaml", &APP.replace("MODE: one", "MODE: two")),
        ("d.yaml", &db_changed),
    ]);
    let plan = plan(&both, &converged(&old), &RenderContext::default());
    let app = plan.step(&container("app")).expect("app");
    let verbs: Vec<&str> = app.actions.iter().map(Action::verb).collect();
    assert_eq!(verbs, ["write", "enable", "restarted-with"], "{app:?}");
    assert!(matches!(app.change, Change::Update { .. }), "{app:?}");
    let db = plan.step(&container("db")).expect("db");
    assert!(db.actions.iter().any(|a| a.verb() == "restart"), "{db:?}");
}

#[test]
fn stopped_unit_is_repaired_with_a_start() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    observed
        .units
        .get_mut("db.service")
        .expect("unit")
        .active_state = ActiveState::Inactive;
    let plan = plan(&rev, &observed, &RenderContext::default());
    let db = plan.step(&container("db")).expect("db");
    assert_eq!(
        db.change,
        Change::Repair {
            reason: RepairReason::UnitInactive(ActiveState::Inactive)
        }
    );
    assert_eq!(
        db.actions,
        vec![Action::StartUnit {
            unit: "db.service".into()
        }]
    );
}

#[test]
fn hand_edited_unit_is_rewritten_and_restarted() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    let file = observed.unit_files.get_mut("db.service").expect("file");
    file.content = file.content.replace("Restart=on-failure", "Restart=no");
    let plan = plan(&rev, &observed, &RenderContext::default());
    let db = plan.step(&container("db")).expect("db");
    assert_eq!(
        db.change,
        Change::Repair {
            reason: RepairReason::UnitFileEdited
        }
    );
    assert!(db.actions.contains(&Action::RestartUnit {
        unit: "db.service".into()
    }));
}

#[test]
fn foreign_unit_is_a_conflict_and_is_not_touched() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    observed.unit_files.insert(
        "db.service".into(),
        UnitFileOnDisk {
            path: PathBuf::from("/etc/systemd/system/db.service"),
            content: String::new(),
            managed: false,
        },
    );
    let plan = plan(&rev, &observed, &RenderContext::default());
    let db = plan.step(&container("db")).expect("db");
    assert!(
        matches!(&db.change, Change::Conflict { message } if message.contains("not managed by podctl"))
    );
    assert!(db.actions.is_empty());
}

#[test]
fn unit_of_a_package_is_a_conflict() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    observed.units.insert(
        "db.service".into(),
        UnitStatus {
            load_state: LoadState::Loaded,
            active_state: ActiveState::Active,
            fragment_path: Some(PathBuf::from("/lib/systemd/system/db.service")),
            ..UnitStatus::default()
        },
    );
    let plan = plan(&rev, &observed, &RenderContext::default());
    assert!(matches!(
        plan.step(&container("db")).expect("db").change,
        Change::Conflict { .. }
    ));
}

#[test]
fn foreign_container_with_the_name_is_a_conflict() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    observed.containers.insert(
        "db".into(),
        ContainerStatus {
            id: "abc".into(),
            name: "db".into(),
            ..ContainerStatus::default()
        },
    );
    let plan = plan(&rev, &observed, &RenderContext::default());
    assert!(matches!(
        plan.step(&container("db")).expect("db").change,
        Change::Conflict { .. }
    ));

    // Also when podctl's own unit is there: nothing is written or removed, so no diff.
    let mut observed = converged(&rev);
    let db = observed.containers.get_mut("db").expect("db");
    db.labels.clear();
    let ours = super::plan(&rev, &observed, &RenderContext::default());
    let step = ours.step(&container("db")).expect("db");
    assert!(matches!(step.change, Change::Conflict { .. }), "{step:?}");
    assert_eq!((&step.unit_before, &step.unit_after), (&None, &None));
    assert!(step.actions.is_empty());
}

#[test]
fn removed_manifest_stops_disables_and_deletes() {
    let old = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let new = revision(&[("d.yaml", DB)]);
    let plan = plan(&new, &converged(&old), &RenderContext::default());
    let app = plan.step(&container("app")).expect("app");
    assert_eq!(app.change, Change::Delete);
    let verbs: Vec<&str> = app.actions.iter().map(Action::verb).collect();
    assert_eq!(
        verbs,
        ["stop", "disable", "remove-unit", "remove-container"]
    );
}

#[test]
fn foreign_units_and_containers_are_never_pruned() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    observed.unit_files.insert(
        "nginx.service".into(),
        UnitFileOnDisk {
            path: PathBuf::from("/etc/systemd/system/nginx.service"),
            content: String::new(),
            managed: false,
        },
    );
    observed.containers.insert(
        "other".into(),
        ContainerStatus {
            id: "x".into(),
            name: "other".into(),
            ..ContainerStatus::default()
        },
    );
    let plan = plan(&rev, &observed, &RenderContext::default());
    assert!(!plan.has_changes(), "{plan:#?}");
}

#[test]
fn short_image_names_match_what_podman_stores() {
    let images: std::collections::BTreeSet<String> = [
        "docker.io/library/busybox:latest",
        "localhost/bb:v1",
        "127.0.0.1:5000/web:v1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(image_present(&images, "busybox"));
    assert!(image_present(&images, "busybox:latest"));
    assert!(image_present(&images, "bb:v1"));
    assert!(image_present(&images, "127.0.0.1:5000/web:v1"));
    assert!(!image_present(&images, "127.0.0.1:5000/web:v2"));
    assert!(!image_present(&images, "quay.io/busybox"));
}

#[test]
fn stopping_unit_is_left_to_finish_its_stop() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    observed
        .units
        .get_mut("db.service")
        .expect("unit")
        .active_state = ActiveState::Deactivating;
    let plan = plan(&rev, &observed, &RenderContext::default());
    let db = plan.step(&container("db")).expect("db");
    assert!(db.actions.is_empty(), "{:?}", db.actions);
}

#[test]
fn a_unit_file_deleted_by_hand_is_a_repair() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    observed.unit_files.clear();
    let plan = plan(&rev, &observed, &RenderContext::default());
    let db = plan.step(&container("db")).expect("db");
    assert_eq!(
        db.change,
        Change::Repair {
            reason: RepairReason::UnitFileRemoved
        }
    );
    let verbs: Vec<&str> = db.actions.iter().map(Action::verb).collect();
    assert_eq!(verbs, ["write", "enable"], "running as desired: no restart");
}

#[test]
fn a_failed_unit_is_a_repair_the_controller_can_tell_apart() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    observed
        .units
        .get_mut("db.service")
        .expect("db")
        .active_state = ActiveState::Failed;
    let failed = plan(&rev, &observed, &RenderContext::default());
    assert!(
        failed
            .step(&container("db"))
            .expect("db")
            .change
            .repairs_a_failed_unit()
    );
    observed
        .units
        .get_mut("db.service")
        .expect("db")
        .active_state = ActiveState::Inactive;
    let stopped = plan(&rev, &observed, &RenderContext::default());
    assert!(
        !stopped
            .step(&container("db"))
            .expect("db")
            .change
            .repairs_a_failed_unit()
    );
}

/// An apply interrupted after writing the units and before restarting (kill -9, Ctrl-C):
/// the unit file is right, the container runs the old definition. Not "no changes".
#[test]
fn a_container_whose_hash_label_differs_from_its_unit_is_restarted() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    observed
        .containers
        .get_mut("db")
        .expect("db")
        .labels
        .insert(labels::HASH.into(), "0ld0ld0ld0ld".into());
    let plan = plan(&rev, &observed, &RenderContext::default());
    let db = plan.step(&container("db")).expect("db");
    let verbs: Vec<&str> = db.actions.iter().map(Action::verb).collect();
    assert_eq!(verbs, ["restart"]);
    assert!(
        matches!(&db.change, Change::Repair { reason } if reason.to_string().starts_with("container runs definition 0ld0ld0ld0ld")),
        "{:?}",
        db.change
    );
}

/// The unit file on disk is as desired but systemd still runs an older text of it.
#[test]
fn a_unit_systemd_has_not_reloaded_is_written_again_to_reload_it() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    observed
        .units
        .get_mut("db.service")
        .expect("db")
        .need_daemon_reload = true;
    let plan = plan(&rev, &observed, &RenderContext::default());
    let db = plan.step(&container("db")).expect("db");
    let verbs: Vec<&str> = db.actions.iter().map(Action::verb).collect();
    assert_eq!(
        verbs,
        ["write"],
        "the container already runs this definition"
    );
    assert!(
        matches!(&db.change, Change::Repair { reason } if reason.to_string().contains("daemon-reload pending")),
        "{:?}",
        db.change
    );
}

/// A host applied by a podctl that ran images by reference: the units are rewritten
/// pinned to the image the containers run, and nothing is restarted.
#[test]
fn units_running_by_reference_are_pinned_without_a_restart() {
    let rev = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let mut observed = converged(&rev);
    observed
        .image_ids
        .insert("localhost/bb:v1".into(), "abc123".into());
    for c in observed.containers.values_mut() {
        c.image_id = "abc123".into();
    }
    let plan = plan(&rev, &observed, &RenderContext::default());
    let db = plan.step(&container("db")).expect("db");
    let verbs: Vec<&str> = db.actions.iter().map(Action::verb).collect();
    assert_eq!(verbs, ["write", "enable", "rollout"], "{db:#?}");
    assert_eq!(
        db.change,
        Change::Repair {
            reason: RepairReason::ImageNotPinned
        }
    );
    assert!(
        db.unit_after
            .as_deref()
            .is_some_and(|u| u.contains("\tabc123\n")),
        "{:?}",
        db.unit_after
    );
}

/// `podctl rollback`: the previous image pinned, restarted and gated; refused without one.
#[test]
fn rollback_step_pins_the_previous_image() {
    use crate::rollout::{ImagePin, RolloutRecord};
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    observed
        .image_ids
        .insert("localhost/bb:v1".into(), "bbb".into());
    let pin = |r: &str, id: &str| ImagePin {
        reference: r.into(),
        image_id: id.into(),
    };
    let mut record = RolloutRecord::new("db");
    record.current = Some(pin("localhost/bb:v1", "bbb"));
    observed.rollouts.insert("db".into(), record.clone());
    let planned = plan(&rev, &observed, &RenderContext::default());
    let step = planned.step(&container("db")).expect("db");
    assert_eq!(
        rollout::rollback_step(step, Some(&record)),
        Err(rollout::RollbackRefused::NoPrevious("db".into()))
    );
    record.previous = Some(pin("localhost/bb:v0", "aaa"));
    let back = rollout::rollback_step(step, Some(&record)).expect("a rollback");
    let verbs: Vec<&str> = back.actions.iter().map(Action::verb).collect();
    assert_eq!(verbs, ["write", "restart", "rollout"]);
    assert!(
        matches!(&back.actions[0], Action::WriteUnit { content, .. } if content.contains("\taaa\n"))
    );
}

/// A rollout interrupted in its gate: the unit is pinned to the new image and runs it, the
/// record still names the old one. The next plan judges it, without a restart.
#[test]
fn an_interrupted_rollout_is_judged_by_the_next_plan() {
    use crate::rollout::{ImagePin, RolloutRecord};
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    observed
        .image_ids
        .insert("localhost/bb:v1".into(), "new".into());
    let observed = with_containers_converged(observed, &rev, &RenderContext::default());
    let mut observed = observed;
    let mut record = RolloutRecord::new("db");
    record.current = Some(ImagePin {
        reference: "localhost/bb:v0".into(),
        image_id: "old".into(),
    });
    observed.rollouts.insert("db".into(), record);
    let plan = plan(&rev, &observed, &RenderContext::default());
    let db = plan.step(&container("db")).expect("db");
    let verbs: Vec<&str> = db.actions.iter().map(Action::verb).collect();
    assert_eq!(verbs, ["rollout"], "{db:#?}");
    assert_eq!(
        db.change,
        Change::Repair {
            reason: RepairReason::RolloutUnjudged
        }
    );
}

/// The controller plans a manifest change against the previous pass's observation; one that
/// asked only for the previous revision's images must not be taken to say that a new image
/// is missing (it was planned as a pull, and a fleet canary failed on it).
#[test]
fn an_observation_of_some_images_should_know_only_those() {
    let v1 = revision(&[("db.yaml", DB)]);
    let v2 = revision(&[("db.yaml", &DB.replace("localhost/bb:v1", "localhost/bb:v2"))]);
    let all = Observed::default();
    assert!(all.knows_images_of(&v1) && all.knows_images_of(&v2));
    let some = Observed {
        images_asked: Some(["localhost/bb:v1".to_owned()].into()),
        ..Observed::default()
    };
    assert!(some.knows_images_of(&v1));
    assert!(!some.knows_images_of(&v2));
}
