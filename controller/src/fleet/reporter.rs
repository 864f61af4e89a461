//! The controller's fleet task: keeps this host's lease alive in etcd and its report
//! current. It runs beside the reconcile loop and never blocks it: etcd down means the
//! report is stale (then gone with the lease), never that drift goes unrepaired.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::etcd::{Etcd, KeepAlive};
use super::report::{self, HostReport, Observation, Tracker};
use super::{EtcdConfig, FleetError, FleetHost};
use crate::controller::container_metrics::ContainerSample;
use crate::report::controller_status::ControllerStatus;
use crate::report::error_chain as chain;

/// How often the host's state is assessed (a changed report is written at once).
pub const ASSESS_EVERY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to reach etcd.
const MAX_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ReporterConfig {
    pub etcd: EtcdConfig,
    pub host: FleetHost,
    pub lease_ttl: Duration,
    /// The manifests path (its checkout names the commit).
    pub manifests: PathBuf,
    pub state_dir: PathBuf,
}

/// What the controller shows the reporter.
#[derive(Debug, Clone)]
pub struct Seen {
    pub status: ControllerStatus,
    pub containers: Vec<ContainerSample>,
    /// A reconcile pass is running now.
    pub pass_running: bool,
}

/// The controller's side: its `/status` document and fresh container samples.
pub trait HostView: Send + Sync {
    fn seen(&self) -> BoxFuture<'_, Seen>;
    /// etcd answers (1) or not (0), and this host's state: for the metrics.
    fn reported(&self, connected: bool, report: Option<&HostReport>);
}

/// Runs until `cancel`: connect, take a lease, report on every change, renew the lease a
/// third of its time; on any etcd error start over: at once after a session that worked (a
/// hiccup must not leave the host without a report for long: its lease is short), then
/// after a growing pause while etcd stays away.
pub async fn run(config: ReporterConfig, view: Arc<dyn HostView>, cancel: CancellationToken) {
    let mut tracker = Tracker::default();
    let mut retry = Duration::ZERO;
    loop {
        let mut worked = false;
        let result = session(&config, view.as_ref(), &mut tracker, &cancel, &mut worked).await;
        view.reported(false, None);
        if worked {
            retry = Duration::ZERO;
        }
        match result {
            Ok(()) => return,
            Err(e) => {
                let error = chain(&e);
                warn!(host = %config.host.name, error = %error, retry_in = ?retry, "fleet: lost etcd ({error}); this host keeps its commit and keeps repairing");
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).clamp(Duration::from_secs(1), MAX_RETRY);
    }
}

/// One connection's life; `Ok` when cancelled.
async fn session(
    config: &ReporterConfig,
    view: &dyn HostView,
    tracker: &mut Tracker,
    cancel: &CancellationToken,
    worked: &mut bool,
) -> Result<(), FleetError> {
    let etcd = Etcd::connect(&config.etcd).await?;
    let lease = etcd.grant(config.lease_ttl).await?;
    let mut keep: KeepAlive = etcd.keep_alive(lease).await?;
    info!(host = %config.host.name, wave = config.host.wave, group = %config.host.group, lease, "fleet: reporting to etcd");
    let mut assess = tokio::time::interval(ASSESS_EVERY);
    let mut renew = tokio::time::interval(config.lease_ttl / 3);
    renew.reset();
    let mut written: Option<HostReport> = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                // A controller stopped on purpose leaves the fleet at once.
                let _ = etcd.revoke(lease).await;
                return Ok(());
            }
            _ = renew.tick() => keep.renew().await?,
            _ = assess.tick() => {
                let report = assess_host(config, view, tracker).await;
                if written.as_ref() != Some(&report) {
                    etcd.put_report(&report, lease).await?;
                    *worked = true;
                    if written.as_ref().is_none_or(|w| (w.state, &w.commit) != (report.state, &report.commit)) {
                        info!(host = %report.name, state = %report.state, commit = report.commit.as_deref().unwrap_or("-"), reason = report.reason.as_deref().unwrap_or(""), "fleet: host is {} on {}", report.state, report.commit.as_deref().map_or("no synced commit", super::gate::short));
                    }
                    view.reported(true, Some(&report));
                    written = Some(report);
                }
            }
        }
    }
}

/// This host's report now.
async fn assess_host(
    config: &ReporterConfig,
    view: &dyn HostView,
    tracker: &mut Tracker,
) -> HostReport {
    let seen = view.seen().await;
    let dir = std::fs::canonicalize(&config.manifests).unwrap_or_else(|_| config.manifests.clone());
    let disk_commit = crate::sync::source_of(&dir).map(|s| s.commit);
    let rolled_back = rolled_back(&config.state_dir, &seen.containers);
    let now = super::now();
    let commit_since = tracker.commit_since(disk_commit.as_deref(), now);
    let observation = Observation {
        disk_commit: disk_commit.as_deref(),
        status: &seen.status,
        containers: &seen.containers,
        rolled_back: &rolled_back,
        pass_running: seen.pass_running,
    };
    let assessed = report::assess(&observation, commit_since);
    tracker.observe(&config.host, disk_commit.as_deref(), assessed, now)
}

/// The containers whose last rollout ended rolled back, with when.
fn rolled_back(state_dir: &std::path::Path, containers: &[ContainerSample]) -> Vec<(String, f64)> {
    use crate::rollout::RolloutResult;
    containers
        .iter()
        .filter_map(|c| {
            let record = crate::observe::rollouts::read(state_dir, &c.container).ok()??;
            let last = record.last()?;
            match last.result {
                RolloutResult::RolledBack | RolloutResult::RollbackFailed => {
                    Some((c.container.clone(), last.time as f64))
                }
                RolloutResult::Pinned | RolloutResult::Succeeded => None,
            }
        })
        .collect()
}
