//! Planning a blue-green container: its colours' units are rendered with the image its
//! rollout decision pins, `bluegreen::decide` picks the next step from its state file and
//! what runs, and the step is the serving colour's unit planned as any container's
//! (`plan_container`, under the colour's own name), the proxy's unit, and the switch.

use podctl_api::{ContainerSpec, Kind, Object, ObjectRef, Revision};

use super::{Action, Change, RepairReason, Step, enablement, image_need, plan_container};
use crate::bluegreen::{
    self, Colour, DRAIN_TIMEOUT, InstanceSeen, Next, Seen, Switch, instance_name,
};
use crate::observe::{Observed, UnitStatus};
use crate::render::bluegreen::{colour_unit, proxy};
use crate::render::container::image_reference;
use crate::render::{RenderContext, UnitFile, unit_hash};
use crate::rollout::{Decision, Rollout, Trigger};

/// What the step of a blue-green container is planned from.
pub(super) struct Desired<'a> {
    pub object: &'a Object,
    pub spec: &'a ContainerSpec,
    pub revision: &'a Revision,
    pub decision: Option<&'a Decision>,
}

/// The step of a blue-green container; `None` when its image does not resolve (validation
/// rules that out).
pub(super) fn plan(
    d: &Desired<'_>,
    observed: &Observed,
    ctx: &RenderContext,
    recreated_network: Option<&podctl_api::Name>,
) -> Option<Step> {
    let mut step = plan_step(d, observed, ctx)?;
    // Its network is recreated (which stops the serving colour): started again after.
    if let Some(network) = recreated_network
        && let Some(unit) = step.unit.clone()
        && !step
            .actions
            .iter()
            .any(|a| matches!(a, Action::BlueGreen(_)))
    {
        super::restart_for_network(&mut step, &unit, network);
    }
    Some(step)
}

fn plan_step(d: &Desired<'_>, observed: &Observed, ctx: &RenderContext) -> Option<Step> {
    let name = d.object.name();
    let image = image_reference(d.spec, d.revision)?;
    let pinned = d.decision.and_then(Decision::image_word);
    let blue = colour_unit(name, d.spec, image, pinned, Colour::Blue, ctx)?;
    let green = colour_unit(name, d.spec, image, pinned, Colour::Green, ctx)?;
    let units = Units { blue, green };
    let mut seen = seen(name.as_str(), &units, observed, pinned);
    seen.desired_failed |= matches!(d.decision, Some(Decision::Held { .. }));
    let next = bluegreen::decide(&seen);
    let step = match next {
        Next::Serving { active } if seen.desired_failed => {
            let held = Units::held(units, active, observed);
            serving(d, &held, active, next, observed)
        }
        Next::Serving { active } | Next::Bootstrap { colour: active } => {
            serving(d, &units, active, next, observed)
        }
        Next::Roll { from, to } => switching(d, &units, (from, to), true, observed),
        Next::Finish { from, to } => switching(d, &units, (from, to), false, observed),
    };
    Some(step)
}

struct Units {
    blue: UnitFile,
    green: UnitFile,
}

impl Units {
    /// A definition that failed its gate is not tried again: the serving colour keeps
    /// the unit it runs (rendering it anew would restart it with nothing to switch to).
    fn held(mut self, active: Colour, observed: &Observed) -> Self {
        let unit = match active {
            Colour::Blue => &mut self.blue,
            Colour::Green => &mut self.green,
        };
        if let Some(f) = observed.unit_files.get(&unit.name).filter(|f| f.managed) {
            unit.hash = unit_hash(&f.content).unwrap_or_default().to_owned();
            unit.content = f.content.clone();
        }
        self
    }

    fn of(&self, colour: Colour) -> &UnitFile {
        match colour {
            Colour::Blue => &self.blue,
            Colour::Green => &self.green,
        }
    }
}

/// The definition a colour starts with, as its failure is recorded.
fn definition(unit: &UnitFile, pinned: Option<&str>) -> String {
    format!("{}@{}", unit.hash, pinned.unwrap_or("reference"))
}

fn seen(name: &str, units: &Units, observed: &Observed, pinned: Option<&str>) -> Seen {
    let instance = |colour: Colour| {
        let unit = units.of(colour);
        InstanceSeen {
            running: observed
                .units
                .get(&unit.name)
                .is_some_and(UnitStatus::is_running),
            current: observed
                .unit_files
                .get(&unit.name)
                .is_some_and(|f| f.managed && f.content == unit.content),
        }
    };
    let state = observed.bluegreen.get(name).cloned();
    let idle = state.as_ref().map_or(Colour::Green, |s| s.active.other());
    let desired_failed = state
        .as_ref()
        .and_then(|s| s.failed.as_ref())
        .is_some_and(|f| f.colour == idle && f.definition == definition(units.of(idle), pinned));
    Seen {
        state,
        blue: instance(Colour::Blue),
        green: instance(Colour::Green),
        desired_failed,
    }
}

/// `active` serves (or is started first): its unit planned as a container's, the idle
/// colour stopped if it runs, the proxy written and started.
fn serving(
    d: &Desired<'_>,
    units: &Units,
    active: Colour,
    next: Next,
    observed: &Observed,
) -> Step {
    let name = d.object.name();
    let unit = units.of(active);
    let instance = ObjectRef::new(
        Kind::Container,
        instance_name(name.as_str(), active)
            .parse()
            .unwrap_or_else(|_| name.clone()),
    );
    let mut step = plan_container(
        &instance,
        unit,
        d.spec.enabled,
        image_need(d.spec),
        None,
        observed,
    );
    step.object = d.object.object_ref();
    step.unit = Some(unit.name.clone());
    if matches!(step.change, Change::Conflict { .. } | Change::Error { .. }) {
        return step;
    }
    let idle = units.of(active.other());
    if observed
        .units
        .get(&idle.name)
        .is_some_and(UnitStatus::is_running)
    {
        step.actions.push(Action::StopUnit {
            unit: idle.name.clone(),
        });
        if step.change == Change::UpToDate {
            step.change = Change::Repair {
                reason: RepairReason::IdleColourRunning(active.other()),
            };
        }
    }
    if let Some(proxy) = proxy(name, d.spec, active) {
        proxy_actions(&mut step, &proxy, d.spec.enabled, observed, true);
    }
    if matches!(next, Next::Bootstrap { .. }) {
        record_first_pin(&mut step, d, unit);
    }
    step
}

/// The pin of the colour started first goes into the container's rollout record (its
/// history, and the rollback target of the next rollout).
fn record_first_pin(step: &mut Step, d: &Desired<'_>, unit: &UnitFile) {
    let Some(Decision::Roll { to, .. }) = d.decision else {
        return;
    };
    let starts = step
        .actions
        .iter()
        .any(|a| matches!(a, Action::StartUnit { .. } | Action::RestartUnit { .. }));
    if starts {
        step.actions.push(Action::Rollout(Box::new(Rollout {
            container: d.object.name().to_string(),
            unit: unit.name.clone(),
            from: None,
            to: to.clone(),
            trigger: Trigger::FirstPin,
            gate: super::rollout::gate_spec(d.spec),
            template: unit.template.clone(),
            dependents: Vec::new(),
        })));
    }
}

/// The proxy's unit: written when it differs, enabled as the manifest says, started when
/// it does not run, restarted when its definition (not only the colour it starts with)
/// changed. With `write` false (a switch writes it itself) it is only started.
fn proxy_actions(
    step: &mut Step,
    proxy: &UnitFile,
    enabled: bool,
    observed: &Observed,
    write: bool,
) {
    let on_disk = observed.unit_files.get(&proxy.name);
    let status = observed.units.get(&proxy.name);
    if on_disk.is_some_and(|f| !f.managed) {
        step.change = Change::Conflict {
            message: format!(
                "{} exists and is not managed by podctl; rename the object or remove that unit by hand",
                proxy.name
            ),
        };
        step.actions.clear();
        return;
    }
    let running = status.is_some_and(UnitStatus::is_running);
    let changed = write && on_disk.is_none_or(|f| f.content != proxy.content);
    let redefined = on_disk.is_some_and(|f| unit_hash(&f.content) != Some(proxy.hash.as_str()));
    let mut actions = Vec::new();
    if changed {
        actions.push(Action::WriteUnit {
            unit: proxy.name.clone(),
            content: proxy.content.clone(),
        });
    }
    let is_enabled = status.is_some_and(UnitStatus::is_enabled);
    actions.extend(enablement(&proxy.name, enabled, is_enabled, changed));
    match (running, redefined && write) {
        (false, _) => actions.push(Action::StartUnit {
            unit: proxy.name.clone(),
        }),
        (true, true) => actions.push(Action::RestartUnit {
            unit: proxy.name.clone(),
        }),
        (true, false) => {}
    }
    if !actions.is_empty() && step.change == Change::UpToDate {
        step.change = Change::Repair {
            reason: RepairReason::ProxyChanged,
        };
    }
    step.actions.extend(actions);
}

/// A rollout from `from` to `to` (`start`), or the end of a switch that was cut off.
fn switching(
    d: &Desired<'_>,
    units: &Units,
    (from, to): (Colour, Colour),
    start: bool,
    observed: &Observed,
) -> Step {
    let name = d.object.name();
    let (old, new) = (units.of(from), units.of(to));
    let before = observed
        .unit_files
        .get(&old.name)
        .filter(|f| f.managed)
        .map(|f| f.content.clone());
    let change = match (&before, start) {
        (Some(before), true) => Change::Update {
            fields: super::changed_fields(before, &units.of(from).content),
        },
        (None, true) => Change::Create,
        (_, false) => Change::Repair {
            reason: RepairReason::SwitchInterrupted(to),
        },
    };
    let mut step = Step::new(d.object.object_ref(), change, Vec::new());
    step.unit_before = before;
    step.unit_after = Some(old.content.clone());
    step.unit = Some(old.name.clone());
    if start {
        step.actions.extend(
            super::image_pull(image_need(d.spec), observed)
                .ok()
                .flatten(),
        );
        step.actions.push(Action::WriteUnit {
            unit: new.name.clone(),
            content: new.content.clone(),
        });
    }
    if let Some(proxy_now) = proxy(name, d.spec, from) {
        proxy_actions(&mut step, &proxy_now, d.spec.enabled, observed, false);
    }
    let Some(proxy_after) = proxy(name, d.spec, to) else {
        return step;
    };
    let mut switch = switch(d, new, (from, to), start, proxy_after.content);
    // A switch cut off half-way that goes back to the old colour rolls nothing out.
    let to_current = observed
        .unit_files
        .get(&new.name)
        .is_some_and(|f| f.content == new.content);
    if !start && !to_current {
        switch.trigger = None;
    }
    step.actions.push(Action::BlueGreen(Box::new(switch)));
    step
}

fn switch(
    d: &Desired<'_>,
    new: &UnitFile,
    (from, to): (Colour, Colour),
    start: bool,
    proxy_after: String,
) -> Switch {
    let (from_pin, to_pin, trigger) = match d.decision {
        Some(Decision::Roll { from, to, trigger }) => {
            (from.clone(), Some(to.clone()), Some(*trigger))
        }
        Some(Decision::AfterPull { from, trigger }) => (from.clone(), None, Some(*trigger)),
        Some(Decision::Pinned(pin) | Decision::Held { current: pin, .. }) => {
            (Some(pin.clone()), Some(pin.clone()), None)
        }
        None => (None, None, None),
    };
    let pinned = d.decision.and_then(Decision::image_word);
    Switch {
        container: d.object.name().to_string(),
        from,
        to,
        start,
        gate: super::rollout::gate_spec(d.spec),
        template: new.template.clone(),
        reference: image_reference(d.spec, d.revision)
            .map(ToString::to_string)
            .unwrap_or_default(),
        from_pin,
        to_pin,
        trigger,
        definition: definition(new, pinned),
        proxy_after,
        enabled: d.spec.enabled,
        drain: DRAIN_TIMEOUT,
    }
}

/// The step of `podctl rollback` for a blue-green container: the idle colour started on
/// its record's previous image, judged, and switched to like any rollout (trigger
/// `rollback`: the image left is marked failed). Refused unless the serving colour runs.
pub fn rollback(
    object: &Object,
    revision: &Revision,
    observed: &Observed,
    ctx: &RenderContext,
) -> Result<Step, super::rollout::RollbackRefused> {
    use super::rollout::RollbackRefused;
    let name = object.name();
    let record = observed
        .rollouts
        .get(name.as_str())
        .ok_or_else(|| RollbackRefused::NoRecord(name.to_string()))?;
    let (Some(current), Some(previous)) = (&record.current, &record.previous) else {
        return Err(RollbackRefused::NoPrevious(name.to_string()));
    };
    let not_planned = |why: &str| RollbackRefused::NotPlanned(name.to_string(), why.to_owned());
    let spec = object
        .as_container()
        .ok_or_else(|| not_planned("not a container"))?;
    let image =
        image_reference(spec, revision).ok_or_else(|| not_planned("its image is not known"))?;
    let units = Units {
        blue: colour_unit(
            name,
            spec,
            image,
            Some(&previous.image_id),
            Colour::Blue,
            ctx,
        )
        .ok_or_else(|| not_planned("its units cannot be rendered"))?,
        green: colour_unit(
            name,
            spec,
            image,
            Some(&previous.image_id),
            Colour::Green,
            ctx,
        )
        .ok_or_else(|| not_planned("its units cannot be rendered"))?,
    };
    let seen = seen(name.as_str(), &units, observed, Some(&previous.image_id));
    let active = seen.active();
    if !seen.of(active).running {
        return Err(not_planned(&format!(
            "its serving colour {active} does not run"
        )));
    }
    let decision = Decision::Roll {
        from: Some(current.clone()),
        to: previous.clone(),
        trigger: Trigger::Rollback,
    };
    let d = Desired {
        object,
        spec,
        revision,
        decision: Some(&decision),
    };
    let mut step = switching(&d, &units, (active, active.other()), true, observed);
    step.change = Change::Update {
        fields: vec!["image (rollback)".into()],
    };
    Ok(step)
}
