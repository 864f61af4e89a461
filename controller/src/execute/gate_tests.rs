//! The gate's rules on hand-made plans, outcomes and batch results.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use podctl_api::{Kind, ObjectRef, Revision};

use super::*;
use crate::adapters::systemd::SystemdError;
use crate::execute::enablement::Enablement;
use crate::execute::error::ErrorKind;
use crate::plan::tests::revision;

const VOLUME: &str = "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: data}\nspec: {}\n";
const SECRET: &str = "apiVersion: podctl.io/v1\nkind: Secret\nmetadata: {name: pw}\nspec:\n  source: {file: /etc/pw}\n";
const NETWORK: &str = "apiVersion: podctl.io/v1\nkind: Network\nmetadata: {name: net}\nspec: {subnet: 10.89.10.0/24}\n";
const IMAGE: &str = "apiVersion: podctl.io/v1\nkind: Image\nmetadata: {name: img}\nspec:\n  ref: 127.0.0.1:5000/bb:v1\n  tlsVerify: false\n";
/// Uses every resource kind.
const APP: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: app}\nspec:\n  image: {ref: img}\n  network: net\n  volumes: [{volume: data, path: /data}]\n  secrets: [{secret: pw, path: /run/secrets/pw}]\n";
/// Depends on app.
const WEB: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: localhost/bb:v1\n  dependsOn: [app]\n";
/// Depends on nothing.
const OTHER: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: other}\nspec:\n  image: localhost/bb:v1\n";
const IMAGE_REF: &str = "127.0.0.1:5000/bb:v1";

fn host() -> Revision {
    revision(&[
        ("volume.yaml", VOLUME),
        ("secret.yaml", SECRET),
        ("network.yaml", NETWORK),
        ("image.yaml", IMAGE),
        ("app.yaml", APP),
        ("web.yaml", WEB),
        ("other.yaml", OTHER),
    ])
}

fn object(kind: Kind, name: &str) -> ObjectRef {
    ObjectRef::new(kind, name.parse().expect("name"))
}

fn container(name: &str) -> ObjectRef {
    object(Kind::Container, name)
}

fn step(object: ObjectRef, change: Change, actions: Vec<Action>) -> Step {
    Step {
        object,
        change,
        actions,
        unit_before: None,
        unit_after: None,
        drop_ins: Vec::new(),
        rollout: None,
        unit: None,
    }
}

fn unit(name: &str) -> String {
    format!("{name}.service")
}

/// A container created from scratch: its unit written, enabled and started.
fn created(name: &str) -> Step {
    step(
        container(name),
        Change::Create,
        vec![
            Action::WriteUnit {
                unit: unit(name),
                content: String::new(),
            },
            Action::EnableUnit { unit: unit(name) },
            Action::StartUnit { unit: unit(name) },
        ],
    )
}

/// A container with nothing to do.
fn unchanged(name: &str) -> Step {
    step(container(name), Change::UpToDate, Vec::new())
}

fn outcome(object: ObjectRef, status: Verdict) -> (ObjectRef, Outcome) {
    let outcome = Outcome {
        object: object.clone(),
        change: Change::Create,
        status,
        done: Vec::new(),
        elapsed: Duration::ZERO,
    };
    (object, outcome)
}

fn failed(message: &str) -> Verdict {
    Verdict::Failed(ActionError::Planned(message.to_owned()))
}

fn systemd_error() -> Arc<SystemdError> {
    Arc::new(SystemdError::RowCount { asked: 1, got: 0 })
}

fn by_object(steps: &[Step]) -> BTreeMap<&ObjectRef, &Step> {
    steps.iter().map(|s| (&s.object, s)).collect()
}

fn message(status: Option<&Verdict>) -> Option<String> {
    status.and_then(Verdict::message)
}

#[test]
fn a_container_whose_volume_failed_should_be_held_with_its_dependents() {
    let revision = host();
    let steps = [created("app"), created("web"), created("other")];
    let outcomes = BTreeMap::from([outcome(object(Kind::Volume, "data"), failed("no space"))]);
    let held = held_containers(&revision, &by_object(&steps), &outcomes, &Pulls::default());
    assert_eq!(
        message(held.get(&container("app"))).as_deref(),
        Some("blocked by volume/data")
    );
    assert_eq!(
        message(held.get(&container("web"))).as_deref(),
        Some("blocked by container/app")
    );
    assert!(!held.contains_key(&container("other")), "{held:?}");
}

#[test]
fn a_container_whose_image_was_not_pulled_should_be_held_with_that_reason() {
    let revision = host();
    let mut other = created("other");
    other.actions.insert(
        0,
        Action::PullImage {
            reference: "localhost/bb:v1".into(),
            tls_verify: None,
            auth_file: None,
            previous_id: None,
        },
    );
    let steps = [other];
    let held = held_containers(
        &revision,
        &by_object(&steps),
        &BTreeMap::new(),
        &Pulls::default(),
    );
    let status = held.get(&container("other"));
    assert!(
        matches!(status, Some(Verdict::Failed(e)) if e.kind() == ErrorKind::Pull),
        "{status:?}"
    );
    assert_eq!(
        message(status).as_deref(),
        Some("image localhost/bb:v1 was not pulled")
    );
}

#[test]
fn a_container_with_nothing_to_do_should_keep_running_when_its_resource_failed() {
    let revision = host();
    let steps = [unchanged("app")];
    let outcomes = BTreeMap::from([outcome(object(Kind::Volume, "data"), failed("no space"))]);
    let held = held_containers(&revision, &by_object(&steps), &outcomes, &Pulls::default());
    assert!(held.is_empty(), "{held:?}");
    let gate = Gate::default();
    let why = gate.why_not_attempted(&steps[0], &revision, &outcomes, &Batches::default());
    assert!(why.is_none(), "{why:?}");
}

#[test]
fn a_container_with_nothing_to_do_should_be_blocked_by_a_dependency_that_failed_to_start() {
    let revision = host();
    let web = unchanged("web");
    let outcomes = BTreeMap::from([outcome(container("app"), failed("job failed"))]);
    let why = Gate::default().why_not_attempted(&web, &revision, &outcomes, &Batches::default());
    assert_eq!(
        message(why.as_ref()).as_deref(),
        Some("blocked by container/app")
    );
}

#[test]
fn a_network_should_not_be_recreated_while_one_of_its_containers_is_held() {
    let revision = host();
    let network = step(
        object(Kind::Network, "net"),
        Change::Update {
            fields: vec!["subnet".into()],
        },
        vec![
            Action::StopUnit { unit: unit("app") },
            Action::RemoveNetwork { name: "net".into() },
        ],
    );
    let gate = Gate {
        held: BTreeMap::from([(container("app"), failed("boom"))]),
        ..Gate::default()
    };
    let why = gate.why_not_attempted(&network, &revision, &BTreeMap::new(), &Batches::default());
    assert_eq!(
        message(why.as_ref()).as_deref(),
        Some(
            "not recreated: container/app could not start again (boom); it keeps running on the old network"
        )
    );
}

#[test]
fn a_conflict_in_the_plan_should_be_reported_as_a_conflict() {
    let revision = host();
    let clash = step(
        container("other"),
        Change::Conflict {
            message: "not ours".into(),
        },
        Vec::new(),
    );
    let why =
        Gate::default().why_not_attempted(&clash, &revision, &BTreeMap::new(), &Batches::default());
    assert!(
        matches!(&why, Some(Verdict::Conflict(m)) if m == "not ours"),
        "{why:?}"
    );
}

#[test]
fn a_failed_daemon_reload_should_fail_every_object_with_work_and_spare_the_others() {
    let revision = host();
    let gate = Gate {
        reload_error: Some(ActionError::Reload {
            source: systemd_error(),
        }),
        ..Gate::default()
    };
    let none = BTreeMap::new();
    let batches = Batches::default();
    let why = gate.why_not_attempted(&created("other"), &revision, &none, &batches);
    assert!(
        message(why.as_ref()).is_some_and(|m| m.starts_with("daemon-reload failed: ")),
        "{why:?}"
    );
    assert!(
        gate.why_not_attempted(&unchanged("other"), &revision, &none, &batches)
            .is_none()
    );
}

#[test]
fn a_container_whose_unit_could_not_be_written_or_enabled_should_fail() {
    let revision = host();
    let none = BTreeMap::new();
    let gate = Gate::default();
    let mut batches = Batches::default();
    batches.enablement.insert(
        unit("other"),
        Err(ActionError::Enablement {
            change: Enablement::Enable,
            source: systemd_error(),
        }),
    );
    let why = gate.why_not_attempted(&created("other"), &revision, &none, &batches);
    assert!(
        message(why.as_ref()).is_some_and(|m| m.starts_with("cannot enable the unit: ")),
        "{why:?}"
    );

    batches.writes.insert(
        unit("other"),
        Err(ActionError::Planned("cannot write".into())),
    );
    let why = gate.why_not_attempted(&created("other"), &revision, &none, &batches);
    assert_eq!(message(why.as_ref()).as_deref(), Some("cannot write"));
}

#[test]
fn enablement_should_leave_out_held_containers_and_units_not_written() {
    let app = created("app");
    let other = created("other");
    let web = step(
        container("web"),
        Change::Update {
            fields: vec!["enabled".into()],
        },
        vec![Action::DisableUnit { unit: unit("web") }],
    );
    let gate = Gate {
        held: BTreeMap::from([(container("app"), failed("boom"))]),
        ..Gate::default()
    };
    let mut batches = Batches::default();
    batches.writes.insert(
        unit("other"),
        Err(ActionError::Planned("cannot write".into())),
    );
    let (enable, disable) = enablement(&[&app, &other, &web], &gate, &batches);
    assert!(enable.is_empty(), "{enable:?}");
    assert_eq!(disable, [unit("web")]);
}

#[test]
fn a_running_container_should_be_restarted_when_its_image_got_a_new_id() {
    let revision = host();
    let image = step(
        object(Kind::Image, "img"),
        Change::Update {
            fields: vec!["pull".into()],
        },
        vec![Action::PullImage {
            reference: IMAGE_REF.into(),
            tls_verify: Some(false),
            auth_file: None,
            previous_id: Some("old".into()),
        }],
    );
    let app = unchanged("app");
    // Uses no Image object; a new ID of img is nothing to it.
    let other = unchanged("other");
    let pulls = Pulls {
        changed: [IMAGE_REF.to_owned()].into(),
        ..Pulls::default()
    };
    let restarts = image_restarts(&[&image, &app, &other], &pulls, &revision);
    assert_eq!(restarts.keys().collect::<Vec<_>>(), [&container("app")]);
    let restarted = &restarts[&container("app")];
    assert_eq!(
        restarted.actions,
        [Action::RestartUnit { unit: unit("app") }]
    );
    assert_eq!(
        restarted.change,
        Change::Update {
            fields: vec!["image (new ID)".into()]
        }
    );
    // One that starts anyway is not restarted twice; an unchanged image restarts nothing.
    assert!(image_restarts(&[&image, &created("app")], &pulls, &revision).is_empty());
    assert!(image_restarts(&[&image, &app], &Pulls::default(), &revision).is_empty());
}

#[test]
fn a_container_blocked_after_its_unit_was_written_should_have_it_put_back() {
    let steps = [created("app"), created("web"), created("other")];
    let outcomes = BTreeMap::from([
        outcome(
            container("app"),
            Verdict::Blocked(Blocked::By(object(Kind::Volume, "data"))),
        ),
        outcome(container("web"), failed("job failed")),
        outcome(
            container("other"),
            Verdict::Blocked(Blocked::By(container("app"))),
        ),
    ]);
    let mut batches = Batches::default();
    // Its write failed: there is nothing of podctl's to put back.
    batches.writes.insert(
        unit("other"),
        Err(ActionError::Planned("cannot write".into())),
    );
    let put_back = written_then_blocked(&by_object(&steps), &outcomes, &Gate::default(), &batches);
    let objects: Vec<&ObjectRef> = put_back.iter().map(|s| &s.object).collect();
    assert_eq!(objects, [&container("app")]);
}

#[test]
fn only_a_volumes_unit_actions_should_wait_for_the_containers_phase() {
    let stop = Action::StopUnit {
        unit: "app.service".into(),
    };
    let start_timer = Action::StartUnit {
        unit: "podctl-backup@data.timer".into(),
    };
    let create = Action::CreateVolume {
        name: "data".into(),
        driver: "local".into(),
        options: Default::default(),
        labels: Default::default(),
    };
    // A network stops its containers itself, before it is recreated.
    assert!(Phase::Networks.runs_action(Kind::Network, &stop));
    assert!(!Phase::Resources.runs_action(Kind::Volume, &start_timer));
    assert!(Phase::Containers.runs_action(Kind::Volume, &start_timer));
    assert!(Phase::Resources.runs_action(Kind::Volume, &create));
    assert!(!Phase::Containers.runs_action(Kind::Volume, &create));
}
