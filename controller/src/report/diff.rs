//! `podctl diff` output: for each object what would happen and why, the unified diff of its
//! unit file, and a JSON form with a versioned schema for CI checks.

use std::fmt::Write as _;

use anstyle::Style;
use podctl_api::{ObjectRef, Revision, printable};
use serde::Serialize;
use similar::TextDiff;

use super::style;
use crate::plan::{Change, Plan, Step};

/// Version of the JSON document `podctl diff -o json` prints; bumped on incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The sign and word of a change, as the text report shows it.
fn sign(change: &Change) -> (&'static str, &'static str, Style) {
    match change {
        Change::UpToDate => (" ", "unchanged", style::DIM),
        Change::Create => ("+", "create", style::ADD),
        Change::Update { .. } => ("~", "update", style::CHANGE),
        Change::Repair { .. } => ("~", "repair", style::CHANGE),
        Change::Delete => ("-", "delete", style::REMOVE),
        Change::Conflict { .. } => ("!", "conflict", style::WARN),
        Change::Error { .. } => ("!", "error", style::WARN),
        Change::Orphaned { .. } => ("?", "orphaned", style::WARN),
    }
}

fn detail(change: &Change) -> Option<String> {
    match change {
        Change::Update { fields } => Some(format!("changed: {}", fields.join(", "))),
        Change::Repair { reason } => Some(reason.to_string()),
        Change::Orphaned { reason } => Some(reason.clone()),
        Change::Conflict { message } | Change::Error { message } => Some(message.clone()),
        Change::UpToDate | Change::Create | Change::Delete => None,
    }
}

/// Counts per change word, for the summary line and the JSON summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub repair: usize,
    pub delete: usize,
    pub orphaned: usize,
    pub conflict: usize,
    pub error: usize,
    pub unchanged: usize,
}

impl Summary {
    pub fn of(plan: &Plan) -> Self {
        let mut s = Summary::default();
        for step in &plan.steps {
            let slot = match (&step.change, step.is_noop()) {
                (Change::Create, _) => &mut s.create,
                (Change::Update { .. }, _) => &mut s.update,
                (Change::Delete, _) => &mut s.delete,
                (Change::Orphaned { .. }, _) => &mut s.orphaned,
                (Change::Conflict { .. }, _) => &mut s.conflict,
                (Change::Error { .. }, _) => &mut s.error,
                (Change::Repair { .. }, false) => &mut s.repair,
                (Change::Repair { .. } | Change::UpToDate, _) => &mut s.unchanged,
            };
            *slot += 1;
        }
        s
    }

    /// Whether anything would change, or cannot be done: `diff` exits 1 then.
    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.repair + self.delete + self.conflict + self.error > 0
    }
}

/// The unified diff of a unit file, `before` (on disk) to `after` (desired).
pub fn unit_diff(name: &str, unit_dir: &str, before: Option<&str>, after: Option<&str>) -> String {
    let (old, new) = (before.unwrap_or(""), after.unwrap_or(""));
    if old == new {
        return String::new();
    }
    let old_name = if before.is_some() {
        format!("{unit_dir}/{name}")
    } else {
        "/dev/null".into()
    };
    let new_name = if after.is_some() {
        format!("{unit_dir}/{name} (desired)")
    } else {
        "/dev/null".into()
    };
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &new_name)
        .to_string()
}

/// The text report, with ANSI styles that the caller strips when the output is not a
/// terminal (`anstream` does).
pub fn render_text(
    plan: &Plan,
    revision: &Revision,
    unit_dir: &str,
    show_unchanged: bool,
) -> String {
    let mut out = String::new();
    for step in &plan.steps {
        let orphaned = matches!(step.change, Change::Orphaned { .. });
        if step.is_noop() && !orphaned && !show_unchanged {
            continue;
        }
        // Only a step with something to do waits for its blocker.
        let blocker = (!step.is_noop())
            .then(|| plan.blocked_via(revision, &step.object).map(|(via, _)| via))
            .flatten();
        write_step(&mut out, step, blocker, unit_dir);
    }
    let s = Summary::of(plan);
    if !s.has_changes() && s.orphaned == 0 {
        let _ = writeln!(
            out,
            "No changes: the host matches revision {} ({}).",
            revision.short_hash(),
            podctl_api::plural(plan.steps.len(), "object")
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{h}Plan:{r} {} to create, {} to update, {} to repair, {} to delete; {} orphaned, {}, {} (revision {}).",
        s.create,
        s.update,
        s.repair,
        s.delete,
        s.orphaned,
        podctl_api::plural(s.conflict, "conflict"),
        podctl_api::plural(s.error, "error"),
        revision.short_hash(),
        h = style::HEADER.render(),
        r = style::HEADER.render_reset(),
    );
    out
}

fn write_step(out: &mut String, step: &Step, blocker: Option<&ObjectRef>, unit_dir: &str) {
    let (sign, word, st) = sign(&step.change);
    let _ = write!(
        out,
        "{}{sign} {}{}  {word}",
        st.render(),
        printable(&step.object.to_string()),
        st.render_reset()
    );
    // Details quote podman, systemd and unit files: escaped before our own styles go on.
    if let Some(detail) = detail(&step.change) {
        let _ = write!(out, ": {}", printable(&detail));
    }
    out.push('\n');
    if let Some(blocker) = blocker {
        let _ = writeln!(
            out,
            "    {}blocked by {}: apply leaves this object as it is until that is fixed{}",
            style::WARN.render(),
            printable(&blocker.to_string()),
            style::WARN.render_reset()
        );
    }
    if !matches!(step.change, Change::Repair { .. }) {
        for drop_in in &step.drop_ins {
            let _ = writeln!(
                out,
                "    {}drop-in {} overrides the unit; podctl leaves it{}",
                style::WARN.render(),
                printable(&drop_in.display().to_string()),
                style::WARN.render_reset()
            );
        }
    }
    for action in &step.actions {
        let _ = writeln!(
            out,
            "    {}{}{}",
            style::DIM.render(),
            printable(&action.to_string()),
            style::DIM.render_reset()
        );
    }
    let unit = unit_name_of(step);
    let diff = unit_diff(
        &unit,
        unit_dir,
        step.unit_before.as_deref(),
        step.unit_after.as_deref(),
    );
    for line in diff.lines() {
        let st = if line.starts_with("+++") || line.starts_with("---") {
            style::HEADER
        } else if line.starts_with('+') {
            style::ADD
        } else if line.starts_with('-') {
            style::REMOVE
        } else if line.starts_with("@@") {
            style::HUNK
        } else {
            Style::new()
        };
        let _ = writeln!(
            out,
            "    {}{}{}",
            st.render(),
            // Unit files are indented with tabs; everything else unsafe is escaped.
            podctl_api::printable::printable_lines(line),
            st.render_reset()
        );
    }
}

fn unit_name_of(step: &Step) -> String {
    step.unit
        .clone()
        .unwrap_or_else(|| format!("{}.service", step.object.name))
}

/// One object in the JSON report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonChange {
    /// `kind/name`, e.g. `container/myapp`.
    pub object: String,
    pub kind: String,
    pub name: String,
    /// create, update, repair, delete, orphaned, conflict, error, unchanged.
    pub change: &'static str,
    /// For update: the manifest fields that differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// For repair, orphaned, conflict, error: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `kind/name` of a dependency that cannot be applied (a conflict or an error):
    /// `apply` leaves this object as it is until that is fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    pub actions: Vec<JsonAction>,
    /// Drop-ins that override the container's unit (drift podctl reports, never removes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drop_ins: Vec<String>,
    /// Unified diff of the unit file; empty when it does not change.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub unit_diff: String,
}

#[derive(Debug, Serialize)]
pub struct JsonAction {
    /// pull, write, enable, disable, start, restart, stop, remove-unit, ...
    pub action: &'static str,
    /// Human description, e.g. `restart myapp.service`.
    pub description: String,
}

/// The JSON report (`podctl diff -o json`), schema version [`SCHEMA_VERSION`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonDiff {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub schema_version: u32,
    pub revision: String,
    pub manifests: String,
    pub has_changes: bool,
    pub summary: Summary,
    /// Objects with something to do, in the order `apply` would do it.
    pub changes: Vec<JsonChange>,
}

pub fn render_json(plan: &Plan, revision: &Revision, unit_dir: &str) -> JsonDiff {
    let summary = Summary::of(plan);
    let changes = plan
        .steps
        .iter()
        .filter(|s| !s.is_noop() || matches!(s.change, Change::Orphaned { .. }))
        .map(|step| {
            let (_, word, _) = sign(&step.change);
            let fields = match &step.change {
                Change::Update { fields } => fields.clone(),
                _ => Vec::new(),
            };
            let reason = match &step.change {
                Change::Update { .. } => None,
                other => detail(other),
            };
            JsonChange {
                object: step.object.to_string(),
                kind: step.object.kind.to_string(),
                name: step.object.name.to_string(),
                change: word,
                fields,
                reason,
                blocked_by: plan
                    .blocker(revision, &step.object)
                    .map(|b| b.object.to_string()),
                actions: step
                    .actions
                    .iter()
                    .map(|a| JsonAction {
                        action: a.verb(),
                        description: a.to_string(),
                    })
                    .collect(),
                drop_ins: step
                    .drop_ins
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                unit_diff: unit_diff(
                    &unit_name_of(step),
                    unit_dir,
                    step.unit_before.as_deref(),
                    step.unit_after.as_deref(),
                ),
            }
        })
        .collect();
    JsonDiff {
        api_version: podctl_api::API_VERSION,
        kind: "Diff",
        schema_version: SCHEMA_VERSION,
        revision: revision.hash().to_string(),
        manifests: revision.dir().display().to_string(),
        has_changes: summary.has_changes(),
        summary,
        changes,
    }
}
