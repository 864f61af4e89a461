//! Per-container metrics on `/metrics` (`podctl_container_*{container, unit}`), read when
//! Prometheus scrapes and only then: one `ListUnitsByNames` and one `GetAll` per unit, the
//! same reads as an observation, never a `podman stats`. Two units per container: its
//! service (state, restarts, start and exit; it holds conmon) and the scope podman runs the
//! container in (`--cgroups=no-conmon`: `libpod-ID.scope`, ID from the service's cidfile),
//! whose cgroup accounting is the container's CPU, memory and tasks.

use std::path::Path;

use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::adapters::systemd::{ActiveState, LoadState, UnitState};

/// One container as last read.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSample {
    /// The manifest name.
    pub container: String,
    pub unit: String,
    pub up: bool,
    pub restarts: Option<u32>,
    pub cpu_seconds: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub cpu_quota_cores: Option<f64>,
    pub tasks: Option<u64>,
    pub start_time_seconds: Option<f64>,
    pub last_exit_code: Option<i32>,
}

/// The scope podman runs the container of `unit` in, from the cidfile the unit's
/// `ExecStart=` writes into `run_dir` (`%t/%n.ctr-id`); `None` while it has none.
pub fn scope_of(run_dir: &Path, unit: &str) -> Option<String> {
    let id = std::fs::read_to_string(run_dir.join(format!("{unit}.ctr-id"))).ok()?;
    let id = id.trim();
    // A podman ID is 64 hex digits; anything else is not a name to ask systemd about.
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("libpod-{id}.scope"))
}

impl ContainerSample {
    /// The sample of `container` from its service and, while it runs, its scope.
    pub fn of(container: &str, unit: &UnitState, scope: Option<&UnitState>) -> Self {
        let service = &unit.resources;
        let r = scope
            .filter(|s| s.load_state == LoadState::Loaded)
            .map_or(service, |s| &s.resources);
        Self {
            container: container.to_owned(),
            unit: unit.name.clone(),
            up: unit.active_state == ActiveState::Active,
            restarts: unit.n_restarts,
            cpu_seconds: r.cpu_usage_nsec.map(|ns| ns as f64 / 1e9),
            memory_bytes: r.memory_bytes,
            memory_limit_bytes: r.memory_max_bytes.or(service.memory_max_bytes),
            cpu_quota_cores: r
                .cpu_quota_usec_per_sec
                .or(service.cpu_quota_usec_per_sec)
                .map(|us| us as f64 / 1e6),
            tasks: r.tasks,
            start_time_seconds: service.main_started_us.map(|us| us as f64 / 1e6),
            last_exit_code: service.main_exit_status,
        }
    }
}

/// The samples of the last scrape, encoded by the registry as `podctl_container_*`.
#[derive(Debug, Default)]
pub struct ContainerMetrics {
    samples: Mutex<Vec<ContainerSample>>,
}

impl ContainerMetrics {
    /// Replaces every sample: a container gone from the revision is gone from `/metrics`.
    pub fn set(&self, samples: Vec<ContainerSample>) {
        if let Ok(mut s) = self.samples.lock() {
            *s = samples;
        }
    }
}

/// How a metric's value is read from a sample.
enum Value {
    Gauge(fn(&ContainerSample) -> Option<f64>),
    Counter(fn(&ContainerSample) -> Option<f64>),
}

/// Every container metric: name (after `podctl_`), help, value.
const METRICS: [(&str, &str, Value); 9] = [
    (
        "container_up",
        "1 while the container's unit is active",
        Value::Gauge(|s| Some(f64::from(u8::from(s.up)))),
    ),
    (
        "container_restarts",
        "Automatic restarts of the container's unit (systemd's NRestarts)",
        Value::Counter(|s| s.restarts.map(f64::from)),
    ),
    (
        "container_cpu_seconds",
        "CPU time used by the container's unit",
        Value::Counter(|s| s.cpu_seconds),
    ),
    (
        "container_memory_bytes",
        "Memory used by the container's unit",
        Value::Gauge(|s| s.memory_bytes.map(|b| b as f64)),
    ),
    (
        "container_memory_limit_bytes",
        "The container's memory limit (MemoryMax=); absent without a limit",
        Value::Gauge(|s| s.memory_limit_bytes.map(|b| b as f64)),
    ),
    (
        "container_cpu_quota_cores",
        "The container's CPU limit in cores (CPUQuota=); absent without a limit",
        Value::Gauge(|s| s.cpu_quota_cores),
    ),
    (
        "container_tasks",
        "Processes and threads in the container's unit",
        Value::Gauge(|s| s.tasks.map(|t| t as f64)),
    ),
    (
        "container_start_time_seconds",
        "Unix time the container's main process last started",
        Value::Gauge(|s| s.start_time_seconds),
    ),
    (
        "container_last_exit_code",
        "How the container's main process last exited (exit code or signal number)",
        Value::Gauge(|s| s.last_exit_code.map(f64::from)),
    ),
];

impl Collector for ContainerMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(samples) = self.samples.lock() else {
            return Ok(());
        };
        for (name, help, value) in &METRICS {
            let read = match value {
                Value::Gauge(read) | Value::Counter(read) => read,
            };
            let present: Vec<(&ContainerSample, f64)> = samples
                .iter()
                .filter_map(|s| read(s).map(|v| (s, v)))
                .collect();
            if present.is_empty() {
                continue;
            }
            let metric_type = match value {
                Value::Gauge(_) => ConstGauge::new(0.0).metric_type(),
                Value::Counter(_) => ConstCounter::new(0.0).metric_type(),
            };
            let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
            for (sample, v) in present {
                let labels = [
                    ("container", sample.container.as_str()),
                    ("unit", sample.unit.as_str()),
                ];
                let family = metric.encode_family(&labels)?;
                match value {
                    Value::Gauge(_) => ConstGauge::new(v).encode(family)?,
                    Value::Counter(_) => ConstCounter::new(v).encode(family)?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::adapters::systemd::UnitResources;

    #[test]
    fn samples_should_be_encoded_with_the_container_and_its_unit() {
        let mut registry = Registry::with_prefix("podctl");
        let metrics = std::sync::Arc::new(ContainerMetrics::default());
        registry.register_collector(Box::new(metrics.clone()));
        let unit = UnitState {
            name: "web.service".to_owned(),
            active_state: ActiveState::Active,
            n_restarts: Some(2),
            resources: UnitResources {
                memory_bytes: Some(99),
                cpu_quota_usec_per_sec: Some(500_000),
                main_started_us: Some(1_700_000_000_000_000),
                ..UnitResources::default()
            },
            ..UnitState::default()
        };
        // The container's own numbers are its scope's; the limits fall back to the unit's.
        let scope = UnitState {
            name: "libpod-0.scope".to_owned(),
            load_state: LoadState::Loaded,
            resources: UnitResources {
                memory_bytes: Some(1024),
                cpu_usage_nsec: Some(1_500_000_000),
                tasks: Some(3),
                ..UnitResources::default()
            },
            ..UnitState::default()
        };
        metrics.set(vec![ContainerSample::of("web", &unit, Some(&scope))]);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"podctl_container_up{container="web",unit="web.service"} 1"#,
            r#"podctl_container_restarts_total{container="web",unit="web.service"} 2"#,
            r#"podctl_container_cpu_seconds_total{container="web",unit="web.service"} 1.5"#,
            r#"podctl_container_memory_bytes{container="web",unit="web.service"} 1024"#,
            r#"podctl_container_cpu_quota_cores{container="web",unit="web.service"} 0.5"#,
            r#"podctl_container_tasks{container="web",unit="web.service"} 3"#,
            "# TYPE podctl_container_restarts counter",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(
            !text.contains("container_memory_limit_bytes{"),
            "no limit, no series: {text}"
        );
        assert!(!text.contains("container_last_exit_code{"), "{text}");
    }

    #[test]
    fn scope_should_come_from_a_cidfile_that_holds_an_id() {
        let dir = tempfile::tempdir().unwrap();
        let id = "a".repeat(64);
        std::fs::write(dir.path().join("web.service.ctr-id"), format!("{id}\n")).unwrap();
        std::fs::write(dir.path().join("bad.service.ctr-id"), "../../etc").unwrap();
        assert_eq!(
            scope_of(dir.path(), "web.service"),
            Some(format!("libpod-{id}.scope"))
        );
        assert_eq!(scope_of(dir.path(), "bad.service"), None);
        assert_eq!(scope_of(dir.path(), "none.service"), None);
    }
}
