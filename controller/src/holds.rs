//! Holds: container units that another podctl process stopped on purpose and will start
//! again itself (a backup with `consistency: stop`, `restore --stop`). While a hold lives,
//! `apply` and the controller leave those containers alone instead of "repairing" them in
//! the middle of the export or the import.
//!
//! A hold is a file `STATE_DIR/holds/PID.json` written before the first unit is stopped and
//! removed when the units have been started again (the guard's drop). A hold whose process
//! is gone (killed, crashed, or from before a reboot) is dead: it is ignored, and the
//! units are repaired as usual. The process is told apart from a later one with the same
//! PID by its start time and the boot ID.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state_file::{self, StateFileError};

const VERSION: u32 = 1;
const DIR: &str = "holds";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Hold {
    version: u32,
    pid: u32,
    /// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks since boot.
    start_ticks: u64,
    boot_id: String,
    /// What holds the units, for the operator: `backup of volume pgdata`.
    reason: String,
    units: Vec<String>,
}

/// Removes the hold when dropped: the units are podctl's to repair again.
#[derive(Debug)]
pub struct HoldGuard {
    path: PathBuf,
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(hold = %self.path.display(), error = %e, "cannot remove the hold");
        }
    }
}

/// Holds `units` for this process until the guard is dropped.
pub fn take(state_dir: &Path, reason: &str, units: &[String]) -> Result<HoldGuard, StateFileError> {
    let pid = std::process::id();
    let (start_ticks, boot_id) = identity(pid).unwrap_or_default();
    let path = state_dir.join(DIR).join(format!("{pid}.json"));
    let hold = Hold {
        version: VERSION,
        pid,
        start_ticks,
        boot_id,
        reason: reason.to_owned(),
        units: units.to_vec(),
    };
    state_file::write(&path, &hold)?;
    tracing::info!(reason, units = ?units, "units held");
    Ok(HoldGuard { path })
}

/// The units held by live processes, with what holds them. Unreadable or dead holds are
/// skipped: a hold can only keep podctl from repairing, so when in doubt, repair.
pub fn live(state_dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(state_dir.join(DIR)) else {
        return BTreeMap::new();
    };
    let mut held = BTreeMap::new();
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let hold: Hold = match state_file::read(&path, VERSION) {
            Ok(Some(h)) => h,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(hold = %path.display(), error = %e, "hold ignored");
                continue;
            }
        };
        if identity(hold.pid) != Some((hold.start_ticks, hold.boot_id.clone())) {
            tracing::debug!(hold = %path.display(), "hold of a process that is gone, ignored");
            continue;
        }
        for unit in hold.units {
            held.insert(unit, hold.reason.clone());
        }
    }
    held
}

/// A process's start time and this boot's ID; `None` when the process does not exist.
fn identity(pid: u32) -> Option<(u64, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let start_ticks = after_name.split_whitespace().nth(19)?.parse().ok()?;
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some((start_ticks, boot_id.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_should_live_while_its_guard_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let units = vec!["db.service".to_owned(), "app.service".to_owned()];
        let guard = take(dir.path(), "backup of volume data", &units).expect("take");
        let held = live(dir.path());
        assert_eq!(held.len(), 2);
        assert_eq!(held["db.service"], "backup of volume data");
        drop(guard);
        assert!(live(dir.path()).is_empty());
    }

    #[test]
    fn a_hold_of_a_process_that_is_gone_should_be_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (start_ticks, boot_id) = identity(std::process::id()).expect("own identity");
        let stale = Hold {
            version: VERSION,
            pid: std::process::id(),
            // The same PID, started at another time: a process that reused it.
            start_ticks: start_ticks + 1,
            boot_id,
            reason: "backup of volume data".into(),
            units: vec!["db.service".into()],
        };
        state_file::write(&dir.path().join(DIR).join("1.json"), &stale).expect("write");
        assert!(live(dir.path()).is_empty());
    }
}
