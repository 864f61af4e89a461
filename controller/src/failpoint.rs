//! Failpoints for the fault-injection tests: a named step at which a debug build of podctl
//! kills itself with SIGKILL, as `kill -9` or a power cut would, so the e2e suite can prove
//! that the next apply (or controller) converges from whatever was left. Release builds
//! compile every failpoint to nothing.
//!
//! `PODCTL_FAILPOINT=NAME[:N]` fires at the Nth time (default 1st) this process reaches
//! `NAME`. `PODCTL_FAILPOINT_FILE=PATH` reads that spec from a file and deletes the file as
//! it fires, so a controller restarted by systemd runs on normally.

/// Names of the failpoints, in the order an apply reaches them.
pub const POINTS: &[&str] = &[
    "remove-container",
    "pulled",
    "resource",
    "unit-written",
    "reloaded",
    "enabled",
    "started",
];

/// Names of the failpoints of a blue-green switch, in the order it reaches them (kept
/// apart from [`POINTS`]: an apply without a blue-green container never reaches them).
pub const BLUEGREEN_POINTS: &[&str] = &[
    "bluegreen-starting",
    "bluegreen-switching",
    "bluegreen-draining",
];

#[cfg(debug_assertions)]
pub fn hit(point: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static HITS: AtomicU32 = AtomicU32::new(0);
    let from_file = std::env::var_os("PODCTL_FAILPOINT_FILE");
    let spec = match &from_file {
        Some(path) => std::fs::read_to_string(path).ok(),
        None => std::env::var("PODCTL_FAILPOINT").ok(),
    };
    let Some((name, nth)) = spec.as_deref().and_then(parse) else {
        return;
    };
    if name != point {
        return;
    }
    let n = HITS.fetch_add(1, Ordering::SeqCst) + 1;
    if n != nth {
        return;
    }
    if let Some(path) = from_file {
        let _ = std::fs::remove_file(path);
    }
    eprintln!("podctl: failpoint {point}:{n} reached: killing this process (SIGKILL)");
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_point: &str) {}

/// `NAME` or `NAME:N` (N ≥ 1).
#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn parse(spec: &str) -> Option<(&str, u32)> {
    let spec = spec.trim();
    match spec.split_once(':') {
        Some((name, n)) => Some((name, n.parse().ok().filter(|n| *n >= 1)?)),
        None if !spec.is_empty() => Some((spec, 1)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_should_read_a_name_and_an_optional_count() {
        assert_eq!(parse("unit-written"), Some(("unit-written", 1)));
        assert_eq!(parse("started:3\n"), Some(("started", 3)));
        assert_eq!(parse("started:0"), None);
        assert_eq!(parse(""), None);
    }
}
