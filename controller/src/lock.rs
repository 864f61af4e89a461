//! The host lock: one podctl at a time changes a host. An exclusive `flock` on a lock file
//! (default `/run/podctl/controller.lock`) that the controller holds for its whole life and
//! `apply` for one run; the kernel releases it when the process exits, however it exits.
//! The file names its holder (pid, command, manifest directory), so whoever finds the lock
//! taken can say who holds it and what to do instead.

use std::fmt;
use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};

pub const DEFAULT_LOCK_FILE: &str = "/run/podctl/controller.lock";

/// How long `apply` waits for another `apply` by default: longer than a typical apply,
/// short enough that a stuck one is reported rather than waited on forever.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a waiter tries the lock again. A poll, not a blocking `flock` in a thread: a
/// blocking call cannot be abandoned at the deadline, and would take the lock later for
/// a process that has given up.
const POLL: Duration = Duration::from_millis(100);

/// Which podctl command holds (or wants) the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// Holds the lock for as long as it runs: never worth waiting for.
    Controller,
    /// Holds the lock for one run.
    Apply,
}

/// Who holds the lock, as recorded in the lock file (one line of JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub command: Command,
    /// The manifest directory it applies, as an absolute path when it could be resolved.
    pub manifests: String,
}

impl Holder {
    /// This process, running `command` on `manifests`.
    pub fn me(command: Command, manifests: &Path) -> Self {
        let manifests = std::fs::canonicalize(manifests).unwrap_or_else(|_| manifests.to_owned());
        Self {
            pid: std::process::id(),
            command,
            manifests: manifests.display().to_string(),
        }
    }

    /// Whether the holder's process still exists. A record left by a process killed
    /// before it could clear it names a dead pid, and must not be taken for a live holder.
    fn is_alive(&self) -> bool {
        Path::new("/proc").join(self.pid.to_string()).exists()
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command = match self.command {
            Command::Controller => "a podctl controller",
            Command::Apply => "podctl apply",
        };
        write!(f, "{command} (pid {}) from {}", self.pid, self.manifests)
    }
}

/// Names the holder in a message, or says it is not known.
fn holder_or_unknown(holder: &Option<Holder>) -> String {
    holder.as_ref().map_or_else(
        || "another process (it did not record itself)".to_owned(),
        Holder::to_string,
    )
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// `apply` while a controller runs: the controller holds the lock for as long as it
    /// runs, so waiting is pointless.
    #[error(
        "a podctl controller (pid {}) manages this host from {}; change the manifests there, \
         or stop it with `systemctl stop podctl` (lock {})",
        holder.pid, holder.manifests, path.display()
    )]
    ManagedByController { path: PathBuf, holder: Holder },
    /// A second controller: two would each remove what the other manages.
    #[error(
        "another podctl controller is already running on this host (pid {}, manifests {}; \
         lock {} is held); one controller per host: two would each remove what the other \
         manages; stop it first (`systemctl stop podctl`)",
        holder.pid, holder.manifests, path.display()
    )]
    SecondController { path: PathBuf, holder: Holder },
    #[error(
        "the host lock {} is still held after {waited:?}, by {}; wait for it to finish, \
         or run again with a longer --lock-timeout",
        path.display(), holder_or_unknown(holder)
    )]
    Timeout {
        path: PathBuf,
        holder: Option<Holder>,
        waited: Duration,
    },
    #[error("cannot open the lock file {} (set another with --lock-file): {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct HostLock {
    file: File,
    path: PathBuf,
}

impl HostLock {
    /// Takes the lock for `me`. A controller holding it is reported at once; any other
    /// holder (an apply, or one that has not recorded itself yet) is waited for, up to
    /// `timeout`, re-reading the record at every try: a controller that takes the lock
    /// meanwhile ends the wait too. `on_wait` is called once, when the first try fails.
    pub async fn acquire(
        path: &Path,
        me: &Holder,
        timeout: Duration,
        mut on_wait: impl FnMut(Option<&Holder>),
    ) -> Result<Self, LockError> {
        let mut file = open(path)?;
        let started = tokio::time::Instant::now();
        let mut waiting = false;
        while !try_lock(&file).map_err(|source| LockError::Open {
            path: path.to_path_buf(),
            source,
        })? {
            let holder = read_holder(&mut file).filter(Holder::is_alive);
            if let Some(holder) = holder.clone().filter(|h| h.command == Command::Controller) {
                let path = path.to_path_buf();
                return Err(match me.command {
                    Command::Controller => LockError::SecondController { path, holder },
                    Command::Apply => LockError::ManagedByController { path, holder },
                });
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(LockError::Timeout {
                    path: path.to_path_buf(),
                    holder,
                    waited,
                });
            }
            if !waiting {
                waiting = true;
                on_wait(holder.as_ref());
            }
            tokio::time::sleep(POLL.min(timeout - waited)).await;
        }
        write_holder(&mut file, me);
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for HostLock {
    /// Clears the record while still holding the lock, so nobody reads a holder that is
    /// gone; the lock itself goes with the file descriptor.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

fn open(path: &Path) -> Result<File, LockError> {
    let open_err = |source| LockError::Open {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(open_err)?;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(open_err)
}

/// Who holds the lock at `path` now, from its record, without taking it: `None` when
/// nobody recorded themselves or the recorded process is gone. `podctl get` uses it to
/// check that the process serving the status socket is the controller.
pub fn current_holder(path: &Path) -> Option<Holder> {
    let mut file = File::open(path).ok()?;
    read_holder(&mut file).filter(Holder::is_alive)
}

/// One non-blocking try: `Ok(false)` when someone else holds the lock.
fn try_lock(file: &File) -> std::io::Result<bool> {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The holder's record; `None` while it is being written, after it was cleared, or in the
/// format of an older podctl (a bare pid).
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// Only the holder writes; the record is informational, so a failure to write it is not
/// worth failing the command for.
fn write_holder(file: &mut File, me: &Holder) {
    let Ok(mut line) = serde_json::to_string(me) else {
        return;
    };
    line.push('\n');
    let _ = file.set_len(0);
    let _ = file.rewind();
    // One write: a reader sees the whole record or none of it (and then just waits).
    let _ = file.write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(command: Command) -> Holder {
        Holder::me(command, Path::new("/etc/podctl/manifests"))
    }

    async fn take(path: &Path, command: Command) -> Result<HostLock, LockError> {
        HostLock::acquire(path, &holder(command), DEFAULT_LOCK_TIMEOUT, |_| {}).await
    }

    #[tokio::test(start_paused = true)]
    async fn apply_should_fail_at_once_naming_a_running_controller() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/controller.lock");
        let _controller = take(&path, Command::Controller).await.unwrap();
        let started = tokio::time::Instant::now();
        let mut waited = false;
        let err = HostLock::acquire(&path, &holder(Command::Apply), DEFAULT_LOCK_TIMEOUT, |_| {
            waited = true
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err, LockError::ManagedByController { .. }),
            "{err:?}"
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(!waited);
        let msg = err.to_string();
        assert!(
            msg.contains(&format!(
                "a podctl controller (pid {}) manages this host from /etc/podctl/manifests",
                std::process::id()
            )),
            "{msg}"
        );
        assert!(msg.contains("systemctl stop podctl"), "{msg}");
    }

    #[tokio::test(start_paused = true)]
    async fn second_controller_should_fail_at_once_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("controller.lock");
        let first = take(&path, Command::Controller).await.unwrap();
        let err = take(&path, Command::Controller).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("already running"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        take(&path, Command::Controller).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn apply_should_wait_for_another_apply_and_take_the_lock_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("controller.lock");
        let first = take(&path, Command::Apply).await.unwrap();
        let released = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(first);
        });
        let started = tokio::time::Instant::now();
        let mut seen = None;
        let second = HostLock::acquire(&path, &holder(Command::Apply), DEFAULT_LOCK_TIMEOUT, |h| {
            seen = h.cloned()
        })
        .await
        .unwrap();
        assert!(started.elapsed() >= Duration::from_secs(5));
        assert!(started.elapsed() < Duration::from_secs(6));
        assert_eq!(seen.map(|h| h.command), Some(Command::Apply));
        released.await.unwrap();
        let mut file = File::open(second.path()).unwrap();
        assert_eq!(read_holder(&mut file), Some(holder(Command::Apply)));
    }

    #[tokio::test(start_paused = true)]
    async fn apply_should_time_out_naming_the_apply_that_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("controller.lock");
        let _first = take(&path, Command::Apply).await.unwrap();
        let started = tokio::time::Instant::now();
        let err = HostLock::acquire(
            &path,
            &holder(Command::Apply),
            Duration::from_secs(2),
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!(
                "still held after 2s, by podctl apply (pid {})",
                std::process::id()
            )),
            "{msg}"
        );
        assert!(msg.contains("--lock-timeout"), "{msg}");
    }

    #[tokio::test(start_paused = true)]
    async fn controller_taking_the_lock_during_a_wait_should_end_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("controller.lock");
        let first = take(&path, Command::Apply).await.unwrap();
        let handover = tokio::spawn({
            let path = path.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                // The apply ends and a controller starts before the waiter's next try.
                drop(first);
                take(&path, Command::Controller).await.unwrap()
            }
        });
        let err = take(&path, Command::Apply).await.unwrap_err();
        assert!(
            matches!(err, LockError::ManagedByController { .. }),
            "{err:?}"
        );
        drop(handover.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn record_of_a_dead_process_should_not_be_taken_for_a_controller() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("controller.lock");
        // Held, but by a process that has not written its record yet, over the record of
        // a controller killed with SIGKILL (pid beyond pid_max: never alive).
        let stale = Holder {
            pid: u32::MAX,
            command: Command::Controller,
            manifests: "/old".to_owned(),
        };
        let mut held = open(&path).unwrap();
        assert!(try_lock(&held).unwrap());
        write_holder(&mut held, &stale);
        let err = HostLock::acquire(
            &path,
            &holder(Command::Apply),
            Duration::from_secs(1),
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, LockError::Timeout { holder: None, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("did not record itself"), "{err}");
        drop(held);
        take(&path, Command::Apply).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn current_holder_should_name_a_live_controller_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("controller.lock");
        assert_eq!(current_holder(&path), None);
        let held = take(&path, Command::Controller).await.unwrap();
        assert_eq!(current_holder(&path), Some(holder(Command::Controller)));
        drop(held);
        assert_eq!(current_holder(&path), None);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_lock_should_clear_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("controller.lock");
        drop(take(&path, Command::Controller).await.unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }
}
