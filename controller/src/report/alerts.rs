//! Prometheus alert rules over podctl's metrics: the static set shipped in
//! `dist/podctl-alerts.yml` (the defaults) and the rules `podctl alerts` prints for a revision,
//! where a container's `monitoring` thresholds replace the defaults for that container. Pure:
//! a revision in, a rule file out; `promtool check rules` and `promtool test rules` (in
//! `hack/test`) hold it to Prometheus's grammar and to the alerts it must fire.

use std::collections::BTreeMap;

use podctl_api::{Kind, Revision};
use serde::Serialize;

/// The share of a limit above which HighMemory and HighCPU fire, unless a container says.
pub const DEFAULT_HIGH_PERCENT: u8 = 90;

#[derive(Debug, Serialize, PartialEq)]
pub struct RuleFile {
    pub groups: Vec<Group>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Group {
    pub name: &'static str,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Rule {
    pub alert: &'static str,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: &'static str,
    pub labels: BTreeMap<&'static str, &'static str>,
    pub annotations: BTreeMap<&'static str, String>,
}

fn rule(alert: &'static str, expr: String, for_: &'static str, severity: &'static str) -> Rule {
    Rule {
        alert,
        expr,
        for_,
        labels: BTreeMap::from([("severity", severity)]),
        annotations: BTreeMap::new(),
    }
}

impl Rule {
    fn says(mut self, summary: &str, description: &str) -> Self {
        self.annotations.insert("summary", summary.to_owned());
        self.annotations
            .insert("description", description.to_owned());
        self
    }
}

/// A container's own thresholds: (name, memory percent, CPU percent).
type Thresholds = Vec<(String, Option<u8>, Option<u8>)>;

/// The rules for `revision` (`None`: the shipped defaults, no container named).
pub fn rules(revision: Option<&Revision>) -> RuleFile {
    let own: Thresholds = revision
        .into_iter()
        .flat_map(|r| r.of_kind(Kind::Container))
        .filter_map(|o| {
            let m = o.as_container()?.monitoring;
            (!m.is_default()).then(|| {
                (
                    o.name().to_string(),
                    m.memory_high_percent,
                    m.cpu_high_percent,
                )
            })
        })
        .collect();
    RuleFile {
        groups: vec![
            Group {
                name: "podctl-containers",
                rules: container_rules(&own),
            },
            Group {
                name: "podctl-controller",
                rules: controller_rules(),
            },
        ],
    }
}

/// The YAML of [`rules`].
pub fn rules_yaml(revision: Option<&Revision>) -> String {
    let header = "# Prometheus alert rules for podctl (`podctl alerts`); see docs/monitoring.md.\n";
    // Serialising plain structs of strings and maps cannot fail.
    let body = serde_norway::to_string(&rules(revision)).unwrap_or_default();
    format!("{header}{body}")
}

fn container_rules(own: &Thresholds) -> Vec<Rule> {
    let mut rules = vec![
        rule("ContainerDown", "podctl_container_up == 0".into(), "1m", "critical").says(
            "Container {{ $labels.container }} is down",
            "The unit {{ $labels.unit }} of container {{ $labels.container }} has not been active for 1 minute.",
        ),
        rule(
            "ContainerUnhealthy",
            "podctl_container_health_status{status=\"unhealthy\"} == 1".into(),
            "2m",
            "critical",
        )
        .says(
            "Container {{ $labels.container }} is unhealthy",
            "The health check of container {{ $labels.container }} ({{ $labels.unit }}) has failed for 2 minutes; `podman healthcheck run` shows its output.",
        ),
        rule(
            "ContainerOOMKilled",
            "increase(podctl_container_oom_kills_total[15m]) > 0".into(),
            "0m",
            "warning",
        )
        .says(
            "Container {{ $labels.container }} ran out of memory",
            "The kernel killed {{ $value }} process(es) of container {{ $labels.container }} for exceeding its memory limit in 15 minutes.",
        ),
        rule(
            "CrashLooping",
            "increase(podctl_container_restarts_total[10m]) > 3".into(),
            "0m",
            "warning",
        )
        .says(
            "Container {{ $labels.container }} is crash-looping",
            "{{ $labels.unit }} was restarted {{ $value }} times in 10 minutes.",
        ),
    ];
    let memory = |selector: &str, percent: u8| {
        rule(
            "HighMemory",
            format!(
                "podctl_container_memory_bytes{selector} / podctl_container_memory_limit_bytes{selector} * 100 > {percent}"
            ),
            "5m",
            "warning",
        )
        .says(
            "Container {{ $labels.container }} uses much of its memory limit",
            &format!("Memory above {percent}% of memoryMax for 5 minutes: {{{{ $value | humanize }}}}%."),
        )
    };
    let cpu = |selector: &str, percent: u8| {
        rule(
            "HighCPU",
            format!(
                "rate(podctl_container_cpu_seconds_total{selector}[5m]) / podctl_container_cpu_quota_cores{selector} * 100 > {percent}"
            ),
            "10m",
            "warning",
        )
        .says(
            "Container {{ $labels.container }} uses much of its CPU quota",
            &format!("CPU above {percent}% of cpuQuota for 10 minutes: {{{{ $value | humanize }}}}%."),
        )
    };
    let memory_own: Vec<(&str, u8)> = own
        .iter()
        .filter_map(|(name, m, _)| m.map(|p| (name.as_str(), p)))
        .collect();
    let cpu_own: Vec<(&str, u8)> = own
        .iter()
        .filter_map(|(name, _, c)| c.map(|p| (name.as_str(), p)))
        .collect();
    rules.push(memory(&others(&memory_own), DEFAULT_HIGH_PERCENT));
    rules.extend(memory_own.iter().map(|(n, p)| memory(&only(n), *p)));
    rules.push(cpu(&others(&cpu_own), DEFAULT_HIGH_PERCENT));
    rules.extend(cpu_own.iter().map(|(n, p)| cpu(&only(n), *p)));
    rules
}

/// The selector of one container.
fn only(name: &str) -> String {
    format!("{{container=\"{name}\"}}")
}

/// The selector of every container but those with their own threshold. Names are lowercase
/// letters, digits and `-`: nothing in them means anything in a regex.
fn others(own: &[(&str, u8)]) -> String {
    if own.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = own.iter().map(|(n, _)| *n).collect();
    format!("{{container!~\"{}\"}}", names.join("|"))
}

fn controller_rules() -> Vec<Rule> {
    vec![
        rule("ControllerDown", "up{job=\"podctl\"} == 0".into(), "2m", "critical").says(
            "podctl controller on {{ $labels.instance }} is down",
            "Prometheus cannot scrape podctl: nothing repairs drift or restarts what fails to start.",
        ),
        rule(
            "RolloutRolledBack",
            "increase(podctl_rollbacks_total[15m]) > 0".into(),
            "0m",
            "warning",
        )
        .says(
            "A rollout on {{ $labels.instance }} was rolled back",
            "A new image failed its health gate and the previous one serves again; `podctl history NAME` says why.",
        ),
        rule("BackupFailed", "podctl_backup_last_failed == 1".into(), "0m", "warning").says(
            "The last backup of volume {{ $labels.volume }} failed",
            "`podctl backup run {{ $labels.volume }}` failed on {{ $labels.instance }}; the journal of the run says why.",
        ),
        rule(
            "BackupTooOld",
            "time() - podctl_backup_last_success_timestamp_seconds > 26 * 3600".into(),
            "15m",
            "warning",
        )
        .says(
            "Volume {{ $labels.volume }} has no recent backup",
            "The last good snapshot of volume {{ $labels.volume }} on {{ $labels.instance }} is more than 26 hours old, or there is none.",
        ),
        rule("FleetRolloutHalted", "podctl_fleet_gate{state=\"halted\"} == 1".into(), "5m", "warning").says(
            "The fleet rollout is halted for {{ $labels.instance }}",
            "A host of a lower wave failed on the newest commit; this host keeps its commit. `podctl fleet status` says which host and why; push a fix to resume.",
        ),
        rule("RevisionInvalid", "podctl_revision_invalid == 1".into(), "5m", "warning").says(
            "The manifests on {{ $labels.instance }} are invalid",
            "podctl keeps running the last valid revision; `podctl get` or /status names the errors.",
        ),
        rule(
            "DriftNotRepaired",
            "sum by (instance, kind) (podctl_objects{status=~\"Failed|Blocked|Conflict|BackingOff\"}) > 0"
                .into(),
            "15m",
            "warning",
        )
        .says(
            "Objects on {{ $labels.instance }} do not converge",
            "{{ $value }} {{ $labels.kind }} object(s) failed, blocked or in conflict for 15 minutes.",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped file is what the code generates: edit the code, then run
    /// `UPDATE_DIST=1 cargo test -p podctl alerts` and commit `dist/podctl-alerts.yml`.
    #[test]
    fn shipped_rules_are_the_generated_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../dist/podctl-alerts.yml");
        let generated = rules_yaml(None);
        if std::env::var_os("UPDATE_DIST").is_some() {
            std::fs::write(path, &generated).unwrap();
            return;
        }
        let shipped = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            shipped == generated,
            "{path} is stale: run UPDATE_DIST=1 cargo test -p podctl alerts"
        );
    }

    #[test]
    fn own_thresholds_replace_the_default_for_their_container_only() {
        let db = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: db-main}\nspec:\n  image: localhost/bb:v1\n  resources: {memoryMax: 64M}\n  monitoring: {memoryHighPercent: 75}\n";
        let revision = crate::plan::tests::revision(&[("a.yaml", db)]);
        let file = rules(Some(&revision));
        let memory: Vec<&Rule> = file.groups[0]
            .rules
            .iter()
            .filter(|r| r.alert == "HighMemory")
            .collect();
        assert_eq!(memory.len(), 2);
        assert!(
            memory[0].expr.contains(r#"{container!~"db-main"}"#),
            "{}",
            memory[0].expr
        );
        assert!(memory[0].expr.ends_with("> 90"), "{}", memory[0].expr);
        assert!(
            memory[1].expr.contains(r#"{container="db-main"}"#),
            "{}",
            memory[1].expr
        );
        assert!(memory[1].expr.ends_with("> 75"), "{}", memory[1].expr);
        let cpu: Vec<&Rule> = file.groups[0]
            .rules
            .iter()
            .filter(|r| r.alert == "HighCPU")
            .collect();
        assert_eq!(cpu.len(), 1, "no CPU threshold of its own");
    }
}
