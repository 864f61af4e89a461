//! The containers that use a volume: found through podman, stopped through systemd before a
//! backup or restore (`consistency: stop`, `restore --stop`) and started again after, in the
//! revision's dependency order.

use podctl_api::{Kind, Revision};

use super::BackupError;
use crate::adapters::podman::{ContainerState, Podman};
use crate::adapters::systemd::{ActiveState, JobOutcome, Systemd};
use crate::bluegreen::container_units;

/// Who holds the stopped units, and where holds are kept (`holds.rs`).
pub struct HoldFor<'a> {
    pub state_dir: &'a std::path::Path,
    /// `backup of volume pgdata`, `restore of volume pgdata`.
    pub reason: String,
}

/// The units stopped for one operation, to start again afterwards.
#[derive(Debug, Default)]
pub struct Stopped {
    /// Keeps `apply` and the controller from starting them again until this is dropped
    /// (after [`start_again`]).
    pub hold: Option<crate::holds::HoldGuard>,
    /// Every container unit of the revision that was active before, in dependency order:
    /// stopping a consumer also stops the units that `Requires=` it, and they come back too.
    pub restart: Vec<String>,
    /// The consumers themselves (what was asked to stop).
    pub consumers: Vec<String>,
}

/// The running containers that mount `volume`, as podctl units; an error names a running
/// container podctl does not run as a unit (it cannot be stopped and started safely).
pub async fn running_consumers(
    podman: &Podman,
    revision: &Revision,
    volume: &str,
) -> Result<Vec<String>, BackupError> {
    let using = podman
        .containers_using(volume)
        .await
        .map_err(|source| BackupError::Podman {
            what: "list the containers using the volume",
            source,
        })?;
    let mut units = Vec::new();
    for c in using {
        if c.state != ContainerState::Running {
            continue;
        }
        let name = c.names.first().cloned().unwrap_or(c.id.clone());
        // A blue-green container runs as `NAME-blue`/`NAME-green`: the one that runs is
        // stopped and started again, under its own unit.
        let unit = format!("{name}.service");
        let managed = revision
            .objects()
            .iter()
            .find(|o| o.kind == Kind::Container && container_units(o).contains(&unit));
        match managed {
            Some(_) => units.push(unit),
            None => {
                return Err(BackupError::ForeignConsumer {
                    volume: volume.to_owned(),
                    container: name,
                });
            }
        }
    }
    Ok(units)
}

/// Stops `consumers` (dependents first, as systemd orders a stop of `Requires=`) after
/// noting which container units of the revision are active.
pub async fn stop(
    systemd: &Systemd,
    revision: &Revision,
    consumers: Vec<String>,
    hold: &HoldFor<'_>,
) -> Result<Stopped, BackupError> {
    let all: Vec<String> = revision
        .graph()
        .order()
        .filter(|r| r.kind == Kind::Container)
        .filter_map(|r| revision.get(r))
        .flat_map(container_units)
        .collect();
    let states = systemd
        .unit_states(&all)
        .await
        .map_err(|source| BackupError::Systemd {
            unit: "container units".to_owned(),
            source: Box::new(source),
        })?;
    let restart: Vec<String> = all
        .iter()
        .filter(|u| {
            states
                .iter()
                .any(|s| &s.name == *u && s.active_state == ActiveState::Active)
        })
        .cloned()
        .collect();
    // Held before the first stop: a controller that sees a consumer stopped must already
    // find the hold.
    let guard = match restart.is_empty() && consumers.is_empty() {
        true => None,
        false => Some(
            crate::holds::take(hold.state_dir, &hold.reason, &restart)
                .map_err(BackupError::Hold)?,
        ),
    };
    let stopped = Stopped {
        hold: guard,
        restart,
        consumers,
    };
    // Dependents first: the reverse of the dependency order.
    for unit in stopped.consumers.iter().rev() {
        tracing::info!(unit = %unit, "stopping a consumer of the volume");
        if let Err(e) = job(systemd.stop(unit).await, unit) {
            // Half-stopped is worse than not stopped: bring back what was running.
            if let Err(again) = start_again(systemd, &stopped).await {
                tracing::error!(error = %again, "cannot start the consumers again");
            }
            return Err(e);
        }
    }
    Ok(stopped)
}

/// Starts again, in dependency order, every unit that was active before [`stop`].
pub async fn start_again(systemd: &Systemd, stopped: &Stopped) -> Result<(), BackupError> {
    let mut first_error = None;
    for unit in &stopped.restart {
        tracing::info!(unit = %unit, "starting a consumer of the volume again");
        if let Err(e) = job(systemd.start(unit).await, unit) {
            tracing::error!(unit = %unit, error = %e, "cannot start the unit again");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn job(
    result: Result<JobOutcome, crate::adapters::systemd::SystemdError>,
    unit: &str,
) -> Result<(), BackupError> {
    match result {
        Ok(JobOutcome::Done) => Ok(()),
        Ok(outcome) => Err(BackupError::Job {
            unit: unit.to_owned(),
            outcome,
        }),
        Err(source) => Err(BackupError::Systemd {
            unit: unit.to_owned(),
            source: Box::new(source),
        }),
    }
}
