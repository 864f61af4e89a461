//! Per-container metrics on `/metrics` (`podctl_container_*{container, unit}`), read when
//! Prometheus scrapes and only then, never with a `podman stats`. Two units per container:
//! its service (state, restarts, start and exit, limits set on the unit; it holds conmon)
//! and the scope podman runs the container in (`--cgroups=no-conmon`: `libpod-ID.scope`,
//! ID from the service's cidfile), whose cgroup is the container's CPU, memory, tasks and
//! OOM kills.
//!
//! A scrape costs one `ListUnitsByNames` and one `GetAll` of the `Service` interface per
//! container; a scope's cgroup path is asked for once and kept (the ID names it for life),
//! its usage read from the cgroup files (`adapters/cgroup.rs`) and the health from podman's
//! health-check log (`adapters/podman/health_log.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::adapters::cgroup::{CgroupUsage, Hierarchy};
use crate::adapters::podman::Health;
use crate::adapters::podman::health_log;
use crate::adapters::systemd::{ActiveState, Listed, LoadState, Systemd, SystemdError, UnitVitals};

use super::vitals_cache::VitalsCache;

/// One container as last read.
#[derive(Debug, Clone, Default, PartialEq)]
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
    pub oom_kills: Option<u64>,
    pub start_time_seconds: Option<f64>,
    pub last_exit_code: Option<i32>,
    /// `None` without a health check.
    pub health: Option<Health>,
}

/// The container ID in the cidfile the unit's `ExecStart=` writes into `run_dir`
/// (`%t/%n.ctr-id`); `None` while it has none.
pub fn container_id(run_dir: &Path, unit: &str) -> Option<String> {
    let id = std::fs::read_to_string(run_dir.join(format!("{unit}.ctr-id"))).ok()?;
    let id = id.trim();
    // A podman ID is 64 hex digits; anything else is not a name to ask systemd about.
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

/// The scope podman runs container `id` in.
pub fn scope_name(id: &str) -> String {
    format!("libpod-{id}.scope")
}

impl ContainerSample {
    /// The sample of `container` from its service and, while it runs, its scope's cgroup.
    pub fn of(
        container: &str,
        unit: &str,
        service: &UnitVitals,
        scope: Option<&CgroupUsage>,
        health: Option<Health>,
    ) -> Self {
        let s = &service.resources;
        // Without the scope (not running), the service's own accounting is all there is.
        let usage = scope.copied().unwrap_or(CgroupUsage {
            memory_bytes: s.memory_bytes,
            memory_limit_bytes: None,
            cpu_usage_nsec: s.cpu_usage_nsec,
            cpu_quota_usec_per_sec: None,
            tasks: s.tasks,
            oom_kills: None,
        });
        Self {
            container: container.to_owned(),
            unit: unit.to_owned(),
            up: service.active_state == ActiveState::Active,
            restarts: service.n_restarts,
            cpu_seconds: usage.cpu_usage_nsec.map(|ns| ns as f64 / 1e9),
            memory_bytes: usage.memory_bytes,
            // podman's --memory limits the scope, MemoryMax= the service: whichever is set.
            memory_limit_bytes: usage.memory_limit_bytes.or(s.memory_max_bytes),
            cpu_quota_cores: usage
                .cpu_quota_usec_per_sec
                .or(s.cpu_quota_usec_per_sec)
                .map(|us| us as f64 / 1e6),
            tasks: usage.tasks,
            oom_kills: usage.oom_kills,
            start_time_seconds: s.main_started_us.map(|us| us as f64 / 1e6),
            last_exit_code: s.main_exit_status,
            health: health.filter(|_| service.active_state == ActiveState::Active),
        }
    }
}

/// Reads the samples of a scrape; keeps the services' vitals until systemd says they changed
/// (`vitals_cache.rs`) and each running scope's cgroup path for its life.
#[derive(Debug)]
pub struct Sampler {
    /// systemd's `%t` for system services: where the units' cidfiles are.
    run_dir: PathBuf,
    /// podman's store run root: where the health-check logs are.
    podman_run_root: PathBuf,
    cgroups: Hierarchy,
    /// scope name → its cgroup path, for the scopes of the last scrape.
    scope_cgroups: Mutex<HashMap<String, String>>,
    services: Mutex<VitalsCache>,
}

impl Sampler {
    pub fn new(run_dir: PathBuf, podman_run_root: PathBuf, cgroups: Hierarchy) -> Self {
        Self {
            run_dir,
            podman_run_root,
            cgroups,
            scope_cgroups: Mutex::default(),
            services: Mutex::default(),
        }
    }

    /// systemd signalled a change of `unit`: its vitals are read again at the next scrape.
    pub fn changed(&self, unit: &str) {
        if let Ok(mut cache) = self.services.lock() {
            cache.changed(unit);
        }
    }

    /// Signals were lost: every service is read again at the next scrape.
    pub fn changed_all(&self) {
        if let Ok(mut cache) = self.services.lock() {
            cache.changed_all();
        }
    }

    /// One sample per `(manifest name, unit)`, in order.
    pub async fn sample(
        &self,
        systemd: &Systemd,
        containers: &[(String, String)],
    ) -> Result<Vec<ContainerSample>, SystemdError> {
        let ids: Vec<Option<String>> = containers
            .iter()
            .map(|(_, unit)| container_id(&self.run_dir, unit))
            .collect();
        let units: Vec<String> = containers.iter().map(|(_, u)| u.clone()).collect();
        let services = self.service_vitals(systemd, &units).await?;
        let cgroups = self.scope_cgroups(systemd, &ids).await?;
        Ok(containers
            .iter()
            .zip(&services)
            .zip(&ids)
            .map(|(((name, unit), service), id)| {
                let id = id.as_deref();
                // A cidfile left by a stopped container names a scope whose cgroup is gone.
                let usage = id
                    .and_then(|id| cgroups.get(&scope_name(id)))
                    .map(|cg| self.cgroups.usage(cg))
                    .filter(|u| *u != CgroupUsage::default());
                let health = id.and_then(|id| health_log::read_health(&self.podman_run_root, id));
                ContainerSample::of(name, unit, service, usage.as_ref(), health)
            })
            .collect())
    }

    /// The services' vitals: listed every time (one call), read again only when systemd
    /// signalled a change or the listing shows one.
    async fn service_vitals(
        &self,
        systemd: &Systemd,
        units: &[String],
    ) -> Result<Vec<UnitVitals>, SystemdError> {
        let read_at = self.services.lock().map(|c| c.begin_read()).unwrap_or(0);
        let listed = systemd.list(units).await?;
        let cached: Vec<Option<UnitVitals>> = {
            let cache = self.services.lock();
            listed
                .iter()
                .map(|l| {
                    let cache = cache.as_ref().ok()?;
                    cache
                        .get(&l.name)
                        .filter(|v| {
                            v.active_state == l.active_state && v.load_state == l.load_state
                        })
                        .cloned()
                })
                .collect()
        };
        let stale: Vec<&Listed> = listed
            .iter()
            .zip(&cached)
            .filter(|(_, c)| c.is_none())
            .map(|(l, _)| l)
            .collect();
        let mut fresh = systemd.vitals(&stale).await?.into_iter();
        let vitals: Vec<UnitVitals> = cached
            .into_iter()
            .map(|c| c.or_else(|| fresh.next()).unwrap_or_default())
            .collect();
        if let Ok(mut cache) = self.services.lock() {
            for (l, v) in listed.iter().zip(&vitals) {
                cache.put(&l.name, v.clone(), read_at);
            }
            cache.retain(&units.iter().map(String::as_str).collect::<Vec<_>>());
        }
        Ok(vitals)
    }

    /// scope name → cgroup path for the containers' scopes; a scope met for the first time
    /// is asked of systemd (its `ControlGroup` never changes while it exists).
    async fn scope_cgroups(
        &self,
        systemd: &Systemd,
        ids: &[Option<String>],
    ) -> Result<HashMap<String, String>, SystemdError> {
        let scopes: Vec<String> = ids.iter().flatten().map(|id| scope_name(id)).collect();
        let mut known = self
            .scope_cgroups
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        // Only this scrape's scopes are kept: a replaced container's scope is gone for good.
        known.retain(|scope, _| scopes.contains(scope));
        let new: Vec<String> = scopes
            .into_iter()
            .filter(|scope| !known.contains_key(scope))
            .collect();
        let listed = systemd.list(&new).await?;
        let loaded: Vec<&Listed> = listed
            .iter()
            .filter(|l| l.load_state == LoadState::Loaded)
            .collect();
        for (l, v) in loaded.iter().zip(systemd.vitals(&loaded).await?) {
            if let Some(cg) = v.control_group {
                known.insert(l.name.clone(), cg);
            }
        }
        if let Ok(mut c) = self.scope_cgroups.lock() {
            c.clone_from(&known);
        }
        Ok(known)
    }
}

/// The samples of the last scrape, encoded by the registry as `podctl_container_*`.
#[derive(Debug, Default)]
pub struct ContainerMetrics {
    samples: Mutex<Vec<ContainerSample>>,
}

impl ContainerMetrics {
    /// The samples of the last read.
    pub fn samples(&self) -> Vec<ContainerSample> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Replaces every sample: a container gone from the revision is gone from `/metrics`.
    pub fn set(&self, samples: Vec<ContainerSample>) {
        if let Ok(mut s) = self.samples.lock() {
            *s = samples;
        }
    }
}

/// How a metric's value is read from a sample of type `S`.
pub(super) enum Value<S> {
    Gauge(fn(&S) -> Option<f64>),
    Counter(fn(&S) -> Option<f64>),
}

/// A sample that names what it is about with labels.
pub(super) trait Labelled {
    fn labels(&self) -> Vec<(&'static str, &str)>;
}

impl Labelled for ContainerSample {
    fn labels(&self) -> Vec<(&'static str, &str)> {
        vec![("container", &self.container), ("unit", &self.unit)]
    }
}

/// Every container metric: name (after `podctl_`), help, value.
const METRICS: [(&str, &str, Value<ContainerSample>); 10] = [
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
        "container_oom_kills",
        "Processes of the container the kernel's OOM killer killed (its cgroup's oom_kill)",
        Value::Counter(|s| s.oom_kills.map(|k| k as f64)),
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
            encode_metric(&mut encoder, &samples, name, help, value)?;
        }
        encode_health(&mut encoder, &samples)
    }
}

/// Every podman health status, each a series of `podctl_container_health_status`.
const HEALTH_STATUSES: [Health; 3] = [Health::Starting, Health::Healthy, Health::Unhealthy];

/// `podctl_container_health_status{status}`: 1 for the status podman last recorded, 0 for
/// the others, no series without a health check or while the container is down.
fn encode_health(
    encoder: &mut DescriptorEncoder,
    samples: &[ContainerSample],
) -> Result<(), std::fmt::Error> {
    let checked: Vec<(&ContainerSample, Health)> = samples
        .iter()
        .filter_map(|s| s.health.map(|h| (s, h)))
        .collect();
    if checked.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(
        "container_health_status",
        "The container's health as podman last recorded it: 1 for the status it is in",
        None,
        ConstGauge::new(0.0).metric_type(),
    )?;
    for (sample, health) in checked {
        for status in HEALTH_STATUSES {
            let labels = [
                ("container", sample.container.as_str()),
                ("unit", sample.unit.as_str()),
                ("status", status.as_str()),
            ];
            let value = f64::from(u8::from(status == health));
            ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// One family: a series per sample that has a value.
pub(super) fn encode_metric<S: Labelled>(
    encoder: &mut DescriptorEncoder,
    samples: &[S],
    name: &str,
    help: &str,
    value: &Value<S>,
) -> Result<(), std::fmt::Error> {
    let (Value::Gauge(read) | Value::Counter(read)) = value;
    let present: Vec<(&S, f64)> = samples
        .iter()
        .filter_map(|s| read(s).map(|v| (s, v)))
        .collect();
    if present.is_empty() {
        return Ok(());
    }
    let metric_type = match value {
        Value::Gauge(_) => ConstGauge::new(0.0).metric_type(),
        Value::Counter(_) => ConstCounter::new(0.0).metric_type(),
    };
    let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (sample, v) in present {
        let labels = sample.labels();
        let family = metric.encode_family(&labels)?;
        match value {
            Value::Gauge(_) => ConstGauge::new(v).encode(family)?,
            Value::Counter(_) => ConstCounter::new(v).encode(family)?,
        }
    }
    Ok(())
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
        let service = UnitVitals {
            active_state: ActiveState::Active,
            n_restarts: Some(2),
            resources: UnitResources {
                memory_bytes: Some(99),
                cpu_quota_usec_per_sec: Some(500_000),
                main_started_us: Some(1_700_000_000_000_000),
                ..UnitResources::default()
            },
            ..UnitVitals::default()
        };
        // The container's own numbers are its scope's; the limits fall back to the unit's.
        let scope = CgroupUsage {
            memory_bytes: Some(1024),
            cpu_usage_nsec: Some(1_500_000_000),
            tasks: Some(3),
            oom_kills: Some(1),
            ..CgroupUsage::default()
        };
        metrics.set(vec![ContainerSample::of(
            "web",
            "web.service",
            &service,
            Some(&scope),
            Some(Health::Unhealthy),
        )]);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"podctl_container_up{container="web",unit="web.service"} 1"#,
            r#"podctl_container_restarts_total{container="web",unit="web.service"} 2"#,
            r#"podctl_container_cpu_seconds_total{container="web",unit="web.service"} 1.5"#,
            r#"podctl_container_memory_bytes{container="web",unit="web.service"} 1024"#,
            r#"podctl_container_cpu_quota_cores{container="web",unit="web.service"} 0.5"#,
            r#"podctl_container_tasks{container="web",unit="web.service"} 3"#,
            r#"podctl_container_oom_kills_total{container="web",unit="web.service"} 1"#,
            r#"podctl_container_health_status{container="web",unit="web.service",status="unhealthy"} 1"#,
            r#"podctl_container_health_status{container="web",unit="web.service",status="healthy"} 0"#,
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
        assert_eq!(container_id(dir.path(), "web.service"), Some(id.clone()));
        assert_eq!(scope_name(&id), format!("libpod-{id}.scope"));
        assert_eq!(container_id(dir.path(), "bad.service"), None);
        assert_eq!(container_id(dir.path(), "none.service"), None);
    }
}
