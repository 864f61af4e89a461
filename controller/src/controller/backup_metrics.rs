//! Per-volume backup metrics on `/metrics` (`podctl_backup_*{volume}`), read when Prometheus
//! scrapes from the records `podctl backup run` leaves (`backup/record.rs`), for every
//! volume of the running revision with a `backup`. A volume never backed up has a last
//! success of 0, so BackupTooOld fires for it too.

use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use tracing::warn;

use super::container_metrics::{Labelled, Value, encode_metric};
use crate::backup::record::{self, BackupRecord, Outcome};

/// One volume's last backup as read at the scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSample {
    pub volume: String,
    pub record: Option<BackupRecord>,
}

impl Labelled for BackupSample {
    fn labels(&self) -> Vec<(&'static str, &str)> {
        vec![("volume", &self.volume)]
    }
}

/// Every backup metric: name (after `podctl_`), help, value.
const METRICS: [(&str, &str, Value<BackupSample>); 5] = [
    (
        "backup_last_success_timestamp_seconds",
        "Unix time of the volume's last good snapshot; 0 when it has none",
        Value::Gauge(|s| Some(s.record.as_ref().and_then(|r| r.last_success).unwrap_or(0) as f64)),
    ),
    (
        "backup_last_attempt_timestamp_seconds",
        "Unix time the volume's last backup attempt ended, whatever its outcome",
        Value::Gauge(|s| s.record.as_ref().map(|r| r.last_attempt as f64)),
    ),
    (
        "backup_last_failed",
        "1 when the volume's last backup attempt failed",
        Value::Gauge(|s| {
            s.record
                .as_ref()
                .map(|r| f64::from(u8::from(r.last_outcome == Outcome::Failed)))
        }),
    ),
    (
        "backup_last_size_bytes",
        "Size of the archive of the volume's last good snapshot",
        Value::Gauge(|s| s.record.as_ref().and_then(|r| r.bytes).map(|b| b as f64)),
    ),
    (
        "backup_last_duration_seconds",
        "How long the volume's last good backup took",
        Value::Gauge(|s| s.record.as_ref().and_then(|r| r.duration_seconds)),
    ),
];

/// The volumes to report on and their records, read on each scrape.
#[derive(Debug)]
pub struct BackupMetrics {
    records_dir: PathBuf,
    /// The running revision's volumes with a `backup`.
    volumes: Mutex<Vec<String>>,
}

impl BackupMetrics {
    pub fn new(records_dir: PathBuf) -> Self {
        Self {
            records_dir,
            volumes: Mutex::default(),
        }
    }

    pub fn set_volumes(&self, volumes: Vec<String>) {
        if let Ok(mut v) = self.volumes.lock() {
            *v = volumes;
        }
    }

    fn samples(&self) -> Vec<BackupSample> {
        let volumes = self.volumes.lock().map(|v| v.clone()).unwrap_or_default();
        volumes
            .into_iter()
            .map(|volume| {
                let record = record::read(&self.records_dir, &volume).unwrap_or_else(|e| {
                    warn!(volume = %volume, error = %e, kind = e.kind(), "backup record unreadable; reported as never backed up");
                    None
                });
                BackupSample { volume, record }
            })
            .collect()
    }
}

impl Collector for BackupMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let samples = self.samples();
        for (name, help, value) in &METRICS {
            encode_metric(&mut encoder, &samples, name, help, value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prometheus_client::registry::Registry;

    use super::*;

    #[test]
    fn every_backed_up_volume_should_have_a_last_success() {
        let dir = tempfile::tempdir().unwrap();
        record::record(
            dir.path(),
            "data",
            100,
            &record::Attempt::Failed { kind: "restic" },
        )
        .unwrap();
        let metrics = Arc::new(BackupMetrics::new(dir.path().to_owned()));
        metrics.set_volumes(vec!["data".into(), "never".into()]);
        let mut registry = Registry::with_prefix("podctl");
        registry.register_collector(Box::new(metrics.clone()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"podctl_backup_last_success_timestamp_seconds{volume="data"} 0"#,
            r#"podctl_backup_last_success_timestamp_seconds{volume="never"} 0"#,
            r#"podctl_backup_last_failed{volume="data"} 1"#,
            r#"podctl_backup_last_attempt_timestamp_seconds{volume="data"} 100"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains(r#"podctl_backup_last_failed{volume="never"}"#));
    }
}
