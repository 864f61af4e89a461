//! Executes a plan: removals first (containers, then secrets, networks, images, volumes),
//! then every image pulled (in parallel, with retries) and the volumes, secrets, images
//! and networks converged; then the unit files of the containers that can run, written
//! with one daemon-reload, and those containers started level by level of the dependency
//! graph, independent ones in parallel with a bound. A failure blocks only what depends
//! on it, and a container held back by one keeps the unit it had.
//!
//! This file holds the phases (which actions run when); `run` carries out one action,
//! `gate` decides what is attempted, `pull` and `enablement` do the batches.

mod bluegreen;
mod enablement;
mod error;
mod gate;
mod pre_update;
mod pull;
mod rollout;
mod run;
mod updates;

pub use enablement::Enablement;
pub use error::{ActionError, Blocked, ErrorKind, GateFailure, PodmanWork};
pub use pull::{ATTEMPTS as PULL_ATTEMPTS, ProgressSink, PullProgress};
pub use updates::{DEFAULT_MAX_PARALLEL as DEFAULT_MAX_PARALLEL_UPDATES, UpdateSlots};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::join_all;
use podctl_api::{Kind, ObjectRef, Revision};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::adapters::podman::Podman;
use crate::adapters::systemd::Systemd;
use crate::failpoint;
use crate::observe::{pulled_images, remove_unit_file, secret_source, write_unit_file};
use crate::plan::{Action, Change, Plan, Step};
use gate::{Batches, Gate, Phase};
use run::RunContext;

/// How one object ended.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Nothing needed doing.
    UpToDate,
    /// Every action succeeded.
    Applied,
    /// An action failed; the error says which and why.
    Failed(ActionError),
    /// Not attempted because something it depends on did not converge.
    Blocked(Blocked),
    /// A name clash with something podctl does not own; nothing was touched.
    Conflict(String),
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::UpToDate | Verdict::Applied)
    }

    /// What went wrong, as the user reads it; `None` for an object that is fine.
    pub fn message(&self) -> Option<String> {
        match self {
            Verdict::Failed(e) => Some(e.to_string()),
            Verdict::Blocked(b) => Some(b.to_string()),
            Verdict::Conflict(m) => Some(m.clone()),
            Verdict::UpToDate | Verdict::Applied => None,
        }
    }
}

/// How the rollout of `outcome`'s object ended in this execution, if it had one.
pub fn rollout_result(outcome: &Outcome) -> Option<crate::rollout::RolloutResult> {
    use crate::rollout::RolloutResult;
    match &outcome.status {
        Verdict::Failed(ActionError::RolledBack(_) | ActionError::NotSwitched { .. }) => {
            Some(RolloutResult::RolledBack)
        }
        Verdict::Failed(ActionError::RollbackFailed { .. }) => Some(RolloutResult::RollbackFailed),
        _ => outcome.done.iter().find_map(|a| match a {
            Action::Rollout(r) if r.is_gated() => Some(RolloutResult::Succeeded),
            Action::Rollout(_) => Some(RolloutResult::Pinned),
            Action::BlueGreen(s) if s.start && s.trigger.is_some() => {
                Some(RolloutResult::Succeeded)
            }
            _ => None,
        }),
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub object: ObjectRef,
    pub change: Change,
    pub status: Verdict,
    /// The actions carried out, in order.
    pub done: Vec<Action>,
    pub elapsed: Duration,
}

impl Outcome {
    fn of(step: &Step, status: Verdict, done: Vec<Action>, elapsed: Duration) -> Self {
        Self {
            object: step.object.clone(),
            change: step.change.clone(),
            status,
            done,
            elapsed,
        }
    }
}

pub struct Executor<'a> {
    pub systemd: &'a Systemd,
    pub podman: &'a Podman,
    pub unit_dir: PathBuf,
    /// How many objects are started at once. systemd would start them all together,
    /// which on a small host is slower than a few at a time.
    pub concurrency: usize,
    /// Where the record of pulled images lives.
    pub state_dir: PathBuf,
    /// Where pull progress is reported, if anywhere.
    pub progress: Option<ProgressSink>,
    /// Tries of a pull that fails on the network, within one execution.
    pub pull_attempts: u32,
    /// Cancelled by Ctrl-C (or the controller's shutdown): the jobs in flight finish, then
    /// nothing more is started and the rest is reported as not attempted.
    pub interrupt: CancellationToken,
    /// The key of secret hashes, for the label of a secret created from its source.
    pub secret_key: &'a secret_source::HashKey,
    /// How many rollouts run at once, and whether a rollback stopped the rest: one
    /// `UpdateSlots` per execution.
    pub updates: UpdateSlots,
}

/// Records `outcome`, joined to the object's outcome of an earlier phase (a volume, then its
/// backup timer): the actions of both, the time of both, and the verdict of the later one
/// (it runs only after the earlier one was fine) unless it had nothing to do.
fn merge_outcome(outcomes: &mut BTreeMap<ObjectRef, Outcome>, outcome: Outcome) {
    match outcomes.entry(outcome.object.clone()) {
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(outcome);
        }
        std::collections::btree_map::Entry::Occupied(mut e) => {
            let earlier = e.get_mut();
            earlier.done.extend(outcome.done);
            earlier.elapsed += outcome.elapsed;
            if !matches!(outcome.status, Verdict::UpToDate) {
                earlier.status = outcome.status;
            }
        }
    }
}

/// The steps of a plan by what the execution does with them.
struct Sorted<'a> {
    removals: Vec<&'a Step>,
    /// Kept on the host: reported, nothing done.
    orphans: Vec<&'a Step>,
    desired: Vec<&'a Step>,
}

impl<'a> Sorted<'a> {
    fn of(plan: &'a Plan) -> Self {
        // A retained volume that left the revision is kept, but its backup timer goes.
        let (removals, rest): (Vec<&Step>, Vec<&Step>) = plan.steps.iter().partition(|s| {
            s.change == Change::Delete
                || (matches!(s.change, Change::Orphaned { .. }) && !s.actions.is_empty())
        });
        let (orphans, desired) = rest
            .into_iter()
            .partition(|s| matches!(s.change, Change::Orphaned { .. }));
        Self {
            removals,
            orphans,
            desired,
        }
    }
}

impl Executor<'_> {
    pub async fn execute(&self, plan: &Plan, revision: &Revision) -> Vec<Outcome> {
        let mut outcomes: BTreeMap<ObjectRef, Outcome> = BTreeMap::new();
        let started = Instant::now();
        let Sorted {
            removals,
            orphans,
            desired,
        } = Sorted::of(plan);
        for step in orphans {
            info!(object = %step.object, change = %step.change, "kept");
            outcomes.insert(
                step.object.clone(),
                Outcome::of(step, Verdict::UpToDate, Vec::new(), Duration::ZERO),
            );
        }
        let removed_images = self.remove_all(&removals, &mut outcomes).await;
        if self.interrupt.is_cancelled() {
            return self.interrupted(plan, outcomes);
        }

        let mut batches = Batches {
            pulls: self.pull_all(&desired).await,
            ..Batches::default()
        };
        failpoint::hit("pulled");
        self.record_pulls(&desired, &batches, &removed_images);
        // Containers whose image is known only now: pinned to the pulled ID, their restart
        // followed by a rollout. Then running containers whose Image object got a new ID
        // from an `Always` pull and have no rollout (no record, nothing to pin).
        let pinned = gate::pinned_after_pull(&desired, &batches.pulls);
        let desired: Vec<&Step> = desired
            .iter()
            .map(|s| pinned.get(&s.object).unwrap_or(*s))
            .collect();
        let restarts = gate::image_restarts(&desired, &batches.pulls, revision);
        let by_object: BTreeMap<&ObjectRef, &Step> = desired
            .iter()
            .map(|s| (&s.object, restarts.get(&s.object).unwrap_or(*s)))
            .collect();

        // Volumes, secrets, images and networks before any unit file: a container whose
        // resource failed keeps the unit it had (or gets none), instead of an enabled unit
        // that cannot start. Networks last: one is not recreated (which stops its
        // containers) when a container on it could not start again.
        let mut gate = Gate::default();
        for phase in [Phase::Resources, Phase::Networks] {
            self.converge_levels(revision, &by_object, &batches, &gate, phase, &mut outcomes)
                .await;
            gate.held = gate::held_containers(revision, &by_object, &outcomes, &batches.pulls);
        }
        if self.interrupt.is_cancelled() {
            return self.interrupted(plan, outcomes);
        }

        // With the restarts a pull decided: those are updates too.
        let updating: Vec<&Step> = by_object.values().copied().collect();
        self.backups_before_updates(&updating, revision, &mut gate)
            .await;
        self.write_and_enable(&removals, &desired, &outcomes, &mut gate, &mut batches)
            .await;
        self.converge_levels(
            revision,
            &by_object,
            &batches,
            &gate,
            Phase::Containers,
            &mut outcomes,
        )
        .await;
        self.reload_after_timer_removals(&outcomes).await;
        let put_back = gate::written_then_blocked(&by_object, &outcomes, &gate, &batches);
        if !put_back.is_empty() {
            self.put_back_units(&put_back).await;
        }
        info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "plan executed"
        );
        if self.interrupt.is_cancelled() {
            return self.interrupted(plan, outcomes);
        }
        in_plan_order(plan, outcomes)
    }

    /// The outcomes of an execution stopped by an interrupt: what ran, and every other
    /// object as not attempted. What was left half-way (a unit written, its container not
    /// restarted yet) is seen and finished by the next apply.
    fn interrupted(&self, plan: &Plan, mut outcomes: BTreeMap<ObjectRef, Outcome>) -> Vec<Outcome> {
        warn!("interrupted: the jobs in flight finished; nothing more is started");
        for step in plan.steps.iter().filter(|s| !s.is_noop()) {
            outcomes.entry(step.object.clone()).or_insert_with(|| {
                Outcome::of(
                    step,
                    Verdict::Blocked(Blocked::Interrupted),
                    Vec::new(),
                    Duration::ZERO,
                )
            });
        }
        in_plan_order(plan, outcomes)
    }

    /// The removals, one kind after the other (containers, then secrets, networks, images,
    /// volumes); returns the references of the images removed.
    async fn remove_all(
        &self,
        removals: &[&Step],
        outcomes: &mut BTreeMap<ObjectRef, Outcome>,
    ) -> Vec<String> {
        let mut removed_images = Vec::new();
        for kind in [
            Kind::Container,
            Kind::Secret,
            Kind::Network,
            Kind::Image,
            Kind::Volume,
            Kind::HostSettings,
        ] {
            let group: Vec<&Step> = removals
                .iter()
                .filter(|s| s.object.kind == kind)
                .copied()
                .collect();
            if group.is_empty() {
                continue;
            }
            // Volumes may take a backup timer with them: stopped and disabled like a
            // container's unit.
            let done = if matches!(kind, Kind::Container | Kind::Volume) {
                self.remove_with_units(&group).await
            } else {
                self.remove_resources(&group).await
            };
            for outcome in done {
                for action in &outcome.done {
                    if let Action::RemoveImage { reference } = action {
                        removed_images.push(reference.clone());
                    }
                }
                outcomes.insert(outcome.object.clone(), outcome);
            }
        }
        removed_images
    }

    /// Updates the record of the images podctl pulled (and so may remove again).
    fn record_pulls(&self, desired: &[&Step], batches: &Batches, removed_images: &[String]) {
        let pulled: Vec<String> = batches
            .pulls
            .results
            .iter()
            .filter(|(r, result)| result.is_ok() && pull::newly_pulled(desired, r))
            .map(|(r, _)| r.clone())
            .collect();
        if let Err(e) = pulled_images::update(&self.state_dir, &pulled, removed_images) {
            warn!(error = %e, dir = %self.state_dir.display(), "cannot update the record of pulled images");
        }
    }

    /// Writes every unit file that may run, reloads systemd once for the whole batch
    /// (and the removals' unit files), and changes the enablement of the batch.
    async fn write_and_enable(
        &self,
        removals: &[&Step],
        desired: &[&Step],
        outcomes: &BTreeMap<ObjectRef, Outcome>,
        gate: &mut Gate,
        batches: &mut Batches,
    ) {
        let mut reload_needed = removals
            .iter()
            .any(|s| s.actions.iter().any(Action::touches_unit_files));
        for step in desired.iter().filter(|s| gate.lets_write(s)) {
            for action in &step.actions {
                if let Action::WriteUnit { unit, content } = action {
                    let result = write_unit_file(&self.unit_dir, unit, content);
                    if result.is_ok() {
                        reload_needed = true;
                        failpoint::hit("unit-written");
                    }
                    batches
                        .writes
                        .insert(unit.clone(), result.map(drop).map_err(Into::into));
                }
            }
        }
        if reload_needed {
            info!("reloading systemd");
            if let Err(e) = self.systemd.reload().await {
                gate.reload_error = Some(ActionError::Reload {
                    source: Arc::new(e),
                });
            }
            failpoint::hit("reloaded");
        }
        // A removed unit stopped with podman's exit 143 would stay listed as failed (and
        // the host "degraded") until someone resets it.
        for outcome in outcomes.values() {
            for action in &outcome.done {
                if let Action::RemoveUnitFile { unit, .. } = action {
                    self.reset_failed(unit).await;
                }
            }
        }
        let (enable, disable) = gate::enablement(desired, gate, batches);
        batches.enablement = self.change_enablement(&enable, &disable).await;
        failpoint::hit("enabled");
    }

    /// A backup schedule dropped from a volume that stays removes its unit files in the
    /// containers' phase, after the reload of this execution: systemd is reloaded once more
    /// so that it forgets them now, not at the next reload.
    async fn reload_after_timer_removals(&self, outcomes: &BTreeMap<ObjectRef, Outcome>) {
        let removed = outcomes.values().any(|o| {
            o.object.kind == Kind::Volume
                && o.done
                    .iter()
                    .any(|a| matches!(a, Action::RemoveUnitFile { .. }))
        });
        if removed && let Err(e) = self.systemd.reload().await {
            warn!(error = %e, "cannot reload systemd after removing backup timers");
        }
    }

    /// Converges one phase's objects level by level of the graph, independent ones in
    /// parallel up to `concurrency`; an object whose dependency did not converge is blocked.
    async fn converge_levels(
        &self,
        revision: &Revision,
        by_object: &BTreeMap<&ObjectRef, &Step>,
        batches: &Batches,
        gate: &Gate,
        phase: Phase,
        outcomes: &mut BTreeMap<ObjectRef, Outcome>,
    ) {
        let semaphore = Semaphore::new(self.concurrency.max(1));
        // Every restart of this phase begins after this instant; a unit systemd restarts with
        // its dependency must have become active again since.
        let ctx = RunContext {
            batches,
            restarts_began: SystemTime::now(),
        };
        for level in revision.graph().levels() {
            if self.interrupt.is_cancelled() {
                return;
            }
            let mut work = Vec::new();
            for object in level {
                let Some(step) = by_object.get(object).filter(|s| phase.runs(s)) else {
                    continue;
                };
                // A resource's second phase (its units) only after its first succeeded.
                if object.kind != Kind::Container
                    && outcomes.get(object).is_some_and(|o| !o.status.is_ok())
                {
                    continue;
                }
                let not_attempted = gate.why_not_attempted(step, revision, outcomes, batches);
                work.push(self.attempt(step, phase, not_attempted, &semaphore, &ctx));
            }
            for outcome in join_all(work).await {
                merge_outcome(outcomes, outcome);
            }
        }
    }

    /// One object of a level: reported as not attempted, or converged in its turn.
    async fn attempt(
        &self,
        step: &Step,
        phase: Phase,
        not_attempted: Option<Verdict>,
        semaphore: &Semaphore,
        ctx: &RunContext<'_>,
    ) -> Outcome {
        let begin = Instant::now();
        let (status, done) = match not_attempted {
            Some(status) => (status, Vec::new()),
            None => self.converge_in_turn(step, phase, semaphore, ctx).await,
        };
        Outcome::of(step, status, done, begin.elapsed())
    }

    /// Converges `step` once it has its place among the objects in flight and, for a
    /// rollout, its rollout slot (taken first: a rollout waiting for a slot must not hold a
    /// place that other objects could use).
    async fn converge_in_turn(
        &self,
        step: &Step,
        phase: Phase,
        semaphore: &Semaphore,
        ctx: &RunContext<'_>,
    ) -> (Verdict, Vec<Action>) {
        let _slot = match self.updates.enter(step).await {
            Ok(slot) => slot,
            Err(blocked) => {
                info!(object = %step.object, "{blocked}");
                return (Verdict::Blocked(blocked), Vec::new());
            }
        };
        let _permit = semaphore.acquire().await;
        if self.interrupt.is_cancelled() {
            return (Verdict::Blocked(Blocked::Interrupted), Vec::new());
        }
        let (status, done) = self
            .converge(step, phase, ctx)
            .instrument(info_span!("object", object = %step.object))
            .await;
        self.updates.finished(step, &status);
        (status, done)
    }

    /// Runs one desired object's actions in order, up to the first that fails (files and
    /// enablement were done for the batch: those report the batch's result).
    async fn converge(
        &self,
        step: &Step,
        phase: Phase,
        ctx: &RunContext<'_>,
    ) -> (Verdict, Vec<Action>) {
        let mut done = Vec::new();
        for action in step
            .actions
            .iter()
            .filter(|a| phase.runs_action(step.object.kind, a))
        {
            if let Err(e) = self.run_action(action, ctx).await {
                // The caller reports every outcome (apply's table, the controller's
                // events and metrics); a warning here would say it twice.
                info!(error = %e, kind = %e.kind(), "object failed");
                return (Verdict::Failed(e), done);
            }
            done.push(action.clone());
        }
        let status = if done.is_empty() {
            Verdict::UpToDate
        } else {
            Verdict::Applied
        };
        (status, done)
    }

    /// Removes secrets, networks, images or volumes that left the revision, one group of
    /// the removal order at a time.
    async fn remove_resources(&self, steps: &[&Step]) -> Vec<Outcome> {
        let batches = Batches::default();
        let ctx = RunContext {
            batches: &batches,
            restarts_began: SystemTime::now(),
        };
        let mut outcomes = Vec::new();
        for step in steps {
            let begin = Instant::now();
            let mut done = Vec::new();
            let mut status = Verdict::Applied;
            for action in &step.actions {
                match self.run_action(action, &ctx).await {
                    Ok(()) => done.push(action.clone()),
                    Err(e) => {
                        warn!(object = %step.object, error = %e, "removal failed");
                        status = Verdict::Failed(e);
                        break;
                    }
                }
            }
            outcomes.push(Outcome::of(step, status, done, begin.elapsed()));
        }
        outcomes
    }

    /// Removes the units and containers of objects that left the revision: their units
    /// stopped in parallel, then disabled in one batch, then each one's files and
    /// container removed.
    async fn remove_with_units(&self, steps: &[&Step]) -> Vec<Outcome> {
        let semaphore = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let no_batches = Batches::default();
        let stop_ctx = RunContext {
            batches: &no_batches,
            restarts_began: SystemTime::now(),
        };
        let stops = steps.iter().map(|step| {
            let semaphore = semaphore.clone();
            let ctx = &stop_ctx;
            async move {
                let begin = Instant::now();
                let _permit = semaphore.acquire().await;
                let mut done = Vec::new();
                for action in step.actions.iter().filter(|a| is_stop(a)) {
                    if let Err(e) = self.run_action(action, ctx).await {
                        return (step, Err(e), done, begin);
                    }
                    done.push(action.clone());
                }
                (step, Ok(()), done, begin)
            }
            .instrument(info_span!("object", object = %step.object))
        });
        let stopped = join_all(stops).await;

        let disable: Vec<String> = steps
            .iter()
            .flat_map(|s| s.actions.iter())
            .filter_map(|a| match a {
                Action::DisableUnit { unit } => Some(unit.clone()),
                _ => None,
            })
            .collect();
        let batches = Batches {
            enablement: self.enablement_batch(Enablement::Disable, &disable).await,
            ..Batches::default()
        };
        let ctx = RunContext {
            batches: &batches,
            restarts_began: SystemTime::now(),
        };
        let mut outcomes = Vec::new();
        for (step, stop_result, mut done, begin) in stopped {
            let mut status = match stop_result {
                Ok(()) => Verdict::Applied,
                Err(e) => Verdict::Failed(e),
            };
            if status.is_ok() {
                for action in step.actions.iter().filter(|a| !is_stop(a)) {
                    match self.run_action(action, &ctx).await {
                        Ok(()) => done.push(action.clone()),
                        Err(e) => {
                            status = Verdict::Failed(e);
                            break;
                        }
                    }
                }
            }
            outcomes.push(Outcome::of(step, status, done, begin.elapsed()));
        }
        outcomes
    }

    /// Puts back the unit files of containers that were blocked after their new unit was
    /// written: the previous text where there was one, else no file and not enabled; then
    /// one reload.
    async fn put_back_units(&self, steps: &[&Step]) {
        // New units are disabled while their file is still there to say what to undo.
        let disable: Vec<String> = steps
            .iter()
            .filter(|s| s.unit_before.is_none())
            .map(|s| crate::render::unit_name(&s.object.name))
            .collect();
        for (unit, result) in self.enablement_batch(Enablement::Disable, &disable).await {
            if let Err(e) = result {
                warn!(%unit, error = %e, "cannot disable the unit of a blocked container");
            }
        }
        for step in steps {
            let unit = crate::render::unit_name(&step.object.name);
            // A blue-green container's units are not `NAME.service`: the next pass plans
            // them again from its state.
            if !step
                .actions
                .iter()
                .any(|a| matches!(a, Action::WriteUnit { unit: u, .. } if *u == unit))
            {
                continue;
            }
            let result = match &step.unit_before {
                Some(before) => write_unit_file(&self.unit_dir, &unit, before).map(drop),
                None => remove_unit_file(&self.unit_dir.join(&unit)),
            };
            match result {
                Ok(()) => {
                    info!(object = %step.object, %unit, "blocked: unit file put back as it was")
                }
                Err(e) => {
                    warn!(object = %step.object, error = %e, "blocked: cannot put the unit file back")
                }
            }
        }
        if let Err(e) = self.systemd.reload().await {
            warn!(error = %e, "daemon-reload after putting unit files back failed");
        }
    }
}

/// A stop, which a removal runs before the batch that disables the units.
fn is_stop(action: &Action) -> bool {
    matches!(action, Action::StopUnit { .. })
}

/// The outcomes in the order of the plan's steps.
fn in_plan_order(plan: &Plan, mut outcomes: BTreeMap<ObjectRef, Outcome>) -> Vec<Outcome> {
    plan.steps
        .iter()
        .filter_map(|s| outcomes.remove(&s.object))
        .collect()
}
