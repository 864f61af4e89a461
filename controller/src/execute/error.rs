//! Why an action failed, or why an object was not attempted: typed, with the adapter's
//! error kept as the cause, and a `kind()` short enough to be a metric label.
//!
//! The `Display` text is what `apply` prints and the controller's events carry; it is the
//! text podctl printed when these were plain strings, and tests grep it.

use std::fmt;
use std::sync::Arc;

use podctl_api::ObjectRef;

use crate::adapters::podman::PodmanError;
use crate::adapters::systemd::{ActiveState, JobOutcome, SystemdError};
use crate::observe::UnitDirError;
use crate::rollout::{FailReason, ImagePin};

use super::enablement::Enablement;

/// Where a failure came from, as a metric label (`reason` of
/// `podctl_object_failures_total`) and for code that must tell failures apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The plan found the object cannot be converged (a clash, an unusable setting).
    Plan,
    /// An image pull failed (after its retries), or was never made.
    Pull,
    /// A podman command failed (create or remove a volume, secret, network, container).
    Podman,
    /// A secret's source could not be read.
    SecretSource,
    /// A unit file could not be written or removed.
    UnitFile,
    /// A call to systemd failed (start, enable, daemon-reload, ...).
    Systemd,
    /// systemd ran the job, and it did not end `done` (or the unit did not come back).
    JobFailed,
    /// An action the executor should have carried out in a batch was not: a bug.
    Internal,
    /// A new image failed its health gate (and was rolled back, or could not be).
    Gate,
    /// A blue-green proxy's admin socket failed or refused a command.
    Proxy,
    /// A record under the state directory could not be written.
    StateFile,
    /// The backup `update.backupBefore` asks for failed: the update was not made.
    Backup,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Pull => "pull",
            Self::Podman => "podman",
            Self::SecretSource => "secret_source",
            Self::UnitFile => "unit_file",
            Self::Systemd => "systemd",
            Self::JobFailed => "job_failed",
            Self::Internal => "internal",
            Self::Gate => "gate",
            Self::Proxy => "proxy",
            Self::StateFile => "state_file",
            Self::Backup => "backup",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The podman commands an action runs, for the message of their failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodmanWork {
    CreateVolume,
    RemoveVolume,
    CreateSecret,
    RemoveSecret,
    CreateNetwork,
    RemoveNetwork,
    RemoveImage,
    RemoveContainer,
}

impl fmt::Display for PodmanWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CreateVolume => "create volume",
            Self::RemoveVolume => "remove volume",
            Self::CreateSecret => "create secret",
            Self::RemoveSecret => "remove secret",
            Self::CreateNetwork => "create network",
            Self::RemoveNetwork => "remove network",
            Self::RemoveImage => "remove image",
            Self::RemoveContainer => "remove container",
        })
    }
}

/// Why an object's action failed. Clone because one failure is reported for every
/// object it concerns (a pull shared by an Image and its containers); the causes are
/// shared, not copied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ActionError {
    /// The plan's own verdict (`Change::Error`), already worded for the user.
    #[error("{0}")]
    Planned(String),
    #[error("cannot pull image {reference}: {source}")]
    Pull {
        reference: String,
        #[source]
        source: Arc<PodmanError>,
    },
    /// A container's image is pulled up front with the others; this one was not.
    #[error("image {reference} was not pulled")]
    NotPulled { reference: String },
    #[error("cannot {work} {name}: {source}")]
    Podman {
        work: PodmanWork,
        name: String,
        #[source]
        source: Arc<PodmanError>,
    },
    /// The secret source module words its errors (path or variable, and what to do).
    #[error("{0}")]
    SecretSource(String),
    #[error(transparent)]
    UnitFile(Arc<UnitDirError>),
    #[error("daemon-reload failed: {source}")]
    Reload {
        #[source]
        source: Arc<SystemdError>,
    },
    #[error("cannot {change} the unit: {source}")]
    Enablement {
        change: Enablement,
        #[source]
        source: Arc<SystemdError>,
    },
    /// A call about `unit` failed before its job ran (or while waiting on it).
    #[error("{unit}: {source}")]
    Systemd {
        unit: String,
        #[source]
        source: Arc<SystemdError>,
    },
    #[error("{unit}: job {outcome}; see `journalctl -u {unit}` and `systemctl status {unit}`")]
    Job { unit: String, outcome: JobOutcome },
    #[error(
        "{unit}: restart with {with}: job {outcome}; see `journalctl -u {unit}` and `systemctl status {unit}`"
    )]
    RestartJob {
        unit: String,
        with: String,
        outcome: JobOutcome,
    },
    #[error(
        "{unit}: {active_state} ({sub_state}) after the restart with {with}; see `journalctl -u {unit}` and `systemctl status {unit}`"
    )]
    NotActiveAfterRestart {
        unit: String,
        with: String,
        active_state: ActiveState,
        sub_state: String,
    },
    #[error("{unit}: systemd did not restart it with {with} (active since before the restart)")]
    NotRestarted { unit: String, with: String },
    #[error("{unit}: systemd did not report its state")]
    NoState { unit: String },
    /// A batched action (unit write, enablement) whose batch has no result for it.
    #[error("{action}: not carried out with its batch")]
    NotInBatch { action: String },
    /// Ctrl-C or shutdown while a gate was open: the new image is left for the next pass.
    #[error(
        "{unit}: interrupted while its new image was being judged; the next apply judges it again"
    )]
    GateInterrupted { unit: String },
    /// A blue-green container's new colour failed its gate: the proxy was never switched.
    #[error(
        "failed its gate on {colour} ({reason}); not switched, {serving} keeps serving; see `journalctl -u {container}-{colour}.service`"
    )]
    NotSwitched {
        container: String,
        colour: crate::bluegreen::Colour,
        serving: crate::bluegreen::Colour,
        reason: FailReason,
    },
    #[error("{unit}: {source}")]
    Proxy {
        unit: String,
        #[source]
        source: Arc<crate::adapters::haproxy::HaproxyError>,
    },
    #[error("cannot write the blue-green state of {container}: {source}")]
    BlueGreenState {
        container: String,
        #[source]
        source: Arc<crate::state_file::StateFileError>,
    },
    /// `update.backupBefore`: a volume's backup before the new image failed, so the
    /// container stays on its image and its unit is left as it was.
    #[error(
        "backup of volume {volume} before the update failed; the update was not made: {source}"
    )]
    BackupBeforeUpdate {
        volume: String,
        #[source]
        source: Arc<crate::backup::BackupError>,
    },
    /// The new image failed its gate; the previous one runs again.
    #[error("{0}; rolled back to {from}", from = .0.from)]
    RolledBack(Box<GateFailure>),
    /// The new image failed its gate, and putting the previous one back failed too.
    #[error("{failure}; rolling back to {from} failed: {source}", from = .failure.from)]
    RollbackFailed {
        failure: Box<GateFailure>,
        #[source]
        source: Arc<ActionError>,
    },
}

/// A new image that failed its gate: which unit, from and to which image, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateFailure {
    pub unit: String,
    pub from: ImagePin,
    pub to: ImagePin,
    pub reason: FailReason,
}

impl fmt::Display for GateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.unit, self.to, self.reason)
    }
}

impl ActionError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Planned(_) => ErrorKind::Plan,
            Self::Pull { .. } | Self::NotPulled { .. } => ErrorKind::Pull,
            Self::Podman { .. } => ErrorKind::Podman,
            Self::SecretSource(_) => ErrorKind::SecretSource,
            Self::UnitFile(_) => ErrorKind::UnitFile,
            Self::Reload { .. }
            | Self::Enablement { .. }
            | Self::Systemd { .. }
            | Self::NoState { .. } => ErrorKind::Systemd,
            Self::Job { .. }
            | Self::RestartJob { .. }
            | Self::NotActiveAfterRestart { .. }
            | Self::NotRestarted { .. } => ErrorKind::JobFailed,
            Self::NotInBatch { .. } => ErrorKind::Internal,
            Self::RolledBack { .. }
            | Self::RollbackFailed { .. }
            | Self::GateInterrupted { .. }
            | Self::NotSwitched { .. } => ErrorKind::Gate,
            Self::Proxy { .. } => ErrorKind::Proxy,
            Self::BlueGreenState { .. } => ErrorKind::StateFile,
            Self::BackupBeforeUpdate { .. } => ErrorKind::Backup,
        }
    }

    pub(super) fn podman(work: PodmanWork, name: &str, source: PodmanError) -> Self {
        Self::Podman {
            work,
            name: name.to_owned(),
            source: Arc::new(source),
        }
    }

    pub(super) fn systemd(unit: &str, source: SystemdError) -> Self {
        Self::Systemd {
            unit: unit.to_owned(),
            source: Arc::new(source),
        }
    }
}

impl From<UnitDirError> for ActionError {
    fn from(e: UnitDirError) -> Self {
        Self::UnitFile(Arc::new(e))
    }
}

/// Why an object was not attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// Something it depends on did not converge.
    By(ObjectRef),
    /// The execution was interrupted before its turn.
    Interrupted,
    /// A network whose recreation would stop a container that could not start again.
    NotRecreated {
        container: ObjectRef,
        /// Why that container is held back, as reported for it.
        why: String,
    },
    /// A rollout earlier in the pass was rolled back: the rollouts not begun by then wait
    /// for the next pass (a bad image often comes with its siblings).
    UpdatesStopped { rolled_back: ObjectRef },
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::By(dep) => write!(f, "blocked by {dep}"),
            Self::Interrupted => {
                f.write_str("interrupted before it was attempted; run apply again")
            }
            Self::NotRecreated { container, why } => write!(
                f,
                "not recreated: {container} could not start again ({why}); it keeps running on the old network"
            ),
            Self::UpdatesStopped { rolled_back } => write!(
                f,
                "not rolled out: {rolled_back} was rolled back in this pass, which stops the remaining rollouts; the next apply (or controller pass) tries again"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::io;
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn a_unit_file_error_should_keep_the_io_error_as_its_cause() {
        let e = ActionError::from(UnitDirError::Write {
            path: PathBuf::from("/etc/systemd/system/app.service"),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        });
        assert_eq!(e.kind(), ErrorKind::UnitFile);
        assert!(
            e.to_string()
                .starts_with("cannot write unit file /etc/systemd/system/app.service: "),
            "{e}"
        );
        let cause = e.source().map(ToString::to_string);
        assert_eq!(
            cause,
            Some(io::Error::from(io::ErrorKind::PermissionDenied).to_string())
        );
    }

    #[test]
    fn a_failed_job_should_say_where_to_look() {
        let e = ActionError::Job {
            unit: "app.service".into(),
            outcome: JobOutcome::Failed,
        };
        assert_eq!(e.kind().as_str(), "job_failed");
        assert_eq!(
            e.to_string(),
            "app.service: job failed; see `journalctl -u app.service` and `systemctl status app.service`"
        );
    }

    #[test]
    fn blocked_should_read_as_before() {
        let db = ObjectRef::new(podctl_api::Kind::Container, "db".parse().expect("name"));
        assert_eq!(Blocked::By(db).to_string(), "blocked by container/db");
        assert_eq!(
            Blocked::Interrupted.to_string(),
            "interrupted before it was attempted; run apply again"
        );
    }
}
