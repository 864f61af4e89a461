//! The controller's decisions without I/O: which work is requested and when, which objects
//! back off, what the loop knows of the units, and what the passes ended with. The shell in
//! `mod.rs` turns streams into calls here and what they return into logs, metrics,
//! notifications, `/status` and tasks. Every transition takes `now`, so tests drive it on
//! tokio's paused clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use podctl_api::{Kind, LoadError, ObjectRef, Revision, object_hash};
use tokio::time::Instant;

use super::backoff::{Backoff, Uptime};
use super::events::{ContainerEvent, HostEvent};
use super::pass_backoff::PassBackoff;
use super::scheduler::{Request, Scheduler};
use super::update_timer::UpdateTimer;
use crate::execute::{Outcome, Verdict};
use crate::observe::{ActiveState, Observed, UnitStatus};
use crate::plan::Change;
use crate::plan::guard::declares_no_container;
use crate::reconcile::{CachedHost, PassError};
use crate::render::unit_name;
use crate::report::controller_status::{ControllerPhase, ObjectPhase, ObjectStatus};

/// Host events come in bursts (a restart is several signals): gather them briefly.
pub(super) const EVENT_DELAY: Duration = Duration::from_millis(100);
/// How often a load that failed on a vanishing file is retried before it counts as invalid.
const LOAD_RETRIES: u32 = 3;
/// The most containers a pass asks for by name (`Host::refresh`); with more stale, it
/// observes everything: podman matches each name as a pattern against every container.
pub(super) const MAX_STALE: usize = 32;

/// What the scheduler runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Work {
    /// Read the manifest directory into a revision.
    Load,
    /// One reconcile pass of the running revision.
    Reconcile,
    /// Look for new images of the containers with an update policy (`update_timer`).
    UpdateCheck,
}

/// Why work was requested (shown in logs, spans and the status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reason {
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
    /// The update check's schedule, or new images it brought into local storage.
    Updates,
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
            Reason::Updates => f.write_str("update-check"),
        }
    }
}

/// The result of one pass, sent back to the loop.
pub(super) struct PassReport {
    pub outcomes: Vec<Outcome>,
    pub units: BTreeMap<String, UnitStatus>,
    /// The host as this pass left it, for the next manifest change to plan against.
    pub observed_after: Option<Arc<Observed>>,
    /// What stopped the whole pass before it executed anything.
    pub error: Option<PassError>,
    pub started: Instant,
    pub started_at: f64,
    pub elapsed: Duration,
    pub reason: Reason,
}

/// The controller's in-memory view of a unit, fed by passes and signals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct UnitView {
    /// `None` until systemd told it.
    pub active_state: Option<ActiveState>,
    pub sub_state: String,
    pub n_restarts: Option<u32>,
    /// systemd had a unit file for it at the last look. A unit with none (a container
    /// held back, not created yet) is loaded and dropped again by every lookup, which
    /// sends UnitNew and UnitRemoved: those are not drift.
    pub loaded: bool,
}

/// What a pass needs, handed to the shell that runs it.
pub(super) struct PassStart {
    pub revision: Arc<Revision>,
    /// Objects waiting out their backoff, and their dependents: left out of the pass.
    pub deferred: BTreeSet<ObjectRef>,
    /// The host as the last pass left it, and what host events said changed since.
    pub cached: Option<CachedHost>,
}

/// Why manifests on disk change nothing.
#[derive(Debug)]
pub(super) enum Invalid {
    /// Valid, but they declare no container while the running revision does.
    EmptyRefused { message: String },
    /// They cannot be loaded.
    Rejected(LoadError),
}

/// What a load did to the running revision.
#[derive(Debug)]
pub(super) enum Loaded {
    /// A valid revision; `new` is set when it differs from the one running before.
    Accepted {
        new: Option<Arc<Revision>>,
        /// The manifests were invalid at the previous load.
        valid_again: bool,
    },
    /// Nothing changes; `first_seen` is false when the same report was already counted.
    Invalid {
        why: Invalid,
        first_seen: bool,
        /// "keeping revision abc" or "no revision yet", for the log line.
        keeping: String,
    },
    /// A file vanished while being read (a sync tool at work): read again after the debounce.
    ReadAgain { attempt: u32 },
}

/// What a host event did.
#[derive(Debug, Default, PartialEq)]
pub(super) struct HostEventEffects {
    /// The event source to count in `podctl_events_total`, if the event mattered.
    pub counted: Option<&'static str>,
    /// Restarts systemd made since the last look (`NRestarts` went up by this).
    pub restarts_seen: u64,
    /// The unit whose view changed, and the view now.
    pub unit_view: Option<(String, UnitView)>,
    /// The object a pass was requested for (if any), and when that pass runs.
    pub pass: Option<(Option<ObjectRef>, Instant)>,
}

/// Why an object counts as failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FailureKind {
    /// One of its actions failed: the error's text and its kind (the metric's `reason`).
    Failed {
        message: String,
        reason: &'static str,
    },
    /// Its unit had failed and was started again: a crash is a failure too.
    UnitRestarted,
}

/// The `reason` of `podctl_object_failures_total` for a unit found failed and started
/// again: no action failed, the container did.
const CRASHED: &str = "crashed";

impl FailureKind {
    /// The `reason` label of `podctl_object_failures_total`.
    pub(super) fn reason_label(&self) -> &'static str {
        match self {
            FailureKind::Failed { reason, .. } => reason,
            FailureKind::UnitRestarted => CRASHED,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Failed { message, .. } => write!(f, "object failed: {message}"),
            FailureKind::UnitRestarted => f.write_str(
                "unit had failed: started again; if it fails again, the next start waits",
            ),
        }
    }
}

/// An object a pass left backing off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ObjectFailure {
    pub object: ObjectRef,
    pub kind: FailureKind,
    pub retry_in: Duration,
}

/// A pass that failed as a whole, and when the next one may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PassRetry {
    pub failures: u32,
    pub retry_in: Duration,
}

/// What a finished pass amounted to.
#[derive(Debug, Default, PartialEq)]
pub(super) struct PassSummary {
    pub changed: usize,
    /// Objects not ok (failed, blocked, in conflict).
    pub failed: usize,
    pub failures: Vec<ObjectFailure>,
    /// Repairs that succeeded: drift the pass undid.
    pub repaired: Vec<(ObjectRef, Change)>,
    pub pass_retry: Option<PassRetry>,
}

impl PassSummary {
    /// The `result` label of `podctl_reconciles_total`.
    pub fn result(&self) -> &'static str {
        if self.pass_retry.is_some() || self.failed > 0 {
            "failed"
        } else {
            "ok"
        }
    }
}

/// What marking the controller ready changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ready {
    /// The first time: systemd hears READY=1 and the phase becomes `running`.
    pub first: bool,
    /// A revision is kept converged: `/readyz` answers ready.
    pub has_revision: bool,
}

/// The objects as `/status` and the `podctl_objects` gauge show them.
#[derive(Debug, Default)]
pub(super) struct ObjectsView {
    pub objects: Vec<ObjectStatus>,
    pub counts: BTreeMap<(&'static str, ObjectPhase), i64>,
    pub backing_off: usize,
}

/// The controller's state: what is scheduled, what backs off, what it knows of the host.
pub(super) struct Core {
    pub scheduler: Scheduler<Work, Reason>,
    allow_empty: bool,
    /// How long to wait before reading manifests again that changed while being read.
    debounce: Duration,
    /// The host as the last pass left it (the reflector's store); dropped when an event
    /// stream was lost or something other than containers and units may have changed.
    observed: Option<Arc<Observed>>,
    /// The containers (by name, with their units) host events named since `observed` was
    /// taken: the next pass asks for them again instead of observing everything.
    stale: BTreeSet<String>,
    /// The last valid revision: the one kept converged.
    current: Option<Arc<Revision>>,
    /// The report of the invalid manifests on disk, to count each invalid revision once.
    last_invalid: Option<String>,
    load_attempts: u32,
    backoff: Backoff,
    pass_backoff: PassBackoff,
    units: HashMap<String, UnitView>,
    last_outcomes: BTreeMap<ObjectRef, (Outcome, f64)>,
    /// Where the controller is in its life; each transition checks where it comes from.
    phase: ControllerPhase,
    /// A pass was started and has not reported back: at most one at a time.
    pass_in_flight: bool,
    /// When update checks run; `None`: never.
    update_timer: Option<UpdateTimer>,
    /// An update check came due during a pass: it runs when the pass ends.
    check_after_pass: bool,
}

impl Core {
    /// A controller that has just started: its first load is due at `now`.
    pub fn new(allow_empty: bool, debounce: Duration, now: Instant) -> Self {
        let mut core = Self {
            scheduler: Scheduler::new(),
            allow_empty,
            debounce,
            observed: None,
            stale: BTreeSet::new(),
            current: None,
            last_invalid: None,
            load_attempts: 0,
            backoff: Backoff::default(),
            pass_backoff: PassBackoff::default(),
            units: HashMap::new(),
            last_outcomes: BTreeMap::new(),
            phase: ControllerPhase::Starting,
            pass_in_flight: false,
            update_timer: None,
            check_after_pass: false,
        };
        core.request(Work::Load, now, Reason::Start);
        core
    }

    pub fn phase(&self) -> ControllerPhase {
        self.phase
    }

    /// Starting or running → stopping (SIGTERM): no pass starts after it. `false` when it
    /// was stopping already.
    pub fn on_stopping(&mut self) -> bool {
        match self.phase {
            ControllerPhase::Starting | ControllerPhase::Running => {
                self.phase = ControllerPhase::Stopping;
                true
            }
            ControllerPhase::Stopping => false,
        }
    }

    /// Asks for work; returns when it runs. A pass waits out the pass backoff whatever its
    /// reason (SIGHUP and a new revision lift that backoff first).
    pub fn request(&mut self, key: Work, run_at: Instant, reason: Reason) -> Instant {
        let run_at = match key {
            Work::Load | Work::UpdateCheck => run_at,
            Work::Reconcile => self.pass_backoff.gate(run_at),
        };
        self.scheduler.schedule(Request {
            key,
            run_at,
            reason,
        });
        run_at
    }

    /// Checks for new images on `timer`'s schedule from now on; `fraction` is the first
    /// random delay's.
    pub fn schedule_updates(&mut self, timer: UpdateTimer, now: Instant, fraction: f64) {
        self.update_timer = Some(timer);
        self.request(
            Work::UpdateCheck,
            timer.first(now, fraction),
            Reason::Updates,
        );
    }

    /// A due update check: the revision whose containers it looks at. `None` while there is
    /// none (or the controller stops): the check is over, the next one scheduled. A check
    /// never overlaps a pass (its pulls would race a gate judging the image it replaces):
    /// one due during a pass runs when the pass ends.
    pub fn start_update_check(&mut self, now: Instant, fraction: f64) -> Option<Arc<Revision>> {
        if self.pass_in_flight {
            self.scheduler.done(&Work::UpdateCheck);
            self.check_after_pass = true;
            return None;
        }
        match (&self.current, self.phase) {
            (Some(revision), ControllerPhase::Starting | ControllerPhase::Running) => {
                Some(revision.clone())
            }
            (None, _) | (_, ControllerPhase::Stopping) => {
                self.on_update_checked(false, now, fraction);
                None
            }
        }
    }

    /// An update check ended; `found`: it brought new images into local storage (or found
    /// local ones), which a pass now rolls out. Returns when the next check runs.
    pub fn on_update_checked(&mut self, found: bool, now: Instant, fraction: f64) -> Instant {
        self.scheduler.done(&Work::UpdateCheck);
        if found {
            // Local storage changed behind the last observation.
            self.observed = None;
            self.request(Work::Reconcile, now, Reason::Updates);
        }
        let timer = self.update_timer.unwrap_or_default();
        self.request(
            Work::UpdateCheck,
            timer.next(now, fraction),
            Reason::Updates,
        )
    }

    /// The manifests changed, or the resync is due: read them again.
    pub fn on_load_asked(&mut self, reason: Reason, now: Instant) {
        self.request(Work::Load, now, reason);
    }

    /// SIGHUP: the operator fixed something. Look at the host again and retry now what was
    /// backing off.
    pub fn on_sighup(&mut self, now: Instant) {
        self.observed = None;
        self.backoff.retain(|_| false);
        self.pass_backoff.reset();
        self.request(Work::Load, now, Reason::Sighup);
    }

    /// A load finished; a valid revision replaces the running one, an invalid one is
    /// recorded and changes nothing. Every load but one read again is followed by a pass:
    /// a new revision is applied, an old or invalid one still gets its drift repaired.
    pub fn on_loaded(
        &mut self,
        loaded: Result<Revision, LoadError>,
        reason: Reason,
        now: Instant,
    ) -> Loaded {
        self.scheduler.done(&Work::Load);
        let result = match loaded {
            Ok(revision) if self.refuses_empty(&revision) => {
                // Like an invalid revision: the last good one keeps running and its drift
                // is still repaired.
                let message = format!(
                    "the manifests in {} declare no container: applying them would remove every container podctl manages; run the controller with --allow-empty if that is what you want",
                    revision.resolved_dir().display()
                );
                self.record_invalid(message.clone(), Invalid::EmptyRefused { message })
            }
            Ok(revision) => self.accept(revision),
            Err(LoadError::Io { .. })
                if self.load_attempts < LOAD_RETRIES && reason != Reason::Start =>
            {
                self.load_attempts += 1;
                self.request(Work::Load, now + self.debounce, Reason::LoadRetry);
                return Loaded::ReadAgain {
                    attempt: self.load_attempts,
                };
            }
            Err(e) => {
                let report = match e.diagnostics() {
                    Some(d) => d.to_string(),
                    None => e.to_string(),
                };
                self.record_invalid(report, Invalid::Rejected(e))
            }
        };
        self.load_attempts = 0;
        self.request(Work::Reconcile, now, reason);
        result
    }

    /// A load failed without a result (the loader panicked): nothing changes.
    pub fn on_load_lost(&mut self) {
        self.scheduler.done(&Work::Load);
    }

    fn refuses_empty(&self, revision: &Revision) -> bool {
        declares_no_container(revision)
            && !self.allow_empty
            && self
                .current
                .as_ref()
                .is_some_and(|c| !declares_no_container(c))
    }

    fn accept(&mut self, revision: Revision) -> Loaded {
        let valid_again = self.last_invalid.take().is_some();
        let same = self
            .current
            .as_ref()
            .is_some_and(|c| c.hash() == revision.hash());
        if same {
            return Loaded::Accepted {
                new: None,
                valid_again,
            };
        }
        // A changed object deserves an immediate attempt; unchanged failing ones keep
        // their backoff. After failed passes, a new revision is also tried at once: it may
        // be what fixes them.
        self.pass_backoff.try_now();
        if let Some(old) = &self.current {
            self.backoff
                .retain(|o| match (old.get(o), revision.get(o)) {
                    (Some(a), Some(b)) => object_hash(a) == object_hash(b),
                    _ => false,
                });
        }
        let revision = Arc::new(revision);
        self.current = Some(revision.clone());
        Loaded::Accepted {
            new: Some(revision),
            valid_again,
        }
    }

    /// Manifests that change nothing: each distinct `report` is counted (and logged) once.
    fn record_invalid(&mut self, report: String, why: Invalid) -> Loaded {
        let first_seen = self.last_invalid.as_deref() != Some(report.as_str());
        self.last_invalid = Some(report);
        let keeping = self.current.as_ref().map_or_else(
            || "no revision yet".to_owned(),
            |c| format!("keeping revision {}", c.short_hash()),
        );
        Loaded::Invalid {
            why,
            first_seen,
            keeping,
        }
    }

    /// Maps a host event to the object it concerns and requests a pass for it, at its
    /// backoff time if it is failing (so a crash loop does not make the controller spin).
    pub fn on_host_event(&mut self, event: &HostEvent, now: Instant) -> HostEventEffects {
        let mut effects = HostEventEffects::default();
        let (object, reason, source) = match event {
            HostEvent::UnitChanged {
                unit,
                active_state,
                sub_state,
                n_restarts,
            } => {
                let Some(object) = self.object_of_unit(unit) else {
                    return effects;
                };
                if self.has_no_unit_file(unit) {
                    return effects;
                }
                let (view, restarts) =
                    self.update_unit_view(unit, active_state, sub_state, *n_restarts);
                effects.restarts_seen = restarts;
                effects.unit_view = Some((unit.clone(), view));
                self.mark_stale(unit);
                if !unit_stopped(active_state.as_ref()) {
                    return effects;
                }
                (object, Reason::Systemd(unit.clone()), "systemd")
            }
            HostEvent::JobFailed { unit, .. } => {
                let Some(object) = self.object_of_unit(unit) else {
                    return effects;
                };
                (object, Reason::Systemd(unit.clone()), "systemd")
            }
            HostEvent::UnitRemoved { unit } => {
                let Some(object) = self.object_of_unit(unit) else {
                    return effects;
                };
                if self.has_no_unit_file(unit) {
                    return effects;
                }
                (object, Reason::Systemd(unit.clone()), "systemd")
            }
            HostEvent::Container { name, status } => {
                let Some(object) = self.object_of_container(name) else {
                    return effects;
                };
                self.mark_stale(name);
                if !container_stopped(status) {
                    return effects;
                }
                (object, Reason::Podman(name.clone()), "podman")
            }
            HostEvent::Lost { source } => {
                // What the stream missed is unknown: observe everything.
                self.observed = None;
                let at = self.request(Work::Reconcile, now + EVENT_DELAY, Reason::Lost(source));
                effects.counted = Some(source);
                effects.pass = Some((None, at));
                return effects;
            }
        };
        // Not `UnitRemoved`: every daemon-reload (podctl's own too) emits it for every unit,
        // which would make every unit stale after each changed unit file. What it can mean,
        // a unit file gone, every pass sees: the unit directory is read again each time.
        if let HostEvent::JobFailed { unit, .. } = event {
            self.mark_stale(unit);
        }
        let run_at = match self.backoff.get(&object) {
            Some(f) if f.retry_at > now => f.retry_at,
            _ => now + EVENT_DELAY,
        };
        let at = self.request(Work::Reconcile, run_at, reason);
        effects.counted = Some(source);
        effects.pass = Some((Some(object), at));
        effects
    }

    /// The container (or unit) `name` changed behind the last observation: the next pass
    /// asks for it and its unit again.
    fn mark_stale(&mut self, name: &str) {
        let stem = name.strip_suffix(".service").unwrap_or(name);
        self.stale.insert(stem.to_owned());
    }

    /// A unit that had no unit file at the last look: its load and unload are not drift.
    fn has_no_unit_file(&self, unit: &str) -> bool {
        self.units.get(unit).is_some_and(|v| !v.loaded)
    }

    /// Applies the properties a signal carried; returns the view and the restarts seen.
    fn update_unit_view(
        &mut self,
        unit: &str,
        active_state: &Option<ActiveState>,
        sub_state: &Option<String>,
        n_restarts: Option<u32>,
    ) -> (UnitView, u64) {
        let view = self.units.entry(unit.to_owned()).or_default();
        if let Some(a) = active_state {
            view.active_state = Some(a.clone());
        }
        if let Some(s) = sub_state {
            view.sub_state.clone_from(s);
        }
        let mut restarts = 0;
        if let Some(n) = n_restarts {
            if let Some(before) = view.n_restarts
                && n > before
            {
                restarts = u64::from(n - before);
            }
            view.n_restarts = Some(n);
        }
        (view.clone(), restarts)
    }

    fn object_of_unit(&self, unit: &str) -> Option<ObjectRef> {
        let name = unit.strip_suffix(".service")?;
        self.object_of_container(name)
    }

    /// The Container object a container (or unit stem) belongs to: its own, or a
    /// blue-green container's colour or proxy (`NAME-blue`, `NAME-green`, `NAME-proxy`).
    fn object_of_container(&self, name: &str) -> Option<ObjectRef> {
        let revision = self.current.as_ref()?;
        let unit = format!("{name}.service");
        revision
            .of_kind(Kind::Container)
            .find(|o| match o.as_container() {
                Some(c) if podctl_api::bluegreen_checks::is_blue_green(c) => {
                    crate::bluegreen::units(o.name().as_str()).contains(&unit)
                }
                _ => o.name().as_str() == name,
            })
            .map(|o| o.object_ref())
    }

    /// A due pass: what it converges to and what it leaves out. `None` with nothing valid
    /// to converge to yet (invalid or unreadable manifests at start): the pass is over.
    pub fn start_pass(&mut self, reason: &Reason, now: Instant) -> Option<PassStart> {
        // The scheduler runs one pass at a time; a second would race the first on the host.
        debug_assert!(
            !self.pass_in_flight,
            "a pass started while one is in flight"
        );
        let revision = match (&self.current, self.phase) {
            (Some(revision), ControllerPhase::Starting | ControllerPhase::Running) => {
                revision.clone()
            }
            (None, _) | (_, ControllerPhase::Stopping) => {
                self.scheduler.done(&Work::Reconcile);
                return None;
            }
        };
        self.pass_in_flight = true;
        let deferred = deferred_objects(&revision, &self.backoff, now);
        // A manifest change, or events that named the containers and units that changed,
        // plan against the cache with those asked again; every other reason is about
        // something events do not report (a resync, a retry, an update check, SIGHUP).
        let cached = match reason {
            Reason::Manifests | Reason::Systemd(_) | Reason::Podman(_) => {
                self.observed.take().map(|observed| CachedHost {
                    observed,
                    stale: std::mem::take(&mut self.stale),
                })
            }
            Reason::Start
            | Reason::Sighup
            | Reason::Resync
            | Reason::Retry
            | Reason::LoadRetry
            | Reason::Lost(_)
            | Reason::Updates => {
                self.observed = None;
                None
            }
        };
        // Past a few dozen names one list of everything costs less than asking by name.
        let cached = cached.filter(|c| c.stale.len() <= MAX_STALE);
        if cached.is_none() {
            // A full observation sees whatever they named.
            self.stale.clear();
        }
        Some(PassStart {
            revision,
            deferred,
            cached,
        })
    }

    /// A pass ended: feeds its outcomes to the backoffs and the caches, and requests the
    /// retries it calls for. `wall` and `unix` are the wall-clock time (uptimes, status).
    pub fn on_pass_done(
        &mut self,
        report: &PassReport,
        now: Instant,
        wall: SystemTime,
        unix: f64,
    ) -> PassSummary {
        if !self.pass_in_flight {
            // Only a started pass reports back; anything else is a bug in the shell.
            tracing::error!("a pass reported back that was not started");
            debug_assert!(false, "on_pass_done without start_pass");
        }
        self.pass_in_flight = false;
        self.scheduler.done(&Work::Reconcile);
        self.observed = report.observed_after.clone();
        self.cache_units(&report.units);
        if report.error.is_none() {
            self.backoff.retries_used(report.started);
        }
        let mut summary = self.record_outcomes(report, now, wall, unix);
        if let Some(revision) = &self.current {
            self.backoff.retain(|o| revision.get(o).is_some());
            self.last_outcomes.retain(|o, _| revision.get(o).is_some());
        }
        summary.changed = report
            .outcomes
            .iter()
            .filter(|o| matches!(o.status, Verdict::Applied))
            .count();
        summary.pass_retry = match &report.error {
            Some(_) => {
                // Whatever asks for a pass meanwhile waits too: a request made during this
                // pass (already queued) as well as every one to come.
                let retry_at = self.pass_backoff.failed(now);
                self.scheduler.postpone(&Work::Reconcile, retry_at);
                self.request(Work::Reconcile, retry_at, Reason::Retry);
                Some(PassRetry {
                    failures: self.pass_backoff.failures(),
                    retry_in: retry_at - now,
                })
            }
            None => {
                self.pass_backoff.reset();
                None
            }
        };
        if let Some(retry_at) = self.backoff.next_retry() {
            self.request(Work::Reconcile, retry_at.max(now), Reason::Retry);
        }
        if std::mem::take(&mut self.check_after_pass) {
            self.request(Work::UpdateCheck, now, Reason::Updates);
        }
        summary
    }

    fn cache_units(&mut self, units: &BTreeMap<String, UnitStatus>) {
        for (name, u) in units {
            let view = self.units.entry(name.clone()).or_default();
            view.active_state = Some(u.active_state.clone());
            view.sub_state.clone_from(&u.sub_state);
            view.n_restarts = u.n_restarts;
            view.loaded = unit_file_found(u);
        }
    }

    /// Feeds each object's outcome to its backoff and the last outcomes.
    fn record_outcomes(
        &mut self,
        report: &PassReport,
        now: Instant,
        wall: SystemTime,
        unix: f64,
    ) -> PassSummary {
        let mut summary = PassSummary::default();
        for o in &report.outcomes {
            if let Some(kind) = failure_of(o) {
                let retry_at = self.backoff.failed(&o.object, now);
                summary.failures.push(ObjectFailure {
                    object: o.object.clone(),
                    kind,
                    retry_in: retry_at - now,
                });
            } else if o.status.is_ok() {
                // Seen up between two crashes is no recovery: only a container that stayed
                // up for a while has its failures forgotten.
                let uptime = match o.object.kind {
                    Kind::Container => {
                        Uptime::of_unit(report.units.get(&unit_name(&o.object.name)), wall)
                    }
                    Kind::Volume
                    | Kind::Secret
                    | Kind::Image
                    | Kind::Network
                    | Kind::BackupRepository
                    | Kind::HostSettings => Uptime::NotApplicable,
                };
                self.backoff.succeeded(&o.object, uptime);
            }
            if !o.status.is_ok() {
                summary.failed += 1;
            }
            if matches!(o.change, Change::Repair { .. }) && matches!(o.status, Verdict::Applied) {
                summary.repaired.push((o.object.clone(), o.change.clone()));
            }
            self.last_outcomes
                .insert(o.object.clone(), (o.clone(), unix));
        }
        summary
    }

    /// Systemd hears READY=1 after the first pass, valid manifests or not (the service runs
    /// and reports); `/readyz` only once a revision is kept converged.
    pub fn mark_ready(&mut self) -> Ready {
        // Starting → running, once; a stopping controller stays stopping.
        let first = match self.phase {
            ControllerPhase::Starting => {
                self.phase = ControllerPhase::Running;
                true
            }
            ControllerPhase::Running | ControllerPhase::Stopping => false,
        };
        Ready {
            first,
            has_revision: self.current.is_some(),
        }
    }

    /// The objects of the running revision as `/status` shows them; `None` before the first
    /// valid revision (the status keeps what it had).
    pub fn objects_view(&self, now: Instant, unix: f64) -> Option<ObjectsView> {
        let revision = self.current.as_ref()?;
        let mut view = ObjectsView {
            objects: Vec::with_capacity(revision.len()),
            counts: BTreeMap::new(),
            backing_off: self.backoff.backing_off(now),
        };
        for object in revision.objects() {
            let status = self.object_status(object.object_ref(), now, unix);
            *view
                .counts
                .entry((object.object_ref().kind.as_str(), status.status))
                .or_default() += 1;
            view.objects.push(status);
        }
        Some(view)
    }

    fn object_status(&self, r: ObjectRef, now: Instant, unix: f64) -> ObjectStatus {
        let unit = (r.kind == Kind::Container).then(|| unit_name(&r.name));
        let view = unit.as_ref().and_then(|u| self.units.get(u));
        let last = self.last_outcomes.get(&r);
        let failing = self.backoff.get(&r);
        let (status, message) = match (last, failing) {
            (_, Some(f)) if f.retry_at > now => (
                ObjectPhase::BackingOff,
                last.and_then(|(o, _)| status_message(&o.status)),
            ),
            (Some((o, _)), _) => (phase_of(&o.status), status_message(&o.status)),
            (None, _) => (ObjectPhase::Pending, None),
        };
        ObjectStatus {
            kind: r.kind,
            name: r.name.to_string(),
            status,
            message,
            change: last.map(|(o, _)| o.change.to_string()),
            unit,
            active_state: view.and_then(|v| v.active_state.as_ref().map(ToString::to_string)),
            sub_state: view.map(|v| v.sub_state.clone()),
            failures: failing.map_or(0, |f| f.failures),
            retry_at: failing
                .filter(|f| f.retry_at > now)
                .map(|f| unix + (f.retry_at - now).as_secs_f64()),
            last_reconciled_at: last.map(|(_, t)| *t),
        }
    }

    /// The one-line summary sent as systemd's STATUS=.
    pub fn status_line(&self) -> String {
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
}

/// Whether an object's outcome counts as a failure for its backoff. A unit found failed and
/// started again is a crash too: started at once the first time, then only after a growing
/// delay, so a container that exits at once is backed off instead of restarted forever.
fn failure_of(o: &Outcome) -> Option<FailureKind> {
    match &o.status {
        Verdict::Failed(e) => Some(FailureKind::Failed {
            message: e.to_string(),
            reason: e.kind().as_str(),
        }),
        Verdict::Applied if o.change.repairs_a_failed_unit() => Some(FailureKind::UnitRestarted),
        _ => None,
    }
}

/// Only a unit that stopped or failed needs the controller; systemd restarts on its own.
fn unit_stopped(active_state: Option<&ActiveState>) -> bool {
    matches!(
        active_state,
        Some(ActiveState::Inactive | ActiveState::Failed)
    )
}

/// The podman events that mean a container is no longer running.
fn container_stopped(status: &ContainerEvent) -> bool {
    matches!(
        status,
        ContainerEvent::Died | ContainerEvent::Remove | ContainerEvent::Stop | ContainerEvent::Kill
    )
}

/// Whether systemd had a unit file for the unit when it was observed.
fn unit_file_found(unit: &UnitStatus) -> bool {
    unit.is_loaded()
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

fn phase_of(s: &Verdict) -> ObjectPhase {
    match s {
        Verdict::UpToDate => ObjectPhase::UpToDate,
        Verdict::Applied => ObjectPhase::Applied,
        Verdict::Failed(_) => ObjectPhase::Failed,
        Verdict::Blocked(_) => ObjectPhase::Blocked,
        Verdict::Conflict(_) => ObjectPhase::Conflict,
    }
}

fn status_message(s: &Verdict) -> Option<String> {
    s.message()
}

#[cfg(test)]
mod tests;
