//! Which objects an execution attempts, learnt between its phases: containers held back
//! (with their dependents) when what they use failed, containers restarted because their
//! image got a new ID, which units are enabled, and why an object is not attempted.
//!
//! Pure: plans, outcomes and batch results in, decisions out; the executor does the I/O.

use std::collections::{BTreeMap, BTreeSet};

use podctl_api::{Kind, ObjectRef, Revision};

use super::enablement;
use super::error::{ActionError, Blocked};
use super::pull::Pulls;
use super::{Outcome, Verdict};
use crate::plan::{Action, Change, Step};

/// The passes over desired objects: what containers use (networks last), then the
/// containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Resources,
    Networks,
    Containers,
}

impl Phase {
    /// Whether `step` has actions in this phase: its kind's phase, and for a resource with
    /// unit actions (a volume's backup timer) also the containers' phase, when the unit
    /// files have been written and systemd reloaded.
    pub fn runs(self, step: &Step) -> bool {
        self.includes(step.object.kind)
            || (self == Phase::Containers
                && step.object.kind == Kind::Volume
                && step.actions.iter().any(Action::is_unit_action))
    }

    /// Whether `action` of an object of `kind` runs in this phase (see [`Self::runs`]). Only
    /// a volume's actions are split; a network's unit actions (stopping its containers
    /// before it is recreated) run with it.
    pub fn runs_action(self, kind: Kind, action: &Action) -> bool {
        match (self, kind) {
            (Phase::Resources, Kind::Volume) => !action.is_unit_action(),
            (Phase::Containers, Kind::Volume) => action.is_unit_action(),
            _ => true,
        }
    }

    fn includes(self, kind: Kind) -> bool {
        match self {
            Phase::Resources => matches!(
                kind,
                Kind::Volume
                    | Kind::Secret
                    | Kind::Image
                    | Kind::BackupRepository
                    | Kind::HostSettings
            ),
            Phase::Networks => kind == Kind::Network,
            Phase::Containers => kind == Kind::Container,
        }
    }
}

/// What the batches of an execution did, by reference or unit: `run_action` reports a
/// batched action from here, and the gate keeps an object whose batch failed from running.
#[derive(Debug, Default)]
pub(super) struct Batches {
    pub pulls: Pulls,
    /// Unit files written (or not), by unit.
    pub writes: enablement::Results,
    /// Units enabled or disabled (or not), by unit.
    pub enablement: enablement::Results,
}

impl Batches {
    fn write_error(&self, step: &Step) -> Option<&ActionError> {
        step.actions.iter().find_map(|a| match a {
            Action::WriteUnit { unit, .. } => self.writes.get(unit)?.as_ref().err(),
            _ => None,
        })
    }

    fn enablement_error(&self, step: &Step) -> Option<&ActionError> {
        step.actions
            .iter()
            .filter_map(enablement_unit)
            .find_map(|unit| self.enablement.get(unit)?.as_ref().err())
    }
}

/// What keeps an object from being attempted, learnt between the phases.
#[derive(Debug, Default)]
pub(super) struct Gate {
    /// Containers that cannot run; their unit files are neither written nor enabled.
    pub held: BTreeMap<ObjectRef, Verdict>,
    pub reload_error: Option<ActionError>,
}

impl Gate {
    /// Why `step` is not attempted, if it is not.
    pub fn why_not_attempted(
        &self,
        step: &Step,
        revision: &Revision,
        outcomes: &BTreeMap<ObjectRef, Outcome>,
        batches: &Batches,
    ) -> Option<Verdict> {
        if let Some(status) = self.held.get(&step.object) {
            return Some(status.clone());
        }
        // An object with nothing to do keeps running as it is when what it needs was left
        // as it was (held back, or a resource that failed); only a dependency that failed
        // to start in this pass blocks it.
        let left_as_it_was = |d: &ObjectRef| self.held.contains_key(d) || d.kind != Kind::Container;
        if let Some(status) = planned_failure(step, revision, |d| {
            outcomes.get(d).is_some_and(|o| !o.status.is_ok())
                && !(step.is_noop() && left_as_it_was(d))
        }) {
            return Some(status);
        }
        if let Some(status) = self.stops_a_held_container(step) {
            return Some(status);
        }
        if let Some(e) = batches.write_error(step) {
            return Some(Verdict::Failed(e.clone()));
        }
        if let Some(e) = self.reload_error.clone().filter(|_| !step.is_noop()) {
            return Some(Verdict::Failed(e));
        }
        batches
            .enablement_error(step)
            .map(|e| Verdict::Failed(e.clone()))
    }

    /// A network is recreated with its containers stopped and started again: not when one
    /// of them is held back, which would leave it down.
    fn stops_a_held_container(&self, step: &Step) -> Option<Verdict> {
        step.actions.iter().find_map(|a| {
            let Action::StopUnit { unit } = a else {
                return None;
            };
            let (object, status) = self.held.iter().find(|(o, _)| {
                o.kind == Kind::Container && crate::render::unit_name(&o.name) == *unit
            })?;
            Some(Verdict::Blocked(Blocked::NotRecreated {
                container: object.clone(),
                why: status.message().unwrap_or_default(),
            }))
        })
    }

    /// Whether `step`'s unit files are written and enabled in this execution.
    pub fn lets_write(&self, step: &Step) -> bool {
        !self.held.contains_key(&step.object)
    }
}

/// A conflict or error the plan found, or a dependency that did not converge.
pub(super) fn planned_failure(
    step: &Step,
    revision: &Revision,
    failed: impl Fn(&ObjectRef) -> bool,
) -> Option<Verdict> {
    match &step.change {
        Change::Conflict { message } => return Some(Verdict::Conflict(message.clone())),
        Change::Error { message } => {
            return Some(Verdict::Failed(ActionError::Planned(message.clone())));
        }
        _ => {}
    }
    revision
        .graph()
        .dependencies(&step.object)
        .into_iter()
        .find(|d| failed(d))
        .map(|dep| Verdict::Blocked(Blocked::By(dep.clone())))
}

/// The containers that cannot run now, in dependency order so that one held back holds
/// back its dependents: a conflict or error, a resource that failed, a failed pull.
pub(super) fn held_containers(
    revision: &Revision,
    by_object: &BTreeMap<&ObjectRef, &Step>,
    outcomes: &BTreeMap<ObjectRef, Outcome>,
    pulls: &Pulls,
) -> BTreeMap<ObjectRef, Verdict> {
    let mut held = BTreeMap::new();
    for object in revision
        .graph()
        .order()
        .filter(|o| o.kind == Kind::Container)
    {
        let Some(step) = by_object.get(object).filter(|s| !s.is_noop()) else {
            continue;
        };
        let pull_failure = step.actions.iter().find_map(|a| match a {
            Action::PullImage { reference, .. } => {
                pulls.result(reference).err().map(Verdict::Failed)
            }
            _ => None,
        });
        let failed = |d: &ObjectRef| {
            held.contains_key(d) || outcomes.get(d).is_some_and(|o| !o.status.is_ok())
        };
        if let Some(status) = planned_failure(step, revision, failed).or(pull_failure) {
            held.insert(object.clone(), status);
        }
    }
    held
}

/// The container steps to run instead of the planned ones now that the pulls told their
/// image's ID: pinned to it, with a rollout, or pinned to what runs (see
/// `RolloutBasis::after_pull`).
pub(super) fn pinned_after_pull(steps: &[&Step], pulls: &Pulls) -> BTreeMap<ObjectRef, Step> {
    steps
        .iter()
        .filter(|s| s.object.kind == Kind::Container)
        .filter_map(|s| {
            let basis = s.rollout.as_ref()?;
            let id = pulls.ids.get(&basis.reference)?;
            Some((s.object.clone(), basis.after_pull(s, id)?))
        })
        .collect()
}

/// The container steps to run instead of the planned ones because an Image object they
/// use got a new ID: a running container with nothing else to do is restarted. Containers
/// whose image is pinned are left to `pinned_after_pull`: a restart would run the pin.
pub(super) fn image_restarts(
    steps: &[&Step],
    pulls: &Pulls,
    revision: &Revision,
) -> BTreeMap<ObjectRef, Step> {
    let changed_images: BTreeSet<&ObjectRef> = steps
        .iter()
        .filter(|s| s.object.kind == Kind::Image)
        .filter(|s| {
            s.actions.iter().any(|a| {
                matches!(a, Action::PullImage { reference, .. } if pulls.changed.contains(reference))
            })
        })
        .map(|s| &s.object)
        .collect();
    let mut out = BTreeMap::new();
    for step in steps.iter().filter(|s| s.object.kind == Kind::Container) {
        let uses_changed = revision
            .graph()
            .dependencies(&step.object)
            .iter()
            .any(|d| changed_images.contains(d));
        let starts = step
            .actions
            .iter()
            .any(|a| matches!(a, Action::StartUnit { .. } | Action::RestartUnit { .. }));
        if !uses_changed
            || starts
            || step.rollout.is_some()
            || !matches!(
                step.change,
                Change::UpToDate | Change::Repair { .. } | Change::Update { .. }
            )
        {
            continue;
        }
        let mut step = (*step).clone();
        step.actions.push(Action::RestartUnit {
            unit: crate::render::unit_name(&step.object.name),
        });
        if step.change == Change::UpToDate {
            step.change = Change::Update {
                fields: vec!["image (new ID)".into()],
            };
        }
        out.insert(step.object.clone(), step);
    }
    out
}

/// The unit an enablement action changes.
fn enablement_unit(action: &Action) -> Option<&str> {
    match action {
        Action::EnableUnit { unit } | Action::DisableUnit { unit } => Some(unit),
        _ => None,
    }
}

/// The units to enable and to disable in one batch each: those of steps whose unit file
/// was written (or needed none) and that are not held back.
pub(super) fn enablement(
    steps: &[&Step],
    gate: &Gate,
    batches: &Batches,
) -> (Vec<String>, Vec<String>) {
    let mut enable = BTreeSet::new();
    let mut disable = BTreeSet::new();
    for step in steps
        .iter()
        .filter(|s| batches.write_error(s).is_none() && gate.lets_write(s))
    {
        for action in &step.actions {
            match action {
                Action::EnableUnit { unit } => {
                    enable.insert(unit.clone());
                }
                Action::DisableUnit { unit } => {
                    disable.insert(unit.clone());
                }
                _ => {}
            }
        }
    }
    (enable.into_iter().collect(), disable.into_iter().collect())
}

/// The container steps whose new unit file was written but which were then blocked (by
/// a dependency that failed to start): their units are put back as they were, so that
/// nothing new is left enabled to fail at the next boot.
pub(super) fn written_then_blocked<'a>(
    by_object: &BTreeMap<&ObjectRef, &'a Step>,
    outcomes: &BTreeMap<ObjectRef, Outcome>,
    gate: &Gate,
    batches: &Batches,
) -> Vec<&'a Step> {
    by_object
        .values()
        .copied()
        .filter(|s| {
            matches!(
                outcomes.get(&s.object).map(|o| &o.status),
                Some(Verdict::Blocked(_))
            ) && gate.lets_write(s)
                && batches.write_error(s).is_none()
                && s.actions
                    .iter()
                    .any(|a| matches!(a, Action::WriteUnit { .. }))
        })
        .collect()
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
