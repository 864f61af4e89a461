//! The rollout records on disk: `STATE_DIR/rollouts/NAME.json`, one per container,
//! written atomically (temp file, fsync, rename) so that a crash leaves the old record or
//! the new one, never half of one.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use thiserror::Error;
use tracing::warn;

use crate::rollout::record::{RolloutRecord, VERSION};

const DIR: &str = "rollouts";

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("cannot read or write the rollout record {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the rollout record {path} is not valid")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the rollout record {path} has format version {found}; this podctl reads version {VERSION}"
    )]
    Version { path: PathBuf, found: u32 },
}

impl RecordError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Parse { .. } => "parse",
            Self::Version { .. } => "version",
        }
    }
}

pub fn path(state_dir: &Path, container: &str) -> PathBuf {
    state_dir.join(DIR).join(format!("{container}.json"))
}

/// The record of `container`; `Ok(None)` when it has none yet.
pub fn read(state_dir: &Path, container: &str) -> Result<Option<RolloutRecord>, RecordError> {
    let path = path(state_dir, container);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RecordError::Io { path, source }),
    };
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    let version: Versioned = serde_json::from_str(&text).map_err(|source| RecordError::Parse {
        path: path.clone(),
        source,
    })?;
    if version.version != VERSION {
        return Err(RecordError::Version {
            path,
            found: version.version,
        });
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| RecordError::Parse { path, source })
}

/// The records of `containers`; one that cannot be read is logged and left out (the
/// container then counts as having none: what runs is its rollback target).
pub fn read_all<'a>(
    state_dir: &Path,
    containers: impl Iterator<Item = &'a str>,
) -> BTreeMap<String, RolloutRecord> {
    containers
        .filter_map(|name| match read(state_dir, name) {
            Ok(record) => Some((name.to_owned(), record?)),
            Err(e) => {
                warn!(container = name, error = %e, kind = e.kind(), "rollout record ignored");
                None
            }
        })
        .collect()
}

/// Writes `record` atomically.
pub fn write(state_dir: &Path, record: &RolloutRecord) -> Result<(), RecordError> {
    let path = path(state_dir, &record.container);
    let io_err = |source| RecordError::Io {
        path: path.clone(),
        source,
    };
    let dir = state_dir.join(DIR);
    std::fs::create_dir_all(&dir).map_err(io_err)?;
    let tmp = dir.join(format!(".{}.json.{}", record.container, std::process::id()));
    let text = serde_json::to_vec_pretty(record).map_err(|source| RecordError::Parse {
        path: path.clone(),
        source,
    })?;
    let mut file = std::fs::File::create(&tmp).map_err(io_err)?;
    file.write_all(&text).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    std::fs::rename(&tmp, &path).map_err(io_err)?;
    // The rename itself survives a crash only once the directory is on disk.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_should_be_written_and_read_back() {
        let dir = std::env::temp_dir().join(format!("podctl-rollouts-{}", std::process::id()));
        let record = RolloutRecord::new("web");
        write(&dir, &record).expect("written");
        assert_eq!(read(&dir, "web").expect("read"), Some(record));
        assert_eq!(read(&dir, "other").expect("read"), None);
        std::fs::write(path(&dir, "old"), r#"{"version": 7, "container": "old"}"#).expect("w");
        assert!(matches!(
            read(&dir, "old"),
            Err(RecordError::Version { found: 7, .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
