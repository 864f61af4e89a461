//! Which Quadlet keys a podman release knows. Quadlet refuses a unit with a key it does
//! not know, so the export writes a key only for releases that have it, and falls back to
//! `PodmanArgs=` or a finding otherwise.
//!
//! The table is conservative: a key counts from the release in which podctl's authors could
//! confirm it (the `podman-systemd.unit(5)` manual, podman's release notes and pull requests,
//! and the per-release key lists of containers/podlet, a Quadlet generator of the podman
//! project); for a release before that, the export uses the fallback even if the key may have
//! come a little earlier.

use std::fmt;
use std::str::FromStr;

/// A podman release, `MAJOR.MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodmanVersion {
    pub major: u16,
    pub minor: u16,
}

impl PodmanVersion {
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// The first release with Quadlet.
    pub const FIRST: PodmanVersion = PodmanVersion::new(4, 4);
}

impl FromStr for PodmanVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a podman version such as `4.9` or `5.2`");
        let mut parts = s.trim_start_matches('v').split('.');
        let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        // A patch release (`4.9.3`) has the keys of its minor release.
        if parts.next().is_some_and(|p| p.parse::<u16>().is_err()) || parts.next().is_some() {
            return Err(bad());
        }
        let v = PodmanVersion { major, minor };
        if v < PodmanVersion::FIRST {
            return Err(format!(
                "podman {s} has no Quadlet; it came with podman 4.4"
            ));
        }
        Ok(v)
    }
}

impl fmt::Display for PodmanVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The Quadlet file types podctl writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnitType {
    Container,
    Volume,
    Network,
    Image,
}

impl UnitType {
    pub fn extension(self) -> &'static str {
        match self {
            UnitType::Container => "container",
            UnitType::Volume => "volume",
            UnitType::Network => "network",
            UnitType::Image => "image",
        }
    }

    /// The section Quadlet reads (`[Container]`, ...).
    pub fn section(self) -> &'static str {
        match self {
            UnitType::Container => "Container",
            UnitType::Volume => "Volume",
            UnitType::Network => "Network",
            UnitType::Image => "Image",
        }
    }

    pub fn from_extension(ext: &str) -> Option<UnitType> {
        [
            UnitType::Container,
            UnitType::Volume,
            UnitType::Network,
            UnitType::Image,
        ]
        .into_iter()
        .find(|t| t.extension() == ext)
    }

    /// The release that brought this file type.
    pub fn since(self) -> PodmanVersion {
        match self {
            UnitType::Container | UnitType::Volume => PodmanVersion::new(4, 4),
            UnitType::Network => PodmanVersion::new(4, 5),
            UnitType::Image => PodmanVersion::new(4, 8),
        }
    }
}

/// `(file type, key, first release)`: every key the export writes or the import reads.
const KEYS: &[(UnitType, &str, (u16, u16))] = &[
    (UnitType::Container, "Image", (4, 4)),
    (UnitType::Container, "ContainerName", (4, 4)),
    (UnitType::Container, "Exec", (4, 4)),
    (UnitType::Container, "Environment", (4, 4)),
    (UnitType::Container, "Label", (4, 4)),
    (UnitType::Container, "User", (4, 4)),
    (UnitType::Container, "Group", (4, 4)),
    (UnitType::Container, "PublishPort", (4, 4)),
    (UnitType::Container, "Volume", (4, 4)),
    (UnitType::Container, "Network", (4, 4)),
    (UnitType::Container, "NoNewPrivileges", (4, 4)),
    (UnitType::Container, "DropCapability", (4, 4)),
    (UnitType::Container, "AddCapability", (4, 4)),
    (UnitType::Container, "ReadOnly", (4, 4)),
    (UnitType::Container, "EnvironmentFile", (4, 4)),
    (UnitType::Container, "PodmanArgs", (4, 4)),
    (UnitType::Container, "HealthCmd", (4, 4)),
    (UnitType::Container, "Secret", (4, 5)),
    (UnitType::Container, "HealthInterval", (4, 5)),
    (UnitType::Container, "HealthTimeout", (4, 5)),
    (UnitType::Container, "HealthRetries", (4, 5)),
    (UnitType::Container, "HealthStartPeriod", (4, 5)),
    (UnitType::Container, "HealthOnFailure", (4, 5)),
    (UnitType::Container, "LogDriver", (4, 5)),
    // Pull request #18838 ("Add WorkingDir support to quadlet"), merged in June 2023.
    (UnitType::Container, "AutoUpdate", (4, 6)),
    (UnitType::Container, "WorkingDir", (4, 6)),
    (UnitType::Container, "Entrypoint", (5, 0)),
    (UnitType::Container, "StopTimeout", (5, 0)),
    (UnitType::Volume, "Label", (4, 4)),
    (UnitType::Volume, "Device", (4, 5)),
    (UnitType::Volume, "Type", (4, 5)),
    (UnitType::Volume, "Options", (4, 5)),
    (UnitType::Volume, "VolumeName", (4, 7)),
    (UnitType::Volume, "Driver", (4, 8)),
    (UnitType::Network, "Driver", (4, 5)),
    (UnitType::Network, "Subnet", (4, 5)),
    (UnitType::Network, "Gateway", (4, 5)),
    (UnitType::Network, "Internal", (4, 5)),
    (UnitType::Network, "IPv6", (4, 5)),
    (UnitType::Network, "Label", (4, 5)),
    (UnitType::Network, "NetworkName", (4, 7)),
    (UnitType::Image, "Image", (4, 8)),
    (UnitType::Image, "TLSVerify", (4, 8)),
    (UnitType::Image, "AuthFile", (4, 8)),
    // Release notes of podman 5.6: "Quadlet .image units now support a new key, Policy=".
    (UnitType::Image, "Policy", (5, 6)),
];

/// Whether `version`'s Quadlet knows `key` in a file of `unit`.
pub fn knows(version: PodmanVersion, unit: UnitType, key: &str) -> bool {
    since(unit, key).is_some_and(|s| version >= s)
}

/// The release that brought `key`, if podctl knows the key.
pub fn since(unit: UnitType, key: &str) -> Option<PodmanVersion> {
    KEYS.iter()
        .find(|(u, k, _)| *u == unit && *k == key)
        .map(|(_, _, (major, minor))| PodmanVersion::new(*major, *minor))
}

/// Referring to a `.volume`, `.network` or `.image` file from a `.container` by its file
/// name (`Network=app.network`).
pub fn references(version: PodmanVersion, target: UnitType) -> bool {
    match target {
        UnitType::Volume | UnitType::Network => version >= PodmanVersion::new(4, 5),
        UnitType::Image => version >= PodmanVersion::new(4, 8),
        UnitType::Container => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_should_parse_and_refuse_releases_without_quadlet() {
        assert_eq!("4.9".parse(), Ok(PodmanVersion::new(4, 9)));
        assert_eq!("5.2.1".parse(), Ok(PodmanVersion::new(5, 2)));
        assert!("4.3".parse::<PodmanVersion>().is_err());
        assert!("five".parse::<PodmanVersion>().is_err());
    }

    #[test]
    fn keys_should_come_with_their_release() {
        let v = |s: &str| s.parse::<PodmanVersion>().expect("version");
        assert!(knows(v("4.4"), UnitType::Container, "PodmanArgs"));
        assert!(!knows(v("4.4"), UnitType::Container, "Secret"));
        assert!(knows(v("4.5"), UnitType::Container, "Secret"));
        assert!(!knows(v("4.9"), UnitType::Container, "Entrypoint"));
        assert!(knows(v("5.0"), UnitType::Container, "Entrypoint"));
        assert!(!knows(v("5.5"), UnitType::Image, "Policy"));
        assert!(knows(v("5.6"), UnitType::Image, "Policy"));
        assert!(!knows(v("9.9"), UnitType::Container, "NoSuchKey"));
    }
}
