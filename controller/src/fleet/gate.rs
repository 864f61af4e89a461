//! Whether this host may take a commit: the wave rule and the group's slots, as pure
//! functions of the fleet's reports, the slot holders and the time.
//!
//! A host of wave W takes commit C when every live host of the waves below W reports C
//! `Converged` for the soak time. A lower-wave host that is `Failed` or `Invalid` on C, or
//! `Degraded` on it for a whole soak time (a container that stays down or unhealthy), halts
//! the rollout: this host keeps its commit and says why, until a newer commit (the fix) is
//! pushed and passes the canaries.
//! A host whose lease ran out has no report and does not count (see docs/fleet.md).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::FleetHost;
use super::report::{HostReport, HostState};

/// The rollout's rules, the same on every host (from `podctl sync`'s flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long every host of a lower wave must run a commit converged before the next
    /// wave takes it.
    pub soak: Duration,
    /// How many hosts of a group may be taking a commit at once.
    pub max_parallel: u32,
}

/// What the wave rule says for this host and a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", content = "reason", rename_all = "camelCase")]
pub enum Decision {
    /// The manifests path already shows the commit.
    UpToDate,
    /// The lower waves passed: take it once the group has a free slot.
    Proceed,
    /// The lower waves are still taking or soaking it.
    Wait(String),
    /// A lower wave failed on it: keep the current commit until a newer one.
    Halt(String),
}

impl Decision {
    pub fn label(&self) -> &'static str {
        match self {
            Self::UpToDate => "up_to_date",
            Self::Proceed => "proceed",
            Self::Wait(_) => "waiting",
            Self::Halt(_) => "halted",
        }
    }
}

/// The wave rule for `me`, whose manifests path shows `current`, and the fetched `target`.
pub fn decide(
    me: &FleetHost,
    current: Option<&str>,
    target: &str,
    reports: &[HostReport],
    policy: &Policy,
    now: f64,
) -> Decision {
    if current == Some(target) {
        return Decision::UpToDate;
    }
    let mut lower: Vec<&HostReport> = reports
        .iter()
        .filter(|r| r.wave < me.wave && r.name != me.name)
        .collect();
    lower.sort_by(|a, b| (a.wave, &a.name).cmp(&(b.wave, &b.name)));
    let soak = policy.soak.as_secs_f64();
    let short = short(target);
    // A failure anywhere below halts, even while other hosts are still on their way.
    for r in lower.iter().filter(|r| r.commit.as_deref() == Some(target)) {
        let why = r.reason.as_deref().unwrap_or("no reason given");
        match r.state {
            HostState::Failed | HostState::Invalid => {
                return Decision::Halt(format!(
                    "{} (wave {}) is {} on {short}: {why}",
                    r.name, r.wave, r.state
                ));
            }
            // Degraded for a whole soak time: a moment down (a restart during a rollout)
            // is not a failure, a container that stays unhealthy is.
            HostState::Degraded if now - r.since >= soak => {
                return Decision::Halt(format!(
                    "{} (wave {}) has been unhealthy on {short} for the soak time ({}): {why}",
                    r.name,
                    r.wave,
                    seconds(soak)
                ));
            }
            HostState::Degraded | HostState::Progressing | HostState::Converged => {}
        }
    }
    for r in &lower {
        if r.commit.as_deref() != Some(target) {
            let on = r.commit.as_deref().map_or("no synced commit", short_str);
            return Decision::Wait(format!(
                "{} (wave {}) runs {on}, not {short} yet",
                r.name, r.wave
            ));
        }
        if r.state != HostState::Converged {
            let why = r.reason.as_deref().unwrap_or("");
            return Decision::Wait(
                format!(
                    "{} (wave {}) is {} on {short}: {why}",
                    r.name, r.wave, r.state
                )
                .trim_end_matches([' ', ':'])
                .to_owned(),
            );
        }
        let soaked = now - r.since;
        if soaked < soak {
            return Decision::Wait(format!(
                "{} (wave {}) soaking {short}: {} of {}",
                r.name,
                r.wave,
                seconds(soaked.max(0.0)),
                seconds(soak)
            ));
        }
    }
    Decision::Proceed
}

/// A host holding (or asking for) one of its group's slots: `PREFIX/slots/GROUP/NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    pub host: String,
    /// The commit the host is taking.
    pub commit: String,
    /// Unix seconds when it took the slot.
    pub since: f64,
}

/// Whether `me` may take a slot of its group, whose holders are `holders`: yes when it
/// holds one already or fewer than `max_parallel` are taken (FleetLock's semaphore).
pub fn may_take_slot(me: &str, holders: &[Slot], policy: &Policy, now: f64) -> Result<(), String> {
    if holders.iter().any(|h| h.host == me) {
        return Ok(());
    }
    let taken = holders.len();
    if taken < policy.max_parallel as usize {
        return Ok(());
    }
    let names: Vec<String> = holders
        .iter()
        .map(|h| {
            format!(
                "{} ({} for {})",
                h.host,
                short(&h.commit),
                seconds((now - h.since).max(0.0))
            )
        })
        .collect();
    Err(format!(
        "all {} slot(s) of the group are taken: {}",
        policy.max_parallel,
        names.join(", ")
    ))
}

/// Whether this host is done with the slot it holds: its report shows the slot's commit
/// converged.
pub fn slot_done(slot: &Slot, mine: &HostReport) -> bool {
    mine.commit.as_deref() == Some(slot.commit.as_str()) && mine.state == HostState::Converged
}

/// The first 12 hex digits of a commit.
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn short_str(commit: &str) -> &str {
    short(commit)
}

/// `45s`, `2m30s` (whole seconds passed: 2.9 s is `2s`).
pub fn seconds(s: f64) -> String {
    let s = s.floor() as u64;
    match (s / 60, s % 60) {
        (0, sec) => format!("{sec}s"),
        (m, 0) => format!("{m}m"),
        (m, sec) => format!("{m}m{sec}s"),
    }
}

#[cfg(test)]
mod tests;
