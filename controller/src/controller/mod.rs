//! `podctl controller`: the long-running reconciler. Streams in (manifest changes, systemd
//! signals, podman events, a periodic resync, SIGHUP), a scheduler that delays, dedups and
//! never runs two passes at once, a reconcile pass with per-object exponential backoff (and
//! one for passes that fail as a whole), and out: systemd notifications, metrics, a JSON
//! status, logs.
//!
//! The decisions live in [`core`], a state machine without I/O; this module is the shell
//! that feeds it the streams and carries out what it returns.
//!
//! The unit of reconciliation is the whole revision: one observe/plan/execute pass, which
//! is idempotent, costs one query per podman resource kind plus one per unit, and already isolates failures per
//! object in the executor. Per-object behaviour comes from backoff: a failing object (and
//! what depends on it) is left out of passes until its retry time.

pub mod backoff;
pub mod backup_metrics;
pub mod container_metrics;
mod core;
pub mod events;
pub mod fleet_metrics;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod pass_backoff;
pub mod scheduler;
mod update_check;
pub mod update_timer;
mod vitals_cache;
pub mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use podctl_api::{Kind, Revision};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, error, info, info_span, warn};

use self::core::{Core, Invalid, Loaded, PassReport, PassStart, Reason, UnitView, Work};
use crate::adapters::cgroup::{CGROUP_ROOT, Hierarchy};
use crate::adapters::podman::health_log;
use crate::lock;
use crate::reconcile::{Host, HostConfig, PassError, PassOptions};
use crate::report::controller_status::{
    self as status, ControllerPhase, ControllerStatus, unix_now,
};
use container_metrics::Sampler;
use events::HostEvent;
use metrics::{Metrics, labels};
use notify::Notifier;
use update_check::UpdateChecked;
use update_timer::{UpdateTimer, random_fraction};

pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9883";
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(60);
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(50);
/// How long a stopping controller waits for the fleet reporter to revoke its lease.
const REVOKE_GRACE: Duration = Duration::from_secs(3);

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub manifests: PathBuf,
    /// `--host`, for the backup timers' runs (`load_options.host` holds the identity read).
    pub host_file: Option<PathBuf>,
    /// How the manifests are read (the directories links may point into).
    pub load_options: podctl_api::LoadOptions,
    pub host: HostConfig,
    /// Where `/metrics`, `/healthz` and `/readyz` are served; `None`: nowhere.
    pub metrics_address: Option<SocketAddr>,
    /// The root-only unix socket that serves `/status` (and the rest); `None`: nowhere.
    pub status_socket: Option<PathBuf>,
    /// The host lock, shared with `apply`.
    pub lock_file: PathBuf,
    /// How long to wait at start for an `apply` that holds the host lock.
    pub lock_timeout: Duration,
    pub resync: Duration,
    pub debounce: Duration,
    /// How long SIGTERM waits for the pass in flight before abandoning it.
    pub shutdown_grace: Duration,
    /// Apply an empty revision even if it removes every managed container.
    pub allow_empty: bool,
    /// When new images of containers with an update policy are looked for.
    pub update_timer: UpdateTimer,
    /// This host's report to the fleet's etcd (`--fleet-etcd`); `None`: not in a fleet.
    pub fleet: Option<crate::fleet::reporter::ReporterConfig>,
}

/// Starts the endpoints: `/status` on the root-only socket, the rest on TCP too.
async fn serve_http(
    config: &Config,
    published: &Arc<Published>,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    // Bound while the host lock is held: no other controller serves this socket.
    if let Some(path) = &config.status_socket {
        let socket = http::bind_status_socket(path)?;
        info!(socket = %path.display(), "serving /status (root only)");
        tokio::spawn(http::serve(
            http::Listener::Socket(socket),
            http::Surface::StatusSocket,
            http::MAX_SOCKET_CONNECTIONS,
            published.clone(),
            stop.clone(),
        ));
    }
    if let Some(addr) = config.metrics_address {
        let listener = http::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (--metrics-address)"))?;
        info!(%addr, "serving /metrics /healthz /readyz");
        tokio::spawn(http::serve(
            http::Listener::Tcp(listener),
            http::Surface::Tcp {
                status_socket: config.status_socket.clone(),
            },
            http::MAX_TCP_CONNECTIONS,
            published.clone(),
            stop.clone(),
        ));
    }
    Ok(())
}

/// What the controller publishes: its metrics and its `/status` document, read by the HTTP
/// endpoints, written by the shell.
struct Published {
    metrics: Metrics,
    status: Mutex<ControllerStatus>,
    /// Read on a scrape for the container metrics.
    host: Arc<Host>,
    /// The running revision's containers: (manifest name, whether it is blue-green).
    containers: Mutex<Vec<(String, bool)>>,
    sampler: Sampler,
    /// A reconcile pass is running: the fleet report calls a container down meanwhile
    /// progress, not degradation (a rollout restarts it).
    pass_running: std::sync::atomic::AtomicBool,
}

impl Published {
    /// Reads the running containers' units and turns them into `podctl_container_*`. A
    /// systemd that does not answer leaves the samples as they were, and says so.
    async fn sample_containers(&self) {
        let containers: Vec<(String, String)> = self
            .containers
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(name, blue_green)| {
                let unit = if blue_green {
                    self.serving_unit(&name)
                } else {
                    format!("{name}.service")
                };
                (name, unit)
            })
            .collect();
        match self.sampler.sample(&self.host.systemd, &containers).await {
            Ok(samples) => self.metrics.containers.set(samples),
            Err(e) => warn!(error = %e, "cannot read the container units for /metrics"),
        }
    }
}

impl Published {
    /// A blue-green container is sampled by the colour that serves (its state file says
    /// which; blue before it has one): the idle colour is stopped on purpose.
    fn serving_unit(&self, name: &str) -> String {
        let active = crate::bluegreen::state::read(&self.host.config.state_dir, name)
            .ok()
            .flatten()
            .map_or(crate::bluegreen::Colour::Blue, |s| s.active);
        crate::bluegreen::instance_unit(name, active)
    }
}

impl crate::fleet::reporter::HostView for Published {
    fn seen(&self) -> futures_util::future::BoxFuture<'_, crate::fleet::reporter::Seen> {
        Box::pin(async {
            self.sample_containers().await;
            crate::fleet::reporter::Seen {
                status: self
                    .status
                    .lock()
                    .map(|s| s.clone())
                    .unwrap_or_else(|p| p.into_inner().clone()),
                containers: self.metrics.containers.samples(),
                pass_running: self.pass_running.load(std::sync::atomic::Ordering::Relaxed),
            }
        })
    }

    fn reported(&self, connected: bool, report: Option<&crate::fleet::report::HostReport>) {
        self.metrics
            .fleet
            .reported(connected, report.map(|r| r.state));
    }
}

/// systemd's `%t` for system services: where the units' cidfiles are.
const RUN_DIR: &str = "/run";

/// podman's run root, asked once: a podman that does not answer leaves the default, and the
/// health series are missing until the controller restarts, which it says.
async fn podman_run_root(host: &Host) -> PathBuf {
    match host.podman.run_root().await {
        Ok(root) if root.is_absolute() => root,
        Ok(root) => {
            warn!(root = %root.display(), "podman info gave no absolute run root; container health read from the default");
            PathBuf::from(health_log::DEFAULT_RUN_ROOT)
        }
        Err(e) => {
            warn!(error = %e, "cannot ask podman for its run root; container health read from the default");
            PathBuf::from(health_log::DEFAULT_RUN_ROOT)
        }
    }
}

impl http::Endpoints for Published {
    fn metrics(&self) -> futures_util::future::BoxFuture<'_, String> {
        Box::pin(async {
            self.sample_containers().await;
            self.metrics.encode()
        })
    }

    fn status_json(&self) -> String {
        let status = self.status.lock().map(|s| s.clone());
        match status {
            Ok(s) => serde_json::to_string_pretty(&s)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")),
            Err(_) => "{\"error\":\"status unavailable\"}".to_owned(),
        }
    }

    fn ready(&self) -> bool {
        self.status.lock().is_ok_and(|s| s.controller.ready)
    }

    fn connection_rejected(&self) {
        self.metrics.http_rejected.inc();
    }
}

impl Published {
    /// A controller starting: not ready, no revision yet.
    fn new(config: &Config, host: Arc<Host>, sampler: Sampler) -> Self {
        Self {
            host,
            sampler,
            containers: Mutex::new(Vec::new()),
            pass_running: std::sync::atomic::AtomicBool::new(false),
            metrics: {
                let metrics = Metrics::for_state_dir(&config.host.state_dir);
                metrics.set_phase(ControllerPhase::Starting);
                metrics
            },
            status: Mutex::new(ControllerStatus {
                api_version: status::API_VERSION.to_owned(),
                kind: status::KIND.to_owned(),
                controller: status::ControllerInfo {
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    pid: std::process::id(),
                    started_at: unix_now(),
                    manifests: config.manifests.display().to_string(),
                    unit_dir: config.host.unit_dir.display().to_string(),
                    ready: false,
                    phase: ControllerPhase::Starting,
                },
                revision: None,
                invalid_revision: None,
                last_reconcile: None,
                objects: Vec::new(),
            }),
        }
    }

    fn update(&self, f: impl FnOnce(&mut ControllerStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }
}

/// The streams the shell waits on.
struct Streams {
    /// Keeps the manifest watch alive.
    _watch: watch::ManifestWatch,
    manifest_changes: mpsc::Receiver<()>,
    host_events: mpsc::Receiver<HostEvent>,
    sighup: Signal,
    sigterm: Signal,
    sigint: Signal,
    resync: tokio::time::Interval,
    watchdog: tokio::time::Interval,
    done_tx: mpsc::Sender<PassReport>,
    done_rx: mpsc::Receiver<PassReport>,
    checked_tx: mpsc::Sender<UpdateChecked>,
    checked_rx: mpsc::Receiver<UpdateChecked>,
}

impl Streams {
    fn open(
        config: &Config,
        host: &Host,
        notifier: &Notifier,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let (watch, manifest_changes) = watch::watch(&config.manifests, config.debounce)?;
        let (event_tx, host_events) = mpsc::channel(1024);
        tokio::spawn(events::systemd_events(
            host.systemd.clone(),
            event_tx.clone(),
            cancel.child_token(),
        ));
        tokio::spawn(events::podman_events(
            host.podman.clone(),
            event_tx,
            cancel.child_token(),
        ));
        let mut resync = tokio::time::interval_at(Instant::now() + config.resync, config.resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let watchdog_every = notifier
            .watchdog_interval()
            .unwrap_or(Duration::from_secs(3600 * 24 * 365));
        let mut watchdog = tokio::time::interval(watchdog_every);
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (done_tx, done_rx) = mpsc::channel::<PassReport>(1);
        let (checked_tx, checked_rx) = mpsc::channel::<UpdateChecked>(1);
        Ok(Self {
            _watch: watch,
            manifest_changes,
            host_events,
            sighup: signal(SignalKind::hangup())?,
            sigterm: signal(SignalKind::terminate())?,
            sigint: signal(SignalKind::interrupt())?,
            resync,
            watchdog,
            done_tx,
            done_rx,
            checked_tx,
            checked_rx,
        })
    }
}

/// Runs the controller until SIGTERM/SIGINT (or `cancel`).
pub async fn run(config: Config, cancel: CancellationToken) -> anyhow::Result<()> {
    match limits::raise_nofile() {
        Ok(raised) => info!(
            before = ?raised.before,
            after = ?raised.after,
            "soft limit of open files raised to the hard limit"
        ),
        Err(e) => warn!(error = %e, "cannot raise the soft limit of open files"),
    }
    let me = lock::Holder::me(lock::Command::Controller, &config.manifests);
    let lock = lock::HostLock::acquire(&config.lock_file, &me, config.lock_timeout, |holder| {
        let holder = holder.map_or_else(|| "unknown".to_owned(), ToString::to_string);
        info!(%holder, lock = %config.lock_file.display(), "waiting for the host lock");
    })
    .await?;
    info!(lock = %lock.path().display(), manifests = %config.manifests.display(), "podctl controller starting");
    let notifier = Notifier::from_env();
    // One try per pull: the controller's own backoff retries, and a pass must not wait on a
    // registry that is down.
    let host_config = HostConfig {
        pull_attempts: 1,
        // The event stream below holds podman's API service up for as long as this runs.
        podman_api: config.host.podman_api.clone().always(),
        ..config.host.clone()
    };
    let mut host = Host::connect(host_config).await?;
    host.render.backup.set_manifests(
        &config.manifests,
        &config.load_options.link_roots,
        config.host_file.as_deref(),
    );
    let host = Arc::new(host);
    let sampler = Sampler::new(
        PathBuf::from(RUN_DIR),
        podman_run_root(&host).await,
        Hierarchy::detect(Path::new(CGROUP_ROOT)),
    );
    let published = Arc::new(Published::new(&config, host.clone(), sampler));
    // The endpoints outlive the drain after SIGTERM (phase "stopping" is visible), and end
    // when `run` returns, however it returns.
    let http_stop = CancellationToken::new();
    let _http_guard = http_stop.clone().drop_guard();
    serve_http(&config, &published, &http_stop).await?;
    let reporter = config.fleet.as_ref().map(|fleet| {
        published.metrics.fleet.joined(&fleet.host);
        tokio::spawn(crate::fleet::reporter::run(
            fleet.clone(),
            published.clone(),
            cancel.child_token(),
        ))
    });
    let mut streams = Streams::open(&config, &host, &notifier, &cancel)?;

    let mut core = Core::new(config.allow_empty, config.debounce, Instant::now());
    core.schedule_updates(config.update_timer, Instant::now(), random_fraction());
    let mut shell = Shell {
        core,
        config,
        host,
        published,
        notifier,
        running: None,
    };
    shell.run_until_stopped(&mut streams, &cancel).await;
    shell.stop(&cancel).await;
    // The reporter revokes the host's lease on its way out: the fleet stops counting this
    // host at once instead of after the lease's time. A few seconds at most for that.
    if let Some(reporter) = reporter
        && tokio::time::timeout(REVOKE_GRACE, reporter).await.is_err()
    {
        warn!("the fleet reporter did not finish in time; the host's lease runs out by itself");
    }
    info!("podctl controller stopped");
    drop(lock);
    Ok(())
}

/// The I/O around [`Core`]: turns streams into its transitions and what they return into
/// logs, metrics, notifications, `/status` and pass tasks.
struct Shell {
    core: Core,
    config: Config,
    host: Arc<Host>,
    published: Arc<Published>,
    notifier: Notifier,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Shell {
    async fn run_until_stopped(&mut self, s: &mut Streams, cancel: &CancellationToken) {
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = s.sigterm.recv() => { info!("SIGTERM: stopping"); break }
                _ = s.sigint.recv() => { info!("SIGINT: stopping"); break }
                _ = s.sighup.recv() => {
                    info!("SIGHUP: reloading the manifests");
                    self.notifier.reloading();
                    self.published.metrics.event("sighup");
                    self.core.on_sighup(Instant::now());
                }
                Some(()) = s.manifest_changes.recv() => {
                    self.published.metrics.event("manifests");
                    self.core.on_load_asked(Reason::Manifests, Instant::now());
                }
                Some(event) = s.host_events.recv() => self.on_host_event(&event),
                _ = s.resync.tick() => {
                    self.published.metrics.event("resync");
                    self.core.on_load_asked(Reason::Resync, Instant::now());
                }
                _ = s.watchdog.tick() => self.notifier.watchdog(),
                Some(report) = s.done_rx.recv() => {
                    self.running = None;
                    self.published.pass_running.store(false, std::sync::atomic::Ordering::Relaxed);
                    self.on_pass_done(&report);
                }
                Some(checked) = s.checked_rx.recv() => self.on_update_checked(&checked),
                request = self.core.scheduler.next() => match request.key {
                    Work::Load => self.load(request.reason).await,
                    Work::Reconcile => self.start_pass(request.reason, s.done_tx.clone()),
                    Work::UpdateCheck => self.start_update_check(s.checked_tx.clone()),
                },
            }
        }
    }

    /// Says so, then waits for the pass in flight up to the grace period.
    async fn stop(&mut self, cancel: &CancellationToken) {
        self.notifier.stopping();
        if self.core.on_stopping() {
            self.publish(Publish::Phase);
        }
        cancel.cancel();
        let Some(task) = self.running.take() else {
            return;
        };
        info!(grace = ?self.config.shutdown_grace, "waiting for the pass in flight");
        let abort = task.abort_handle();
        match tokio::time::timeout(self.config.shutdown_grace, task).await {
            Ok(_) => info!("pass finished"),
            Err(_) => {
                // Unit files are written to a temporary file and renamed, so abandoning the
                // pass between two awaits never leaves a half-written unit.
                warn!("pass still running after the grace period: abandoning it");
                abort.abort();
            }
        }
    }

    /// Reads the manifest directory (off the runtime's threads) and hands the result over.
    async fn load(&mut self, reason: Reason) {
        let dir = self.config.manifests.clone();
        let options = self.config.load_options.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            // Kept for hours: without the trees that only loading's checks point into.
            podctl_api::load_dir_with(&dir, &options).map(|mut revision| {
                revision.forget_documents();
                revision
            })
        })
        .await;
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                error!(error = %e, "manifest loader panicked");
                self.core.on_load_lost();
                return;
            }
        };
        match self.core.on_loaded(loaded, reason, Instant::now()) {
            Loaded::Accepted { new, valid_again } => self.accepted(new.as_deref(), valid_again),
            Loaded::Invalid {
                why,
                first_seen,
                keeping,
            } => self.invalid(&why, first_seen, &keeping),
            Loaded::ReadAgain { attempt } => {
                warn!(attempt, "manifests changed while being read; reading again");
            }
        }
    }

    fn accepted(&self, new: Option<&Revision>, valid_again: bool) {
        let metrics = &self.published.metrics;
        if valid_again {
            info!("the manifests are valid again");
        }
        metrics.revision_invalid.set(0);
        if let Some(revision) = new {
            info!(
                revision = revision.short_hash(),
                objects = revision.len(),
                "new revision"
            );
            let commit = crate::sync::source_of(revision.resolved_dir()).map(|s| s.commit);
            metrics.revision_info.clear();
            metrics
                .revision_info
                .get_or_create(&labels([
                    ("hash", revision.hash()),
                    ("commit", commit.as_deref().unwrap_or("")),
                ]))
                .set(1);
            metrics.revision_applied_time.set(unix_now());
            let info = status::RevisionInfo {
                hash: revision.hash().to_owned(),
                short_hash: revision.short_hash().to_owned(),
                resolved_dir: revision.resolved_dir().display().to_string(),
                commit,
                objects: revision.len(),
                loaded_at: unix_now(),
            };
            self.published.update(|s| s.revision = Some(info));
            let containers = revision
                .of_kind(Kind::Container)
                .map(|o| {
                    let blue_green = o
                        .as_container()
                        .is_some_and(podctl_api::bluegreen_checks::is_blue_green);
                    (o.name().to_string(), blue_green)
                })
                .collect();
            if let Ok(mut c) = self.published.containers.lock() {
                *c = containers;
            }
            let backed_up = revision
                .of_kind(Kind::Volume)
                .filter(|o| o.as_volume().is_some_and(|v| v.backup.is_some()))
                .map(|o| o.name().to_string())
                .collect();
            metrics.backups.set_volumes(backed_up);
        }
        self.published.update(|s| s.invalid_revision = None);
        self.publish(Publish::Objects);
    }

    /// Manifests that change nothing (invalid, or an empty revision refused): counted and
    /// logged once per distinct report, shown in /status, the metrics and STATUS=.
    fn invalid(&self, why: &Invalid, first_seen: bool, keeping: &str) {
        if first_seen {
            self.published.metrics.invalid_revisions.inc();
            log_invalid(why, keeping);
        }
        self.published.metrics.revision_invalid.set(1);
        let invalid = invalid_status(why);
        self.published
            .update(|s| s.invalid_revision = Some(invalid));
        self.publish(Publish::StatusLine);
    }

    fn on_host_event(&mut self, event: &HostEvent) {
        // The metrics' copy of the services' vitals is read again after any change of theirs.
        match event {
            HostEvent::UnitChanged { unit, .. } | HostEvent::UnitRemoved { unit } => {
                self.published.sampler.changed(unit);
            }
            HostEvent::Lost { .. } => self.published.sampler.changed_all(),
            HostEvent::JobFailed { .. } | HostEvent::Container { .. } => {}
        }
        let effects = self.core.on_host_event(event, Instant::now());
        if effects.restarts_seen > 0 {
            self.published
                .metrics
                .restarts_seen
                .inc_by(effects.restarts_seen);
        }
        if let Some((unit, view)) = &effects.unit_view {
            self.publish(Publish::Unit(unit, view));
        }
        if let Some(source) = effects.counted {
            self.published.metrics.event(source);
        }
        if let Some((Some(object), _)) = &effects.pass {
            tracing::debug!(%object, "host event");
        }
    }

    /// Starts a due pass in its own task; the loop keeps taking events.
    fn start_pass(&mut self, reason: Reason, done: mpsc::Sender<PassReport>) {
        let Some(start) = self.core.start_pass(&reason, Instant::now()) else {
            self.mark_ready();
            return;
        };
        let host = self.host.clone();
        let allow_empty = self.config.allow_empty;
        let span = info_span!("reconcile", revision = start.revision.short_hash(), %reason);
        self.published
            .pass_running
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.running = Some(tokio::spawn(
            async move {
                let report = pass(&host, &start, allow_empty, reason).await;
                let _ = done.send(report).await;
            }
            .instrument(span),
        ));
    }

    /// Starts a due update check in its own task (beside a pass: it only reads and pulls).
    fn start_update_check(&mut self, done: mpsc::Sender<UpdateChecked>) {
        let Some(revision) = self
            .core
            .start_update_check(Instant::now(), random_fraction())
        else {
            return;
        };
        let host = self.host.clone();
        let span = info_span!("update_check", revision = revision.short_hash());
        tokio::spawn(
            async move {
                let checked = update_check::run(&host, &revision).await;
                let _ = done.send(checked).await;
            }
            .instrument(span),
        );
    }

    fn on_update_checked(&mut self, checked: &UpdateChecked) {
        checked.log();
        if checked.complete() {
            self.published.metrics.update_last_check.set(unix_now());
        }
        let now = Instant::now();
        let next = self
            .core
            .on_update_checked(checked.found(), now, random_fraction());
        tracing::debug!(next_in = ?(next - now), "update check done");
    }

    fn on_pass_done(&mut self, report: &PassReport) {
        let now = Instant::now();
        let summary = self
            .core
            .on_pass_done(report, now, SystemTime::now(), unix_now());
        let metrics = &self.published.metrics;
        metrics
            .reconcile_duration
            .observe(report.elapsed.as_secs_f64());
        for f in &summary.failures {
            metrics
                .object_failures
                .get_or_create(&labels([
                    ("kind", f.object.kind.as_str()),
                    ("reason", f.kind.reason_label()),
                ]))
                .inc();
            warn!(object = %f.object, retry_in = ?f.retry_in, "{}", f.kind);
        }
        for result in report
            .outcomes
            .iter()
            .filter_map(crate::execute::rollout_result)
        {
            metrics.rollout(result);
        }
        for (object, change) in &summary.repaired {
            metrics.drift_repairs.inc();
            info!(object = %object, change = %change, "drift repaired: {object} ({change})");
        }
        metrics
            .reconciles
            .get_or_create(&labels([("result", summary.result())]))
            .inc();
        let pass_error = report.error.as_ref().map(pass_error_message);
        if let (Some(e), Some(retry)) = (&pass_error, summary.pass_retry) {
            error!(error = %e, failures = retry.failures, retry_in = ?retry.retry_in, "reconcile pass failed: {e}");
        }
        info!(
            reason = %report.reason,
            elapsed_ms = report.elapsed.as_millis() as u64,
            changed = summary.changed,
            failed = summary.failed,
            "reconcile pass done"
        );
        let last = status::ReconcileInfo {
            started_at: report.started_at,
            duration_ms: report.elapsed.as_millis() as u64,
            reason: report.reason.to_string(),
            changed: summary.changed,
            failed: summary.failed,
            error: pass_error,
        };
        self.published.update(|s| s.last_reconcile = Some(last));
        self.publish(Publish::Objects);
        self.mark_ready();
    }

    fn mark_ready(&mut self) {
        let ready = self.core.mark_ready();
        if ready.first {
            self.publish(Publish::Phase);
            info!("ready");
        }
        if ready.has_revision {
            self.published.update(|s| s.controller.ready = true);
        }
        // Also after a reload (SIGHUP sent RELOADING=1).
        self.notifier.ready(&self.core.status_line());
    }

    /// The one place the core's view reaches `/status`, the object gauges and STATUS=.
    fn publish(&self, what: Publish<'_>) {
        match what {
            Publish::Objects => {
                let Some(view) = self.core.objects_view(Instant::now(), unix_now()) else {
                    return;
                };
                let metrics = &self.published.metrics;
                metrics.objects.clear();
                for ((kind, status), n) in view.counts {
                    metrics
                        .objects
                        .get_or_create(&labels([("kind", kind), ("status", status.as_str())]))
                        .set(n);
                }
                metrics.backing_off.set(view.backing_off as i64);
                self.published.update(|s| s.objects = view.objects);
            }
            Publish::Unit(unit, view) => {
                self.published.update(|s| {
                    if let Some(o) = s
                        .objects
                        .iter_mut()
                        .find(|o| o.unit.as_deref() == Some(unit))
                    {
                        o.active_state = view.active_state.as_ref().map(ToString::to_string);
                        o.sub_state = Some(view.sub_state.clone());
                    }
                });
                // Systemd's STATUS= line does not show units.
                return;
            }
            Publish::Phase => {
                let phase = self.core.phase();
                self.published.metrics.set_phase(phase);
                self.published.update(|s| s.controller.phase = phase);
                return;
            }
            Publish::StatusLine => {}
        }
        if self.core.phase() != ControllerPhase::Starting {
            self.notifier.status(&self.core.status_line());
        }
    }
}

/// What changed, for [`Shell::publish`].
enum Publish<'a> {
    /// Every object (and so the summary line).
    Objects,
    /// One unit's view, from a signal.
    Unit(&'a str, &'a UnitView),
    /// Only the summary line (the manifests on disk became invalid).
    StatusLine,
    /// The controller's phase (`/status` and `podctl_controller_phase`).
    Phase,
}

fn log_invalid(why: &Invalid, keeping: &str) {
    match why {
        Invalid::EmptyRefused { message } => error!("{keeping}: {message}"),
        Invalid::Rejected(e) => {
            error!(error = %e, "{keeping}: the manifests are invalid and change nothing");
            if let Some(diagnostics) = e.diagnostics() {
                for d in diagnostics.iter() {
                    error!(location = %d.location, hint = d.hint.as_deref().unwrap_or(""), "{}: {}", d.location, d.message);
                }
            }
        }
    }
}

fn invalid_status(why: &Invalid) -> status::InvalidRevision {
    match why {
        Invalid::EmptyRefused { message } => status::InvalidRevision {
            detected_at: unix_now(),
            message: message.clone(),
            errors: Vec::new(),
        },
        Invalid::Rejected(e) => status::InvalidRevision {
            detected_at: unix_now(),
            message: e.to_string(),
            errors: e
                .diagnostics()
                .map(|d| {
                    d.iter()
                        .map(status::DiagnosticInfo::from_diagnostic)
                        .collect()
                })
                .unwrap_or_default(),
        },
    }
}

/// A failed pass as `/status` and the journal say it: the whole chain of causes, and for a
/// refusal what the operator of a controller does about it.
fn pass_error_message(e: &PassError) -> String {
    match e {
        PassError::Observe(e) => crate::report::error_chain(e),
        PassError::Refused(refused) => {
            format!("{refused}; run the controller with --allow-empty if that is what you want")
        }
    }
}

async fn pass(host: &Host, start: &PassStart, allow_empty: bool, reason: Reason) -> PassReport {
    let started = Instant::now();
    let started_at = unix_now();
    let options = PassOptions {
        cached: start.cached.clone(),
        allow_empty,
        prune: true,
        deferred: start.deferred.clone(),
        observe_after: true,
    };
    let (outcomes, observed_after, error) = match host.reconcile(&start.revision, options).await {
        Ok(done) => (done.outcomes, done.observed_after, None),
        Err(e) => (Vec::new(), None, Some(e)),
    };
    PassReport {
        units: observed_after
            .as_ref()
            .map(|o| o.units.clone())
            .unwrap_or_default(),
        outcomes,
        observed_after,
        error,
        started,
        started_at,
        elapsed: started.elapsed(),
        reason,
    }
}
