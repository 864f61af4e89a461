//! podctl's own records under the state directory (`/var/lib/podctl`): JSON files with a
//! format `version`, written atomically (temp file, fsync, rename, fsync of the directory)
//! so a crash leaves the old record or the new one, never half of one.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not valid")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} has format version {found}; this podctl reads version {expected}")]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
}

impl StateFileError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Parse { .. } => "parse",
            Self::Version { .. } => "version",
        }
    }
}

/// The record at `path` if it has format `version`; `Ok(None)` when there is none.
pub fn read<T: DeserializeOwned>(path: &Path, version: u32) -> Result<Option<T>, StateFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateFileError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let parse_err = |source| StateFileError::Parse {
        path: path.to_owned(),
        source,
    };
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    let found = serde_json::from_str::<Versioned>(&text)
        .map_err(parse_err)?
        .version;
    if found != version {
        return Err(StateFileError::Version {
            path: path.to_owned(),
            found,
            expected: version,
        });
    }
    serde_json::from_str(&text).map(Some).map_err(parse_err)
}

/// Writes `record` to `path` atomically, creating its directory.
pub fn write<T: Serialize>(path: &Path, record: &T) -> Result<(), StateFileError> {
    let io_err = |source| StateFileError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{file_name}.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(record).map_err(|source| StateFileError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let mut file = std::fs::File::create(&tmp).map_err(io_err)?;
    file.write_all(&text).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    std::fs::rename(&tmp, path).map_err(io_err)?;
    // The rename itself survives a crash only once the directory is on disk.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Record {
        version: u32,
        name: String,
    }

    #[test]
    fn a_record_should_be_written_and_read_back_at_its_version_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/web.json");
        let record = Record {
            version: 2,
            name: "web".into(),
        };
        write(&path, &record).unwrap();
        assert_eq!(read::<Record>(&path, 2).unwrap(), Some(record));
        assert!(matches!(
            read::<Record>(&path, 3),
            Err(StateFileError::Version { found: 2, .. })
        ));
        assert_eq!(
            read::<Record>(&dir.path().join("none.json"), 2).unwrap(),
            None
        );
    }
}
