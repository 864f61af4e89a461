//! Planner tests of blue-green containers: a host simulated by carrying out each plan's
//! unit writes, starts and stops, and the state the executor would leave.

use std::path::PathBuf;

use super::tests::revision;
use super::*;
use crate::bluegreen::{Colour, Phase, State};
use crate::observe::{ActiveState, LoadState, Observed, UnitFileOnDisk, UnitFileState};
use crate::rollout::{ImagePin, RolloutRecord};

const V1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const V2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn web(tag: &str) -> Revision {
    let text = format!(
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: web}}\nspec:\n  image: localhost/web:{tag}\n  ports: ['8080:8080']\n  healthCheck: {{command: [true]}}\n  update: {{strategy: blue-green}}\n"
    );
    revision(&[("web.yaml", &text)])
}

fn host() -> Observed {
    let mut o = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    for (tag, id) in [("v1", V1), ("v2", V2)] {
        o.images.insert(format!("localhost/web:{tag}"));
        o.image_ids
            .insert(format!("localhost/web:{tag}"), id.into());
    }
    o
}

fn running(o: &mut Observed, unit: &str, yes: bool) {
    let status = o.units.entry(unit.to_owned()).or_default();
    status.load_state = LoadState::Loaded;
    status.active_state = if yes {
        ActiveState::Active
    } else {
        ActiveState::Inactive
    };
}

/// What the executor leaves after `step`: files written, units started and stopped, a
/// switch done, pins recorded.
fn carry_out(o: &mut Observed, step: &Step) {
    for action in &step.actions {
        match action {
            Action::WriteUnit { unit, content } => {
                o.unit_files.insert(
                    unit.clone(),
                    UnitFileOnDisk {
                        path: o.unit_dir.join(unit),
                        content: content.clone(),
                        managed: true,
                    },
                );
            }
            Action::StartUnit { unit } | Action::RestartUnit { unit } => running(o, unit, true),
            Action::StopUnit { unit } => running(o, unit, false),
            Action::EnableUnit { unit } => {
                o.units.entry(unit.clone()).or_default().unit_file_state = UnitFileState::Enabled;
            }
            Action::Rollout(r) => {
                let mut record = RolloutRecord::new("web");
                record.current = Some(r.to.clone());
                o.rollouts.insert("web".into(), record);
            }
            Action::BlueGreen(s) => {
                running(o, &crate::bluegreen::instance_unit("web", s.to), true);
                running(o, &crate::bluegreen::instance_unit("web", s.from), false);
                o.bluegreen.insert("web".into(), State::new("web", s.to));
                let record = o
                    .rollouts
                    .entry("web".into())
                    .or_insert_with(|| RolloutRecord::new("web"));
                record.previous = record.current.take();
                record.current = s.to_pin.clone();
            }
            _ => {}
        }
    }
}

/// Plans `rev` on `o` and carries the step out.
fn apply(o: &mut Observed, rev: &Revision) {
    let step = step_of(rev, o);
    carry_out(o, &step);
}

fn step_of(rev: &Revision, o: &Observed) -> Step {
    let plan = plan(rev, o, &RenderContext::default());
    plan.steps
        .into_iter()
        .find(|s| s.object.name.as_str() == "web")
        .expect("web step")
}

fn verbs(step: &Step) -> Vec<String> {
    step.actions.iter().map(ToString::to_string).collect()
}

#[test]
fn blue_green_first_apply_should_start_blue_and_the_proxy_and_pin_the_image() {
    let step = step_of(&web("v1"), &host());
    assert_eq!(step.change, Change::Create);
    let v = verbs(&step);
    for want in [
        "write web-blue.service",
        "start web-blue.service",
        "write web-proxy.service",
        "start web-proxy.service",
    ] {
        assert!(v.iter().any(|a| a == want), "{want} missing from {v:#?}");
    }
    assert!(matches!(step.actions.last(), Some(Action::Rollout(r)) if r.to.image_id == V1));
    assert_eq!(step.unit.as_deref(), Some("web-blue.service"));
}

#[test]
fn blue_green_converged_host_should_plan_nothing_and_a_new_image_should_switch_to_green() {
    let mut o = host();
    apply(&mut o, &web("v1"));
    o.bluegreen
        .insert("web".into(), State::new("web", Colour::Blue));
    let again = step_of(&web("v1"), &o);
    assert!(again.is_noop(), "{again:#?}");

    let roll = step_of(&web("v2"), &o);
    assert!(
        matches!(roll.change, Change::Update { .. }),
        "{:?}",
        roll.change
    );
    let Some(Action::BlueGreen(s)) = roll.actions.last() else {
        panic!("no switch: {roll:#?}");
    };
    assert_eq!((s.from, s.to, s.start), (Colour::Blue, Colour::Green, true));
    assert_eq!(s.to_pin.as_ref().map(|p| p.image_id.as_str()), Some(V2));
    assert!(
        s.proxy_after
            .contains("StandardInputText=server blue 127.0.0.1:18080 disabled")
    );
    assert!(verbs(&roll).contains(&"write web-green.service".to_owned()));
    // Nothing restarts the serving colour or the proxy.
    assert!(
        !roll
            .actions
            .iter()
            .any(|a| matches!(a, Action::RestartUnit { .. } | Action::StopUnit { .. }))
    );
}

#[test]
fn blue_green_image_that_failed_its_gate_should_be_held_without_touching_the_serving_colour() {
    let mut o = host();
    apply(&mut o, &web("v1"));
    o.bluegreen
        .insert("web".into(), State::new("web", Colour::Blue));
    let record = o.rollouts.get_mut("web").expect("record");
    record.failed = Some(ImagePin {
        reference: "localhost/web:v2".into(),
        image_id: V2.into(),
    });
    let held = step_of(&web("v2"), &o);
    assert!(held.is_noop(), "{held:#?}");
}

#[test]
fn blue_green_switch_cut_off_after_the_proxy_moved_should_be_finished_without_a_new_start() {
    let mut o = host();
    apply(&mut o, &web("v1"));
    o.bluegreen
        .insert("web".into(), State::new("web", Colour::Blue));
    apply(&mut o, &web("v2"));
    // Killed while blue drained: both run, the state says draining to green.
    running(&mut o, "web-blue.service", true);
    let state = State::new("web", Colour::Green).with_phase(Phase::Draining { to: Colour::Green });
    o.bluegreen.insert("web".into(), state);
    let step = step_of(&web("v2"), &o);
    let Some(Action::BlueGreen(s)) = step.actions.last() else {
        panic!("no switch: {step:#?}");
    };
    assert_eq!(
        (s.from, s.to, s.start),
        (Colour::Blue, Colour::Green, false)
    );
    assert_eq!(
        step.change,
        Change::Repair {
            reason: RepairReason::SwitchInterrupted(Colour::Green)
        }
    );
}

#[test]
fn blue_green_idle_colour_left_running_should_be_stopped() {
    let mut o = host();
    apply(&mut o, &web("v1"));
    o.bluegreen
        .insert("web".into(), State::new("web", Colour::Blue));
    running(&mut o, "web-green.service", true);
    let step = step_of(&web("v1"), &o);
    assert_eq!(verbs(&step), ["stop web-green.service"]);
}

#[test]
fn blue_green_colour_should_be_stopped_and_started_again_with_its_recreated_network() {
    let net = "apiVersion: podctl.io/v1\nkind: Network\nmetadata: {name: net}\nspec: {}\n";
    let text = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: localhost/web:v1\n  network: net\n  ports: ['8080:8080']\n  healthCheck: {command: [true]}\n  update: {strategy: blue-green}\n";
    let rev = revision(&[("net.yaml", net), ("web.yaml", text)]);
    let mut o = host();
    apply(&mut o, &rev);
    o.bluegreen
        .insert("web".into(), State::new("web", Colour::Blue));
    o.networks.insert(
        "net".into(),
        crate::observe::NetworkStatus {
            driver: "bridge".into(),
            labels: crate::ownership::mark_labels(podctl_api::Kind::Network, "net", "old"),
            ..Default::default()
        },
    );
    let plan = plan(&rev, &o, &RenderContext::default());
    let network = plan
        .steps
        .iter()
        .find(|s| s.object.kind == podctl_api::Kind::Network)
        .expect("network step");
    assert_eq!(verbs(network)[0], "stop web-blue.service");
    let web = step_of(&rev, &o);
    assert_eq!(verbs(&web), ["start web-blue.service"]);
}
