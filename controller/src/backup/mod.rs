//! Volume backups with restic: `backup run` (export, snapshot, retention), `backup list` and
//! an exact `restore`. Operations only: the CLI parses arguments and prints the results.
//!
//! restic 0.14 (Debian 12) has no `--stdin-from-command`, and `podman volume export | restic
//! backup --stdin` stores a truncated archive as a good snapshot when the export fails. So
//! the export goes to a file in a private directory first, podman's exit status is checked,
//! and only a complete archive is handed to restic (`--stdin` from that file, stored as
//! `/VOLUME.tar`). A restore dumps the snapshot to a file the same way, checks its size
//! against the snapshot's `podctl-size` tag, and only then empties the volume and imports.

pub mod consumers;
pub mod record;
mod restore;
mod time;

pub use restore::{RestoreOptions, RestoreReport, restore};
pub use time::parse_rfc3339;

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use podctl_api::{
    BackupRepositorySpec, Consistency, ConsistencyCommand, Kind, Name, ObjectRef, Retention,
    Revision, VolumeBackup,
};

use crate::adapters::podman::{Podman, PodmanError};
use crate::adapters::restic::{Restic, ResticError, Snapshot};
use crate::adapters::systemd::{JobOutcome, Systemd, SystemdError};
use crate::observe::secret_source;

/// Tag keys podctl puts on every snapshot (restic tags are plain strings: `KEY=VALUE`).
pub const TAG_VOLUME: &str = "podctl-volume";
pub const TAG_HOST: &str = "podctl-host";
pub const TAG_REVISION: &str = "podctl-revision";
/// The size in bytes of the archive the snapshot holds, checked again at restore.
pub const TAG_SIZE: &str = "podctl-size";

/// The private directory of the password file when none is given (`--runtime-dir`).
pub const DEFAULT_RUNTIME_DIR: &str = "/run/podctl";

/// Where backups keep their temporary files.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// Archives on their way in and out (as large as the volume): under podctl's state dir.
    pub work_dir: PathBuf,
    /// The password file's private directory (a tmpfs such as `/run/podctl`).
    pub runtime_dir: PathBuf,
    /// The last backup of each volume (`record.rs`): under podctl's state dir.
    pub records_dir: PathBuf,
    /// podctl's state dir, where holds on stopped consumers are kept (`holds.rs`).
    pub state_dir: PathBuf,
}

impl BackupConfig {
    /// Everything under `state_dir`, the password file under `runtime_dir`.
    pub fn new(state_dir: &Path, runtime_dir: &Path) -> Self {
        Self {
            work_dir: state_dir.join("backup"),
            runtime_dir: runtime_dir.to_owned(),
            records_dir: record::dir(state_dir),
            state_dir: state_dir.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("volume `{0}` is not defined in this revision")]
    UnknownVolume(String),
    #[error("volume `{0}` has no `backup` in its manifest; add `backup: {{repository: NAME}}`")]
    NoBackup(String),
    #[error("the revision has no {0}")]
    Missing(ObjectRef),
    #[error("cannot read the password of backup repository `{repository}`: {message}")]
    Password { repository: String, message: String },
    #[error("cannot {what} ({path})")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {what}")]
    Podman {
        what: &'static str,
        #[source]
        source: PodmanError,
    },
    #[error("restic: cannot {what}")]
    Restic {
        what: &'static str,
        #[source]
        source: ResticError,
    },
    #[error("systemd: {unit}")]
    Systemd {
        unit: String,
        // Boxed: systemd's error is large and every result of this module carries the enum.
        #[source]
        source: Box<SystemdError>,
    },
    #[error("systemd: the job for {unit} ended {outcome}")]
    Job { unit: String, outcome: JobOutcome },
    #[error("the consistency command in container `{container}` failed; nothing was backed up")]
    ConsistencyCommand {
        container: String,
        #[source]
        source: PodmanError,
    },
    #[error(
        "the consistency command in container `{container}` did not end within {}s; nothing was backed up (raise `consistency.timeout` if it needs longer)",
        after.as_secs()
    )]
    ConsistencyTimeout { container: String, after: Duration },
    #[error("cannot hold the stopped consumers against repairs")]
    Hold(#[source] crate::state_file::StateFileError),
    #[error(
        "container `{container}` uses volume `{volume}` but podctl does not run it; stop it yourself first"
    )]
    ForeignConsumer { volume: String, container: String },
    #[error(
        "volume `{volume}` is in use by {}: restore refuses to change data under a running container; pass --stop to stop them, restore, and start them again",
        units.join(", ")
    )]
    InUse { volume: String, units: Vec<String> },
    #[error("no snapshot of volume `{volume}`{} in the repository", snapshot.as_ref().map(|s| format!(" with ID {s}")).unwrap_or_default())]
    NoSnapshot {
        volume: String,
        snapshot: Option<String>,
    },
    #[error("the archive of snapshot {snapshot} is {got} bytes, its tag says {want}: not restored")]
    SizeMismatch {
        snapshot: String,
        got: u64,
        want: u64,
    },
    #[error("volume `{0}` (--into) exists already: restore into a new name, or without --into")]
    IntoExists(String),
    #[error(
        "volume `{volume}` uses driver `{driver}`: podctl can only empty `local` volumes for an exact restore"
    )]
    Driver { volume: String, driver: String },
}

impl BackupError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            BackupError::UnknownVolume(_)
            | BackupError::NoBackup(_)
            | BackupError::Missing(_)
            | BackupError::IntoExists(_)
            | BackupError::Driver { .. } => "usage",
            BackupError::Password { .. } => "password",
            BackupError::Io { .. } | BackupError::Hold(_) => "io",
            BackupError::Podman { .. } => "podman",
            BackupError::ConsistencyCommand { .. } | BackupError::ConsistencyTimeout { .. } => {
                "consistency"
            }
            BackupError::Restic { source, .. } => source.kind(),
            BackupError::Systemd { .. } | BackupError::Job { .. } => "systemd",
            BackupError::ForeignConsumer { .. } | BackupError::InUse { .. } => "in-use",
            BackupError::NoSnapshot { .. } => "no-snapshot",
            BackupError::SizeMismatch { .. } => "size-mismatch",
        }
    }
}

/// A volume's backup as the revision declares it, resolved.
#[derive(Debug, Clone)]
pub struct Target {
    pub volume: String,
    pub backup: VolumeBackup,
    pub repository_name: Name,
    pub repository: BackupRepositorySpec,
    pub password: podctl_api::SecretOrigin,
}

impl Target {
    pub fn resolve(revision: &Revision, volume: &str) -> Result<Self, BackupError> {
        let name: Name = volume
            .parse()
            .map_err(|_| BackupError::UnknownVolume(volume.to_owned()))?;
        let spec = revision
            .get(&ObjectRef::new(Kind::Volume, name))
            .and_then(|o| o.as_volume())
            .ok_or_else(|| BackupError::UnknownVolume(volume.to_owned()))?;
        let backup = spec
            .backup
            .clone()
            .ok_or_else(|| BackupError::NoBackup(volume.to_owned()))?;
        let repo_ref = ObjectRef::new(Kind::BackupRepository, backup.repository.clone());
        let repository = revision
            .get(&repo_ref)
            .and_then(|o| o.as_backup_repository())
            .cloned()
            .ok_or(BackupError::Missing(repo_ref))?;
        let secret_ref = ObjectRef::new(Kind::Secret, repository.password_secret.clone());
        let password = revision
            .get(&secret_ref)
            .and_then(|o| o.as_secret())
            .and_then(|s| s.origin())
            .ok_or(BackupError::Missing(secret_ref))?;
        Ok(Self {
            volume: volume.to_owned(),
            repository_name: backup.repository.clone(),
            backup,
            repository,
            password,
        })
    }

    /// `VOLUME.tar`: the one file of every snapshot of this volume.
    fn filename(&self) -> String {
        format!("{}.tar", self.volume)
    }

    fn volume_tag(&self) -> String {
        format!("{TAG_VOLUME}={}", self.volume)
    }
}

/// The repository opened with the target's password, in a private directory removed on drop.
pub struct Opened {
    pub restic: Restic,
    _password_dir: tempfile::TempDir,
}

/// Writes the password to a 0600 file in a fresh 0700 directory and opens the repository
/// (initialising it when it is missing).
pub async fn open(target: &Target, config: &BackupConfig) -> Result<Opened, BackupError> {
    let value = secret_source::read(&target.password).map_err(|message| BackupError::Password {
        repository: target.repository_name.to_string(),
        message,
    })?;
    let dir = private_dir(&config.runtime_dir, "password directory")?;
    let path = dir.path().join("password");
    let io = |source| BackupError::Io {
        what: "write the password file",
        path: path.clone(),
        source,
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(io)?;
    let restic = Restic::new(&target.repository.repository, &path);
    let initialised = restic
        .open_or_init()
        .await
        .map_err(|source| BackupError::Restic {
            what: "open the repository",
            source,
        })?;
    if initialised {
        tracing::info!(repository = %target.repository_name, "initialised the backup repository");
    }
    Ok(Opened {
        restic,
        _password_dir: dir,
    })
}

/// A 0700 directory under `parent` (made 0700 too when missing), removed on drop.
fn private_dir(parent: &Path, what: &'static str) -> Result<tempfile::TempDir, BackupError> {
    let io = |source| BackupError::Io {
        what: "create a private directory",
        path: parent.to_owned(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(io)?;
    tracing::debug!(dir = %parent.display(), what, "private directory");
    tempfile::Builder::new()
        .prefix("podctl-backup-")
        .tempdir_in(parent)
        .map_err(io)
}

/// What one `backup run` did.
#[derive(Debug)]
pub struct BackupReport {
    pub snapshot: String,
    pub bytes: u64,
    pub took: Duration,
    /// The units stopped during the export (`consistency: stop`).
    pub stopped: Vec<String>,
    /// Whether retention ran.
    pub pruned: bool,
}

/// This host's name, as snapshots are tagged with it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// `podctl backup run`: [`snapshot`], then its outcome recorded for `/metrics`. A record
/// that cannot be written is logged, not failed: the snapshot is what matters.
pub async fn run(
    podman: &Podman,
    systemd: &Systemd,
    revision: &Revision,
    target: &Target,
    config: &BackupConfig,
) -> Result<BackupReport, BackupError> {
    let result = snapshot(podman, systemd, revision, target, config).await;
    let attempt = match &result {
        Ok(r) => record::Attempt::Succeeded {
            snapshot: &r.snapshot,
            bytes: r.bytes,
            duration_seconds: r.took.as_secs_f64(),
        },
        Err(e) => record::Attempt::Failed { kind: e.kind() },
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Err(e) = record::record(&config.records_dir, &target.volume, now, &attempt) {
        tracing::warn!(volume = %target.volume, error = %e, kind = e.kind(), "backup record not written");
    }
    result
}

/// Export (consumers stopped for `consistency: stop`), snapshot, then retention. Consumers
/// are started again whatever happened to the export.
async fn snapshot(
    podman: &Podman,
    systemd: &Systemd,
    revision: &Revision,
    target: &Target,
    config: &BackupConfig,
) -> Result<BackupReport, BackupError> {
    let started = Instant::now();
    let opened = open(target, config).await?;
    let work = private_dir(&config.work_dir, "archive directory")?;
    let archive = work.path().join(target.filename());
    let stopped = match &target.backup.consistency {
        Consistency::Stop => {
            let consumers = consumers::running_consumers(podman, revision, &target.volume).await?;
            let hold = consumers::HoldFor {
                state_dir: &config.state_dir,
                reason: format!("backup of volume {}", target.volume),
            };
            Some(consumers::stop(systemd, revision, consumers, &hold).await?)
        }
        Consistency::None => None,
        Consistency::Command(command) => {
            run_command(podman, &target.volume, command).await?;
            None
        }
    };
    let exported = podman.export_volume(&target.volume, &archive).await;
    if let Some(stopped) = &stopped {
        consumers::start_again(systemd, stopped).await?;
    }
    exported.map_err(|source| BackupError::Podman {
        what: "export the volume",
        source,
    })?;
    let bytes = file_size(&archive)?;
    let tags = vec![
        target.volume_tag(),
        format!("{TAG_HOST}={}", hostname()),
        format!("{TAG_REVISION}={}", short(revision.hash())),
        format!("{TAG_SIZE}={bytes}"),
    ];
    let snapshot = opened
        .restic
        .backup_file(&archive, &target.filename(), &hostname(), &tags)
        .await
        .map_err(|source| BackupError::Restic {
            what: "store the snapshot",
            source,
        })?;
    drop(work);
    let pruned = match &target.backup.retention {
        Some(retention) => {
            retain(&opened.restic, target, retention).await?;
            true
        }
        None => false,
    };
    Ok(BackupReport {
        snapshot,
        bytes,
        took: started.elapsed(),
        stopped: stopped.map(|s| s.consumers).unwrap_or_default(),
        pruned,
    })
}

/// `consistency: {container, command}`: the command in the running container, before the
/// export; a failure or a timeout fails the backup before anything is stored. On a timeout
/// podman's client is killed; the process inside the container may go on until it ends.
async fn run_command(
    podman: &Podman,
    volume: &str,
    command: &ConsistencyCommand,
) -> Result<(), BackupError> {
    let container = command.container.to_string();
    let after = command.timeout.as_std();
    tracing::info!(volume, container = %container, "running the consistency command");
    match tokio::time::timeout(after, podman.exec(&container, &command.command)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(BackupError::ConsistencyCommand { container, source }),
        Err(_) => Err(BackupError::ConsistencyTimeout { container, after }),
    }
}

/// `restic forget --prune` with the policy; `--keep-last 1` at least, so that the snapshot
/// just made (the last good one) is never removed.
async fn retain(
    restic: &Restic,
    target: &Target,
    retention: &Retention,
) -> Result<(), BackupError> {
    let mut rules = retention.rules();
    match rules.iter_mut().find(|(flag, _)| *flag == "--keep-last") {
        Some((_, n)) => *n = (*n).max(1),
        None => rules.push(("--keep-last", 1)),
    }
    restic
        .forget(&[target.volume_tag()], &hostname(), &rules)
        .await
        .map_err(|source| BackupError::Restic {
            what: "apply the retention policy",
            source,
        })
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn file_size(path: &Path) -> Result<u64, BackupError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| BackupError::Io {
            what: "read the archive's size",
            path: path.to_owned(),
            source,
        })
}

/// The snapshots of `target`'s volume, oldest first.
pub async fn list(target: &Target, config: &BackupConfig) -> Result<Vec<Snapshot>, BackupError> {
    let opened = open(target, config).await?;
    opened
        .restic
        .snapshots(&[target.volume_tag()])
        .await
        .map_err(|source| BackupError::Restic {
            what: "list snapshots",
            source,
        })
}
