//! What the host has: podctl's view of its unit files, systemd's units and podman's
//! containers and images, gathered in a constant number of queries per pass.

mod unit_dir;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub use unit_dir::{UnitDirError, read_unit_dir, remove_unit_file, write_unit_file};

/// A unit file in podctl's unit directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFileOnDisk {
    pub path: PathBuf,
    /// The full text for files podctl manages; empty for foreign files (only their
    /// existence matters).
    pub content: String,
    pub managed: bool,
}

/// systemd's view of a unit, as far as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitStatus {
    /// `loaded`, `not-found`, `masked`, ...
    pub load_state: String,
    /// `active`, `inactive`, `failed`, `activating`, `deactivating`, `reloading`.
    pub active_state: String,
    pub sub_state: String,
    /// The file systemd loaded the unit from, if any.
    pub fragment_path: Option<PathBuf>,
    /// `enabled`, `disabled`, `static`, ...
    pub unit_file_state: String,
    pub n_restarts: Option<u32>,
}

impl UnitStatus {
    pub fn is_running(&self) -> bool {
        matches!(
            self.active_state.as_str(),
            "active" | "activating" | "reloading"
        )
    }
}

/// A podman container, as far as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerStatus {
    pub id: String,
    pub name: String,
    pub state: String,
    pub labels: BTreeMap<String, String>,
}

impl ContainerStatus {
    pub fn is_managed(&self) -> bool {
        self.labels
            .get(crate::render::labels::MANAGED)
            .map(String::as_str)
            == Some("true")
    }
}

/// Everything observed in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Where podctl writes units.
    pub unit_dir: PathBuf,
    /// `*.service` files in `unit_dir`, by file name.
    pub unit_files: BTreeMap<String, UnitFileOnDisk>,
    /// systemd's view of every unit of interest (desired or managed), by name.
    pub units: BTreeMap<String, UnitStatus>,
    /// Containers by name (managed or not: a foreign one with a managed name is a clash).
    pub containers: BTreeMap<String, ContainerStatus>,
    /// Image references and IDs present in local storage.
    pub images: BTreeSet<String>,
}
