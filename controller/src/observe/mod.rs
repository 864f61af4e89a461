//! What the host has: podctl's view of its unit files, systemd's units and podman's
//! containers, images, volumes, secrets and networks, gathered with one query per podman
//! resource kind and, for systemd, one call for all units plus one per unit; and the content hashes of the desired secrets' sources.

pub mod bluegreen;
pub mod host_settings;
pub mod pulled_images;
pub mod rollouts;
pub mod secret_source;
mod unit_dir;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub use unit_dir::{UnitDirError, read_unit_dir, remove_unit_file, write_unit_file};

/// The states the adapters read, carried as they are so that planning and reporting match
/// on them instead of on words.
pub use crate::adapters::podman::{ContainerState, Health};
pub use crate::adapters::systemd::{ActiveState, LoadState, UnitFileState};

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
    pub load_state: LoadState,
    pub active_state: ActiveState,
    /// Type-specific detail, e.g. `running`, `exited`, `dead`, `auto-restart`.
    pub sub_state: String,
    /// The file systemd loaded the unit from, if any.
    pub fragment_path: Option<PathBuf>,
    pub unit_file_state: UnitFileState,
    pub n_restarts: Option<u32>,
    /// The main process's exit status of a failed service.
    pub exec_main_status: Option<i32>,
    /// When the unit last became active (µs since the epoch); 0 if never.
    pub active_enter_timestamp_us: u64,
    /// The unit file on disk changed since systemd loaded it (a daemon-reload is due).
    pub need_daemon_reload: bool,
    /// Drop-ins systemd merged into the unit.
    pub drop_in_paths: Vec<PathBuf>,
}

impl UnitStatus {
    pub fn is_running(&self) -> bool {
        matches!(
            self.active_state,
            ActiveState::Active | ActiveState::Activating | ActiveState::Reloading
        )
    }

    /// systemd knows a unit file for it.
    pub fn is_loaded(&self) -> bool {
        self.load_state != LoadState::NotFound
    }

    pub fn is_enabled(&self) -> bool {
        self.unit_file_state == UnitFileState::Enabled
    }

    /// Waiting out `RestartSec=` before systemd starts it again (sub-state `auto-restart`,
    /// a service's own word, so kept as text).
    pub fn is_auto_restarting(&self) -> bool {
        self.sub_state == "auto-restart"
    }
}

/// A podman container, as far as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerStatus {
    pub id: String,
    pub name: String,
    pub state: ContainerState,
    pub labels: BTreeMap<String, String>,
    /// The image reference it runs.
    pub image: String,
    /// The ID of the image it runs (what the reference pointed to when it was created).
    pub image_id: String,
    /// Only for containers with a health check.
    pub health: Option<Health>,
    /// The networks it is attached to.
    pub networks: Vec<String>,
}

/// Everything observed in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Where podctl writes units.
    pub unit_dir: PathBuf,
    /// podctl's sysctl and journald files, and the kernel's values (HostSettings).
    pub host_settings: host_settings::HostSettingsStatus,
    /// `*.service` files in `unit_dir`, by file name.
    pub unit_files: BTreeMap<String, UnitFileOnDisk>,
    /// systemd's view of every unit of interest (desired or managed), by name.
    pub units: BTreeMap<String, UnitStatus>,
    /// Containers by name (managed or not: a foreign one with a managed name is a clash).
    pub containers: BTreeMap<String, ContainerStatus>,
    /// Image references and IDs present in local storage: all of them, or only those of
    /// the references in `images_asked`.
    pub images: BTreeSet<String>,
    /// `None`: `images` lists every local image (the CLI's list). `Some`: only the images of
    /// these references were asked for (the API, one inspect each), so a revision naming
    /// others needs a new observation (see [`Observed::knows_images_of`]).
    pub images_asked: Option<BTreeSet<String>>,
    /// The image ID of each reference in local storage (`name -> id`).
    pub image_ids: BTreeMap<String, String>,
    /// Image references podctl pulled itself (its record), the only ones it may prune.
    pub pulled_images: BTreeSet<String>,
    /// Podman volumes by name, podctl's or not.
    pub volumes: BTreeMap<String, VolumeStatus>,
    /// Podman secrets by name (metadata only), podctl's or not.
    pub secrets: BTreeMap<String, SecretStatus>,
    /// Podman networks by name, podctl's or not.
    pub networks: BTreeMap<String, NetworkStatus>,
    /// For each desired Secret: the truncated content hash of its source, or why the source
    /// cannot be read. Never the value.
    pub secret_hashes: BTreeMap<String, Result<String, String>>,
    /// The rollout record of each desired container that has one (`observe::rollouts`).
    pub rollouts: BTreeMap<String, crate::rollout::RolloutRecord>,
    /// The blue-green state of each desired blue-green container that has one.
    pub bluegreen: BTreeMap<String, crate::bluegreen::State>,
}

impl Observed {
    /// Whether `images` answers for every image reference `revision` names: an observation
    /// made for another revision may not (the controller plans a manifest change against
    /// the previous pass's observation).
    pub fn knows_images_of(&self, revision: &podctl_api::Revision) -> bool {
        self.images_asked
            .as_ref()
            .is_none_or(|asked| crate::plan::image_references(revision).is_subset(asked))
    }
}

/// A podman volume.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeStatus {
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// A podman secret's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretStatus {
    pub id: String,
    pub labels: BTreeMap<String, String>,
}

/// A podman network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkStatus {
    pub driver: String,
    /// Subnets in CIDR form.
    pub subnets: Vec<String>,
    pub internal: bool,
    pub ipv6: bool,
    pub labels: BTreeMap<String, String>,
}

// What the adapters report, as planning sees it: one conversion per kind, so that `observe`
// is the one room where the host's answers become podctl's observed state.

pub fn volume_status(v: crate::adapters::podman::Volume) -> (String, VolumeStatus) {
    let status = VolumeStatus {
        driver: v.driver,
        options: v.options,
        labels: v.labels,
    };
    (v.name, status)
}

pub fn secret_status(s: crate::adapters::podman::Secret) -> (String, SecretStatus) {
    let status = SecretStatus {
        id: s.id,
        labels: s.labels,
    };
    (s.name, status)
}

pub fn network_status(n: crate::adapters::podman::Network) -> (String, NetworkStatus) {
    let status = NetworkStatus {
        driver: n.driver,
        subnets: n.subnets.into_iter().map(|s| s.subnet).collect(),
        internal: n.internal,
        ipv6: n.ipv6_enabled,
        labels: n.labels,
    };
    (n.name, status)
}

pub fn unit_status(u: crate::adapters::systemd::UnitState) -> (String, UnitStatus) {
    let status = UnitStatus {
        load_state: u.load_state,
        active_state: u.active_state,
        sub_state: u.sub_state,
        fragment_path: u.fragment_path,
        unit_file_state: u.unit_file_state,
        n_restarts: u.n_restarts,
        exec_main_status: u.exec_main_status,
        active_enter_timestamp_us: u.active_enter_timestamp_us,
        need_daemon_reload: u.need_daemon_reload,
        drop_in_paths: u.drop_in_paths,
    };
    (u.name, status)
}

/// A container by its first name; one without a name is not podctl's to plan for.
pub fn container_status(
    c: crate::adapters::podman::Container,
) -> Option<(String, ContainerStatus)> {
    let name = c.names.first()?.clone();
    let health = c.health();
    Some((
        name.clone(),
        ContainerStatus {
            id: c.id,
            name,
            state: c.state,
            labels: c.labels,
            image: c.image,
            image_id: c.image_id,
            health,
            networks: c.networks,
        },
    ))
}
