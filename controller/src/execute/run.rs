//! The one place an action is carried out: `run_action` matches every `Action` (no
//! wildcard, so a new action does not compile until it is handled here). Phases decide
//! which actions run when; batched actions (pulls, unit writes, enablement) were done for
//! the whole batch first, and `run_action` reports their result from the batch.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::debug;

use super::Executor;
use super::enablement;
use super::error::{ActionError, PodmanWork};
use super::gate::Batches;
use crate::adapters::podman::{Labels, NetworkCreate, PodmanError};
use crate::adapters::systemd::{ActiveState, JobOutcome, SystemdError, UnitState};
use crate::failpoint;
use crate::observe::{remove_unit_file, secret_source};
use crate::plan::Action;

/// What `run_action` needs besides the action: the batches' results, and when the
/// restarts of this phase began (for `RestartedWith`).
pub(super) struct RunContext<'a> {
    pub batches: &'a Batches,
    pub restarts_began: SystemTime,
}

impl Executor<'_> {
    /// Carries out `action` (or reports how its batch went). Longer than most functions
    /// on purpose: one arm per action in one match, so that every action has its one place.
    pub(super) async fn run_action(
        &self,
        action: &Action,
        ctx: &RunContext<'_>,
    ) -> Result<(), ActionError> {
        match action {
            Action::PullImage { reference, .. } => ctx.batches.pulls.result(reference),
            Action::WriteUnit { unit, .. } => batched(&ctx.batches.writes, unit, action),
            Action::EnableUnit { unit } | Action::DisableUnit { unit } => {
                batched(&ctx.batches.enablement, unit, action)
            }
            Action::CreateVolume {
                name,
                driver,
                options,
                labels,
            } => self
                .podman
                .create_volume(name, driver, options, labels)
                .await
                .map_err(|e| ActionError::podman(PodmanWork::CreateVolume, name, e))
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
            Action::CreateNetwork { name, spec, labels } => self
                .podman
                .create_network(&network_create(name, spec, labels))
                .await
                .map_err(|e| ActionError::podman(PodmanWork::CreateNetwork, name, e)),
            Action::RemoveSecret { name } => gone_is_fine(
                PodmanWork::RemoveSecret,
                name,
                self.podman.remove_secret(name).await,
            ),
            Action::RemoveNetwork { name } => gone_is_fine(
                PodmanWork::RemoveNetwork,
                name,
                self.podman.remove_network(name).await,
            ),
            Action::RemoveImage { reference } => gone_is_fine(
                PodmanWork::RemoveImage,
                reference,
                self.podman.remove_image(reference).await,
            ),
            Action::RemoveVolume { name } => gone_is_fine(
                PodmanWork::RemoveVolume,
                name,
                self.podman.remove_volume(name).await,
            ),
            Action::RemoveContainer { name } => {
                failpoint::hit("remove-container");
                self.podman
                    .remove_container(name, true)
                    .await
                    .map_err(|e| ActionError::podman(PodmanWork::RemoveContainer, name, e))
            }
            Action::RemoveUnitFile { path, .. } | Action::RemoveFile { path } => {
                remove_unit_file(path).map_err(Into::into)
            }
            Action::WriteFile { path, content } => write_file(path, content),
            Action::StartUnit { unit } => {
                // A unit that failed or hit its start limit must be reset to start again.
                self.reset_failed(unit).await;
                job_result(unit, self.systemd.start(unit).await)
                    .inspect(|()| failpoint::hit("started"))
            }
            Action::RestartUnit { unit } => {
                self.reset_failed(unit).await;
                job_result(unit, self.systemd.restart(unit).await)
                    .inspect(|()| failpoint::hit("started"))
            }
            // systemd restarts it with its dependency (Requires=), in an earlier level
            // that has ended: its job may still be pending, or may have failed.
            Action::RestartedWith { unit, with } => {
                self.restarted_with(unit, with, ctx.restarts_began).await
            }
            Action::StopUnit { unit } => job_result(unit, self.systemd.stop(unit).await),
            Action::Rollout(rollout) => self.rollout(rollout).await,
            Action::BlueGreen(switch) => {
                let pulled = ctx.batches.pulls.ids.get(&switch.reference);
                self.blue_green(switch, pulled.map(String::as_str)).await
            }
        }
    }

    /// Clears a unit's failed state (and its start limit). A unit that was not failed,
    /// or is gone, has nothing to clear: the error is of no consequence, so it is only
    /// logged.
    pub(super) async fn reset_failed(&self, unit: &str) {
        if let Err(e) = self.systemd.reset_failed(unit).await {
            debug!(%unit, error = %e, "reset-failed: nothing reset");
        }
    }

    /// Reads the secret's source now (the plan holds no value), labels the secret with the
    /// hash of what was read, and hands the value to podman on stdin.
    async fn create_secret(
        &self,
        name: &str,
        source: &podctl_api::SecretOrigin,
        labels: &Labels,
    ) -> Result<(), ActionError> {
        let value = secret_source::read(source).map_err(ActionError::SecretSource)?;
        let mut labels = labels.clone();
        labels.insert(
            crate::render::labels::HASH.to_string(),
            value.hash(self.secret_key),
        );
        self.podman
            .create_secret(name, value.as_bytes(), &labels)
            .await
            .map(drop)
            .map_err(|e| ActionError::podman(PodmanWork::CreateSecret, name, e))
    }

    /// Waits for the restart systemd passed on to `unit` from `with`, and says whether it
    /// came back as a direct restart must: its job done, the unit active again since
    /// `restarts_began`.
    async fn restarted_with(
        &self,
        unit: &str,
        with: &str,
        restarts_began: SystemTime,
    ) -> Result<(), ActionError> {
        let job = self
            .systemd
            .wait_queued_job(unit)
            .await
            .map_err(|e| ActionError::systemd(unit, e))?;
        let state = self
            .systemd
            .unit_states(&[unit.to_owned()])
            .await
            .map_err(|e| ActionError::systemd(unit, e))?;
        let state = state.first().ok_or_else(|| ActionError::NoState {
            unit: unit.to_owned(),
        })?;
        let since_us = restarts_began
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        restart_followed(unit, with, job.as_ref(), state, since_us)
    }
}

/// How the batch that carried out `action` went for `unit`.
fn batched(results: &enablement::Results, unit: &str, action: &Action) -> Result<(), ActionError> {
    results.get(unit).cloned().unwrap_or_else(|| {
        Err(ActionError::NotInBatch {
            action: action.to_string(),
        })
    })
}

/// A job that ended other than `done` failed its action.
fn job_result(unit: &str, outcome: Result<JobOutcome, SystemdError>) -> Result<(), ActionError> {
    match outcome {
        Ok(JobOutcome::Done) => Ok(()),
        Ok(outcome) => Err(ActionError::Job {
            unit: unit.to_owned(),
            outcome,
        }),
        Err(e) => Err(ActionError::systemd(unit, e)),
    }
}

/// A removal of something already gone succeeded; any other failure names what and why.
fn gone_is_fine(
    work: PodmanWork,
    name: &str,
    result: Result<(), PodmanError>,
) -> Result<(), ActionError> {
    match result {
        Err(e) if !e.is_not_found() => Err(ActionError::Podman {
            work,
            name: name.to_owned(),
            source: Arc::new(e),
        }),
        _ => Ok(()),
    }
}

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
) -> Result<(), ActionError> {
    if let Some(outcome) = job.filter(|o| !o.is_done()) {
        return Err(ActionError::RestartJob {
            unit: unit.to_owned(),
            with: with.to_owned(),
            outcome: outcome.clone(),
        });
    }
    if state.active_state != ActiveState::Active {
        return Err(ActionError::NotActiveAfterRestart {
            unit: unit.to_owned(),
            with: with.to_owned(),
            active_state: state.active_state.clone(),
            sub_state: state.sub_state.clone(),
        });
    }
    if state.active_enter_timestamp_us < since_us {
        return Err(ActionError::NotRestarted {
            unit: unit.to_owned(),
            with: with.to_owned(),
        });
    }
    Ok(())
}

/// The adapter's arguments for a planned network: the plan holds the manifest's types, the
/// podman adapter its own.
fn network_create(name: &str, spec: &podctl_api::NetworkSpec, labels: &Labels) -> NetworkCreate {
    NetworkCreate {
        name: name.to_string(),
        driver: spec.driver.as_str().to_string(),
        subnet: spec.subnet.as_ref().map(ToString::to_string),
        gateway: spec.gateway.as_ref().map(ToString::to_string),
        internal: spec.internal,
        ipv6: spec.ipv6,
        labels: labels.clone(),
    }
}

/// A file podctl owns outside the unit directory, written as atomically as a unit file.
fn write_file(path: &std::path::Path, content: &str) -> Result<(), ActionError> {
    let dir = path.parent().unwrap_or(std::path::Path::new("/"));
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    crate::observe::write_unit_file(dir, &name, content)
        .map(drop)
        .map_err(Into::into)
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

    /// The error as the user reads it.
    fn check(job: Option<JobOutcome>, state: &UnitState) -> Result<(), String> {
        restart_followed("app.service", "db.service", job.as_ref(), state, SINCE)
            .map_err(|e| e.to_string())
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
