//! `podctl get` output: one row per object with its status (Converged, Progressing,
//! Degraded, Failed, Pending, Orphaned), derived from the plan and the observed host.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use podctl_api::{Kind, ObjectRef, Revision};
use serde::Serialize;

use crate::bluegreen::{Colour, Phase, instance_name, instance_unit, proxy_unit};
use crate::observe::{ActiveState, Health, Observed, UnitStatus};
use crate::plan::{Change, Plan, RepairReason, Step};

/// How far an object is from its desired state, as `get` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Convergence {
    /// Exists, up to date, running and healthy.
    Converged,
    /// Starting, stopping or restarting right now.
    Progressing,
    /// Up to date, but not well: stopped, unhealthy, restarting after failures.
    Degraded,
    /// Failed to start, or cannot be applied (a conflict, an error).
    Failed,
    /// Declared but not applied yet, or changed since the last apply.
    Pending,
    /// On the host and managed by podctl, but no longer in the manifests.
    Orphaned,
}

/// One row of `podctl get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub kind: Kind,
    pub name: String,
    pub status: Convergence,
    /// systemd's `active/sub` state of a container's unit.
    pub active: String,
    pub health: String,
    pub restarts: Option<u32>,
    /// Seconds since the unit last became active.
    pub age_seconds: Option<u64>,
    pub message: String,
    /// `REFERENCE@ID` of the image the container is pinned to (or the reference it runs).
    pub image: String,
    pub unit: String,
    pub container_id: String,
    /// The last rollout's result and, for a failed one, the image and the reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rollout: String,
    /// A blue-green container's colours; its `unit`, `active`, `health` and `containerId`
    /// are those of the colour that serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenRow>,
}

/// A blue-green container as `get` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenRow {
    /// The colour the proxy sends new requests to.
    pub active: Colour,
    /// `serving`, or how far a switch got: `starting`, `switching`, `draining`.
    pub phase: &'static str,
    /// `active/sub` of each colour's unit and of the proxy's (`-`: not loaded).
    pub blue: String,
    pub green: String,
    pub proxy: String,
    /// The last rollout that was not switched to: `COLOUR: reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

impl BlueGreenRow {
    fn of(name: &str, observed: &Observed) -> Self {
        let state = observed.bluegreen.get(name);
        let unit_state = |unit: String| {
            observed
                .units
                .get(&unit)
                .filter(|u| u.is_loaded())
                .map_or_else(
                    || "-".to_owned(),
                    |u| format!("{}/{}", u.active_state, u.sub_state),
                )
        };
        Self {
            active: state.map_or(Colour::Blue, |s| s.active),
            phase: match state.map(|s| s.phase) {
                None | Some(Phase::Serving) => "serving",
                Some(Phase::Starting { .. }) => "starting",
                Some(Phase::Switching { .. }) => "switching",
                Some(Phase::Draining { .. }) => "draining",
            },
            blue: unit_state(instance_unit(name, Colour::Blue)),
            green: unit_state(instance_unit(name, Colour::Green)),
            proxy: unit_state(proxy_unit(name)),
            failed: state
                .and_then(|s| s.failed.as_ref())
                .map(|f| format!("{}: {}", f.colour, f.reason)),
        }
    }

    /// `blue serves (green inactive/dead, proxy active/running)`.
    fn summary(&self) -> String {
        let idle = self.active.other();
        let idle_state = match idle {
            Colour::Blue => &self.blue,
            Colour::Green => &self.green,
        };
        let mut s = format!(
            "{} serves ({idle} {idle_state}, proxy {})",
            self.active, self.proxy
        );
        if self.phase != "serving" {
            s.push_str(&format!("; switch {}", self.phase));
        }
        if let Some(failed) = &self.failed {
            s.push_str(&format!("; not switched: {failed}"));
        }
        s
    }
}

/// The rows of every object in the plan (desired and leaving), optionally filtered.
pub fn rows(
    plan: &Plan,
    revision: &Revision,
    observed: &Observed,
    now: SystemTime,
    filter: &Filter,
) -> Vec<Row> {
    plan.steps
        .iter()
        .filter(|s| filter.matches(&s.object))
        .map(|step| {
            let mut r = row(step, revision, observed, now);
            if !step.is_noop()
                && !matches!(r.status, Convergence::Failed)
                && let Some(message) = plan.blocked_message(revision, &step.object)
            {
                r.status = Convergence::Pending;
                r.message = message;
            }
            r
        })
        .collect()
}

/// `podctl get [KIND [NAME]]`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<Kind>,
    pub name: Option<String>,
}

impl Filter {
    fn matches(&self, object: &ObjectRef) -> bool {
        self.kind.is_none_or(|k| k == object.kind)
            && self
                .name
                .as_deref()
                .is_none_or(|n| n == object.name.as_str())
    }
}

fn row(step: &Step, revision: &Revision, observed: &Observed, now: SystemTime) -> Row {
    let object = &step.object;
    let mut r = Row {
        kind: object.kind,
        name: object.name.to_string(),
        status: Convergence::Converged,
        active: String::new(),
        health: String::new(),
        restarts: None,
        age_seconds: None,
        message: String::new(),
        image: String::new(),
        unit: String::new(),
        container_id: String::new(),
        rollout: String::new(),
        blue_green: None,
    };
    // podman exits 143 when the container ends on SIGTERM: a `systemctl stop`, which
    // systemd records as a failure (see docs/operations.md), not a crash.
    let mut stopped_by_sigterm = false;
    let mut seen = Seen::default();
    if object.kind == Kind::Container {
        r.blue_green = revision
            .get(object)
            .and_then(|o| o.as_container())
            .filter(|c| podctl_api::bluegreen_checks::is_blue_green(c))
            .map(|_| BlueGreenRow::of(object.name.as_str(), observed));
        // A blue-green container is reported by the colour that serves.
        let instance = match &r.blue_green {
            Some(bg) => instance_name(object.name.as_str(), bg.active),
            None => object.name.to_string(),
        };
        let unit = format!("{instance}.service");
        seen.unit = observed.units.get(&unit).filter(|u| u.is_loaded());
        if let Some(u) = seen.unit {
            r.active = format!("{}/{}", u.active_state, u.sub_state);
            r.restarts = u.n_restarts;
            stopped_by_sigterm = u.exec_main_status == Some(143);
            if u.active_enter_timestamp_us > 0 && u.is_running() {
                let since = UNIX_EPOCH + Duration::from_micros(u.active_enter_timestamp_us);
                r.age_seconds = now.duration_since(since).ok().map(|d| d.as_secs());
            }
        }
        if let Some(c) = observed.containers.get(&instance) {
            seen.health = c.health;
            r.health = c.health.map(|h| h.to_string()).unwrap_or_default();
            r.container_id = c.id.chars().take(12).collect();
            r.image = c.image.clone();
        }
        if r.image.is_empty()
            && let Some(spec) = revision.get(object).and_then(|o| o.as_container())
        {
            r.image = crate::render::container::image_reference(spec, revision)
                .map(|i| i.to_string())
                .unwrap_or_default();
        }
        if let Some(record) = observed.rollouts.get(object.name.as_str()) {
            if let Some(current) = &record.current {
                r.image = current.to_string();
            }
            r.rollout = record.last().map(rollout_summary).unwrap_or_default();
        }
        r.unit = unit;
    }
    (r.status, r.message) = status_of(step, &r, seen);
    let failed = seen
        .unit
        .is_some_and(|u| u.active_state == ActiveState::Failed);
    if r.status == Convergence::Failed && stopped_by_sigterm && failed {
        r.status = Convergence::Degraded;
        r.message = "stopped (exit 143 on SIGTERM, e.g. `systemctl stop`); apply starts it".into();
    }
    if let Some(bg) = r.blue_green.as_ref().filter(|_| r.message.is_empty()) {
        r.message = bg.summary();
    }
    r
}

/// `Succeeded`, or `RolledBack: IMAGE unhealthy after 3s`.
fn rollout_summary(e: &crate::rollout::Entry) -> String {
    match &e.reason {
        Some(reason) => format!("{}: {} {reason}", e.result, e.to),
        None => e.result.to_string(),
    }
}

/// What the host showed of a container, typed, for [`status_of`] to match on.
#[derive(Debug, Clone, Copy, Default)]
struct Seen<'a> {
    /// Its unit, if systemd has it loaded.
    unit: Option<&'a UnitStatus>,
    health: Option<Health>,
}

/// An object's column and message from its planned change and what was seen of it. Long on
/// purpose: one match over change and unit state, so every combination is decided in one
/// place and the compiler checks the changes are all covered.
fn status_of(step: &Step, r: &Row, seen: Seen<'_>) -> (Convergence, String) {
    match &step.change {
        Change::Conflict { message } | Change::Error { message } => {
            return (Convergence::Failed, message.clone());
        }
        Change::Orphaned { reason } => return (Convergence::Orphaned, reason.clone()),
        Change::Delete => {
            return (
                Convergence::Orphaned,
                "left the manifests; apply removes it".into(),
            );
        }
        Change::Create => return (Convergence::Pending, "not applied yet".into()),
        Change::Update { fields } => {
            return (
                Convergence::Pending,
                format!("changed: {}; apply pending", fields.join(", ")),
            );
        }
        Change::Repair { .. } | Change::UpToDate => {}
    }
    if step.object.kind != Kind::Container {
        return match &step.change {
            // Present, and checked against its registry by every apply: nothing is wrong.
            Change::Repair {
                reason: RepairReason::AlwaysPulled,
            } => (
                Convergence::Converged,
                "pulled again on every apply (pullPolicy: Always)".into(),
            ),
            Change::Repair { reason } => (Convergence::Degraded, reason.to_string()),
            _ => (Convergence::Converged, String::new()),
        };
    }
    let Some(unit) = seen.unit else {
        return (
            Convergence::Degraded,
            "unit is not loaded; apply starts it".into(),
        );
    };
    let active = &unit.active_state;
    let health = seen.health;
    match active {
        ActiveState::Failed => (
            Convergence::Failed,
            format!("unit failed; see journalctl -u {}", r.unit),
        ),
        ActiveState::Activating | ActiveState::Deactivating | ActiveState::Reloading => (
            Convergence::Progressing,
            format!("{active} ({})", unit.sub_state),
        ),
        _ if unit.is_auto_restarting() => (
            Convergence::Progressing,
            format!("{active} ({})", unit.sub_state),
        ),
        ActiveState::Active if health == Some(Health::Unhealthy) => {
            (Convergence::Degraded, "container is unhealthy".into())
        }
        // systemd's Restart= keeps a crashing container "active": many restarts and a
        // short uptime say it is looping.
        ActiveState::Active
            if r.restarts.is_some_and(|n| n >= CRASH_LOOP_RESTARTS)
                && r.age_seconds.is_some_and(|s| s < CRASH_LOOP_UPTIME_S) =>
        {
            (
                Convergence::Degraded,
                format!(
                    "restarting: {} restarts, up {}; see journalctl -u {}",
                    r.restarts.unwrap_or_default(),
                    age(r.age_seconds),
                    r.unit
                ),
            )
        }
        ActiveState::Active => match &step.change {
            Change::Repair { reason } => (Convergence::Degraded, reason.to_string()),
            _ if health == Some(Health::Starting) => {
                (Convergence::Progressing, "health check starting".into())
            }
            _ => (Convergence::Converged, String::new()),
        },
        _ => (
            Convergence::Degraded,
            format!("unit is {active}; apply starts it"),
        ),
    }
}

/// Restarts and uptime (seconds) that make a running container count as crash-looping.
const CRASH_LOOP_RESTARTS: u32 = 3;
const CRASH_LOOP_UPTIME_S: u64 = 300;

/// Ages as kubectl shows them: `45s`, `12m`, `3h`, `5d`.
pub fn age(seconds: Option<u64>) -> String {
    match seconds {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86_400),
    }
}

/// The table, columns padded to their widest cell.
pub fn render_table(rows: &[Row], wide: bool) -> String {
    let mut header = vec![
        "KIND", "NAME", "STATUS", "ACTIVE", "HEALTH", "RESTARTS", "AGE",
    ];
    if wide {
        header.extend(["IMAGE", "UNIT", "CONTAINER", "ROLLOUT"]);
    }
    header.push("MESSAGE");
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let mut table: Vec<Vec<String>> = vec![header.iter().map(ToString::to_string).collect()];
    for r in rows {
        let mut cells = vec![
            r.kind.to_string(),
            r.name.clone(),
            format!("{:?}", r.status),
            dash(&r.active),
            dash(&r.health),
            r.restarts.map_or("-".into(), |n| n.to_string()),
            age(r.age_seconds),
        ];
        if wide {
            cells.extend([
                dash(&r.image),
                dash(&r.unit),
                dash(&r.container_id),
                dash(&r.rollout),
            ]);
        }
        cells.push(r.message.clone());
        // Names, messages and states come from manifests, podman, systemd and a
        // controller: escaped, so a cell is one line that cannot drive the terminal.
        table.push(
            cells
                .into_iter()
                .map(|c| podctl_api::printable(&c).into_owned())
                .collect(),
        );
    }
    let columns = table[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            table
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == columns {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}   ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(None), "-");
        assert_eq!(age(Some(45)), "45s");
        assert_eq!(age(Some(600)), "10m");
        assert_eq!(age(Some(10_800)), "3h");
        assert_eq!(age(Some(432_000)), "5d");
    }
}
