//! A container's health as podman last recorded it, read from the health-check log podman
//! keeps beside the container's run directory (`healthcheck.log`, JSON with a `Status`),
//! so a `/metrics` scrape needs no `podman inspect` per container.
//!
//! Where the file is moved between podman versions: 4.x writes it next to the container's
//! `userdata` directory under the store's run root, later versions inside it. Both places
//! are tried; a container without a health check has neither.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Health;

/// Where podman's store keeps the containers' run directories (`RunRoot` of `podman info`;
/// `/run/containers/storage` for root unless storage.conf moves it).
pub const DEFAULT_RUN_ROOT: &str = "/run/containers/storage";

#[derive(Deserialize)]
struct HealthLog {
    #[serde(rename = "Status")]
    status: String,
}

/// The health podman last recorded for the container `id`; `None` without a health check
/// (no log) or with a status this code does not know.
pub fn read_health(run_root: &Path, id: &str) -> Option<Health> {
    let text = candidates(run_root, id)
        .into_iter()
        .find_map(|path| std::fs::read(path).ok())?;
    let log: HealthLog = serde_json::from_slice(&text).ok()?;
    Health::parse(&log.status)
}

fn candidates(run_root: &Path, id: &str) -> [PathBuf; 2] {
    let dir = run_root.join("overlay-containers").join(id);
    [
        dir.join("healthcheck.log"),
        dir.join("userdata").join("healthcheck.log"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_should_be_read_from_either_place() {
        let root = tempfile::tempdir().unwrap();
        let old = root.path().join("overlay-containers/a");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(
            old.join("healthcheck.log"),
            r#"{"Status":"unhealthy","FailingStreak":3,"Log":[]}"#,
        )
        .unwrap();
        let new = root.path().join("overlay-containers/b/userdata");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("healthcheck.log"), r#"{"Status":"healthy"}"#).unwrap();
        assert_eq!(read_health(root.path(), "a"), Some(Health::Unhealthy));
        assert_eq!(read_health(root.path(), "b"), Some(Health::Healthy));
        assert_eq!(read_health(root.path(), "c"), None);
    }
}
