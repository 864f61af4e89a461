//! What a gated `podctl sync` decided, kept in two places: in etcd for `podctl fleet status`
//! (`PREFIX/gates/NAME`, on the host's lease) and in `STATE_DIR/fleet/gate.json` for the
//! controller's metrics (also when etcd cannot be reached, which is then what it says).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state_file::{self, StateFileError};

/// The record's format version.
pub const VERSION: u32 = 1;

/// Where a host stands with the newest commit of its branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "camelCase")]
pub enum GateState {
    /// The manifests path shows the newest commit.
    UpToDate,
    /// The commit was taken: the manifests path was swapped to it.
    Swapped,
    /// The lower waves are still taking or soaking the commit.
    Waiting(String),
    /// The lower waves passed; every slot of the group is taken.
    WaitingForSlot(String),
    /// A lower wave failed on the commit: the host keeps its own.
    Halted(String),
    /// etcd did not answer: the host keeps its commit.
    Unreachable(String),
}

impl GateState {
    pub const LABELS: [&'static str; 6] = [
        "up_to_date",
        "swapped",
        "waiting",
        "waiting_for_slot",
        "halted",
        "unreachable",
    ];

    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::UpToDate => "up_to_date",
            Self::Swapped => "swapped",
            Self::Waiting(_) => "waiting",
            Self::WaitingForSlot(_) => "waiting_for_slot",
            Self::Halted(_) => "halted",
            Self::Unreachable(_) => "unreachable",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::UpToDate | Self::Swapped => None,
            Self::Waiting(r) | Self::WaitingForSlot(r) | Self::Halted(r) | Self::Unreachable(r) => {
                Some(r)
            }
        }
    }
}

impl std::fmt::Display for GateState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = match self {
            Self::UpToDate => "up to date",
            Self::Swapped => "taken",
            Self::Waiting(_) => "waiting",
            Self::WaitingForSlot(_) => "waiting for a slot",
            Self::Halted(_) => "halted",
            Self::Unreachable(_) => "etcd unreachable",
        };
        match self.reason() {
            Some(reason) => write!(f, "{word}: {reason}"),
            None => f.write_str(word),
        }
    }
}

/// One host's last gate decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateRecord {
    pub version: u32,
    pub host: String,
    pub wave: u32,
    /// The newest commit of the branch, the one decided about.
    pub target: String,
    /// The commit at the manifests path after the decision.
    pub current: Option<String>,
    #[serde(flatten)]
    pub state: GateState,
    /// Unix seconds.
    pub at: f64,
}

/// `STATE_DIR/fleet/gate.json`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("fleet").join("gate.json")
}

pub fn write(state_dir: &Path, record: &GateRecord) -> Result<(), StateFileError> {
    state_file::write(&path(state_dir), record)
}

/// The last record; `None` before the first gated sync.
pub fn read(state_dir: &Path) -> Result<Option<GateRecord>, StateFileError> {
    state_file::read(&path(state_dir), VERSION)
}
