//! `podctl fleet status`: every live host's commit, state and wave, its gate decision, the
//! group slots, and a summary of where the newest rollout stands or why it halted. Pure:
//! a [`Snapshot`] in, text or JSON out.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::etcd::Snapshot;
use super::gate::{Slot, seconds, short};
use super::record::{GateRecord, GateState};
use super::report::{HostReport, HostState};

/// One host's row.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRow {
    #[serde(flatten)]
    pub report: HostReport,
    /// Its last gate decision, if a gated sync ran on it.
    pub gate: Option<GateRecord>,
}

/// The whole document (`-o json`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetStatus {
    pub hosts: Vec<HostRow>,
    pub slots: std::collections::BTreeMap<String, Vec<Slot>>,
    /// Where the newest commit's rollout stands.
    pub rollout: Option<String>,
    pub revision: i64,
}

pub fn of(snapshot: &Snapshot) -> FleetStatus {
    let mut hosts: Vec<HostRow> = snapshot
        .hosts
        .iter()
        .map(|(report, _)| HostRow {
            report: report.clone(),
            gate: snapshot
                .gates
                .iter()
                .find(|g| g.host == report.name)
                .cloned(),
        })
        .collect();
    hosts.sort_by(|a, b| (a.report.wave, &a.report.name).cmp(&(b.report.wave, &b.report.name)));
    FleetStatus {
        rollout: summary(&hosts),
        hosts,
        slots: snapshot.slots.clone(),
        revision: snapshot.revision,
    }
}

/// The newest commit any host knows of (by the latest gate or report time), and how far
/// it got: `commit abc: wave 0 2/2 converged, wave 1 0/3 (waiting: …)`, or why it halted.
fn summary(hosts: &[HostRow]) -> Option<String> {
    let newest = hosts
        .iter()
        .flat_map(|h| {
            let gate = h.gate.as_ref().map(|g| (g.at, g.target.clone()));
            let report = h.report.commit.clone().map(|c| (h.report.commit_since, c));
            gate.into_iter().chain(report)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)?;
    let waves: BTreeSet<u32> = hosts.iter().map(|h| h.report.wave).collect();
    let mut out = format!("commit {}:", short(&newest));
    for wave in waves {
        let of_wave: Vec<&HostRow> = hosts.iter().filter(|h| h.report.wave == wave).collect();
        let done = of_wave
            .iter()
            .filter(|h| {
                h.report.commit.as_deref() == Some(newest.as_str())
                    && h.report.state == HostState::Converged
            })
            .count();
        let _ = write!(out, " wave {wave} {done}/{} converged", of_wave.len());
        let stuck = of_wave.iter().find_map(|h| {
            h.gate
                .as_ref()
                .filter(|g| g.target == newest)
                .and_then(|g| match &g.state {
                    GateState::Halted(why) => Some(format!("halted: {why}")),
                    GateState::Waiting(why) | GateState::WaitingForSlot(why) => {
                        Some(format!("waiting: {why}"))
                    }
                    GateState::Unreachable(why) => Some(format!("etcd unreachable: {why}")),
                    GateState::UpToDate | GateState::Swapped => None,
                })
        });
        if let Some(stuck) = stuck {
            let _ = write!(out, " ({stuck})");
        }
        out.push(';');
    }
    out.pop();
    Some(out)
}

/// The table.
pub fn render(status: &FleetStatus, now: f64) -> String {
    let mut rows = vec![[
        "HOST".to_owned(),
        "WAVE".to_owned(),
        "GROUP".to_owned(),
        "COMMIT".to_owned(),
        "STATE".to_owned(),
        "SINCE".to_owned(),
        "GATE".to_owned(),
    ]];
    for h in &status.hosts {
        let r = &h.report;
        let gate = match &h.gate {
            None => "-".to_owned(),
            Some(g) if matches!(g.state, GateState::UpToDate | GateState::Swapped) => {
                g.state.to_string()
            }
            Some(g) => format!("{} -> {}", short(&g.target), g.state),
        };
        let mut state = r.state.to_string();
        if let Some(reason) = &r.reason {
            state.push_str(&format!(" ({reason})"));
        }
        rows.push([
            r.name.clone(),
            r.wave.to_string(),
            r.group.clone(),
            r.commit.as_deref().map_or("-", short).to_owned(),
            state,
            seconds((now - r.since).max(0.0)),
            gate,
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if status.hosts.is_empty() {
        out.push_str("no host reports to this etcd under this prefix\n");
    }
    for (group, slots) in &status.slots {
        let holders: Vec<String> = slots
            .iter()
            .map(|s| {
                format!(
                    "{} ({} for {})",
                    s.host,
                    short(&s.commit),
                    seconds((now - s.since).max(0.0))
                )
            })
            .collect();
        let _ = writeln!(out, "slots of group {group}: {}", holders.join(", "));
    }
    if let Some(rollout) = &status.rollout {
        let _ = writeln!(out, "rollout: {rollout}");
    }
    out
}
