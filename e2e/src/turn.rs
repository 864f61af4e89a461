//! Turns for tests that run `podctl apply`: apply prunes every managed object the revision
//! does not name, so two such tests must never overlap, whether they run as threads of one
//! test binary or in separate test binaries against the same sandbox.

use std::fs::{File, OpenOptions};

use anyhow::{Context, Result};
use tokio::sync::{Mutex, MutexGuard};

use crate::host::TestHost;

/// Threads of this process take turns here first, then processes on the lock file.
static PROCESS: Mutex<()> = Mutex::const_new(());

/// The lock file, inside the sandbox so that it is per sandbox and gone with it.
const LOCK_FILE: &str = "/run/podctl-e2e-apply.lock";

/// Held while a test applies; dropping it lets the next test in.
pub struct ApplyTurn {
    _file: File,
    _process: MutexGuard<'static, ()>,
}

impl TestHost {
    /// Waits for this test's turn to run `podctl apply` on the sandbox: a process-wide
    /// lock plus `flock(2)` on a file in the sandbox's /run, shared by every test binary.
    pub async fn apply_turn(&self) -> Result<ApplyTurn> {
        let process = PROCESS.lock().await;
        let path = self.host_path(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .context("lock task panicked")?
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(ApplyTurn {
            _file: file,
            _process: process,
        })
    }
}
