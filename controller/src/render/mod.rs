//! Rendering: desired objects to the exact files and commands podctl installs. Pure:
//! the same revision and context always give the same bytes, so "changed" means "differs".

pub mod backup_timer;
pub mod bluegreen;
pub mod container;
pub mod host_settings;
pub mod quote;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use container::{UnitFile, container_unit, podman_run_args, unit_name};

/// The first line of every unit file podctl writes (see [`crate::ownership`]).
pub use crate::ownership::UNIT_FILE_MARKER as MANAGED_MARKER;
/// Labels podctl puts on everything it creates (see [`crate::ownership`]).
pub use crate::ownership::labels;

/// The `[Unit]` key that carries the hash of the rendered desired state.
pub const HASH_KEY: &str = "X-Podctl-Hash";

/// What rendering needs to know about the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderContext {
    /// Absolute path of the podman binary written into `Exec*=` lines.
    pub podman: PathBuf,
    /// Podman's storage directories (graph root, run root): they must stay writable under
    /// `ProtectSystem=strict`.
    pub storage_paths: Vec<PathBuf>,
    /// The content hash of each Secret's source by name (observed, never the value); the
    /// planner fills it from `Observed::secret_hashes`.
    pub secret_hashes: BTreeMap<String, String>,
    /// The image ID each container is pinned to by name (see `rollout::decide`); the
    /// planner fills it. A container without one runs its reference.
    pub image_pins: BTreeMap<String, String>,
    /// What a volume's backup timer runs (`backup.schedule`).
    pub backup: backup_timer::BackupCommand,
}

impl Default for RenderContext {
    fn default() -> Self {
        Self {
            podman: PathBuf::from("/usr/bin/podman"),
            storage_paths: vec![
                PathBuf::from("/var/lib/containers/storage"),
                PathBuf::from("/run/containers/storage"),
            ],
            secret_hashes: BTreeMap::new(),
            image_pins: BTreeMap::new(),
            backup: backup_timer::BackupCommand::default(),
        }
    }
}

/// The `X-Podctl-Hash=` value of a unit file's text.
pub fn unit_hash(content: &str) -> Option<&str> {
    content
        .lines()
        .find_map(|l| l.strip_prefix(HASH_KEY).and_then(|r| r.strip_prefix('=')))
        .map(str::trim)
}
