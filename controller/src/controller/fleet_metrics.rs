//! `podctl_fleet_*` on `/metrics`, for a controller in a fleet (`--fleet-etcd`): whether
//! etcd answers, this host's wave and state as it reports them, and the last decision of
//! `podctl sync` about the newest commit (read from `STATE_DIR/fleet/gate.json` at the
//! scrape, so a sync that could not reach etcd shows too). Nothing without a fleet.

use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::container_metrics::{Labelled, Value, encode_metric};
use crate::fleet::FleetHost;
use crate::fleet::record::{self, GateRecord, GateState};
use crate::fleet::report::HostState;

/// What the reporter last knew.
#[derive(Debug, Clone, Default)]
struct Known {
    host: Option<FleetHost>,
    etcd_up: bool,
    state: Option<HostState>,
}

#[derive(Debug)]
pub struct FleetMetrics {
    state_dir: PathBuf,
    known: Mutex<Known>,
}

/// One series: labels and a value.
struct Series {
    labels: Vec<(&'static str, String)>,
    value: f64,
}

impl Labelled for Series {
    fn labels(&self) -> Vec<(&'static str, &str)> {
        self.labels.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

const VALUE: Value<Series> = Value::Gauge(|s| Some(s.value));

impl FleetMetrics {
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            known: Mutex::default(),
        }
    }

    /// The controller is a member of the fleet as `host`.
    pub fn joined(&self, host: &FleetHost) {
        if let Ok(mut k) = self.known.lock() {
            k.host = Some(host.clone());
        }
    }

    /// What the reporter saw: etcd answering or not, and the state it wrote.
    pub fn reported(&self, etcd_up: bool, state: Option<HostState>) {
        if let Ok(mut k) = self.known.lock() {
            k.etcd_up = etcd_up;
            if state.is_some() {
                k.state = state;
            }
        }
    }

    fn families(&self) -> Vec<(&'static str, &'static str, Vec<Series>)> {
        let known = self.known.lock().map(|k| k.clone()).unwrap_or_default();
        let Some(host) = &known.host else {
            return Vec::new();
        };
        let who = || vec![("host", host.name.clone()), ("group", host.group.clone())];
        let gate: Option<GateRecord> = record::read(&self.state_dir).ok().flatten();
        let one_hot = |key: &'static str, labels: &[&'static str], on: Option<&str>| {
            labels
                .iter()
                .map(|l| Series {
                    labels: vec![(key, (*l).to_owned())],
                    value: f64::from(u8::from(on == Some(*l))),
                })
                .collect::<Vec<_>>()
        };
        let states: Vec<&'static str> = HostState::ALL.iter().map(|s| s.as_str()).collect();
        vec![
            (
                "fleet_etcd_up",
                "1 while this host's report reaches etcd, 0 while etcd does not answer",
                vec![Series {
                    labels: who(),
                    value: f64::from(u8::from(known.etcd_up)),
                }],
            ),
            (
                "fleet_wave",
                "This host's rollout wave (0: canary)",
                vec![Series {
                    labels: who(),
                    value: f64::from(host.wave),
                }],
            ),
            (
                "fleet_host_state",
                "1 for the state this host reports for the commit at its manifests path",
                one_hot("state", &states, known.state.map(HostState::as_str)),
            ),
            (
                "fleet_gate",
                "1 for podctl sync's last decision about the newest commit (up_to_date, swapped, waiting, waiting_for_slot, halted, unreachable)",
                one_hot(
                    "state",
                    &GateState::LABELS,
                    gate.as_ref().map(|g| g.state.label()),
                ),
            ),
            (
                "fleet_gate_timestamp_seconds",
                "Unix time of podctl sync's last decision",
                gate.iter()
                    .map(|g| Series {
                        labels: who(),
                        value: g.at,
                    })
                    .collect(),
            ),
        ]
    }
}

impl Collector for FleetMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, series) in self.families() {
            encode_metric(&mut encoder, &series, name, help, &VALUE)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prometheus_client::registry::Registry;

    use super::*;

    fn encoded(metrics: &Arc<FleetMetrics>) -> String {
        let mut registry = Registry::with_prefix("podctl");
        registry.register_collector(Box::new(metrics.clone()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        text
    }

    #[test]
    fn a_fleet_member_should_show_its_wave_state_and_gate_and_a_lone_host_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let metrics = Arc::new(FleetMetrics::new(dir.path().to_owned()));
        assert!(!encoded(&metrics).contains("podctl_fleet"));
        metrics.joined(&FleetHost {
            name: "web-2".into(),
            wave: 1,
            group: "web".into(),
        });
        metrics.reported(true, Some(HostState::Converged));
        record::write(
            dir.path(),
            &GateRecord {
                version: record::VERSION,
                host: "web-2".into(),
                wave: 1,
                target: "c".into(),
                current: Some("b".into()),
                state: GateState::Halted("web-1 (wave 0) is Failed on c".into()),
                at: 1700.0,
            },
        )
        .expect("write");
        let text = encoded(&metrics);
        for line in [
            r#"podctl_fleet_etcd_up{host="web-2",group="web"} 1"#,
            r#"podctl_fleet_wave{host="web-2",group="web"} 1"#,
            r#"podctl_fleet_host_state{state="Converged"} 1"#,
            r#"podctl_fleet_host_state{state="Failed"} 0"#,
            r#"podctl_fleet_gate{state="halted"} 1"#,
            r#"podctl_fleet_gate{state="waiting"} 0"#,
            r#"podctl_fleet_gate_timestamp_seconds{host="web-2",group="web"} 1700.0"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
