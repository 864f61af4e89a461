//! The controller's live status as JSON (`GET /status`): the running revision, an invalid
//! revision waiting to be fixed, the last pass, and every object's state. One set of types
//! for both sides: the controller serialises them, `podctl get` (`live.rs`) deserialises
//! them. docs/operations.md documents the schema (`podctl.io/v1` `ControllerStatus`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The document's `apiVersion` and `kind`.
pub const API_VERSION: &str = "podctl.io/v1";
pub const KIND: &str = "ControllerStatus";

/// The whole document. Field names are camelCase; times are Unix seconds (float).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControllerStatus {
    pub api_version: String,
    pub kind: String,
    pub controller: ControllerInfo,
    /// The revision being kept converged (the last valid one); `None` before the first.
    pub revision: Option<RevisionInfo>,
    /// The manifests on disk when they are invalid; `None` when they are valid.
    pub invalid_revision: Option<InvalidRevision>,
    pub last_reconcile: Option<ReconcileInfo>,
    pub objects: Vec<ObjectStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControllerInfo {
    pub version: String,
    pub pid: u32,
    pub started_at: f64,
    pub manifests: String,
    pub unit_dir: String,
    /// True once the first revision was loaded (valid or not) and the first pass ran.
    pub ready: bool,
    pub phase: ControllerPhase,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RevisionInfo {
    pub hash: String,
    pub short_hash: String,
    /// The directory it was read from, after resolving a sync tool's symlink.
    pub resolved_dir: String,
    /// The Git commit `podctl sync` checked the directory out from, if it did: the
    /// revision's identity across hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub objects: usize,
    pub loaded_at: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InvalidRevision {
    pub detected_at: f64,
    /// The load error's summary, e.g. `revision rejected: 2 errors in 1 file`.
    pub message: String,
    pub errors: Vec<DiagnosticInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticInfo {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileInfo {
    pub started_at: f64,
    pub duration_ms: u64,
    /// Why the pass ran: `manifests`, `systemd`, `podman`, `resync`, `sighup`, `retry`, `start`.
    pub reason: String,
    pub changed: usize,
    pub failed: usize,
    /// An error that stopped the whole pass (e.g. systemd unreachable).
    pub error: Option<String>,
}

/// One object of the running revision (or one being removed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    pub kind: podctl_api::Kind,
    pub name: String,
    pub status: ObjectPhase,
    /// The failure, block or conflict message.
    pub message: Option<String>,
    /// What the last pass found: `up to date`, `create`, `update (...)`, `repair (...)`, ...
    pub change: Option<String>,
    /// The systemd unit of a Container.
    pub unit: Option<String>,
    /// systemd's `ActiveState`/`SubState` of the unit, kept current from D-Bus signals.
    pub active_state: Option<String>,
    pub sub_state: Option<String>,
    /// Consecutive failed attempts.
    pub failures: u32,
    pub retry_at: Option<f64>,
    pub last_reconciled_at: Option<f64>,
}

/// Where the controller is in its life.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ControllerPhase {
    /// Before its first pass.
    Starting,
    Running,
    /// Draining after SIGTERM.
    Stopping,
}

impl ControllerPhase {
    pub const ALL: [ControllerPhase; 3] = [Self::Starting, Self::Running, Self::Stopping];
}

impl fmt::Display for ControllerPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
        })
    }
}

/// An object's state as the controller reports it: its last outcome, or that it was not
/// reconciled yet, or that it is waiting out a backoff.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectPhase {
    UpToDate,
    Applied,
    Failed,
    Blocked,
    Conflict,
    /// Not reconciled yet.
    Pending,
    /// Failed; retried at `retryAt`.
    BackingOff,
}

impl ObjectPhase {
    /// The document's word, also the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::Applied => "Applied",
            Self::Failed => "Failed",
            Self::Blocked => "Blocked",
            Self::Conflict => "Conflict",
            Self::Pending => "Pending",
            Self::BackingOff => "BackingOff",
        }
    }

    /// Something an operator should look at.
    pub fn is_trouble(self) -> bool {
        match self {
            Self::Failed | Self::Blocked | Self::Conflict | Self::BackingOff => true,
            Self::UpToDate | Self::Applied | Self::Pending => false,
        }
    }
}

impl fmt::Display for ObjectPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl DiagnosticInfo {
    pub fn from_diagnostic(d: &podctl_api::Diagnostic) -> Self {
        Self {
            file: d.location.file.display().to_string(),
            line: d.location.mark.line,
            col: d.location.mark.col,
            message: d.message.clone(),
            hint: d.hint.clone(),
        }
    }
}
