//! `kind: Volume`: a named podman volume whose data podctl never deletes by accident.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::VolumeBackup;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeSpec {
    /// The podman volume driver.
    #[serde(default = "default_driver")]
    pub driver: String,
    /// Driver options (`podman volume create --opt KEY=VALUE`). Fixed at creation.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Labels on the podman volume.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// What happens to the data when the manifest is removed.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
    /// Snapshots of the volume's content with restic (`podctl backup run`, `podctl restore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<VolumeBackup>,
}

fn default_driver() -> String {
    "local".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum ReclaimPolicy {
    /// Removing the manifest never deletes the data; the volume is reported as orphaned.
    #[default]
    Retain,
    /// Removing the manifest deletes the volume and its data.
    Delete,
}
