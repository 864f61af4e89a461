//! Planning a container's image: which image ID its unit is pinned to (`rollout::decide`
//! on the observed image IDs and its rollout record), and the `Rollout` action that a new
//! image's restart is followed by. An image known only after a pull is decided again by
//! the executor with [`RolloutBasis::after_pull`].

use std::collections::BTreeMap;

use podctl_api::{ContainerSpec, Kind, ObjectRef, Revision};

use super::{Action, Change, RepairReason, Step, image_candidates};
use crate::observe::Observed;
use crate::ownership::owns;
use crate::render::container::image_reference;
use crate::render::{self, unit_name};
use crate::rollout::{self, Decision, GateSpec, ImagePin, Rollout};

/// What the executor needs to decide a container's image again once a pull told the ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutBasis {
    pub reference: String,
    pub template: String,
    pub current: Option<ImagePin>,
    pub failed: Option<ImagePin>,
    pub gate: GateSpec,
    pub dependents: Vec<String>,
    /// The unit's text on disk, if podctl's.
    pub on_disk: Option<String>,
}

/// Every desired container's decision, by name.
pub(super) fn decisions(revision: &Revision, observed: &Observed) -> BTreeMap<String, Decision> {
    revision
        .of_kind(Kind::Container)
        .filter_map(|o| {
            let spec = o.as_container()?;
            let reference = image_reference(spec, revision)?.to_string();
            let resolved = image_candidates(&reference)
                .iter()
                .find_map(|c| observed.image_ids.get(c))
                .map(String::as_str);
            let name = o.name().as_str();
            let running = observed
                .containers
                .get(name)
                .filter(|c| {
                    owns(&c.labels, Kind::Container)
                        && c.state == crate::observe::ContainerState::Running
                })
                .filter(|c| !c.image_id.is_empty())
                .map(|c| ImagePin {
                    reference: c.image.clone(),
                    image_id: c.image_id.clone(),
                });
            let decision =
                rollout::decide(&reference, resolved, observed.rollouts.get(name), running);
            Some((name.to_owned(), decision))
        })
        .collect()
}

/// The gate of `spec`'s rollouts.
pub fn gate_spec(spec: &ContainerSpec) -> GateSpec {
    let gate = spec.update.gate();
    GateSpec {
        timeout: gate.timeout.as_std(),
        watch: gate.watch.as_std(),
        health_check: spec.health_check.is_some(),
    }
}

/// The units that `Requires=` the container's (its `dependsOn` dependents).
fn dependents(object: &ObjectRef, revision: &Revision) -> Vec<String> {
    revision
        .graph()
        .dependents(object)
        .into_iter()
        .filter(|d| d.kind == Kind::Container)
        .map(|d| unit_name(&d.name))
        .collect()
}

/// Adds the rollout (or the pin's record) after the container's start or restart, and
/// the basis for deciding again after a pull.
pub(super) fn attach(
    step: &mut Step,
    decision: Option<&Decision>,
    unit: &render::UnitFile,
    spec: &ContainerSpec,
    revision: &Revision,
    observed: &Observed,
) {
    let Some(decision) = decision else { return };
    if matches!(step.change, Change::Conflict { .. } | Change::Error { .. }) {
        return;
    }
    let record = observed.rollouts.get(step.object.name.as_str());
    let basis = RolloutBasis {
        reference: image_reference(spec, revision)
            .map(ToString::to_string)
            .unwrap_or_default(),
        template: unit.template.clone(),
        current: match decision {
            Decision::Roll { from, .. } | Decision::AfterPull { from, .. } => from.clone(),
            Decision::Pinned(pin) | Decision::Held { current: pin, .. } => Some(pin.clone()),
        },
        failed: record.and_then(|r| r.failed.clone()),
        gate: gate_spec(spec),
        dependents: dependents(&step.object, revision),
        on_disk: step.unit_before.clone(),
    };
    if let Decision::Roll { from, to, trigger } = decision {
        let starts = step
            .actions
            .iter()
            .any(|a| matches!(a, Action::StartUnit { .. } | Action::RestartUnit { .. }));
        if starts {
            step.actions.push(Action::Rollout(Box::new(Rollout {
                container: step.object.name.to_string(),
                unit: unit.name.clone(),
                from: from.clone(),
                to: to.clone(),
                trigger: *trigger,
                gate: basis.gate,
                template: unit.template.clone(),
                dependents: basis.dependents.clone(),
            })));
        }
    }
    step.rollout = Some(Box::new(basis));
}

/// Why a running container must restart: it runs another image than its pin.
pub(super) fn pin_drift(
    object: &ObjectRef,
    decision: Option<&Decision>,
    observed: &Observed,
) -> Option<RepairReason> {
    let pinned = decision?.image_word()?;
    let container = observed
        .containers
        .get(object.name.as_str())
        .filter(|c| owns(&c.labels, Kind::Container))?;
    let running = container.image_id.as_str();
    (!running.is_empty() && !rollout::same_id(running, pinned)).then(|| RepairReason::NewerImage {
        running: rollout::short_id(running).to_owned(),
        reference: container.image.clone(),
        current: rollout::short_id(pinned).to_owned(),
    })
}

impl RolloutBasis {
    /// The step to run instead of `step` now that a pull told the reference's image ID
    /// (`id`): its unit pinned to that ID and its restart followed by a rollout, or, when
    /// the ID is the one it runs or one that failed before, pinned to what runs.
    pub fn after_pull(&self, step: &Step, id: &str) -> Option<Step> {
        let record = crate::rollout::RolloutRecord {
            current: self.current.clone(),
            failed: self.failed.clone(),
            ..crate::rollout::RolloutRecord::new(step.object.name.as_str())
        };
        let decision = rollout::decide(&self.reference, Some(id), Some(&record), None);
        let content = rollout::with_image(&self.template, decision.image_word()?);
        let unit = unit_name(&step.object.name);
        let mut out = step.clone();
        out.actions.retain(|a| {
            !matches!(a, Action::Rollout(_))
                && !matches!(a, Action::WriteUnit { .. } | Action::RestartUnit { .. })
        });
        let planned_write = step
            .actions
            .iter()
            .any(|a| matches!(a, Action::WriteUnit { .. }));
        let changed = self.on_disk.as_deref() != Some(content.as_str());
        if changed || planned_write {
            // The write goes before the enablement and the start, as planned.
            let at = out
                .actions
                .iter()
                .position(|a| !matches!(a, Action::PullImage { .. }))
                .unwrap_or(out.actions.len());
            out.actions.insert(
                at,
                Action::WriteUnit {
                    unit: unit.clone(),
                    content,
                },
            );
        }
        let starts = out
            .actions
            .iter()
            .any(|a| matches!(a, Action::StartUnit { .. }));
        let restarted = step
            .actions
            .iter()
            .any(|a| matches!(a, Action::RestartUnit { .. }));
        if !starts && (changed || restarted) {
            out.actions.push(Action::RestartUnit { unit: unit.clone() });
        }
        if let Decision::Roll { from, to, trigger } = decision {
            out.actions.push(Action::Rollout(Box::new(Rollout {
                container: step.object.name.to_string(),
                unit,
                from,
                to,
                trigger,
                gate: self.gate,
                template: self.template.clone(),
                dependents: self.dependents.clone(),
            })));
            if out.change == Change::UpToDate {
                out.change = Change::Update {
                    fields: vec!["image (new ID)".into()],
                };
            }
        }
        (out != *step).then_some(out)
    }
}
