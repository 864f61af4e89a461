//! The last backup of each volume as `podctl backup run` left it:
//! `STATE_DIR/backups/VOLUME.json` (versioned, written atomically by `state_file`). The
//! controller reads it when Prometheus scrapes (`podctl_backup_*`), so a backup that failed
//! or is too old fires BackupFailed or BackupTooOld however the run was started (by hand, a
//! timer, cron).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state_file::{self, StateFileError};

/// The format of the record; a record of another version is not read.
pub const VERSION: u32 = 1;

const DIR: &str = "backups";

/// How the last attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    pub version: u32,
    pub volume: String,
    /// Unix seconds when the last attempt ended, whatever its outcome.
    pub last_attempt: u64,
    pub last_outcome: Outcome,
    /// Why the last attempt failed (`BackupError::kind`), for the journal and `/metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Unix seconds when the last good snapshot was stored; kept across failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The size of the archive of the last good snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
}

/// What one attempt gives the record.
#[derive(Debug, Clone)]
pub enum Attempt<'a> {
    Succeeded {
        snapshot: &'a str,
        bytes: u64,
        duration_seconds: f64,
    },
    Failed {
        kind: &'static str,
    },
}

pub fn path(dir: &Path, volume: &str) -> PathBuf {
    dir.join(format!("{volume}.json"))
}

/// Where the records are under podctl's state directory.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join(DIR)
}

/// The record of `volume` in `dir`; `Ok(None)` before its first backup.
pub fn read(dir: &Path, volume: &str) -> Result<Option<BackupRecord>, StateFileError> {
    state_file::read(&path(dir, volume), VERSION)
}

/// Records an attempt that ended at `now` (unix seconds), keeping the last success of an
/// earlier record when this one failed.
pub fn record(
    dir: &Path,
    volume: &str,
    now: u64,
    attempt: &Attempt<'_>,
) -> Result<(), StateFileError> {
    // An unreadable earlier record only loses the time of the last success: the new one is
    // written anyway, so one bad file does not stop the records for good.
    let earlier = read(dir, volume).ok().flatten();
    let kept = |f: fn(&BackupRecord) -> Option<u64>| earlier.as_ref().and_then(f);
    let record = match attempt {
        Attempt::Succeeded {
            snapshot,
            bytes,
            duration_seconds,
        } => BackupRecord {
            version: VERSION,
            volume: volume.to_owned(),
            last_attempt: now,
            last_outcome: Outcome::Succeeded,
            last_error: None,
            last_success: Some(now),
            snapshot: Some((*snapshot).to_owned()),
            bytes: Some(*bytes),
            duration_seconds: Some(*duration_seconds),
        },
        Attempt::Failed { kind } => BackupRecord {
            version: VERSION,
            volume: volume.to_owned(),
            last_attempt: now,
            last_outcome: Outcome::Failed,
            last_error: Some((*kind).to_owned()),
            last_success: kept(|r| r.last_success),
            snapshot: earlier.as_ref().and_then(|r| r.snapshot.clone()),
            bytes: kept(|r| r.bytes),
            duration_seconds: None,
        },
    };
    state_file::write(&path(dir, volume), &record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_should_keep_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let good = Attempt::Succeeded {
            snapshot: "abc",
            bytes: 10,
            duration_seconds: 1.5,
        };
        record(dir.path(), "data", 100, &good).unwrap();
        record(dir.path(), "data", 200, &Attempt::Failed { kind: "restic" }).unwrap();
        let r = read(dir.path(), "data").unwrap().unwrap();
        assert_eq!(r.last_attempt, 200);
        assert_eq!(r.last_outcome, Outcome::Failed);
        assert_eq!(r.last_error.as_deref(), Some("restic"));
        assert_eq!(r.last_success, Some(100));
        assert_eq!(r.snapshot.as_deref(), Some("abc"));
        assert_eq!(read(dir.path(), "other").unwrap(), None);
    }
}
