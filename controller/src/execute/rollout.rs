//! The shell of a rollout (`Action::Rollout`), run right after the container's restart
//! onto its new image: it looks at the unit and the container until the pure gate
//! (`rollout::gate`) passes or fails them, records the result in the container's rollout
//! record, and on failure writes the unit back pinned to the previous image, restarts it
//! and starts the dependents systemd took down with it.

use std::sync::Arc;
use std::time::{Instant as StdInstant, SystemTime};

use tokio::time::Instant;
use tracing::{info, warn};

use super::Executor;
use super::error::{ActionError, GateFailure};
use crate::adapters::systemd::{ActiveState, JobOutcome};
use crate::observe::{rollouts, write_unit_file};
use crate::rollout::gate::{Gate, Probe, Verdict};
use crate::rollout::{
    Entry, FailReason, ImagePin, Rollout, RolloutRecord, RolloutResult, Trigger, same_id,
    with_image,
};

impl Executor<'_> {
    /// Judges `r.to` by its gate (or only records it, without a previous image); rolls
    /// back to `r.from` on failure.
    pub(super) async fn rollout(&self, r: &Rollout) -> Result<(), ActionError> {
        let began = StdInstant::now();
        let object = format!("container/{}", r.container);
        let Some(from) = &r.from else {
            info!(%object, to = %r.to, "image pinned");
            self.record(r, RolloutResult::Pinned, None, began);
            return Ok(());
        };
        info!(%object, %from, to = %r.to, "rollout: gate open");
        let reason = match self.watch_gate(r).await {
            GateEnd::Passed => {
                info!(%object, %from, to = %r.to, "rollout succeeded");
                self.record(r, RolloutResult::Succeeded, None, began);
                return Ok(());
            }
            GateEnd::Interrupted => {
                return Err(ActionError::GateInterrupted {
                    unit: r.unit.clone(),
                });
            }
            GateEnd::Failed(reason) => reason,
        };
        warn!(%object, %from, to = %r.to, %reason, "rollout failed its gate: rolling back");
        let failure = Box::new(GateFailure {
            unit: r.unit.clone(),
            from: from.clone(),
            to: r.to.clone(),
            reason: reason.clone(),
        });
        match self.roll_back(r, from).await {
            Ok(()) => {
                self.record(r, RolloutResult::RolledBack, Some(reason.clone()), began);
                warn!(%object, %from, to = %r.to, %reason, "rolled back");
                Err(ActionError::RolledBack(failure))
            }
            Err(e) => {
                self.record(r, RolloutResult::RollbackFailed, Some(reason), began);
                warn!(%object, %from, to = %r.to, error = %e, "rollback failed");
                Err(ActionError::RollbackFailed {
                    failure,
                    source: Arc::new(e),
                })
            }
        }
    }

    /// Looks at the unit and its container every `gate::POLL` until the gate decides.
    pub(super) async fn watch_gate(&self, r: &Rollout) -> GateEnd {
        let mut gate = Gate::new(r.gate, Instant::now());
        loop {
            let verdict = match self.probe(r).await {
                Some(probe) => gate.observe(&probe, Instant::now()),
                None => gate.tick(Instant::now()),
            };
            match verdict {
                Verdict::Passed => return GateEnd::Passed,
                Verdict::Failed(reason) => return GateEnd::Failed(reason),
                Verdict::Pending { next } => {
                    tokio::select! {
                        () = tokio::time::sleep_until(next) => {}
                        () = self.interrupt.cancelled() => return GateEnd::Interrupted,
                    }
                }
            }
        }
    }

    /// The unit's state and its container's, as the gate reads them; `None` when systemd
    /// or podman could not be asked (the gate's clock runs on).
    async fn probe(&self, r: &Rollout) -> Option<Probe> {
        let (states, containers) = tokio::join!(
            self.systemd.unit_states(std::slice::from_ref(&r.unit)),
            self.podman.containers()
        );
        let state = states.ok()?.into_iter().next()?;
        let containers = containers.ok()?;
        // The new image's container: the old one may still be stopping.
        let container = containers
            .iter()
            .find(|c| c.name() == r.container && same_id(&c.image_id, &r.to.image_id));
        Some(Probe {
            unit_active: state.active_state == ActiveState::Active,
            n_restarts: state.n_restarts.unwrap_or(0),
            container_id: container.map(|c| c.id.clone()),
            running: container.is_some_and(|c| c.is_running()),
            health: container.and_then(|c| c.health()),
        })
    }

    /// Writes the unit pinned to `from`, reloads, restarts it, and starts its dependents.
    async fn roll_back(&self, r: &Rollout, from: &ImagePin) -> Result<(), ActionError> {
        let content = with_image(&r.template, &from.image_id);
        self.write_and_reload(&r.unit, &content).await?;
        self.reset_failed(&r.unit).await;
        restart_done(&r.unit, self.systemd.restart(&r.unit).await)?;
        for unit in &r.dependents {
            // Started only if systemd took it down: a start of an active unit is a no-op.
            self.reset_failed(unit).await;
            restart_done(unit, self.systemd.start(unit).await)?;
        }
        Ok(())
    }

    /// Writes a unit file outside the plan's batch and has systemd load it.
    pub(super) async fn write_and_reload(
        &self,
        unit: &str,
        content: &str,
    ) -> Result<(), ActionError> {
        write_unit_file(&self.unit_dir, unit, content)?;
        self.systemd
            .reload()
            .await
            .map_err(|e| ActionError::Reload {
                source: Arc::new(e),
            })
    }

    /// Adds the rollout's end to the container's record; a record that cannot be
    /// written is logged (the pin then falls back to what runs).
    pub(super) fn record(
        &self,
        r: &Rollout,
        result: RolloutResult,
        reason: Option<FailReason>,
        began: StdInstant,
    ) {
        let mut record = match rollouts::read(&self.state_dir, &r.container) {
            Ok(record) => record.unwrap_or_else(|| RolloutRecord::new(&r.container)),
            Err(e) => {
                warn!(container = %r.container, error = %e, "rollout record unreadable: starting a new one");
                RolloutRecord::new(&r.container)
            }
        };
        let entry = Entry {
            time: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            trigger: r.trigger,
            from: r.from.clone(),
            to: r.to.clone(),
            result,
            reason,
            duration_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        // `podctl rollback` that passed: the image it left is marked failed, so that no
        // pass rolls forward to it again by itself.
        if r.trigger == Trigger::Rollback && result == RolloutResult::Succeeded {
            record.rolled_back_by_hand(entry);
        } else {
            record.finish(entry);
        }
        if let Err(e) = rollouts::write(&self.state_dir, &record) {
            warn!(container = %r.container, error = %e, kind = e.kind(), "cannot write the rollout record");
        }
    }
}

/// How watching a gate ended.
pub(super) enum GateEnd {
    Passed,
    Failed(FailReason),
    /// Ctrl-C or shutdown: the new image is left running, unjudged; the next pass finds it
    /// differs from the recorded pin and judges it again.
    Interrupted,
}

pub(super) fn restart_done(
    unit: &str,
    outcome: Result<JobOutcome, crate::adapters::systemd::SystemdError>,
) -> Result<(), ActionError> {
    match outcome {
        Ok(JobOutcome::Done) => Ok(()),
        Ok(outcome) => Err(ActionError::Job {
            unit: unit.to_owned(),
            outcome,
        }),
        Err(e) => Err(ActionError::systemd(unit, e)),
    }
}
