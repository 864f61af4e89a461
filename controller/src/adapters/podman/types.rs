//! Domain types for podman objects, parsed from podman's JSON.
//!
//! The serde shapes accept podman 4.3 (Debian 12) and podman 5: fields podctl does not need
//! are ignored, missing or `null` fields fall back to empty values, and the few names that
//! changed between versions have aliases.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

pub type Labels = BTreeMap<String, String>;

/// `null` and absent both become the default: podman prints `"Labels": null`, `"Names": null`.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// `podman version --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PodmanVersion {
    #[serde(rename = "Client")]
    pub client: VersionInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VersionInfo {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "APIVersion", default)]
    pub api_version: String,
}

impl PodmanVersion {
    /// `(major, minor, patch)` of the client, for the rare feature podctl cannot probe;
    /// missing or non-numeric parts (`5.0.0-dev`) count as 0.
    pub fn client_semver(&self) -> (u32, u32, u32) {
        let mut parts = self.client.version.split('.').map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        });
        (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        )
    }
}

/// One entry of `podman ps -a --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Container {
    #[serde(rename = "Id", alias = "ID")]
    pub id: String,
    #[serde(rename = "Names", default, deserialize_with = "nullable")]
    pub names: Vec<String>,
    /// The image reference the container was created from.
    #[serde(rename = "Image", default)]
    pub image: String,
    #[serde(rename = "ImageID", default)]
    pub image_id: String,
    /// podman's state word: `created`, `running`, `paused`, `exited`, `stopped`, ...
    #[serde(rename = "State", default)]
    pub state: ContainerState,
    /// Human status, e.g. `Up 8 minutes ago (healthy)`; the only place podman 4.3's `ps`
    /// shows health. The API puts the bare health word here (`healthy`).
    #[serde(rename = "Status", default)]
    pub status: String,
    #[serde(rename = "Labels", default, deserialize_with = "nullable")]
    pub labels: Labels,
    /// The networks it is attached to.
    #[serde(rename = "Networks", default, deserialize_with = "nullable")]
    pub networks: Vec<String>,
    #[serde(rename = "ExitCode", default)]
    pub exit_code: i32,
    #[serde(rename = "Exited", default)]
    pub exited: bool,
    #[serde(rename = "Pod", default)]
    pub pod: String,
}

/// Health of a container with a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    /// The word podman writes for it; `None` for any other.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "starting" => Some(Self::Starting),
            "healthy" => Some(Self::Healthy),
            "unhealthy" => Some(Self::Unhealthy),
            _ => None,
        }
    }

    /// The word podman prints for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container's state as podman names it (`State` of `podman ps`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(from = "String")]
pub enum ContainerState {
    Created,
    Initialized,
    Running,
    Paused,
    Stopping,
    Stopped,
    Exited,
    Removing,
    /// podman printed no state (or an empty one).
    #[default]
    Unknown,
    /// A word this code does not know (newer podman).
    Other(String),
}

impl ContainerState {
    pub fn parse(s: &str) -> Self {
        match s {
            "created" => Self::Created,
            "initialized" => Self::Initialized,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "exited" => Self::Exited,
            "removing" => Self::Removing,
            "" => Self::Unknown,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "created",
            Self::Initialized => "initialized",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Exited => "exited",
            Self::Removing => "removing",
            Self::Unknown => "",
            Self::Other(s) => s,
        }
    }
}

impl From<String> for ContainerState {
    fn from(s: String) -> Self {
        Self::parse(&s)
    }
}

impl std::fmt::Display for ContainerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Container {
    /// The container's first name (podman gives every container exactly one).
    pub fn name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.state == ContainerState::Running
    }

    /// Health as `ps` shows it in the status text, or as the API gives it (the word
    /// alone); `None` without a health check.
    pub fn health(&self) -> Option<Health> {
        let status = self.status.trim_end();
        if let Some(health) = Health::parse(status) {
            Some(health)
        } else if status.ends_with("(healthy)") {
            Some(Health::Healthy)
        } else if status.ends_with("(unhealthy)") {
            Some(Health::Unhealthy)
        } else if status.ends_with("(starting)") {
            Some(Health::Starting)
        } else {
            None
        }
    }
}

/// One entry of `podman volume ls --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Volume {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Driver", default)]
    pub driver: String,
    #[serde(rename = "Mountpoint", default)]
    pub mountpoint: String,
    #[serde(rename = "Labels", default, deserialize_with = "nullable")]
    pub labels: Labels,
    #[serde(rename = "Options", default, deserialize_with = "nullable")]
    pub options: Labels,
}

/// One entry of `podman network ls --format json` (netavark/libnetwork shape, lower case).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Network {
    pub name: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default, deserialize_with = "nullable")]
    pub subnets: Vec<Subnet>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub ipv6_enabled: bool,
    #[serde(default)]
    pub dns_enabled: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Labels,
    #[serde(default, deserialize_with = "nullable")]
    pub options: Labels,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Subnet {
    pub subnet: String,
    #[serde(default)]
    pub gateway: Option<String>,
}

/// One entry of `podman images --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Image {
    #[serde(rename = "Id", alias = "ID")]
    pub id: String,
    /// Every name (`registry/repo:tag`) of the image; empty for dangling images.
    #[serde(rename = "Names", default, deserialize_with = "nullable")]
    pub names: Vec<String>,
    #[serde(rename = "RepoDigests", default, deserialize_with = "nullable")]
    pub repo_digests: Vec<String>,
    /// The manifest digest, `sha256:...`.
    #[serde(rename = "Digest", default)]
    pub digest: String,
    #[serde(rename = "Labels", default, deserialize_with = "nullable")]
    pub labels: Labels,
}

/// One entry of `podman secret inspect`: metadata only, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub labels: Labels,
    /// RFC 3339, as podman prints it; changes when the secret is replaced.
    pub updated_at: String,
}

/// The serde shape of `podman secret inspect`.
#[derive(Debug, Deserialize)]
pub(crate) struct SecretInspect {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "UpdatedAt", default)]
    updated_at: String,
    #[serde(rename = "Spec")]
    spec: SecretSpec,
}

#[derive(Debug, Deserialize)]
struct SecretSpec {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Driver", default)]
    driver: SecretDriver,
    #[serde(rename = "Labels", default, deserialize_with = "nullable")]
    labels: Labels,
}

#[derive(Debug, Default, Deserialize)]
struct SecretDriver {
    #[serde(rename = "Name", default)]
    name: String,
}

impl SecretInspect {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl From<SecretInspect> for Secret {
    fn from(s: SecretInspect) -> Self {
        Self {
            id: s.id,
            name: s.spec.name,
            driver: s.spec.driver.name,
            labels: s.spec.labels,
            updated_at: s.updated_at,
        }
    }
}
