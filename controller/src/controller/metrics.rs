//! The controller's Prometheus metrics (`podctl_*`), served on `/metrics` in the
//! OpenMetrics text format.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use std::sync::Arc;

use super::backup_metrics::BackupMetrics;
use super::container_metrics::ContainerMetrics;
use super::fleet_metrics::FleetMetrics;
use crate::report::controller_status::ControllerPhase;

type Labels = Vec<(String, String)>;

/// Every metric, registered once; cheap to update from any task.
pub struct Metrics {
    registry: Registry,
    pub reconcile_duration: Histogram,
    pub reconciles: Family<Labels, Counter>,
    pub objects: Family<Labels, Gauge>,
    pub revision_info: Family<Labels, Gauge>,
    pub revision_applied_time: Gauge<f64, AtomicU64>,
    /// Unix time of the last update check that got an answer for every container.
    pub update_last_check: Gauge<f64, AtomicU64>,
    pub revision_invalid: Gauge,
    pub invalid_revisions: Counter,
    pub object_failures: Family<Labels, Counter>,
    pub drift_repairs: Counter,
    pub restarts_seen: Counter,
    pub events: Family<Labels, Counter>,
    pub backing_off: Gauge,
    pub http_rejected: Counter,
    pub phase: Family<Labels, Gauge>,
    pub rollouts: Family<Labels, Counter>,
    pub rollbacks: Counter,
    /// `podctl_container_*`, refreshed on each scrape.
    pub containers: Arc<ContainerMetrics>,
    /// `podctl_backup_*`, read from the backup records on each scrape.
    pub backups: Arc<BackupMetrics>,
    /// `podctl_fleet_*`, for a controller in a fleet.
    pub fleet: Arc<FleetMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers `metric` under `name` and hands it back: each field of [`Metrics`] is one line.
fn register<M>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    registry.register(name, help, metric.clone());
    metric
}

/// [`register`] with a unit (`_seconds` is appended to the name).
fn register_with_unit<M>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: &prometheus_client::registry::Unit,
    metric: M,
) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    registry.register_with_unit(name, help, unit.clone(), metric.clone());
    metric
}

/// Registers a collector (series made at each scrape) and hands back the shared handle.
fn collector<C>(registry: &mut Registry, collector: C) -> Arc<C>
where
    Arc<C>: prometheus_client::collector::Collector,
{
    let collector = Arc::new(collector);
    registry.register_collector(Box::new(collector.clone()));
    collector
}

impl Metrics {
    /// The metrics of a controller whose state directory is the default.
    pub fn new() -> Self {
        Self::for_state_dir(std::path::Path::new(crate::reconcile::DEFAULT_STATE_DIR))
    }

    /// The metrics, with the backup and fleet records read from `state_dir`. Every metric is
    /// registered here: a list, one entry per metric (long, not complex).
    pub fn for_state_dir(state_dir: &std::path::Path) -> Self {
        let mut registry = Registry::with_prefix("podctl");
        let r = &mut registry;
        let seconds = prometheus_client::registry::Unit::Seconds;
        let reconcile_duration = register_with_unit(
            r,
            "reconcile_duration",
            "Duration of one reconcile pass (observe, plan, execute)",
            &seconds,
            Histogram::new(exponential_buckets(0.005, 2.0, 14)),
        );
        let revision_applied_time = register_with_unit(
            r,
            "revision_applied_timestamp",
            "Unix time at which the running revision was first applied",
            &seconds,
            Gauge::<f64, AtomicU64>::default(),
        );
        let update_last_check = register_with_unit(
            r,
            "update_last_check_timestamp",
            "Unix time of the last update check that found the newest image of every container with an update policy",
            &seconds,
            Gauge::<f64, AtomicU64>::default(),
        );
        let containers = collector(r, ContainerMetrics::default());
        let fleet = collector(r, FleetMetrics::new(state_dir.to_owned()));
        let backups = collector(r, BackupMetrics::new(crate::backup::record::dir(state_dir)));
        Self {
            containers,
            backups,
            fleet,
            reconcile_duration,
            revision_applied_time,
            update_last_check,
            reconciles: register(
                r,
                "reconciles",
                "Reconcile passes by result (ok: every object converged)",
                Family::default(),
            ),
            objects: register(
                r,
                "objects",
                "Objects of the running revision by kind and status",
                Family::default(),
            ),
            revision_info: register(
                r,
                "revision_info",
                "The revision being applied (value 1; the hash is a label)",
                Family::default(),
            ),
            revision_invalid: register(
                r,
                "revision_invalid",
                "1 while the manifest directory holds an invalid revision (the last good one keeps running)",
                Gauge::default(),
            ),
            invalid_revisions: register(
                r,
                "invalid_revisions",
                "Invalid revisions seen in the manifest directory",
                Counter::default(),
            ),
            object_failures: register(
                r,
                "object_failures",
                "Objects that failed to converge in a pass, by kind",
                Family::default(),
            ),
            drift_repairs: register(
                r,
                "drift_repairs",
                "Objects repaired after drifting from their manifest (stopped, disabled, edited)",
                Counter::default(),
            ),
            restarts_seen: register(
                r,
                "restarts_seen",
                "Automatic restarts of managed units that systemd reported (NRestarts increases)",
                Counter::default(),
            ),
            events: register(
                r,
                "events",
                "Events received, by source (manifests, systemd, podman, resync, sighup)",
                Family::default(),
            ),
            backing_off: register(
                r,
                "objects_backing_off",
                "Failed objects waiting out their retry backoff",
                Gauge::default(),
            ),
            http_rejected: register(
                r,
                "http_connections_rejected",
                "HTTP connections closed at once because the connection cap was reached",
                Counter::default(),
            ),
            phase: register(
                r,
                "controller_phase",
                "1 for the phase the controller is in (starting, running, stopping), 0 for the others",
                Family::default(),
            ),
            rollouts: register(
                r,
                "rollouts",
                "Image rollouts of containers by result (pinned, succeeded, rolled_back, rollback_failed)",
                Family::default(),
            ),
            rollbacks: register(
                r,
                "rollbacks",
                "Rollouts whose new image failed its health gate and was rolled back",
                Counter::default(),
            ),
            registry,
        }
    }

    /// Counts the end of one rollout.
    pub fn rollout(&self, result: crate::rollout::RolloutResult) {
        use crate::rollout::RolloutResult;
        let label = match result {
            RolloutResult::Pinned => "pinned",
            RolloutResult::Succeeded => "succeeded",
            RolloutResult::RolledBack => "rolled_back",
            RolloutResult::RollbackFailed => "rollback_failed",
        };
        self.rollouts
            .get_or_create(&labels([("result", label)]))
            .inc();
        if matches!(
            result,
            RolloutResult::RolledBack | RolloutResult::RollbackFailed
        ) {
            self.rollbacks.inc();
        }
    }

    /// Shows `current` as the controller's phase: 1 for it, 0 for every other.
    pub fn set_phase(&self, current: ControllerPhase) {
        for phase in ControllerPhase::ALL {
            self.phase
                .get_or_create(&labels([("phase", &phase.to_string())]))
                .set(i64::from(phase == current));
        }
    }

    pub fn event(&self, source: &str) {
        self.events
            .get_or_create(&vec![("source".to_owned(), source.to_owned())])
            .inc();
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

pub fn labels<const N: usize>(pairs: [(&str, &str); N]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_should_encode_podctl_names() {
        let m = Metrics::new();
        m.invalid_revisions.inc();
        m.revision_invalid.set(1);
        m.objects
            .get_or_create(&labels([("kind", "Container"), ("status", "ok")]))
            .set(3);
        m.reconcile_duration.observe(0.02);
        m.update_last_check.set(1_700_000_000.0);
        let text = m.encode();
        assert!(
            text.contains("podctl_update_last_check_timestamp_seconds 1700000000"),
            "{text}"
        );
        assert!(text.contains("podctl_invalid_revisions_total 1"), "{text}");
        assert!(text.contains("podctl_revision_invalid 1"), "{text}");
        assert!(
            text.contains(r#"podctl_objects{kind="Container",status="ok"} 3"#),
            "{text}"
        );
        assert!(
            text.contains("podctl_reconcile_duration_seconds_count 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn rollouts_should_be_counted_by_result_and_rollbacks_apart() {
        use crate::rollout::RolloutResult;
        let m = Metrics::new();
        m.rollout(RolloutResult::Succeeded);
        m.rollout(RolloutResult::RolledBack);
        m.rollout(RolloutResult::RolledBack);
        let text = m.encode();
        assert!(
            text.contains(r#"podctl_rollouts_total{result="succeeded"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"podctl_rollouts_total{result="rolled_back"} 2"#),
            "{text}"
        );
        assert!(text.contains("podctl_rollbacks_total 2"), "{text}");
    }
}

#[cfg(test)]
mod dashboard_tests {
    use super::*;
    use crate::adapters::cgroup::CgroupUsage;
    use crate::adapters::podman::Health;
    use crate::adapters::systemd::{ActiveState, UnitResources, UnitVitals};
    use crate::controller::container_metrics::ContainerSample;

    /// Every sample name `/metrics` can carry, with one container whose numbers are all known.
    fn exported_names() -> std::collections::BTreeSet<String> {
        let m = Metrics::new();
        m.set_phase(ControllerPhase::Running);
        m.objects
            .get_or_create(&labels([("kind", "Container"), ("status", "UpToDate")]))
            .set(1);
        let service = UnitVitals {
            active_state: ActiveState::Active,
            n_restarts: Some(0),
            resources: UnitResources {
                memory_bytes: Some(1),
                memory_max_bytes: Some(2),
                cpu_usage_nsec: Some(3),
                cpu_quota_usec_per_sec: Some(4),
                tasks: Some(5),
                main_started_us: Some(6),
                main_exit_status: Some(0),
            },
            ..UnitVitals::default()
        };
        let scope = CgroupUsage {
            memory_bytes: Some(1),
            memory_limit_bytes: Some(2),
            cpu_usage_nsec: Some(3),
            cpu_quota_usec_per_sec: Some(4),
            tasks: Some(5),
            oom_kills: Some(0),
        };
        m.containers.set(vec![ContainerSample::of(
            "web",
            "web.service",
            &service,
            Some(&scope),
            Some(Health::Healthy),
        )]);
        m.encode()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(str::to_owned)
            .collect()
    }

    /// The shipped Grafana dashboard is JSON and asks only for metrics podctl exports.
    #[test]
    fn dashboard_should_reference_only_exported_metrics() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../dist/grafana-podctl.json");
        let text = std::fs::read_to_string(path).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let exported = exported_names();
        let mut queries = Vec::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                queries.push(target["expr"].as_str().unwrap().to_owned());
            }
        }
        for variable in dashboard["templating"]["list"].as_array().unwrap() {
            if let Some(q) = variable["query"].as_str() {
                queries.push(q.to_owned());
            }
        }
        assert!(queries.len() >= 8, "{queries:?}");
        for query in &queries {
            let names = query
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("podctl_"));
            for name in names {
                assert!(
                    exported.contains(name),
                    "{path}: `{name}` in `{query}` is not a metric podctl exports ({exported:?})"
                );
            }
        }
    }
}
