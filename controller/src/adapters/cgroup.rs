//! The kernel's own accounting of one cgroup, read from its files under `/sys/fs/cgroup`.
//!
//! A scrape of `/metrics` reads every container's usage; asking systemd for it costs one
//! `GetAll` of some 300 properties per unit, serialised by PID 1. The files are what systemd
//! itself reads for `MemoryCurrent`, `CPUUsageNSec` and `TasksCurrent` (`memory.current` or
//! `memory.usage_in_bytes`, `cpu.stat` or `cpuacct.usage`, `pids.current`), so the numbers
//! are the same, at the cost of a few small reads. Both layouts are read: the unified one
//! (cgroup v2) and the legacy or hybrid one (cgroup v1 controllers, one tree each).

use std::path::{Path, PathBuf};

/// Where the cgroup file systems are mounted on every systemd host.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Which layout the host mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v2: one tree, every controller's files in the cgroup's own directory.
    Unified(PathBuf),
    /// cgroup v1 (legacy or hybrid): a tree per controller (`memory/`, `cpuacct/`, `pids/`).
    Legacy(PathBuf),
}

/// What the kernel accounts for one cgroup; `None` where it has no number (the controller
/// is not enabled for it, no limit, the cgroup is gone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupUsage {
    pub memory_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub cpu_usage_nsec: Option<u64>,
    /// The CPU limit in µs of CPU time per second (100 000 per core).
    pub cpu_quota_usec_per_sec: Option<u64>,
    pub tasks: Option<u64>,
    /// Processes the kernel's OOM killer killed in it.
    pub oom_kills: Option<u64>,
}

/// The v1 kernel's "no memory limit": a page-rounded `i64::MAX` or more.
const V1_UNLIMITED: u64 = 1 << 62;

impl Hierarchy {
    /// The layout mounted at `root`: unified when its top holds `cgroup.controllers`.
    pub fn detect(root: &Path) -> Self {
        if root.join("cgroup.controllers").exists() {
            Self::Unified(root.to_owned())
        } else {
            Self::Legacy(root.to_owned())
        }
    }

    /// The accounting of the cgroup at `path` (systemd's `ControlGroup`, e.g.
    /// `/machine.slice/libpod-ID.scope`).
    pub fn usage(&self, path: &str) -> CgroupUsage {
        let rel = path.trim_start_matches('/');
        match self {
            Self::Unified(root) => {
                let dir = root.join(rel);
                let read = |file: &str| read_trimmed(&dir.join(file));
                CgroupUsage {
                    memory_bytes: read("memory.current").and_then(|v| v.parse().ok()),
                    memory_limit_bytes: read("memory.max").and_then(|v| v.parse().ok()),
                    cpu_usage_nsec: read("cpu.stat")
                        .and_then(|s| keyed(&s, "usage_usec"))
                        .map(|us| us.saturating_mul(1000)),
                    cpu_quota_usec_per_sec: read("cpu.max").and_then(|s| v2_quota(&s)),
                    tasks: read("pids.current").and_then(|v| v.parse().ok()),
                    oom_kills: read("memory.events").and_then(|s| keyed(&s, "oom_kill")),
                }
            }
            Self::Legacy(root) => {
                let read = |controller: &str, file: &str| {
                    read_trimmed(&root.join(controller).join(rel).join(file))
                };
                let number = |controller: &str, file: &str| {
                    read(controller, file).and_then(|v| v.parse::<u64>().ok())
                };
                CgroupUsage {
                    memory_bytes: number("memory", "memory.usage_in_bytes"),
                    memory_limit_bytes: number("memory", "memory.limit_in_bytes")
                        .filter(|v| *v < V1_UNLIMITED),
                    cpu_usage_nsec: number("cpuacct", "cpuacct.usage"),
                    cpu_quota_usec_per_sec: v1_quota(
                        read("cpu", "cpu.cfs_quota_us").as_deref(),
                        number("cpu", "cpu.cfs_period_us"),
                    ),
                    tasks: number("pids", "pids.current"),
                    oom_kills: read("memory", "memory.oom_control")
                        .and_then(|s| keyed(&s, "oom_kill")),
                }
            }
        }
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The number after `key` in a flat-keyed file (`cpu.stat`, `memory.events`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `cpu.max`: `QUOTA PERIOD` in µs, `max` for none.
fn v2_quota(text: &str) -> Option<u64> {
    let (quota, period) = text.split_once(' ')?;
    per_second(quota.parse().ok()?, period.trim().parse().ok()?)
}

/// `cpu.cfs_quota_us` (-1 for none) over `cpu.cfs_period_us`.
fn v1_quota(quota: Option<&str>, period: Option<u64>) -> Option<u64> {
    let quota: u64 = quota?.parse().ok()?;
    per_second(quota, period?)
}

fn per_second(quota_us: u64, period_us: u64) -> Option<u64> {
    (period_us > 0).then(|| quota_us.saturating_mul(1_000_000) / period_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn unified_files_should_give_systemds_numbers() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        let dir = root.path().join("machine.slice/libpod-1.scope");
        write(&dir, "memory.current", "4096\n");
        write(&dir, "memory.max", "max\n");
        write(&dir, "cpu.stat", "usage_usec 1500000\nuser_usec 1000000\n");
        write(&dir, "cpu.max", "50000 100000\n");
        write(&dir, "pids.current", "3\n");
        write(
            &dir,
            "memory.events",
            "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
        );
        let h = Hierarchy::detect(root.path());
        assert!(matches!(h, Hierarchy::Unified(_)));
        assert_eq!(
            h.usage("/machine.slice/libpod-1.scope"),
            CgroupUsage {
                memory_bytes: Some(4096),
                memory_limit_bytes: None,
                cpu_usage_nsec: Some(1_500_000_000),
                cpu_quota_usec_per_sec: Some(500_000),
                tasks: Some(3),
                oom_kills: Some(1),
            }
        );
    }

    #[test]
    fn legacy_files_should_give_systemds_numbers() {
        let root = tempfile::tempdir().unwrap();
        let cg = "system.slice/web.service";
        write(
            &root.path().join("memory").join(cg),
            "memory.usage_in_bytes",
            "8192\n",
        );
        write(
            &root.path().join("memory").join(cg),
            "memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            &root.path().join("memory").join(cg),
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n",
        );
        write(
            &root.path().join("cpuacct").join(cg),
            "cpuacct.usage",
            "42\n",
        );
        write(
            &root.path().join("cpu").join(cg),
            "cpu.cfs_quota_us",
            "-1\n",
        );
        write(
            &root.path().join("cpu").join(cg),
            "cpu.cfs_period_us",
            "100000\n",
        );
        let h = Hierarchy::detect(root.path());
        assert!(matches!(h, Hierarchy::Legacy(_)));
        assert_eq!(
            h.usage(&format!("/{cg}")),
            CgroupUsage {
                memory_bytes: Some(8192),
                memory_limit_bytes: None,
                cpu_usage_nsec: Some(42),
                cpu_quota_usec_per_sec: None,
                tasks: None,
                oom_kills: Some(4),
            }
        );
    }

    #[test]
    fn a_gone_cgroup_should_have_no_numbers() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            Hierarchy::detect(root.path()).usage("/gone.scope"),
            CgroupUsage::default()
        );
    }
}
