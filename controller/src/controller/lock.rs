//! One controller per host: an exclusive `flock` on a lock file (default
//! `/run/podctl/controller.lock`), held for the life of the process and released by the
//! kernel when it exits, however it exits.

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

pub const DEFAULT_LOCK_FILE: &str = "/run/podctl/controller.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another podctl controller is already running on this host{} (lock {path} is held); \
         one controller per host: two would each remove what the other manages; stop it \
         first (`systemctl stop podctl`)",
        holder.as_deref().map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Held {
        path: PathBuf,
        holder: Option<String>,
    },
    #[error("cannot open the lock file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock without waiting, and writes our pid into the file for the message
    /// a second controller prints.
    pub fn acquire(path: &Path) -> Result<Self, LockError> {
        let open_err = |source| LockError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(open_err)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(open_err)?;
        if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            if e == rustix::io::Errno::WOULDBLOCK {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = Some(holder.trim().to_owned()).filter(|h| !h.is_empty());
                return Err(LockError::Held {
                    path: path.to_path_buf(),
                    holder,
                });
            }
            return Err(open_err(e.into()));
        }
        // Only the holder writes: the pid is informational.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Self {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_should_fail_with_the_holder_pid_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/controller.lock");
        let first = InstanceLock::acquire(&path).unwrap();
        let err = InstanceLock::acquire(&path).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("already running"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        InstanceLock::acquire(&path).unwrap();
    }
}
