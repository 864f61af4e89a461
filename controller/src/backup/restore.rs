//! `podctl restore`: a snapshot back into a volume, exactly. `podman volume import` merges
//! (deleted files come back, newer ones stay), so the volume is emptied first, and only
//! once the snapshot's archive is complete on disk.

use std::path::Path;
use std::time::{Duration, Instant};

use podctl_api::Revision;

use super::consumers;
use super::{BackupConfig, BackupError, TAG_SIZE, Target, file_size, open, private_dir};
use crate::adapters::podman::Podman;
use crate::adapters::restic::Snapshot;
use crate::adapters::systemd::Systemd;

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// A snapshot ID (full or short); the newest of the volume when `None`.
    pub snapshot: Option<String>,
    /// Restore into this new volume instead of the backed-up one.
    pub into: Option<String>,
    /// Stop the running consumers, restore, start them again.
    pub stop: bool,
}

#[derive(Debug)]
pub struct RestoreReport {
    pub snapshot: String,
    pub volume: String,
    pub bytes: u64,
    pub took: Duration,
    pub stopped: Vec<String>,
}

pub async fn restore(
    podman: &Podman,
    systemd: &Systemd,
    revision: &Revision,
    target: &Target,
    config: &BackupConfig,
    options: &RestoreOptions,
) -> Result<RestoreReport, BackupError> {
    let started = Instant::now();
    let destination = options.into.clone().unwrap_or(target.volume.clone());
    let consumers = match &options.into {
        Some(into) => {
            if podman
                .volume_exists(into)
                .await
                .map_err(podman_error("inspect the volume"))?
            {
                return Err(BackupError::IntoExists(into.clone()));
            }
            Vec::new()
        }
        None => consumers::running_consumers(podman, revision, &destination).await?,
    };
    if !consumers.is_empty() && !options.stop {
        return Err(BackupError::InUse {
            volume: destination,
            units: consumers,
        });
    }
    let opened = open(target, config).await?;
    let snapshots = opened
        .restic
        .snapshots(&[target.volume_tag()])
        .await
        .map_err(|source| BackupError::Restic {
            what: "list snapshots",
            source,
        })?;
    let snapshot =
        pick(&snapshots, options.snapshot.as_deref()).ok_or_else(|| BackupError::NoSnapshot {
            volume: target.volume.clone(),
            snapshot: options.snapshot.clone(),
        })?;
    let work = private_dir(&config.work_dir, "archive directory")?;
    let archive = work.path().join(target.filename());
    opened
        .restic
        .dump_to(&snapshot.id, &target.filename(), &archive)
        .await
        .map_err(|source| BackupError::Restic {
            what: "read the snapshot",
            source,
        })?;
    let bytes = checked_size(snapshot, &archive)?;
    let hold = consumers::HoldFor {
        state_dir: &config.state_dir,
        reason: format!("restore of volume {}", target.volume),
    };
    let stopped = consumers::stop(systemd, revision, consumers, &hold).await?;
    let imported = import_exact(podman, &destination, &archive, options.into.is_some()).await;
    consumers::start_again(systemd, &stopped).await?;
    imported?;
    Ok(RestoreReport {
        snapshot: snapshot.short_id.clone(),
        volume: destination,
        bytes,
        took: started.elapsed(),
        stopped: stopped.consumers,
    })
}

/// The snapshot asked for (by full or short ID), or the newest.
fn pick<'a>(snapshots: &'a [Snapshot], wanted: Option<&str>) -> Option<&'a Snapshot> {
    match wanted {
        Some(id) => snapshots
            .iter()
            .find(|s| s.id == id || s.short_id == id || s.id.starts_with(id)),
        None => snapshots.last(),
    }
}

/// The dumped archive's size, checked against the size recorded at backup time.
fn checked_size(snapshot: &Snapshot, archive: &Path) -> Result<u64, BackupError> {
    let got = file_size(archive)?;
    if let Some(want) = snapshot.tag(TAG_SIZE).and_then(|s| s.parse::<u64>().ok())
        && want != got
    {
        return Err(BackupError::SizeMismatch {
            snapshot: snapshot.short_id.clone(),
            got,
            want,
        });
    }
    Ok(got)
}

/// Creates the `--into` volume, or empties the existing one, then imports the archive.
async fn import_exact(
    podman: &Podman,
    volume: &str,
    archive: &Path,
    create: bool,
) -> Result<(), BackupError> {
    if create {
        podman
            .create_volume(volume, "local", &Default::default(), &Default::default())
            .await
            .map_err(podman_error("create the volume"))?;
    } else {
        empty_volume(podman, volume).await?;
    }
    podman
        .import_volume(volume, archive)
        .await
        .map_err(podman_error("import the archive into the volume"))
}

/// Removes everything inside a `local` volume's directory (the directory itself stays, with
/// its owner and mode, as podman made it).
async fn empty_volume(podman: &Podman, volume: &str) -> Result<(), BackupError> {
    let driver = podman
        .volume_driver(volume)
        .await
        .map_err(podman_error("inspect the volume"))?;
    if driver != "local" {
        return Err(BackupError::Driver {
            volume: volume.to_owned(),
            driver,
        });
    }
    let dir = podman
        .volume_mountpoint(volume)
        .await
        .map_err(podman_error("find the volume's directory"))?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Io {
            what: "empty the volume",
            path,
            source,
        }
    };
    for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let path = entry.map_err(io(&dir))?.path();
        let removed = match std::fs::symlink_metadata(&path)
            .map_err(io(&path))?
            .is_dir()
        {
            true => std::fs::remove_dir_all(&path),
            false => std::fs::remove_file(&path),
        };
        removed.map_err(io(&path))?;
    }
    Ok(())
}

fn podman_error(
    what: &'static str,
) -> impl Fn(crate::adapters::podman::PodmanError) -> BackupError {
    move |source| BackupError::Podman { what, source }
}
