//! Executes a plan: removals first, then every unit file written and one daemon-reload,
//! then objects started level by level of the dependency graph, independent ones in
//! parallel with a bound; a failure blocks only what depends on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use podctl_api::{Kind, ObjectRef, Revision};
use tokio::sync::Semaphore;
use tracing::{Instrument, info, info_span, warn};

use crate::adapters::podman::Podman;
use crate::adapters::systemd::{JobOutcome, Systemd};
use crate::observe::{remove_unit_file, write_unit_file};
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
}

impl Executor<'_> {
    pub async fn execute(&self, plan: &Plan, revision: &Revision) -> Vec<Outcome> {
        let mut outcomes: BTreeMap<ObjectRef, Outcome> = BTreeMap::new();
        let started = Instant::now();
        let (removals, desired): (Vec<&Step>, Vec<&Step>) =
            plan.steps.iter().partition(|s| s.change == Change::Delete);

        for outcome in self.remove(&removals).await {
            outcomes.insert(outcome.object.clone(), outcome);
        }

        // Files first, for everything, so one reload covers the whole batch.
        let mut failed_writes: BTreeMap<ObjectRef, String> = BTreeMap::new();
        let mut reload_needed = removals
            .iter()
            .any(|s| s.actions.iter().any(Action::touches_unit_files));
        for step in &desired {
            for action in &step.actions {
                if let Action::WriteUnit { unit, content } = action {
                    match write_unit_file(&self.unit_dir, unit, content) {
                        Ok(_) => reload_needed = true,
                        Err(e) => {
                            failed_writes.insert(step.object.clone(), e.to_string());
                        }
                    }
                }
            }
        }
        let mut reload_error = None;
        if reload_needed {
            info!("reloading systemd");
            if let Err(e) = self.systemd.reload().await {
                reload_error = Some(format!("daemon-reload failed: {e}"));
            }
        }
        let (enable, disable) = enablement(&desired, &failed_writes);
        let enable_error = self.change_enablement(&enable, &disable).await;

        let mut results: BTreeMap<ObjectRef, Status> = BTreeMap::new();
        let semaphore = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let by_object: BTreeMap<&ObjectRef, &Step> =
            desired.iter().map(|s| (&s.object, *s)).collect();
        for level in revision.graph().levels() {
            let mut work = Vec::new();
            for object in level {
                let Some(step) = by_object.get(object) else {
                    // Kinds without their own reconciler yet converge through podman run.
                    if object.kind != Kind::Container {
                        results.insert(object.clone(), Status::UpToDate);
                    }
                    continue;
                };
                let blocked_by = revision
                    .graph()
                    .dependencies(object)
                    .into_iter()
                    .find(|d| results.get(*d).is_some_and(|s| !s.is_ok()));
                let pre_failure = if let Change::Conflict { message } = &step.change {
                    Some(Status::Conflict(message.clone()))
                } else if let Some(dep) = blocked_by {
                    Some(Status::Blocked(format!("blocked by {dep}")))
                } else if let Some(e) = failed_writes.get(object) {
                    Some(Status::Failed(e.clone()))
                } else if let Some(e) = reload_error.clone().filter(|_| !step.is_noop()) {
                    Some(Status::Failed(e))
                } else {
                    enable_error
                        .clone()
                        .filter(|_| step.actions.iter().any(is_enablement))
                        .map(Status::Failed)
                };
                let semaphore = semaphore.clone();
                let step = *step;
                work.push(async move {
                    let begin = Instant::now();
                    let (status, done) = match pre_failure {
                        Some(status) => (status, Vec::new()),
                        None => {
                            let _permit = semaphore.acquire().await;
                            self.converge(step)
                                .instrument(info_span!("object", object = %step.object))
                                .await
                        }
                    };
                    (step, status, done, begin.elapsed())
                });
            }
            for (step, status, done, elapsed) in join_all(work).await {
                results.insert(step.object.clone(), status.clone());
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
        info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "plan executed"
        );
        let order: Vec<ObjectRef> = plan.steps.iter().map(|s| s.object.clone()).collect();
        order
            .into_iter()
            .filter_map(|o| outcomes.remove(&o))
            .collect()
    }

    /// Runs one desired object's runtime actions (files and enablement are done).
    async fn converge(&self, step: &Step) -> (Status, Vec<Action>) {
        let mut done = Vec::new();
        for action in &step.actions {
            let result = match action {
                Action::WriteUnit { .. }
                | Action::EnableUnit { .. }
                | Action::DisableUnit { .. } => {
                    done.push(action.clone());
                    continue;
                }
                Action::PullImage {
                    reference,
                    tls_verify,
                    auth_file,
                } => {
                    info!(%reference, "pulling image");
                    self.podman
                        .pull(reference, *tls_verify, auth_file.as_deref())
                        .await
                        .map_err(|e| format!("cannot pull image {reference}: {e}"))
                }
                Action::StartUnit { unit } => {
                    // A unit that failed or hit its start limit must be reset to start again.
                    let _ = self.systemd.reset_failed(unit).await;
                    self.run_job(unit, self.systemd.start(unit).await)
                }
                Action::RestartUnit { unit } => {
                    let _ = self.systemd.reset_failed(unit).await;
                    self.run_job(unit, self.systemd.restart(unit).await)
                }
                Action::StopUnit { unit } => self.run_job(unit, self.systemd.stop(unit).await),
                Action::RemoveUnitFile { .. } | Action::RemoveContainer { .. } => Ok(()),
            };
            match result {
                Ok(()) => done.push(action.clone()),
                Err(message) => {
                    warn!(%message, "object failed");
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
        let disable_error = if disable.is_empty() {
            None
        } else {
            self.systemd
                .disable(&disable)
                .await
                .err()
                .map(|e| format!("cannot disable units: {e}"))
        };

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
                        Action::DisableUnit { .. } => disable_error.clone().map_or(Ok(()), Err),
                        Action::RemoveUnitFile { path, .. } => {
                            remove_unit_file(path).map_err(|e| e.to_string())
                        }
                        Action::RemoveContainer { name } => self
                            .podman
                            .remove_container(name, true)
                            .await
                            .map_err(|e| format!("cannot remove container {name}: {e}")),
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

    /// One `EnableUnitFiles` and one `DisableUnitFiles` call for the whole batch.
    async fn change_enablement(&self, enable: &[String], disable: &[String]) -> Option<String> {
        if !enable.is_empty()
            && let Err(e) = self.systemd.enable(enable).await
        {
            return Some(format!("cannot enable units: {e}"));
        }
        if !disable.is_empty()
            && let Err(e) = self.systemd.disable(disable).await
        {
            return Some(format!("cannot disable units: {e}"));
        }
        None
    }
}

fn is_enablement(action: &Action) -> bool {
    matches!(
        action,
        Action::EnableUnit { .. } | Action::DisableUnit { .. }
    )
}

fn enablement(
    steps: &[&Step],
    failed_writes: &BTreeMap<ObjectRef, String>,
) -> (Vec<String>, Vec<String>) {
    let mut enable = BTreeSet::new();
    let mut disable = BTreeSet::new();
    for step in steps
        .iter()
        .filter(|s| !failed_writes.contains_key(&s.object))
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
