//! Planning a container's image: which image ID its unit is pinned to (`rollout::decide`
//! on the observed image IDs and its rollout record), and the `Rollout` action that a new
//! image's restart is followed by. An image known only after a pull is decided again by
//! the executor with [`RolloutBasis::after_pull`].

use std::collections::BTreeMap;

use podctl_api::{ContainerSpec, ImageSource, Kind, ObjectRef, PullPolicy, Revision, UpdatePolicy};

use super::{Action, Change, RepairReason, Step, image_candidates};
use crate::observe::{ContainerState, Observed};
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
    /// See [`follows_tag`].
    pub follow_tag: bool,
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
                .filter(|c| owns(&c.labels, Kind::Container) && c.state == ContainerState::Running)
                .filter(|c| !c.image_id.is_empty())
                .map(|c| ImagePin {
                    reference: c.image.clone(),
                    image_id: c.image_id.clone(),
                });
            let decision = rollout::decide(
                &reference,
                resolved,
                observed.rollouts.get(name),
                running,
                follows_tag(spec, revision),
            );
            Some((name.to_owned(), decision))
        })
        .collect()
}

/// Whether a new image under the same reference is rolled out: `update.policy` asks
/// for it, or the container's Image is pulled on every apply (`pullPolicy: Always`).
pub fn follows_tag(spec: &ContainerSpec, revision: &Revision) -> bool {
    let always = match &spec.image {
        ImageSource::Reference(_) => false,
        ImageSource::Object(name) => revision
            .get(&ObjectRef::new(Kind::Image, name.clone()))
            .and_then(|o| o.as_image())
            .is_some_and(|i| i.pull_policy == PullPolicy::Always),
    };
    always || spec.update.policy != UpdatePolicy::None
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
        follow_tag: follows_tag(spec, revision),
        on_disk: step.unit_before.clone(),
    };
    if adopt(
        step,
        decision,
        unit,
        (&basis.reference, basis.gate),
        observed,
    ) {
        step.rollout = Some(Box::new(basis));
        return;
    }
    if let Decision::Roll { from, to, trigger } = decision {
        // Only the pin differs (the tag names another image now): the plan saw an edited
        // file, since the definition hash covers the reference.
        if let Some(from) = from
            && step.unit_before.as_deref()
                == Some(rollout::with_image(&unit.template, &from.image_id).as_str())
        {
            step.change = Change::Update {
                fields: vec!["image (new ID)".into()],
            };
        }
        let starts = step
            .actions
            .iter()
            .any(|a| matches!(a, Action::StartUnit { .. } | Action::RestartUnit { .. }));
        // An interrupted rollout left the new image running, unjudged: judged now.
        let runs_to = from.is_some()
            && observed
                .containers
                .get(step.object.name.as_str())
                .filter(|c| owns(&c.labels, Kind::Container) && c.state == ContainerState::Running)
                .is_some_and(|c| rollout::same_id(&c.image_id, &to.image_id));
        if !starts && runs_to && step.change == Change::UpToDate {
            step.change = Change::Repair {
                reason: RepairReason::RolloutUnjudged,
            };
        }
        if starts || runs_to {
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

/// A unit written before images were pinned (its image word is the reference) whose
/// container already runs the image it is now pinned to: the file is rewritten pinned,
/// without a restart, and the pin recorded. Returns whether `step` was such a unit.
fn adopt(
    step: &mut Step,
    decision: &Decision,
    unit: &render::UnitFile,
    (reference, gate): (&str, GateSpec),
    observed: &Observed,
) -> bool {
    let pin = match decision {
        Decision::Pinned(pin)
        | Decision::Roll {
            from: None,
            to: pin,
            ..
        } => pin,
        Decision::Roll { .. } | Decision::AfterPull { .. } | Decision::Held { .. } => {
            return false;
        }
    };
    let unpinned = rollout::with_image(&unit.template, reference);
    let runs_pin = observed
        .containers
        .get(step.object.name.as_str())
        .filter(|c| owns(&c.labels, Kind::Container) && c.state == ContainerState::Running)
        .is_some_and(|c| c.image_id.is_empty() || rollout::same_id(&c.image_id, &pin.image_id));
    if step.unit_before.as_deref() != Some(unpinned.as_str())
        || unpinned == unit.content
        || !runs_pin
    {
        return false;
    }
    step.actions
        .retain(|a| !matches!(a, Action::RestartUnit { .. }));
    // The hash covers the reference, not the pin: the plan saw an edited file.
    if matches!(
        step.change,
        Change::Update { .. }
            | Change::Repair {
                reason: RepairReason::UnitFileEdited
            }
    ) {
        step.change = Change::Repair {
            reason: RepairReason::ImageNotPinned,
        };
    }
    if !observed.rollouts.contains_key(step.object.name.as_str()) {
        step.actions.push(Action::Rollout(Box::new(Rollout {
            container: step.object.name.to_string(),
            unit: unit.name.clone(),
            from: None,
            to: pin.clone(),
            trigger: rollout::Trigger::FirstPin,
            gate,
            template: unit.template.clone(),
            dependents: Vec::new(),
        })));
    }
    true
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
        let decision = rollout::decide(
            &self.reference,
            Some(id),
            Some(&record),
            None,
            self.follow_tag,
        );
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

/// Why `podctl rollback` cannot roll a container back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackRefused {
    #[error("container/{0} has no rollout record yet: there is nothing to roll back to")]
    NoRecord(String),
    #[error("container/{0} has no previous image to roll back to (only one was rolled out)")]
    NoPrevious(String),
    #[error("container/{0} cannot be rolled back now: {1}")]
    NotPlanned(String, String),
}

impl RollbackRefused {
    pub fn hint(&self) -> &'static str {
        match self {
            Self::NoRecord(_) | Self::NoPrevious(_) => {
                "see `podctl history NAME`; to run another image, change the manifest"
            }
            Self::NotPlanned(..) => "run `podctl diff` to see what blocks it, and fix that first",
        }
    }
}

/// The step of `podctl rollback`: the container's unit pinned to its record's previous
/// image, restarted, and judged by its gate like any rollout (a failure puts the current
/// image back). `planned` is the container's step of a plan of the current revision.
pub fn rollback_step(
    planned: &Step,
    record: Option<&crate::rollout::RolloutRecord>,
) -> Result<Step, RollbackRefused> {
    let name = planned.object.name.to_string();
    let record = record.ok_or_else(|| RollbackRefused::NoRecord(name.clone()))?;
    let (Some(current), Some(previous)) = (&record.current, &record.previous) else {
        return Err(RollbackRefused::NoPrevious(name));
    };
    if let Change::Conflict { message } | Change::Error { message } = &planned.change {
        return Err(RollbackRefused::NotPlanned(name, message.clone()));
    }
    let basis = planned.rollout.as_ref().ok_or_else(|| {
        RollbackRefused::NotPlanned(name.clone(), "its image is not known".into())
    })?;
    let unit = unit_name(&planned.object.name);
    Ok(Step {
        change: Change::Update {
            fields: vec!["image (rollback)".into()],
        },
        actions: vec![
            Action::WriteUnit {
                unit: unit.clone(),
                content: rollout::with_image(&basis.template, &previous.image_id),
            },
            Action::RestartUnit { unit: unit.clone() },
            Action::Rollout(Box::new(Rollout {
                container: name,
                unit,
                from: Some(current.clone()),
                to: previous.clone(),
                trigger: rollout::Trigger::Rollback,
                gate: basis.gate,
                template: basis.template.clone(),
                dependents: basis.dependents.clone(),
            })),
        ],
        ..planned.clone()
    })
}
