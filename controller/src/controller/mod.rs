//! `podctl controller`: the long-running reconciler. Streams in (manifest changes, systemd
//! signals, podman events, a periodic resync, SIGHUP), a scheduler that delays, dedups and
//! never runs two passes at once, a reconcile pass with per-object exponential backoff (and
//! one for passes that fail as a whole), and out: systemd notifications, metrics, a JSON
//! status, logs.
//!
//! The unit of reconciliation is the whole revision: one observe/plan/execute pass, which
//! is idempotent, costs one query per podman resource kind plus one per unit, and already isolates failures per
//! object in the executor. Per-object behaviour comes from backoff: a failing object (and
//! what depends on it) is left out of passes until its retry time.

pub mod backoff;
pub mod events;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod pass_backoff;
pub mod scheduler;
pub mod status;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::observe::{ActiveState, Observed};
use std::time::Duration;

use anyhow::Context as _;
use podctl_api::{Kind, LoadError, ObjectRef, Revision, object_hash};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, error, info, info_span, warn};

use crate::execute::{Outcome, Status};
use crate::lock;
use crate::plan::Change;
use crate::plan::guard::{WipesTheHost, declares_no_container};
use crate::reconcile::{Host, HostConfig};
use crate::render::unit_name;
use backoff::{Backoff, Uptime};
use events::{ContainerEvent, HostEvent};
use metrics::{Metrics, labels};
use notify::Notifier;
use pass_backoff::PassBackoff;
use scheduler::{Request, Scheduler};
use status::{ControllerStatus, ObjectStatus, unix_now};

pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9883";
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(60);
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);
/// Host events come in bursts (a restart is several signals): gather them briefly.
const EVENT_DELAY: Duration = Duration::from_millis(100);
/// How often a load that failed on a vanishing file is retried before it counts as invalid.
const LOAD_RETRIES: u32 = 3;

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub manifests: PathBuf,
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
}

/// Starts the endpoints: `/status` on the root-only socket, the rest on TCP too.
async fn serve_http(
    config: &Config,
    shared: &Arc<Shared>,
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
            shared.clone(),
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
            shared.clone(),
            stop.clone(),
        ));
    }
    Ok(())
}

/// What the scheduler runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Work {
    /// Read the manifest directory into a revision.
    Load,
    /// One reconcile pass of the running revision.
    Reconcile,
}

/// Why work was requested (shown in logs, spans and the status).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reason {
    Start,
    Manifests,
    Sighup,
    Resync,
    /// A failed object's backoff expired, or a failed pass is retried.
    Retry,
    LoadRetry,
    Systemd(String),
    Podman(String),
    Lost(&'static str),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Start => f.write_str("start"),
            Reason::Manifests => f.write_str("manifests"),
            Reason::Sighup => f.write_str("sighup"),
            Reason::Resync => f.write_str("resync"),
            Reason::Retry => f.write_str("retry"),
            Reason::LoadRetry => f.write_str("load-retry"),
            Reason::Systemd(u) => write!(f, "systemd ({u})"),
            Reason::Podman(c) => write!(f, "podman ({c})"),
            Reason::Lost(s) => write!(f, "{s} events lost"),
        }
    }
}

/// State shared with the HTTP endpoints.
struct Shared {
    metrics: Metrics,
    status: Mutex<ControllerStatus>,
}

impl http::Endpoints for Shared {
    fn metrics(&self) -> String {
        self.metrics.encode()
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

impl Shared {
    fn update(&self, f: impl FnOnce(&mut ControllerStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }
}

/// The result of one pass, sent back to the loop.
struct PassReport {
    outcomes: Vec<Outcome>,
    units: BTreeMap<String, crate::observe::UnitStatus>,
    /// The host as this pass left it, for the next manifest change to plan against.
    observed_after: Option<Arc<Observed>>,
    error: Option<String>,
    started: Instant,
    started_at: f64,
    elapsed: Duration,
    reason: Reason,
}

/// The controller's in-memory view of a unit, fed by passes and signals.
#[derive(Debug, Clone, Default)]
struct UnitView {
    active_state: String,
    sub_state: String,
    n_restarts: Option<u32>,
    /// systemd had a unit file for it at the last look. A unit with none (a container
    /// held back, not created yet) is loaded and dropped again by every lookup, which
    /// sends UnitNew and UnitRemoved: those are not drift.
    loaded: bool,
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
    let mut host = Host::connect(config.host.clone()).await?;
    host.pull_attempts = 1;
    let host = Arc::new(host);

    let shared = Arc::new(Shared {
        metrics: Metrics::new(),
        status: Mutex::new(ControllerStatus {
            api_version: "podctl.io/v1",
            kind: "ControllerStatus",
            controller: status::ControllerInfo {
                version: env!("CARGO_PKG_VERSION"),
                pid: std::process::id(),
                started_at: unix_now(),
                manifests: config.manifests.display().to_string(),
                unit_dir: config.host.unit_dir.display().to_string(),
                ready: false,
                phase: "starting",
            },
            revision: None,
            invalid_revision: None,
            last_reconcile: None,
            objects: Vec::new(),
        }),
    });
    // The endpoints outlive the drain after SIGTERM (phase "stopping" is visible), and end
    // when `run` returns, however it returns.
    let http_stop = CancellationToken::new();
    let _http_guard = http_stop.clone().drop_guard();
    serve_http(&config, &shared, &http_stop).await?;

    let (_watch, mut manifest_changes) = watch::watch(&config.manifests, config.debounce)?;
    let (event_tx, mut host_events) = mpsc::channel(1024);
    tokio::spawn(events::systemd_events(
        host.systemd.clone(),
        event_tx.clone(),
        cancel.child_token(),
    ));
    tokio::spawn(events::podman_events(
        host.podman.program().to_path_buf(),
        event_tx,
        cancel.child_token(),
    ));

    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;

    let mut resync = tokio::time::interval_at(Instant::now() + config.resync, config.resync);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watchdog_every = notifier
        .watchdog_interval()
        .unwrap_or(Duration::from_secs(3600 * 24 * 365));
    let mut watchdog = tokio::time::interval(watchdog_every);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let mut state = Loop {
        config: config.clone(),
        host,
        shared,
        notifier,
        scheduler: Scheduler::new(),
        observed: None,
        current: None,
        last_invalid: None,
        load_attempts: 0,
        backoff: Backoff::default(),
        pass_backoff: PassBackoff::default(),
        units: HashMap::new(),
        last_outcomes: BTreeMap::new(),
        running: None,
        ready_sent: false,
    };
    state.scheduler.schedule(Request {
        key: Work::Load,
        run_at: Instant::now(),
        reason: Reason::Start,
    });
    let (done_tx, mut done_rx) = mpsc::channel::<PassReport>(1);

    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); break }
            _ = sigint.recv() => { info!("SIGINT: stopping"); break }
            _ = sighup.recv() => {
                info!("SIGHUP: reloading the manifests");
                state.notifier.reloading();
                state.shared.metrics.event("sighup");
                // The operator fixed something: look at the host again and retry now what
                // was backing off.
                state.observed = None;
                state.backoff.retain(|_| false);
                state.pass_backoff.reset();
                state.request(Work::Load, Instant::now(), Reason::Sighup);
            }
            Some(()) = manifest_changes.recv() => {
                state.shared.metrics.event("manifests");
                state.request(Work::Load, Instant::now(), Reason::Manifests);
            }
            Some(event) = host_events.recv() => state.on_host_event(event),
            _ = resync.tick() => {
                state.shared.metrics.event("resync");
                state.request(Work::Load, Instant::now(), Reason::Resync);
            }
            _ = watchdog.tick() => state.notifier.watchdog(),
            Some(report) = done_rx.recv() => {
                state.running = None;
                state.scheduler.done(&Work::Reconcile);
                state.on_pass_done(report);
            }
            request = state.scheduler.next() => match request.key {
                Work::Load => {
                    state.load(request.reason).await;
                    state.scheduler.done(&Work::Load);
                }
                Work::Reconcile => state.start_pass(request.reason, done_tx.clone()),
            },
        }
    }

    state.notifier.stopping();
    state.shared.update(|s| s.controller.phase = "stopping");
    cancel.cancel();
    if let Some(task) = state.running.take() {
        info!(grace = ?config.shutdown_grace, "waiting for the pass in flight");
        let abort = task.abort_handle();
        match tokio::time::timeout(config.shutdown_grace, task).await {
            Ok(_) => info!("pass finished"),
            Err(_) => {
                // Unit files are written to a temporary file and renamed, so abandoning the
                // pass between two awaits never leaves a half-written unit.
                warn!("pass still running after the grace period: abandoning it");
                abort.abort();
            }
        }
    }
    info!("podctl controller stopped");
    drop(lock);
    Ok(())
}

struct Loop {
    config: Config,
    host: Arc<Host>,
    shared: Arc<Shared>,
    notifier: Notifier,
    scheduler: Scheduler<Work, Reason>,
    /// The host as the last pass left it; dropped on any host event.
    observed: Option<Arc<Observed>>,
    /// The last valid revision: the one kept converged.
    current: Option<Arc<Revision>>,
    /// The report of the invalid manifests on disk, to count each invalid revision once.
    last_invalid: Option<String>,
    load_attempts: u32,
    backoff: Backoff,
    pass_backoff: PassBackoff,
    units: HashMap<String, UnitView>,
    last_outcomes: BTreeMap<ObjectRef, (Outcome, f64)>,
    running: Option<tokio::task::JoinHandle<()>>,
    ready_sent: bool,
}

impl Loop {
    /// Asks for work; a pass waits out the pass backoff whatever its reason (SIGHUP and a
    /// new revision lift that backoff first).
    fn request(&mut self, key: Work, run_at: Instant, reason: Reason) {
        let run_at = match key {
            Work::Load => run_at,
            Work::Reconcile => self.pass_backoff.gate(run_at),
        };
        self.scheduler.schedule(Request {
            key,
            run_at,
            reason,
        });
    }

    /// Reads the manifest directory; a valid revision replaces the running one, an invalid
    /// one is reported and changes nothing.
    async fn load(&mut self, reason: Reason) {
        let dir = self.config.manifests.clone();
        let options = self.config.load_options.clone();
        let loaded =
            tokio::task::spawn_blocking(move || podctl_api::load_dir_with(&dir, &options)).await;
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                error!(error = %e, "manifest loader panicked");
                return;
            }
        };
        match loaded {
            Ok(revision)
                if declares_no_container(&revision)
                    && !self.config.allow_empty
                    && self
                        .current
                        .as_ref()
                        .is_some_and(|c| !declares_no_container(c)) =>
            {
                // Like an invalid revision: the last good one keeps running and its drift
                // is still repaired.
                self.load_attempts = 0;
                self.refuse_empty(&revision);
            }
            Ok(revision) => {
                self.load_attempts = 0;
                self.accept(revision);
            }
            Err(LoadError::Io { .. })
                if self.load_attempts < LOAD_RETRIES && reason != Reason::Start =>
            {
                // A sync tool may have removed a file or the old tree while we read it.
                self.load_attempts += 1;
                let retry = Instant::now() + self.config.debounce;
                warn!(
                    attempt = self.load_attempts,
                    "manifests changed while being read; reading again"
                );
                self.request(Work::Load, retry, Reason::LoadRetry);
                return;
            }
            Err(e) => {
                self.load_attempts = 0;
                self.reject(&e);
            }
        }
        // Every load is followed by a pass: a new revision is applied, an old or invalid one
        // still gets its drift repaired.
        self.request(Work::Reconcile, Instant::now(), reason);
    }

    fn accept(&mut self, revision: Revision) {
        let shared = &self.shared;
        if self.last_invalid.take().is_some() {
            info!("the manifests are valid again");
        }
        shared.metrics.revision_invalid.set(0);
        let same = self
            .current
            .as_ref()
            .is_some_and(|c| c.hash() == revision.hash());
        if !same {
            info!(
                revision = revision.short_hash(),
                objects = revision.len(),
                "new revision"
            );
            // A changed object deserves an immediate attempt; unchanged failing ones keep
            // their backoff. After failed passes, a new revision is also tried at once: it
            // may be what fixes them.
            self.pass_backoff.try_now();
            if let Some(old) = &self.current {
                self.backoff
                    .retain(|o| match (old.get(o), revision.get(o)) {
                        (Some(a), Some(b)) => object_hash(a) == object_hash(b),
                        _ => false,
                    });
            }
            shared.metrics.revision_info.clear();
            shared
                .metrics
                .revision_info
                .get_or_create(&labels([("hash", revision.hash())]))
                .set(1);
            shared.metrics.revision_applied_time.set(unix_now());
            let info = status::RevisionInfo {
                hash: revision.hash().to_owned(),
                short_hash: revision.short_hash().to_owned(),
                resolved_dir: revision.resolved_dir().display().to_string(),
                objects: revision.len(),
                loaded_at: unix_now(),
            };
            self.current = Some(Arc::new(revision));
            shared.update(|s| s.revision = Some(info));
        }
        shared.update(|s| s.invalid_revision = None);
        self.publish_objects();
    }

    fn refuse_empty(&mut self, revision: &Revision) {
        let message = format!(
            "the manifests in {} declare no container: applying them would remove every container podctl manages; run the controller with --allow-empty if that is what you want",
            revision.resolved_dir().display()
        );
        let invalid = status::InvalidRevision {
            detected_at: unix_now(),
            message: message.clone(),
            errors: Vec::new(),
        };
        self.record_invalid(message.clone(), invalid, |keeping| {
            error!("{keeping}: {message}");
        });
    }

    fn reject(&mut self, e: &LoadError) {
        let report = match e.diagnostics() {
            Some(d) => d.to_string(),
            None => e.to_string(),
        };
        let errors = e
            .diagnostics()
            .map(|d| {
                d.iter()
                    .map(status::DiagnosticInfo::from_diagnostic)
                    .collect()
            })
            .unwrap_or_default();
        let invalid = status::InvalidRevision {
            detected_at: unix_now(),
            message: e.to_string(),
            errors,
        };
        self.record_invalid(report, invalid, |keeping| {
            error!(error = %e, "{keeping}: the manifests are invalid and change nothing");
            if let Some(diagnostics) = e.diagnostics() {
                for d in diagnostics.iter() {
                    error!(location = %d.location, hint = d.hint.as_deref().unwrap_or(""), "{}: {}", d.location, d.message);
                }
            }
        });
    }

    /// Manifests that change nothing (invalid, or an empty revision refused): counted and
    /// logged once per distinct `report`, shown in /status, the metrics and STATUS=.
    fn record_invalid(
        &mut self,
        report: String,
        invalid: status::InvalidRevision,
        log: impl FnOnce(&str),
    ) {
        if self.last_invalid.as_deref() != Some(report.as_str()) {
            self.shared.metrics.invalid_revisions.inc();
            let keeping = self.current.as_ref().map_or_else(
                || "no revision yet".to_owned(),
                |c| format!("keeping revision {}", c.short_hash()),
            );
            log(&keeping);
        }
        self.last_invalid = Some(report);
        self.shared.metrics.revision_invalid.set(1);
        self.shared.update(|s| s.invalid_revision = Some(invalid));
        self.notify_status();
    }

    /// Maps a host event to the object it concerns and schedules a pass for it, at its
    /// backoff time if it is failing (so a crash loop does not make the controller spin).
    fn on_host_event(&mut self, event: HostEvent) {
        let now = Instant::now();
        let (object, reason, source) = match &event {
            HostEvent::UnitChanged {
                unit,
                active_state,
                sub_state,
                n_restarts,
            } => {
                let Some(object) = self.object_of_unit(unit) else {
                    return;
                };
                if self.units.get(unit).is_some_and(|v| !v.loaded) {
                    return;
                }
                let view = self.units.entry(unit.clone()).or_default();
                if let Some(a) = active_state {
                    view.active_state = a.to_string();
                }
                if let Some(s) = sub_state {
                    view.sub_state.clone_from(s);
                }
                if let Some(n) = n_restarts {
                    if let Some(before) = view.n_restarts
                        && *n > before
                    {
                        self.shared
                            .metrics
                            .restarts_seen
                            .inc_by(u64::from(*n - before));
                    }
                    view.n_restarts = Some(*n);
                }
                let view = view.clone();
                self.shared.update(|s| {
                    if let Some(o) = s
                        .objects
                        .iter_mut()
                        .find(|o| o.unit.as_deref() == Some(unit.as_str()))
                    {
                        o.active_state = Some(view.active_state.clone());
                        o.sub_state = Some(view.sub_state.clone());
                    }
                });
                // Only a unit that stopped or failed needs us; systemd restarts on its own.
                if !matches!(
                    active_state,
                    Some(ActiveState::Inactive | ActiveState::Failed)
                ) {
                    return;
                }
                (object, Reason::Systemd(unit.clone()), "systemd")
            }
            HostEvent::JobFailed { unit, .. } | HostEvent::UnitRemoved { unit } => {
                let Some(object) = self.object_of_unit(unit) else {
                    return;
                };
                if matches!(event, HostEvent::UnitRemoved { .. })
                    && self.units.get(unit).is_some_and(|v| !v.loaded)
                {
                    return;
                }
                (object, Reason::Systemd(unit.clone()), "systemd")
            }
            HostEvent::Container { name, status } => {
                if !matches!(
                    status,
                    ContainerEvent::Died
                        | ContainerEvent::Remove
                        | ContainerEvent::Stop
                        | ContainerEvent::Kill
                ) {
                    return;
                }
                let Some(object) = self.object_of_container(name) else {
                    return;
                };
                (object, Reason::Podman(name.clone()), "podman")
            }
            HostEvent::Lost { source } => {
                self.observed = None;
                self.shared.metrics.event(source);
                self.request(Work::Reconcile, now + EVENT_DELAY, Reason::Lost(source));
                return;
            }
        };
        self.shared.metrics.event(source);
        // The host changed behind the last observation.
        self.observed = None;
        let run_at = match self.backoff.get(&object) {
            Some(f) if f.retry_at > now => f.retry_at,
            _ => now + EVENT_DELAY,
        };
        tracing::debug!(%object, %reason, "host event");
        self.request(Work::Reconcile, run_at, reason);
    }

    fn object_of_unit(&self, unit: &str) -> Option<ObjectRef> {
        let name = unit.strip_suffix(".service")?;
        self.object_of_container(name)
            .filter(|o| unit_name(&o.name) == unit)
    }

    fn object_of_container(&self, name: &str) -> Option<ObjectRef> {
        let revision = self.current.as_ref()?;
        revision
            .of_kind(Kind::Container)
            .find(|o| o.name().as_str() == name)
            .map(|o| o.object_ref())
    }

    /// Starts a pass of the running revision in its own task; the loop keeps taking events.
    fn start_pass(&mut self, reason: Reason, done: mpsc::Sender<PassReport>) {
        let Some(revision) = self.current.clone() else {
            // Nothing valid to converge to yet (invalid or unreadable manifests at start).
            self.scheduler.done(&Work::Reconcile);
            self.mark_ready();
            return;
        };
        let now = Instant::now();
        let deferred = deferred_objects(&revision, &self.backoff, now);
        let host = self.host.clone();
        let allow_empty = self.config.allow_empty;
        // Only a manifest change may use the cache; every other reason is about the host.
        let cached = match reason {
            Reason::Manifests => self.observed.take(),
            _ => {
                self.observed = None;
                None
            }
        };
        let span = info_span!("reconcile", revision = revision.short_hash(), %reason);
        self.running = Some(tokio::spawn(
            async move {
                let report = pass(&host, &revision, &deferred, allow_empty, reason, cached).await;
                let _ = done.send(report).await;
            }
            .instrument(span),
        ));
    }

    fn on_pass_done(&mut self, report: PassReport) {
        self.observed = report.observed_after.clone();
        let now = Instant::now();
        let metrics = &self.shared.metrics;
        metrics
            .reconcile_duration
            .observe(report.elapsed.as_secs_f64());
        for (name, u) in &report.units {
            let view = self.units.entry(name.clone()).or_default();
            view.active_state = u.active_state.to_string();
            view.sub_state.clone_from(&u.sub_state);
            view.n_restarts = u.n_restarts;
            view.loaded = u.is_loaded();
        }
        if report.error.is_none() {
            self.backoff.retries_used(report.started);
        }
        let failed = self.record_outcomes(&report, now);
        if let Some(revision) = &self.current {
            self.backoff.retain(|o| revision.get(o).is_some());
            self.last_outcomes.retain(|o, _| revision.get(o).is_some());
        }
        let changed = report
            .outcomes
            .iter()
            .filter(|o| matches!(o.status, Status::Applied))
            .count();
        let result = if report.error.is_some() || failed > 0 {
            "failed"
        } else {
            "ok"
        };
        let metrics = &self.shared.metrics;
        metrics
            .reconciles
            .get_or_create(&labels([("result", result)]))
            .inc();
        match &report.error {
            Some(e) => {
                // Whatever asks for a pass meanwhile waits too: a request made during this
                // pass (already queued) as well as every one to come.
                let retry_at = self.pass_backoff.failed(now);
                self.scheduler.postpone(&Work::Reconcile, retry_at);
                error!(error = %e, failures = self.pass_backoff.failures(), retry_in = ?retry_at - now, "reconcile pass failed: {e}");
                self.request(Work::Reconcile, retry_at, Reason::Retry);
            }
            None => self.pass_backoff.reset(),
        }
        if let Some(retry_at) = self.backoff.next_retry() {
            self.request(Work::Reconcile, retry_at.max(now), Reason::Retry);
        }
        self.shared
            .metrics
            .backing_off
            .set(self.backoff.backing_off(now) as i64);
        info!(
            reason = %report.reason,
            elapsed_ms = report.elapsed.as_millis() as u64,
            changed,
            failed,
            "reconcile pass done"
        );
        let last = status::ReconcileInfo {
            started_at: report.started_at,
            duration_ms: report.elapsed.as_millis() as u64,
            reason: report.reason.to_string(),
            changed,
            failed,
            error: report.error.clone(),
        };
        self.shared.update(|s| s.last_reconcile = Some(last));
        self.publish_objects();
        self.mark_ready();
    }

    /// Feeds each object's outcome to its backoff, the metrics and the status; returns how
    /// many were not ok.
    fn record_outcomes(&mut self, report: &PassReport, now: Instant) -> usize {
        let shared = self.shared.clone();
        let metrics = &shared.metrics;
        let wall_now = SystemTime::now();
        let mut failed = 0;
        for o in &report.outcomes {
            // A unit found failed and started again is a crash too: started at once the
            // first time, then only after a growing delay, so a container that exits at
            // once is backed off instead of restarted forever.
            // The `reason` label: the error's kind, or `crashed` for a unit found failed.
            let failure = match &o.status {
                Status::Failed(e) => Some((format!("object failed: {e}"), e.kind().as_str())),
                Status::Applied if o.change.repairs_a_failed_unit() => Some((
                    "unit had failed: started again; if it fails again, the next start waits"
                        .to_owned(),
                    CRASHED,
                )),
                _ => None,
            };
            if let Some((what, reason)) = failure {
                let retry_at = self.backoff.failed(&o.object, now);
                metrics
                    .object_failures
                    .get_or_create(&labels([
                        ("kind", o.object.kind.as_str()),
                        ("reason", reason),
                    ]))
                    .inc();
                warn!(object = %o.object, retry_in = ?retry_at - now, "{what}");
            } else if o.status.is_ok() {
                // Seen up between two crashes is no recovery: only a container that stayed
                // up for a while has its failures forgotten.
                let uptime = match o.object.kind {
                    Kind::Container => {
                        Uptime::of_unit(report.units.get(&unit_name(&o.object.name)), wall_now)
                    }
                    Kind::Volume | Kind::Secret | Kind::Image | Kind::Network => {
                        Uptime::NotApplicable
                    }
                };
                self.backoff.succeeded(&o.object, uptime);
            }
            if !o.status.is_ok() {
                failed += 1;
            }
            if matches!(o.change, Change::Repair { .. }) && matches!(o.status, Status::Applied) {
                metrics.drift_repairs.inc();
                info!(object = %o.object, change = %o.change, "drift repaired: {} ({})", o.object, o.change);
            }
            self.last_outcomes
                .insert(o.object.clone(), (o.clone(), unix_now()));
        }
        failed
    }

    /// Rebuilds the objects of the status and the `podctl_objects` gauge.
    fn publish_objects(&self) {
        let Some(revision) = &self.current else {
            return;
        };
        let now = Instant::now();
        let wall = unix_now();
        let mut objects = Vec::with_capacity(revision.len());
        let mut counts: BTreeMap<(&'static str, &'static str), i64> = BTreeMap::new();
        for object in revision.objects() {
            let r = object.object_ref();
            let unit = (r.kind == Kind::Container).then(|| unit_name(&r.name));
            let view = unit.as_ref().and_then(|u| self.units.get(u));
            let last = self.last_outcomes.get(&r);
            let failing = self.backoff.get(&r);
            let (status, message) = match (last, failing) {
                (_, Some(f)) if f.retry_at > now => (
                    "BackingOff",
                    last.and_then(|(o, _)| status_message(&o.status)),
                ),
                (Some((o, _)), _) => (status_name(&o.status), status_message(&o.status)),
                (None, _) => ("Pending", None),
            };
            *counts.entry((r.kind.as_str(), status)).or_default() += 1;
            objects.push(ObjectStatus {
                kind: r.kind.as_str().to_owned(),
                name: r.name.to_string(),
                status,
                message,
                change: last.map(|(o, _)| o.change.to_string()),
                unit: unit.clone(),
                active_state: view.map(|v| v.active_state.clone()),
                sub_state: view.map(|v| v.sub_state.clone()),
                failures: failing.map_or(0, |f| f.failures),
                retry_at: failing
                    .filter(|f| f.retry_at > now)
                    .map(|f| wall + (f.retry_at - now).as_secs_f64()),
                last_reconciled_at: last.map(|(_, t)| *t),
            });
        }
        let metrics = &self.shared.metrics;
        metrics.objects.clear();
        for ((kind, status), n) in counts {
            metrics
                .objects
                .get_or_create(&labels([("kind", kind), ("status", status)]))
                .set(n);
        }
        self.shared.update(|s| s.objects = objects);
        self.notify_status();
    }

    fn status_line(&self) -> String {
        let Some(revision) = &self.current else {
            return "no valid revision yet".to_owned();
        };
        let failed = self
            .last_outcomes
            .values()
            .filter(|(o, _)| !o.status.is_ok())
            .count();
        let mut line = format!(
            "revision {}: {} objects, {} ok, {} failed",
            revision.short_hash(),
            revision.len(),
            self.last_outcomes.len() - failed,
            failed
        );
        if self.last_invalid.is_some() {
            line.push_str(
                "; manifests on disk are INVALID (see `podctl get` and `journalctl -u podctl`)",
            );
        }
        line
    }

    fn notify_status(&self) {
        if self.ready_sent {
            self.notifier.status(&self.status_line());
        }
    }

    fn mark_ready(&mut self) {
        // systemd hears READY=1 after the first pass, valid manifests or not (the service
        // runs and reports); /readyz only once a revision is kept converged.
        let has_revision = self.current.is_some();
        if !self.ready_sent {
            self.ready_sent = true;
            self.shared.update(|s| s.controller.phase = "running");
            info!("ready");
        }
        if has_revision {
            self.shared.update(|s| s.controller.ready = true);
        }
        // Also after a reload (SIGHUP sent RELOADING=1).
        self.notifier.ready(&self.status_line());
    }
}

/// The objects to leave out of this pass: those waiting out their backoff and everything
/// that depends on them (their dependencies have not converged).
fn deferred_objects(revision: &Revision, backoff: &Backoff, now: Instant) -> BTreeSet<ObjectRef> {
    let mut deferred = BTreeSet::new();
    for object in revision.objects() {
        let r = object.object_ref();
        if backoff.is_backing_off(&r, now) {
            deferred.extend(
                revision
                    .graph()
                    .transitive_dependents(&r)
                    .into_iter()
                    .cloned(),
            );
            deferred.insert(r);
        }
    }
    deferred
}

async fn pass(
    host: &Host,
    revision: &Revision,
    deferred: &BTreeSet<ObjectRef>,
    allow_empty: bool,
    reason: Reason,
    cached: Option<Arc<Observed>>,
) -> PassReport {
    let started = Instant::now();
    let started_at = unix_now();
    let mut report = PassReport {
        outcomes: Vec::new(),
        units: BTreeMap::new(),
        observed_after: None,
        error: None,
        started,
        started_at,
        elapsed: Duration::ZERO,
        reason,
    };
    // A manifest change plans against the host as the last pass left it (no host event
    // since, or the cache would be gone): its first action follows the change at once,
    // instead of after a full observation of every unit and container.
    let observed = match cached {
        Some(o) => Arc::unwrap_or_clone(o),
        None => match host.observe(revision).await {
            Ok(o) => o,
            Err(e) => {
                report.error = Some(format!("{e:#}"));
                report.elapsed = started.elapsed();
                return report;
            }
        },
    };
    let mut plan = host.plan(revision, &observed);
    report.units = observed.units.clone();
    if let Some(refused) = WipesTheHost::check(revision, &plan, allow_empty) {
        report.error = Some(format!(
            "{refused}; run the controller with --allow-empty if that is what you want"
        ));
        report.elapsed = started.elapsed();
        return report;
    }
    if !deferred.is_empty() {
        tracing::debug!(
            deferred = deferred.len(),
            "objects backing off are left out"
        );
        plan.steps.retain(|s| !deferred.contains(&s.object));
    }
    if plan.has_changes() {
        info!(
            steps = plan.steps.iter().filter(|s| !s.is_noop()).count(),
            "applying"
        );
    }
    report.outcomes = host.execute(&plan, revision).await;
    // What the pass changed makes its observation stale: look again for the next change.
    report.observed_after = if plan.has_changes() {
        host.observe(revision).await.ok().map(Arc::new)
    } else {
        Some(Arc::new(observed))
    };
    if let Some(after) = &report.observed_after {
        report.units = after.units.clone();
    }
    report.elapsed = started.elapsed();
    report
}

/// The `reason` of `podctl_object_failures_total` for a unit found failed and started
/// again: no action failed, the container did.
const CRASHED: &str = "crashed";

fn status_name(s: &Status) -> &'static str {
    match s {
        Status::UpToDate => "UpToDate",
        Status::Applied => "Applied",
        Status::Failed(_) => "Failed",
        Status::Blocked(_) => "Blocked",
        Status::Conflict(_) => "Conflict",
    }
}

fn status_message(s: &Status) -> Option<String> {
    s.message()
}
