//! The controller's live status as JSON (`GET /status`): the running revision, an invalid
//! revision waiting to be fixed, the last pass, and every object's state. `podctl get`
//! reads it; docs/operations.md documents the schema (`podctl.io/v1` `ControllerStatus`).

use serde::Serialize;

/// The whole document. Field names are camelCase; times are Unix seconds (float).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControllerStatus {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub controller: ControllerInfo,
    /// The revision being kept converged (the last valid one); `None` before the first.
    pub revision: Option<RevisionInfo>,
    /// The manifests on disk when they are invalid; `None` when they are valid.
    pub invalid_revision: Option<InvalidRevision>,
    pub last_reconcile: Option<ReconcileInfo>,
    pub objects: Vec<ObjectStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControllerInfo {
    pub version: &'static str,
    pub pid: u32,
    pub started_at: f64,
    pub manifests: String,
    pub unit_dir: String,
    /// True once the first revision was loaded (valid or not) and the first pass ran.
    pub ready: bool,
    /// `starting`, `running`, `stopping`.
    pub phase: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RevisionInfo {
    pub hash: String,
    pub short_hash: String,
    /// The directory it was read from, after resolving a sync tool's symlink.
    pub resolved_dir: String,
    pub objects: usize,
    pub loaded_at: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InvalidRevision {
    pub detected_at: f64,
    /// The load error's summary, e.g. `revision rejected: 2 errors in 1 file`.
    pub message: String,
    pub errors: Vec<DiagnosticInfo>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticInfo {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// `Container`, `Volume`, `Secret`, `Image`, `Network`.
    pub kind: String,
    pub name: String,
    /// `UpToDate`, `Applied`, `Failed`, `Blocked`, `Conflict`, `Pending` (not reconciled yet),
    /// `BackingOff` (failed; retried at `retryAt`).
    pub status: &'static str,
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
