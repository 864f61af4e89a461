//! Executes a plan: removals first (containers, then secrets, networks, images, volumes),
//! then every image pulled (in parallel, with retries) and the volumes, secrets, images
//! and networks converged; then the unit files of the containers that can run, written
//! with one daemon-reload, and those containers started level by level of the dependency
//! graph, independent ones in parallel with a bound. A failure blocks only what depends
//! on it, and a container held back by one keeps the unit it had.

mod pull;

pub use pull::ATTEMPTS as PULL_ATTEMPTS;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::join_all;
use podctl_api::{Kind, ObjectRef, Revision};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::adapters::podman::{Labels, Podman, PodmanError};
use crate::adapters::systemd::{ActiveState, JobOutcome, Systemd, SystemdError, UnitState};
use crate::failpoint;
use crate::observe::{pulled_images, remove_unit_file, secret_source, write_unit_file};
use crate::plan::{Action, Change, Plan, Step};

/// How one object ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Nothing needed doing.
    UpToDate,
    /// Every action succeeded.
    Applied,
    /// An action failed; the message says which and why.
    Failed(String),
    /// Not attempted because something it depends on did not converge.
    Blocked(String),
    /// A name clash with something podctl does not own; nothing was touched.
    Conflict(String),
}

impl Status {
    pub fn is_ok(&self) -> bool {
        matches!(self, Status::UpToDate | Status::Applied)
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub object: ObjectRef,
    pub change: Change,
    pub status: Status,
    /// The actions carried out, in order.
    pub done: Vec<Action>,
    pub elapsed: Duration,
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
    /// Pull progress on stderr.
    pub progress: bool,
    /// Tries of a pull that fails on the network, within one execution.
    pub pull_attempts: u32,
    /// Cancelled by Ctrl-C (or the controller's shutdown): the jobs in flight finish, then
    /// nothing more is started and the rest is reported as not attempted.
    pub interrupt: CancellationToken,
    /// The key of secret hashes, for the label of a secret created from its source.
    pub secret_key: &'a secret_source::HashKey,
}

/// The pulls of one execution: each reference's result, and which references got a new ID.
#[derive(Default)]
struct Pulls {
    results: HashMap<String, Result<(), String>>,
    changed: BTreeSet<String>,
}

impl Executor<'_> {
    pub async fn execute(&self, plan: &Plan, revision: &Revision) -> Vec<Outcome> {
        let mut outcomes: BTreeMap<ObjectRef, Outcome> = BTreeMap::new();
        let started = Instant::now();
        let (removals, desired): (Vec<&Step>, Vec<&Step>) =
            plan.steps.iter().partition(|s| s.change == Change::Delete);
        // Kept on the host: reported, nothing done.
        let (orphans, desired): (Vec<&Step>, Vec<&Step>) = desired
            .into_iter()
            .partition(|s| matches!(s.change, Change::Orphaned { .. }));
        for step in orphans {
            info!(object = %step.object, change = %step.change, "kept");
            outcomes.insert(
                step.object.clone(),
                Outcome {
                    object: step.object.clone(),
                    change: step.change.clone(),
                    status: Status::UpToDate,
                    done: Vec::new(),
                    elapsed: Duration::ZERO,
                },
            );
        }

        let mut removed_images = Vec::new();
        for kind in [
            Kind::Container,
            Kind::Secret,
            Kind::Network,
            Kind::Image,
            Kind::Volume,
        ] {
            let group: Vec<&Step> = removals
                .iter()
                .filter(|s| s.object.kind == kind)
                .copied()
                .collect();
            if group.is_empty() {
                continue;
            }
            let done = if kind == Kind::Container {
                self.remove(&group).await
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

        if self.interrupt.is_cancelled() {
            return self.interrupted(plan, outcomes);
        }
        let pulls = self.pull_all(&desired).await;
        failpoint::hit("pulled");
        let pulled: Vec<String> = pulls
            .results
            .iter()
            .filter(|(r, result)| result.is_ok() && newly_pulled(&desired, r))
            .map(|(r, _)| r.clone())
            .collect();
        if let Err(e) = pulled_images::update(&self.state_dir, &pulled, &removed_images) {
            warn!(error = %e, dir = %self.state_dir.display(), "cannot update the record of pulled images");
        }
        // Running containers whose Image object got a new ID from an `Always` pull.
        let restarts = image_restarts(&desired, &pulls, revision);
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
            self.converge_levels(revision, &by_object, &pulls, &gate, phase, &mut outcomes)
                .await;
            gate.held = held_containers(revision, &by_object, &outcomes, &pulls);
        }
        if self.interrupt.is_cancelled() {
            return self.interrupted(plan, outcomes);
        }

        // Then every unit file that may run, so one reload covers the whole batch.
        let mut reload_needed = removals
            .iter()
            .any(|s| s.actions.iter().any(Action::touches_unit_files));
        for step in desired
            .iter()
            .filter(|s| !gate.held.contains_key(&s.object))
        {
            for action in &step.actions {
                if let Action::WriteUnit { unit, content } = action {
                    match write_unit_file(&self.unit_dir, unit, content) {
                        Ok(_) => {
                            reload_needed = true;
                            failpoint::hit("unit-written");
                        }
                        Err(e) => {
                            gate.failed_writes
                                .insert(step.object.clone(), e.to_string());
                        }
                    }
                }
            }
        }
        if reload_needed {
            info!("reloading systemd");
            if let Err(e) = self.systemd.reload().await {
                gate.reload_error = Some(format!("daemon-reload failed: {e}"));
            }
            failpoint::hit("reloaded");
        }
        // A removed unit stopped with podman's exit 143 would stay listed as failed (and
        // the host "degraded") until someone resets it.
        for outcome in outcomes.values() {
            for action in &outcome.done {
                if let Action::RemoveUnitFile { unit, .. } = action {
                    let _ = self.systemd.reset_failed(unit).await;
                }
            }
        }
        let (enable, disable) = enablement(&desired, &gate);
        gate.enable_errors = self.change_enablement(&enable, &disable).await;
        failpoint::hit("enabled");

        self.converge_levels(
            revision,
            &by_object,
            &pulls,
            &gate,
            Phase::Containers,
            &mut outcomes,
        )
        .await;
        // A container blocked by one that failed to start gets its unit back as it was:
        // nothing new is left enabled to fail at the next boot.
        let written_then_blocked: Vec<&Step> = by_object
            .values()
            .copied()
            .filter(|s| {
                matches!(
                    outcomes.get(&s.object).map(|o| &o.status),
                    Some(Status::Blocked(_))
                ) && !gate.held.contains_key(&s.object)
                    && !gate.failed_writes.contains_key(&s.object)
                    && s.actions
                        .iter()
                        .any(|a| matches!(a, Action::WriteUnit { .. }))
            })
            .collect();
        if !written_then_blocked.is_empty() {
            self.put_back_units(&written_then_blocked).await;
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
            outcomes
                .entry(step.object.clone())
                .or_insert_with(|| Outcome {
                    object: step.object.clone(),
                    change: step.change.clone(),
                    status: Status::Blocked(
                        "interrupted before it was attempted; run apply again".into(),
                    ),
                    done: Vec::new(),
                    elapsed: Duration::ZERO,
                });
        }
        in_plan_order(plan, outcomes)
    }

    /// Converges one phase's objects level by level of the graph, independent ones in
    /// parallel up to `concurrency`; an object whose dependency did not converge is blocked.
    async fn converge_levels(
        &self,
        revision: &Revision,
        by_object: &BTreeMap<&ObjectRef, &Step>,
        pulls: &Pulls,
        gate: &Gate,
        phase: Phase,
        outcomes: &mut BTreeMap<ObjectRef, Outcome>,
    ) {
        let semaphore = Arc::new(Semaphore::new(self.concurrency.max(1)));
        // Every restart of this phase begins after this instant; a unit systemd restarts with
        // its dependency must have become active again since.
        let restarts_began = SystemTime::now();
        for level in revision.graph().levels() {
            if self.interrupt.is_cancelled() {
                return;
            }
            let mut work = Vec::new();
            for object in level.into_iter().filter(|o| phase.includes(o.kind)) {
                let Some(step) = by_object.get(object) else {
                    continue;
                };
                let pre_failure = gate.pre_failure(step, revision, outcomes);
                let semaphore = semaphore.clone();
                let step = *step;
                work.push(async move {
                    let begin = Instant::now();
                    let (status, done) = match pre_failure {
                        Some(status) => (status, Vec::new()),
                        None => {
                            let _permit = semaphore.acquire().await;
                            if self.interrupt.is_cancelled() {
                                (Status::Blocked(NOT_ATTEMPTED.into()), Vec::new())
                            } else {
                                self.converge(step, pulls, restarts_began)
                                    .instrument(info_span!("object", object = %step.object))
                                    .await
                            }
                        }
                    };
                    (step, status, done, begin.elapsed())
                });
            }
            for (step, status, done, elapsed) in join_all(work).await {
                outcomes.insert(
                    step.object.clone(),
                    Outcome {
                        object: step.object.clone(),
                        change: step.change.clone(),
                        status,
                        done,
                        elapsed,
                    },
                );
            }
        }
    }

    /// Runs one desired object's runtime actions (files and enablement are done).
    async fn converge(
        &self,
        step: &Step,
        pulls: &Pulls,
        restarts_began: SystemTime,
    ) -> (Status, Vec<Action>) {
        let mut done = Vec::new();
        for action in &step.actions {
            let result = match action {
                // Files and enablement were done for the batch.
                Action::WriteUnit { .. }
                | Action::EnableUnit { .. }
                | Action::DisableUnit { .. } => {
                    done.push(action.clone());
                    continue;
                }
                // systemd restarts it with its dependency (Requires=), in an earlier level
                // that has ended: its job may still be pending, or may have failed.
                Action::RestartedWith { unit, with } => {
                    self.restarted_with(unit, with, restarts_began).await
                }
                Action::PullImage { reference, .. } => pulls
                    .results
                    .get(reference)
                    .cloned()
                    .unwrap_or_else(|| Err(format!("image {reference} was not pulled"))),
                Action::CreateVolume {
                    name,
                    driver,
                    options,
                    labels,
                } => self
                    .podman
                    .create_volume(name, driver, options, labels)
                    .await
                    .map_err(|e| format!("cannot create volume {name}: {e}"))
                    .inspect(|()| failpoint::hit("resource")),
                Action::CreateSecret {
                    name,
                    source,
                    labels,
                    ..
                } => self
                    .create_secret(name, source, labels)
                    .await
                    .inspect(|()| failpoint::hit("resource")),
                Action::RemoveSecret { name } => self
                    .podman
                    .remove_secret(name)
                    .await
                    .or_else(|e| if e.is_not_found() { Ok(()) } else { Err(e) })
                    .map_err(|e| format!("cannot remove secret {name}: {e}")),
                Action::CreateNetwork { network } => self
                    .podman
                    .create_network(network)
                    .await
                    .map_err(|e| format!("cannot create network {}: {e}", network.name)),
                Action::RemoveNetwork { name } => self
                    .podman
                    .remove_network(name)
                    .await
                    .or_else(|e| if e.is_not_found() { Ok(()) } else { Err(e) })
                    .map_err(|e| format!("cannot remove network {name}: {e}")),
                Action::StartUnit { unit } => {
                    // A unit that failed or hit its start limit must be reset to start again.
                    let _ = self.systemd.reset_failed(unit).await;
                    self.run_job(unit, self.systemd.start(unit).await)
                        .inspect(|()| failpoint::hit("started"))
                }
                Action::RestartUnit { unit } => {
                    let _ = self.systemd.reset_failed(unit).await;
                    self.run_job(unit, self.systemd.restart(unit).await)
                        .inspect(|()| failpoint::hit("started"))
                }
                Action::StopUnit { unit } => self.run_job(unit, self.systemd.stop(unit).await),
                Action::RemoveUnitFile { .. }
                | Action::RemoveContainer { .. }
                | Action::RemoveVolume { .. }
                | Action::RemoveImage { .. } => Ok(()),
            };
            match result {
                Ok(()) => done.push(action.clone()),
                Err(message) => {
                    // The caller reports every outcome (apply's table, the controller's
                    // events and metrics); a warning here would say it twice.
                    info!(error = %message, "object failed");
                    return (Status::Failed(message), done);
                }
            }
        }
        let status = if done.is_empty() {
            Status::UpToDate
        } else {
            Status::Applied
        };
        (status, done)
    }

    /// Reads the secret's source now (the plan holds no value), labels the secret with the
    /// hash of what was read, and hands the value to podman on stdin.
    async fn create_secret(
        &self,
        name: &str,
        source: &secret_source::Source,
        labels: &Labels,
    ) -> Result<(), String> {
        let value = secret_source::read(source)?;
        let mut labels = labels.clone();
        labels.insert(
            crate::render::labels::HASH.to_string(),
            value.hash(self.secret_key),
        );
        self.podman
            .create_secret(name, value.as_bytes(), &labels)
            .await
            .map(drop)
            .map_err(|e| format!("cannot create secret {name}: {e}"))
    }

    /// Every image the plan pulls, once per reference, `concurrency` at a time, each with
    /// retries; then one image listing to see which references got a new ID.
    async fn pull_all(&self, steps: &[&Step]) -> Pulls {
        let mut wanted: BTreeMap<&str, &Action> = BTreeMap::new();
        for step in steps
            .iter()
            .filter(|s| !matches!(s.change, Change::Conflict { .. } | Change::Error { .. }))
        {
            for action in &step.actions {
                if let Action::PullImage { reference, .. } = action {
                    wanted.entry(reference.as_str()).or_insert(action);
                }
            }
        }
        let mut pulls = Pulls::default();
        if wanted.is_empty() {
            return pulls;
        }
        let semaphore = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let work = wanted.values().map(|action| {
            let semaphore = semaphore.clone();
            async move {
                let _permit = semaphore.acquire().await;
                let Action::PullImage {
                    reference,
                    tls_verify,
                    auth_file,
                    ..
                } = action
                else {
                    return (String::new(), Ok(()));
                };
                (
                    reference.clone(),
                    self.pull(reference, *tls_verify, auth_file.as_deref())
                        .await,
                )
            }
            .instrument(info_span!("pull"))
        });
        pulls.results = join_all(work).await.into_iter().collect();

        let previous: BTreeMap<&str, &str> = wanted
            .values()
            .filter_map(|a| match a {
                Action::PullImage {
                    reference,
                    previous_id: Some(id),
                    ..
                } => Some((reference.as_str(), id.as_str())),
                _ => None,
            })
            .collect();
        if !previous.is_empty() {
            match self.podman.images().await {
                Ok(images) => {
                    for image in images {
                        for name in &image.names {
                            if previous
                                .get(name.as_str())
                                .is_some_and(|old| *old != image.id)
                            {
                                info!(reference = %name, id = %image.id, "image changed");
                                pulls.changed.insert(name.clone());
                            }
                        }
                    }
                }
                Err(e) => warn!(error = %e, "cannot list images after pulling"),
            }
        }
        pulls
    }

    async fn pull(
        &self,
        reference: &str,
        tls_verify: Option<bool>,
        auth_file: Option<&std::path::Path>,
    ) -> Result<(), String> {
        info!(%reference, "pulling image");
        let begin = Instant::now();
        if self.progress {
            eprintln!("pulling {reference} ...");
        }
        let result = pull::with_retry(
            self.pull_attempts,
            || self.podman.pull(reference, tls_verify, auth_file),
            tokio::time::sleep,
            |attempt, delay, e| {
                let reason = pull::short_reason(e);
                if self.progress {
                    eprintln!(
                        "pull of {reference} failed (try {attempt}/{}): {reason}; retrying in {}s",
                        self.pull_attempts,
                        delay.as_secs()
                    );
                } else {
                    warn!(%reference, attempt, delay_s = delay.as_secs(), %reason, "pull failed, retrying");
                }
            },
        )
        .await;
        if self.progress {
            match &result {
                Ok(()) => eprintln!(
                    "pulled {reference} in {:.1}s",
                    begin.elapsed().as_secs_f64()
                ),
                Err(e) => eprintln!("pull of {reference} failed: {}", pull::short_reason(e)),
            }
        }
        result.map_err(|e| format!("cannot pull image {reference}: {e}"))
    }

    /// Removes secrets, networks, images or volumes that left the revision, one group of
    /// the removal order at a time.
    async fn remove_resources(&self, steps: &[&Step]) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for step in steps {
            let begin = Instant::now();
            let mut done = Vec::new();
            let mut status = Status::Applied;
            for action in &step.actions {
                let result = match action {
                    Action::RemoveSecret { name } => {
                        gone_is_fine("secret", name, self.podman.remove_secret(name).await)
                    }
                    Action::RemoveNetwork { name } => {
                        gone_is_fine("network", name, self.podman.remove_network(name).await)
                    }
                    Action::RemoveImage { reference } => gone_is_fine(
                        "image",
                        reference,
                        self.podman.remove_image(reference).await,
                    ),
                    Action::RemoveVolume { name } => {
                        gone_is_fine("volume", name, self.podman.remove_volume(name).await)
                    }
                    _ => Ok(()),
                };
                match result {
                    Ok(()) => done.push(action.clone()),
                    Err(e) => {
                        warn!(object = %step.object, error = %e, "removal failed");
                        status = Status::Failed(e);
                        break;
                    }
                }
            }
            outcomes.push(Outcome {
                object: step.object.clone(),
                change: step.change.clone(),
                status,
                done,
                elapsed: begin.elapsed(),
            });
        }
        outcomes
    }

    /// Waits for the restart systemd passed on to `unit` from `with`, and says whether it
    /// came back as a direct restart must: its job done, the unit active again since
    /// `restarts_began`.
    async fn restarted_with(
        &self,
        unit: &str,
        with: &str,
        restarts_began: SystemTime,
    ) -> Result<(), String> {
        let job = self
            .systemd
            .wait_queued_job(unit)
            .await
            .map_err(|e| format!("{unit}: {e}"))?;
        let state = self
            .systemd
            .unit_states(&[unit.to_owned()])
            .await
            .map_err(|e| format!("{unit}: {e}"))?;
        let state = state
            .first()
            .ok_or_else(|| format!("{unit}: systemd did not report its state"))?;
        let since_us = restarts_began
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        restart_followed(unit, with, job.as_ref(), state, since_us)
    }

    fn run_job(
        &self,
        unit: &str,
        outcome: Result<JobOutcome, crate::adapters::systemd::SystemdError>,
    ) -> Result<(), String> {
        match outcome {
            Ok(JobOutcome::Done) => Ok(()),
            Ok(other) => Err(format!(
                "{unit}: job {}; see `journalctl -u {unit}` and `systemctl status {unit}`",
                other.as_str()
            )),
            Err(e) => Err(format!("{unit}: {e}")),
        }
    }

    /// Removes the units and containers of objects that left the revision.
    async fn remove(&self, steps: &[&Step]) -> Vec<Outcome> {
        let semaphore = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let stops = steps.iter().map(|step| {
            let semaphore = semaphore.clone();
            async move {
                let begin = Instant::now();
                let _permit = semaphore.acquire().await;
                let mut done = Vec::new();
                for action in &step.actions {
                    if let Action::StopUnit { unit } = action {
                        if let Err(e) = self.run_job(unit, self.systemd.stop(unit).await) {
                            return (step, Err(e), done, begin);
                        }
                        done.push(action.clone());
                    }
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
        let disable_errors = self.enablement_batch(Enablement::Disable, &disable).await;

        let mut outcomes = Vec::new();
        for (step, stop_result, mut done, begin) in stopped {
            let mut status = match stop_result {
                Ok(()) => Status::Applied,
                Err(e) => Status::Failed(e),
            };
            if status.is_ok() {
                for action in &step.actions {
                    let result = match action {
                        Action::StopUnit { .. } => continue,
                        Action::DisableUnit { unit } => {
                            disable_errors.get(unit).cloned().map_or(Ok(()), Err)
                        }
                        Action::RemoveUnitFile { path, .. } => {
                            remove_unit_file(path).map_err(|e| e.to_string())
                        }
                        Action::RemoveContainer { name } => {
                            failpoint::hit("remove-container");
                            self.podman
                                .remove_container(name, true)
                                .await
                                .map_err(|e| format!("cannot remove container {name}: {e}"))
                        }
                        _ => Ok(()),
                    };
                    match result {
                        Ok(()) => done.push(action.clone()),
                        Err(e) => {
                            status = Status::Failed(e);
                            break;
                        }
                    }
                }
            }
            outcomes.push(Outcome {
                object: step.object.clone(),
                change: step.change.clone(),
                status,
                done,
                elapsed: begin.elapsed(),
            });
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
        for (unit, e) in self.enablement_batch(Enablement::Disable, &disable).await {
            warn!(%unit, error = %e, "cannot disable the unit of a blocked container");
        }
        for step in steps {
            let unit = crate::render::unit_name(&step.object.name);
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

    /// One `EnableUnitFiles` and one `DisableUnitFiles` call for the whole batch; the
    /// error of each unit that could not be changed, by unit.
    async fn change_enablement(
        &self,
        enable: &[String],
        disable: &[String],
    ) -> BTreeMap<String, String> {
        let mut errors = self.enablement_batch(Enablement::Enable, enable).await;
        errors.extend(self.enablement_batch(Enablement::Disable, disable).await);
        errors
    }

    /// One call for all `units`; when it fails, one call per unit. systemd fails the whole
    /// call for one unit it cannot take (a file in the way of its symlink, a unit it cannot
    /// parse), so only the second pass tells which units really fail, and the others
    /// still converge.
    async fn enablement_batch(
        &self,
        change: Enablement,
        units: &[String],
    ) -> BTreeMap<String, String> {
        let mut errors = BTreeMap::new();
        let batch_error = match units {
            [] => return errors,
            [unit] => {
                if let Err(e) = change.call(self.systemd, units).await {
                    errors.insert(unit.clone(), change.failed(&e));
                }
                return errors;
            }
            _ => match change.call(self.systemd, units).await {
                Ok(()) => return errors,
                Err(e) => e,
            },
        };
        warn!(error = %batch_error, units = units.len(), "batched {} failed; one unit at a time", change.verb());
        for unit in units {
            if let Err(e) = change.call(self.systemd, std::slice::from_ref(unit)).await {
                errors.insert(unit.clone(), change.failed(&e));
            }
        }
        errors
    }
}

/// Why an object was left alone by an interrupted execution.
const NOT_ATTEMPTED: &str = "interrupted before it was attempted; run apply again";

/// The outcomes in the order of the plan's steps.
fn in_plan_order(plan: &Plan, mut outcomes: BTreeMap<ObjectRef, Outcome>) -> Vec<Outcome> {
    plan.steps
        .iter()
        .filter_map(|s| outcomes.remove(&s.object))
        .collect()
}

/// Whether podctl brought `reference` onto the host (it was absent before), so that it
/// may remove it again when no manifest uses it.
/// Whether `unit`, restarted by systemd with `with`, came back: the job that was still
/// pending (if any) done, and the unit active, entered at or after `since_us` (µs since the
/// epoch, CLOCK_REALTIME like systemd's timestamps). No job and an old timestamp means
/// systemd did not restart it at all.
fn restart_followed(
    unit: &str,
    with: &str,
    job: Option<&JobOutcome>,
    state: &UnitState,
    since_us: u64,
) -> Result<(), String> {
    let see = format!("see `journalctl -u {unit}` and `systemctl status {unit}`");
    if let Some(outcome) = job.filter(|o| !o.is_done()) {
        return Err(format!("{unit}: restart with {with}: job {outcome}; {see}"));
    }
    if state.active_state != ActiveState::Active {
        return Err(format!(
            "{unit}: {} ({}) after the restart with {with}; {see}",
            state.active_state, state.sub_state
        ));
    }
    if state.active_enter_timestamp_us < since_us {
        return Err(format!(
            "{unit}: systemd did not restart it with {with} (active since before the restart)"
        ));
    }
    Ok(())
}

fn newly_pulled(steps: &[&Step], reference: &str) -> bool {
    steps.iter().flat_map(|s| s.actions.iter()).any(|a| {
        matches!(a, Action::PullImage { reference: r, previous_id: None, .. } if r == reference)
    })
}

/// The container steps to run instead of the planned ones because an Image object they
/// use got a new ID: a running container with nothing else to do is restarted.
fn image_restarts(
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

/// A removal of something already gone succeeded; any other failure names what and why.
fn gone_is_fine(what: &str, name: &str, result: Result<(), PodmanError>) -> Result<(), String> {
    match result {
        Err(e) if !e.is_not_found() => Err(format!("cannot remove {what} {name}: {e}")),
        _ => Ok(()),
    }
}

/// The two unit-file calls that change what starts at boot.
#[derive(Debug, Clone, Copy)]
enum Enablement {
    Enable,
    Disable,
}

impl Enablement {
    async fn call(self, systemd: &Systemd, units: &[String]) -> Result<(), SystemdError> {
        match self {
            Self::Enable => systemd.enable(units).await.map(drop),
            Self::Disable => systemd.disable(units).await.map(drop),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Enable => "enable",
            Self::Disable => "disable",
        }
    }

    fn failed(self, e: &SystemdError) -> String {
        format!("cannot {} the unit: {e}", self.verb())
    }
}

/// The unit an enablement action changes.
fn enablement_unit(action: &Action) -> Option<&str> {
    match action {
        Action::EnableUnit { unit } | Action::DisableUnit { unit } => Some(unit),
        _ => None,
    }
}

fn enablement(steps: &[&Step], gate: &Gate) -> (Vec<String>, Vec<String>) {
    let mut enable = BTreeSet::new();
    let mut disable = BTreeSet::new();
    for step in steps.iter().filter(|s| {
        !gate.failed_writes.contains_key(&s.object) && !gate.held.contains_key(&s.object)
    }) {
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

/// The passes over desired objects: what containers use (networks last), then the
/// containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Resources,
    Networks,
    Containers,
}

impl Phase {
    fn includes(self, kind: Kind) -> bool {
        match self {
            Phase::Resources => matches!(kind, Kind::Volume | Kind::Secret | Kind::Image),
            Phase::Networks => kind == Kind::Network,
            Phase::Containers => kind == Kind::Container,
        }
    }
}

/// What keeps an object from being attempted, learnt between the phases.
#[derive(Debug, Default)]
struct Gate {
    /// Containers that cannot run; their unit files are neither written nor enabled.
    held: BTreeMap<ObjectRef, Status>,
    failed_writes: BTreeMap<ObjectRef, String>,
    reload_error: Option<String>,
    /// Units whose enablement failed, with systemd's error.
    enable_errors: BTreeMap<String, String>,
}

impl Gate {
    /// Why `step` is not attempted, if it is not.
    fn pre_failure(
        &self,
        step: &Step,
        revision: &Revision,
        outcomes: &BTreeMap<ObjectRef, Outcome>,
    ) -> Option<Status> {
        let object = &step.object;
        if let Some(status) = self.held.get(object) {
            return Some(status.clone());
        }
        // An object with nothing to do keeps running as it is when what it needs was left
        // as it was (held back, or a resource that failed); only a dependency that failed
        // to start in this pass blocks it.
        let kept_as_it_was = |d: &ObjectRef| self.held.contains_key(d) || d.kind != Kind::Container;
        if let Some(status) = planned_failure(step, revision, |d| {
            outcomes.get(d).is_some_and(|o| !o.status.is_ok())
                && !(step.is_noop() && kept_as_it_was(d))
        }) {
            return Some(status);
        }
        if let Some(status) = self.stops_a_held_container(step) {
            return Some(status);
        }
        if let Some(e) = self.failed_writes.get(object) {
            return Some(Status::Failed(e.clone()));
        }
        if let Some(e) = self.reload_error.clone().filter(|_| !step.is_noop()) {
            return Some(Status::Failed(e));
        }
        step.actions
            .iter()
            .filter_map(enablement_unit)
            .find_map(|unit| self.enable_errors.get(unit))
            .map(|e| Status::Failed(e.clone()))
    }
}

impl Gate {
    /// A network is recreated with its containers stopped and started again: not when one
    /// of them is held back, which would leave it down.
    fn stops_a_held_container(&self, step: &Step) -> Option<Status> {
        step.actions.iter().find_map(|a| {
            let Action::StopUnit { unit } = a else {
                return None;
            };
            let (object, status) = self.held.iter().find(|(o, _)| {
                o.kind == Kind::Container && crate::render::unit_name(&o.name) == *unit
            })?;
            let why = match status {
                Status::Failed(m) | Status::Blocked(m) | Status::Conflict(m) => m.as_str(),
                Status::UpToDate | Status::Applied => "",
            };
            Some(Status::Blocked(format!(
                "not recreated: {object} could not start again ({why}); it keeps running on the old network"
            )))
        })
    }
}

/// A conflict or error the plan found, or a dependency that did not converge.
fn planned_failure(
    step: &Step,
    revision: &Revision,
    failed: impl Fn(&ObjectRef) -> bool,
) -> Option<Status> {
    match &step.change {
        Change::Conflict { message } => return Some(Status::Conflict(message.clone())),
        Change::Error { message } => return Some(Status::Failed(message.clone())),
        _ => {}
    }
    revision
        .graph()
        .dependencies(&step.object)
        .into_iter()
        .find(|d| failed(d))
        .map(|dep| Status::Blocked(format!("blocked by {dep}")))
}

/// The containers that cannot run now, in dependency order so that one held back holds
/// back its dependents: a conflict or error, a resource that failed, a failed pull.
fn held_containers(
    revision: &Revision,
    by_object: &BTreeMap<&ObjectRef, &Step>,
    outcomes: &BTreeMap<ObjectRef, Outcome>,
    pulls: &Pulls,
) -> BTreeMap<ObjectRef, Status> {
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
            Action::PullImage { reference, .. } => match pulls.results.get(reference) {
                Some(Ok(())) => None,
                Some(Err(e)) => Some(Status::Failed(e.clone())),
                None => Some(Status::Failed(format!("image {reference} was not pulled"))),
            },
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

#[cfg(test)]
mod restart_followed_tests {
    use super::*;
    use crate::adapters::systemd::LoadState;

    const SINCE: u64 = 1_700_000_000_000_000;

    fn state(active: ActiveState, sub: &str, entered: u64) -> UnitState {
        UnitState {
            name: "app.service".to_owned(),
            load_state: LoadState::Loaded,
            active_state: active,
            sub_state: sub.to_owned(),
            fragment_path: None,
            n_restarts: Some(0),
            exec_main_status: None,
            active_enter_timestamp_us: entered,
            unit_file_state: crate::adapters::systemd::UnitFileState::Enabled,
            need_daemon_reload: false,
            drop_in_paths: Vec::new(),
        }
    }

    fn check(job: Option<JobOutcome>, state: &UnitState) -> Result<(), String> {
        restart_followed("app.service", "db.service", job.as_ref(), state, SINCE)
    }

    #[test]
    fn restarted_with_should_be_ok_once_active_again_after_the_restarts_began() {
        let active = state(ActiveState::Active, "running", SINCE + 1);
        // Its job still pending when looked at, then done; or already over.
        assert_eq!(check(Some(JobOutcome::Done), &active), Ok(()));
        assert_eq!(check(None, &active), Ok(()));
    }

    #[test]
    fn restarted_with_should_fail_with_the_job_result() {
        let err = check(
            Some(JobOutcome::Failed),
            &state(ActiveState::Failed, "failed", 0),
        )
        .unwrap_err();
        assert!(
            err.starts_with("app.service: restart with db.service: job failed;"),
            "{err}"
        );
    }

    #[test]
    fn restarted_with_should_fail_when_its_job_ended_badly_before_the_look() {
        // No job left: it failed before we looked, and systemd waits to restart it.
        let err = check(None, &state(ActiveState::Activating, "auto-restart", 0)).unwrap_err();
        assert!(
            err.contains("activating (auto-restart) after the restart with db.service"),
            "{err}"
        );
    }

    #[test]
    fn restarted_with_should_fail_when_systemd_did_not_restart_it() {
        let err = check(None, &state(ActiveState::Active, "running", SINCE - 1)).unwrap_err();
        assert!(err.contains("did not restart it"), "{err}");
    }
}
