//! systemd over D-Bus (`org.freedesktop.systemd1`): unit state, jobs that are waited for on
//! their `JobRemoved` signal, unit-file enablement and daemon-reload.
//!
//! Never parses `systemctl` output. One [`Systemd`] is one bus connection plus the tasks that
//! drain its signal streams; clone it freely, clones share them.

mod jobs;
mod proxy;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

use jobs::{JobWaiters, Registration};
use proxy::{FileChangeRow, ManagerProxy, UnitRow};

const SERVICE: &str = "org.freedesktop.systemd1";
const PROPERTIES_INTERFACE: &str = "org.freedesktop.DBus.Properties";
const UNIT_INTERFACE: &str = "org.freedesktop.systemd1.Unit";
const SERVICE_INTERFACE: &str = "org.freedesktop.systemd1.Service";

/// Property reads in flight at once on the one bus connection. dbus-daemon refuses more
/// than 128 pending replies per connection (`max_replies_per_connection`) with
/// `LimitsExceeded`, and systemd answers them one after the other anyway: more in flight
/// only queue up.
const READS_IN_FLIGHT: usize = 32;

/// How long [`Systemd::start`] and friends wait for their job by default: longer than any
/// sane start timeout of a container unit (image pulls happen before, not inside, the job).
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(300);

/// Capacity of the event channel of [`Systemd::events`]; a receiver that falls further behind
/// gets `Lagged` and should re-read the state it cares about.
const EVENT_CAPACITY: usize = 1024;

pub type Result<T, E = SystemdError> = std::result::Result<T, E>;

/// Why a call to systemd failed.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("cannot connect to the D-Bus system bus{}: {source}", at_address(.address))]
    Connect {
        address: Option<String>,
        #[source]
        source: zbus::Error,
    },
    /// systemd (or the bus) answered a method call with an error.
    #[error("systemd {method}({target}) failed: {}", describe(.name, .message))]
    Call {
        method: &'static str,
        /// The unit or units the call was about.
        target: String,
        /// The D-Bus error name, e.g. `org.freedesktop.systemd1.NoSuchUnit`; `None` when the
        /// call failed before systemd answered (transport, serialisation).
        name: Option<String>,
        message: String,
    },
    #[error("systemd returned {got} rows to ListUnitsByNames for {asked} names")]
    RowCount { asked: usize, got: usize },
    #[error("{method}({unit}): job {job} did not finish within {timeout:?}")]
    JobTimeout {
        method: &'static str,
        unit: String,
        job: String,
        timeout: Duration,
    },
    #[error("{method}({unit}): the bus connection closed before job {job} finished")]
    Disconnected {
        method: &'static str,
        unit: String,
        job: String,
    },
}

impl SystemdError {
    /// The D-Bus error name systemd answered with, if any (e.g. to tell `NoSuchUnit` apart).
    pub fn dbus_name(&self) -> Option<&str> {
        match self {
            Self::Call { name, .. } => name.as_deref(),
            _ => None,
        }
    }
}

fn at_address(address: &Option<String>) -> String {
    address
        .as_deref()
        .map(|a| format!(" at {a}"))
        .unwrap_or_default()
}

fn describe(name: &Option<String>, message: &str) -> String {
    match name {
        Some(name) => format!("{name}: {message}"),
        None => message.to_owned(),
    }
}

/// Builds a [`SystemdError::Call`] keeping the D-Bus error name apart from its message.
fn call_error(method: &'static str, target: impl Into<String>, err: zbus::Error) -> SystemdError {
    let (name, message) = match err {
        zbus::Error::MethodError(name, description, _) => (
            Some(name.to_string()),
            description.unwrap_or_else(|| "(no message)".to_owned()),
        ),
        zbus::Error::FDO(fdo) => {
            use zbus::DBusError as _;
            (
                Some(fdo.name().to_string()),
                fdo.description().unwrap_or("(no message)").to_owned(),
            )
        }
        other => (None, other.to_string()),
    };
    SystemdError::Call {
        method,
        target: target.into(),
        name,
        message,
    }
}

/// `LoadState` of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum LoadState {
    Loaded,
    /// No unit file: the unit does not exist (yet, or not since the last reload). The
    /// default: what systemd answers for a unit it was never told about.
    #[default]
    NotFound,
    BadSetting,
    Error,
    Masked,
    Stub,
    Merged,
    Other(String),
}

impl LoadState {
    pub fn parse(s: &str) -> Self {
        match s {
            "loaded" => Self::Loaded,
            "not-found" => Self::NotFound,
            "bad-setting" => Self::BadSetting,
            "error" => Self::Error,
            "masked" => Self::Masked,
            "stub" => Self::Stub,
            "merged" => Self::Merged,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Loaded => "loaded",
            Self::NotFound => "not-found",
            Self::BadSetting => "bad-setting",
            Self::Error => "error",
            Self::Masked => "masked",
            Self::Stub => "stub",
            Self::Merged => "merged",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for LoadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `ActiveState` of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ActiveState {
    Active,
    Reloading,
    /// The default: what systemd answers for a unit that is not loaded.
    #[default]
    Inactive,
    Failed,
    Activating,
    Deactivating,
    Maintenance,
    Refreshing,
    Other(String),
}

impl ActiveState {
    pub fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "reloading" => Self::Reloading,
            "inactive" => Self::Inactive,
            "failed" => Self::Failed,
            "activating" => Self::Activating,
            "deactivating" => Self::Deactivating,
            "maintenance" => Self::Maintenance,
            "refreshing" => Self::Refreshing,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "active",
            Self::Reloading => "reloading",
            Self::Inactive => "inactive",
            Self::Failed => "failed",
            Self::Activating => "activating",
            Self::Deactivating => "deactivating",
            Self::Maintenance => "maintenance",
            Self::Refreshing => "refreshing",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for ActiveState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `UnitFileState` of a unit: whether (and how) its unit file is enabled.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum UnitFileState {
    Enabled,
    EnabledRuntime,
    Linked,
    LinkedRuntime,
    Alias,
    Masked,
    MaskedRuntime,
    Static,
    Disabled,
    Indirect,
    Generated,
    Transient,
    Bad,
    /// systemd reports none (an empty string): the unit is not found.
    #[default]
    Absent,
    Other(String),
}

impl UnitFileState {
    pub fn parse(s: &str) -> Self {
        match s {
            "enabled" => Self::Enabled,
            "enabled-runtime" => Self::EnabledRuntime,
            "linked" => Self::Linked,
            "linked-runtime" => Self::LinkedRuntime,
            "alias" => Self::Alias,
            "masked" => Self::Masked,
            "masked-runtime" => Self::MaskedRuntime,
            "static" => Self::Static,
            "disabled" => Self::Disabled,
            "indirect" => Self::Indirect,
            "generated" => Self::Generated,
            "transient" => Self::Transient,
            "bad" => Self::Bad,
            "" => Self::Absent,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Enabled => "enabled",
            Self::EnabledRuntime => "enabled-runtime",
            Self::Linked => "linked",
            Self::LinkedRuntime => "linked-runtime",
            Self::Alias => "alias",
            Self::Masked => "masked",
            Self::MaskedRuntime => "masked-runtime",
            Self::Static => "static",
            Self::Disabled => "disabled",
            Self::Indirect => "indirect",
            Self::Generated => "generated",
            Self::Transient => "transient",
            Self::Bad => "bad",
            Self::Absent => "",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for UnitFileState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What systemd reports about one unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitState {
    /// The name as asked for (an alias stays the alias).
    pub name: String,
    pub load_state: LoadState,
    pub active_state: ActiveState,
    /// Type-specific detail, e.g. `running`, `exited`, `dead`, `auto-restart`.
    pub sub_state: String,
    /// The unit file systemd loaded; `None` when there is none (not-found, transient).
    pub fragment_path: Option<PathBuf>,
    /// Automatic restarts so far; only for services that are loaded.
    pub n_restarts: Option<u32>,
    /// The main process's exit status, asked for only when a service has failed: it tells
    /// a stop by hand (143, SIGTERM through podman) from a crash.
    pub exec_main_status: Option<i32>,
    /// CLOCK_REALTIME in µs when the unit last became active; 0 if never.
    pub active_enter_timestamp_us: u64,
    /// Enabled, disabled, static, ...; [`UnitFileState::Absent`] when the unit is not found.
    pub unit_file_state: UnitFileState,
    /// The unit file changed on disk since systemd loaded it: a daemon-reload is due.
    pub need_daemon_reload: bool,
    /// Drop-in files systemd merged into the unit (`*.d/*.conf`), in the order it read them.
    pub drop_in_paths: Vec<PathBuf>,
}

/// A unit as `ListUnitsByNames` lists it ([`Systemd::list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The name as asked for.
    pub name: String,
    pub load_state: LoadState,
    pub active_state: ActiveState,
    path: OwnedObjectPath,
}

/// A unit as a `/metrics` scrape reads it ([`Systemd::vitals`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitVitals {
    pub load_state: LoadState,
    pub active_state: ActiveState,
    /// Automatic restarts so far (services only).
    pub n_restarts: Option<u32>,
    /// The unit's cgroup (`ControlGroup`), e.g. `/machine.slice/libpod-ID.scope`; `None`
    /// while it has none (inactive).
    pub control_group: Option<String>,
    /// The limits, start and exit systemd knows; usage is read from the cgroup files.
    pub resources: UnitResources,
}

/// A service's resource use and limits as systemd accounts them; `None` where systemd has
/// no number (accounting off, no limit, never ran).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitResources {
    pub memory_bytes: Option<u64>,
    /// `MemoryMax=`.
    pub memory_max_bytes: Option<u64>,
    pub cpu_usage_nsec: Option<u64>,
    /// `CPUQuota=` in µs of CPU time per second.
    pub cpu_quota_usec_per_sec: Option<u64>,
    pub tasks: Option<u64>,
    /// When the main process last started (CLOCK_REALTIME µs).
    pub main_started_us: Option<u64>,
    /// How the main process last exited (exit code, or signal number).
    pub main_exit_status: Option<i32>,
}

impl UnitResources {
    fn of(props: &HashMap<String, OwnedValue>) -> Self {
        // systemd says "unknown" or "infinity" with u64::MAX, and "never" with 0 for times.
        let known = |key| Some(prop_u64(props, key)).filter(|v| *v != u64::MAX);
        Self {
            memory_bytes: known("MemoryCurrent"),
            memory_max_bytes: known("MemoryMax"),
            cpu_usage_nsec: known("CPUUsageNSec"),
            cpu_quota_usec_per_sec: known("CPUQuotaPerSecUSec"),
            tasks: known("TasksCurrent"),
            main_started_us: Some(prop_u64(props, "ExecMainStartTimestamp")).filter(|t| *t != 0),
            main_exit_status: prop_i32(props, "ExecMainStatus")
                .filter(|_| prop_u64(props, "ExecMainExitTimestamp") != 0),
        }
    }
}

/// How a job ended: the `result` of its `JobRemoved` signal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobOutcome {
    /// The job succeeded.
    Done,
    /// Cancelled before it finished, e.g. replaced by a conflicting job.
    Canceled,
    /// The unit's start or stop timeout expired.
    Timeout,
    /// The unit failed (e.g. its ExecStart exited non-zero, or never notified READY).
    Failed,
    /// A unit it requires failed.
    Dependency,
    /// Skipped because a condition did not hold (e.g. `ConditionPathExists=`).
    Skipped,
    /// A result this code does not know (`invalid`, `unsupported`, `collected`, `once`, ...).
    Other(String),
}

impl JobOutcome {
    pub fn from_result(result: &str) -> Self {
        match result {
            "done" => Self::Done,
            "canceled" => Self::Canceled,
            "timeout" => Self::Timeout,
            "failed" => Self::Failed,
            "dependency" => Self::Dependency,
            "skipped" => Self::Skipped,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Done => "done",
            Self::Canceled => "canceled",
            Self::Timeout => "timeout",
            Self::Failed => "failed",
            Self::Dependency => "dependency",
            Self::Skipped => "skipped",
            Self::Other(s) => s,
        }
    }

    pub fn is_done(&self) -> bool {
        *self == Self::Done
    }
}

impl fmt::Display for JobOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One symlink change of `EnableUnitFiles`/`DisableUnitFiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFileChange {
    /// `symlink` or `unlink` (others are possible, e.g. `masked`).
    pub kind: String,
    pub path: PathBuf,
    /// Where a new symlink points; empty for `unlink`.
    pub destination: String,
}

impl From<FileChangeRow> for UnitFileChange {
    fn from((kind, path, destination): FileChangeRow) -> Self {
        Self {
            kind,
            path: PathBuf::from(path),
            destination,
        }
    }
}

/// A signal from systemd, as [`Systemd::events`] delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemdEvent {
    JobRemoved {
        id: u32,
        job: String,
        unit: String,
        outcome: JobOutcome,
    },
    UnitRemoved {
        unit: String,
    },
}

/// Which job-creating method to call.
#[derive(Debug, Clone, Copy)]
enum JobMethod {
    Start,
    Stop,
    Restart,
}

impl JobMethod {
    fn name(self) -> &'static str {
        match self {
            Self::Start => "StartUnit",
            Self::Stop => "StopUnit",
            Self::Restart => "RestartUnit",
        }
    }
}

/// Aborts a dispatcher task when the last [`Systemd`] clone goes away.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A connection to systemd's manager.
#[derive(Clone)]
pub struct Systemd {
    conn: zbus::Connection,
    manager: ManagerProxy<'static>,
    waiters: Arc<JobWaiters>,
    events: broadcast::Sender<SystemdEvent>,
    job_timeout: Duration,
    _dispatchers: Arc<[AbortOnDrop; 2]>,
}

impl fmt::Debug for Systemd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Systemd")
            .field("unique_name", &self.conn.unique_name())
            .field("job_timeout", &self.job_timeout)
            .finish_non_exhaustive()
    }
}

impl Systemd {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` if set, else the default socket).
    pub async fn connect() -> Result<Self> {
        let conn = zbus::Connection::system()
            .await
            .map_err(|source| SystemdError::Connect {
                address: std::env::var("DBUS_SYSTEM_BUS_ADDRESS").ok(),
                source,
            })?;
        Self::from_connection(conn).await
    }

    /// Connects to the bus at `address`, e.g. `unix:path=/proc/PID/root/run/dbus/system_bus_socket`.
    pub async fn connect_address(address: &str) -> Result<Self> {
        let connect_error = |source| SystemdError::Connect {
            address: Some(address.to_owned()),
            source,
        };
        let conn = zbus::connection::Builder::address(address)
            .map_err(connect_error)?
            .build()
            .await
            .map_err(connect_error)?;
        Self::from_connection(conn).await
    }

    /// Sets up signal dispatch on an open connection, then subscribes.
    pub async fn from_connection(conn: zbus::Connection) -> Result<Self> {
        let manager = ManagerProxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(|e| call_error("proxy", "Manager", e))?;
        let waiters = Arc::new(JobWaiters::default());
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        // Each stream gets its draining task as soon as it exists: zbus stops reading the
        // socket while any stream's queue is full, so a stream left unpolled during the next
        // call (a daemon-reload elsewhere emits hundreds of UnitRemoved) would stall that call
        // forever. The match rules are in place before Subscribe, and so before any job of
        // ours exists: no JobRemoved of ours can slip past.
        let jobs = manager
            .receive_job_removed()
            .await
            .map_err(|e| call_error("AddMatch", "JobRemoved", e))?;
        let jobs_task = AbortOnDrop(tokio::spawn(dispatch_jobs(
            jobs,
            waiters.clone(),
            events.clone(),
        )));
        let units = manager
            .receive_unit_removed()
            .await
            .map_err(|e| call_error("AddMatch", "UnitRemoved", e))?;
        let units_task = AbortOnDrop(tokio::spawn(dispatch_units(units, events.clone())));
        manager
            .subscribe()
            .await
            .map_err(|e| call_error("Subscribe", "Manager", e))?;
        Ok(Self {
            conn,
            manager,
            waiters,
            events,
            job_timeout: DEFAULT_JOB_TIMEOUT,
            _dispatchers: Arc::new([jobs_task, units_task]),
        })
    }

    /// How long job methods wait for their `JobRemoved` before [`SystemdError::JobTimeout`].
    pub fn with_job_timeout(mut self, timeout: Duration) -> Self {
        self.job_timeout = timeout;
        self
    }

    pub fn connection(&self) -> &zbus::Connection {
        &self.conn
    }

    /// Job and unit signals from now on, for a watcher (the controller loop).
    pub fn events(&self) -> broadcast::Receiver<SystemdEvent> {
        self.events.subscribe()
    }

    /// daemon-reload: returns once systemd has re-read all unit files.
    pub async fn reload(&self) -> Result<()> {
        self.manager
            .reload()
            .await
            .map_err(|e| call_error("Reload", "daemon", e))
    }

    /// The state of `names`, in the same order: one `ListUnitsByNames` for all of them, then
    /// one `GetAll` per unit that exists, [`READS_IN_FLIGHT`] at a time.
    pub async fn unit_states(&self, names: &[String]) -> Result<Vec<UnitState>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.list_units(names).await?;
        // Collected first: a lazy `map` inside the stream makes the future fail the
        // higher-ranked `Send` check where the controller spawns it.
        let states: Vec<_> = names
            .iter()
            .zip(rows)
            .map(|(name, row)| {
                let (_, _, load, active, sub, _, path, _, _, _) = row;
                self.unit_state(
                    name,
                    LoadState::parse(&load),
                    ActiveState::parse(&active),
                    sub,
                    path,
                )
            })
            .collect();
        // `buffered` keeps the order of `names`.
        futures_util::stream::iter(states)
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// One `ListUnitsByNames` row per name, in order.
    async fn list_units(&self, names: &[String]) -> Result<Vec<UnitRow>> {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let rows = self
            .manager
            .list_units_by_names(&refs)
            .await
            .map_err(|e| call_error("ListUnitsByNames", names.join(" "), e))?;
        // systemd answers one row per name, in order, or fails the whole call; rows carry the
        // unit's primary name, so pairing by position keeps aliases as asked.
        if rows.len() != names.len() {
            return Err(SystemdError::RowCount {
                asked: names.len(),
                got: rows.len(),
            });
        }
        Ok(rows)
    }

    /// `GetAll` of `interface` ("" for every interface) on the unit object at `path`.
    async fn get_all(
        &self,
        name: &str,
        path: &OwnedObjectPath,
        interface: &str,
    ) -> Result<HashMap<String, OwnedValue>> {
        self.properties_call(name, path, "GetAll", &interface).await
    }

    /// A method of `org.freedesktop.DBus.Properties` on the unit object at `path`, its
    /// reply deserialized; errors name the method and the unit.
    async fn properties_call<B, R>(
        &self,
        name: &str,
        path: &OwnedObjectPath,
        method: &'static str,
        body: &B,
    ) -> Result<R>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
    {
        let reply = self
            .conn
            .call_method(
                Some(SERVICE),
                path.as_str(),
                Some(PROPERTIES_INTERFACE),
                method,
                body,
            )
            .await
            .map_err(|e| call_error(method, name, e))?;
        reply
            .body()
            .deserialize()
            .map_err(|e| call_error(method, name, e))
    }

    /// The units' load and active states from one `ListUnitsByNames`, in order: the cheap
    /// half of what a `/metrics` scrape needs ([`Self::vitals`] is the other).
    pub async fn list(&self, names: &[String]) -> Result<Vec<Listed>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.list_units(names).await?;
        Ok(names
            .iter()
            .zip(rows)
            .map(|(name, row)| {
                let (_, _, load, active, _, _, path, _, _, _) = row;
                Listed {
                    name: name.clone(),
                    load_state: LoadState::parse(&load),
                    active_state: ActiveState::parse(&active),
                    path,
                }
            })
            .collect())
    }

    /// What a `/metrics` scrape needs of each listed unit, cheaper than
    /// [`Self::unit_states`]: only the type's own interface (`Service` or `Scope`, about a
    /// third of a unit's properties), [`READS_IN_FLIGHT`] at a time, in order.
    pub async fn vitals(&self, units: &[&Listed]) -> Result<Vec<UnitVitals>> {
        let reads: Vec<_> = units.iter().map(|u| self.vitals_of(u)).collect();
        futures_util::stream::iter(reads)
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await
    }

    async fn vitals_of(&self, unit: &Listed) -> Result<UnitVitals> {
        let mut vitals = UnitVitals {
            load_state: unit.load_state.clone(),
            active_state: unit.active_state.clone(),
            ..UnitVitals::default()
        };
        let interface = match unit.name.rsplit_once('.') {
            Some((_, "service")) => "org.freedesktop.systemd1.Service",
            Some((_, "scope")) => "org.freedesktop.systemd1.Scope",
            _ => return Ok(vitals),
        };
        if vitals.load_state == LoadState::NotFound {
            return Ok(vitals);
        }
        let props = self.get_all(&unit.name, &unit.path, interface).await?;
        vitals.n_restarts = prop_u32(&props, "NRestarts");
        vitals.control_group = Some(prop_string(&props, "ControlGroup")).filter(|c| !c.is_empty());
        vitals.resources = UnitResources::of(&props);
        Ok(vitals)
    }

    async fn unit_state(
        &self,
        name: &str,
        load_state: LoadState,
        active_state: ActiveState,
        sub_state: String,
        path: OwnedObjectPath,
    ) -> Result<UnitState> {
        let mut state = UnitState {
            name: name.to_owned(),
            load_state,
            active_state,
            sub_state,
            fragment_path: None,
            n_restarts: None,
            exec_main_status: None,
            active_enter_timestamp_us: 0,
            unit_file_state: UnitFileState::Absent,
            need_daemon_reload: false,
            drop_in_paths: Vec::new(),
        };
        if state.load_state == LoadState::NotFound {
            return Ok(state);
        }
        // The Unit interface whole (~3 KB a unit) and two numbers of the Service interface
        // on their own: all of Service is ~10 KB, mostly `ExecStart=` with its whole
        // command line, and at 300 units reading it made up most of a no-op's D-Bus
        // traffic (4 MB).
        let service = name.ends_with(".service");
        let failed = state.active_state == ActiveState::Failed;
        let (props, restarts, status) = tokio::join!(
            self.get_all(name, &path, UNIT_INTERFACE),
            self.get_service_number::<u32>(name, &path, "NRestarts", service),
            self.get_service_number::<i32>(name, &path, "ExecMainStatus", service && failed),
        );
        let props = props?;
        state.n_restarts = restarts?;
        state.exec_main_status = status?;
        state.fragment_path = Some(prop_string(&props, "FragmentPath"))
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        state.active_enter_timestamp_us = prop_u64(&props, "ActiveEnterTimestamp");
        state.unit_file_state = UnitFileState::parse(&prop_string(&props, "UnitFileState"));
        state.need_daemon_reload = prop_bool(&props, "NeedDaemonReload");
        state.drop_in_paths = prop_strings(&props, "DropInPaths")
            .into_iter()
            .map(PathBuf::from)
            .collect();
        Ok(state)
    }

    /// One number property of a service (`Get`), when `wanted`.
    async fn get_service_number<T>(
        &self,
        name: &str,
        path: &OwnedObjectPath,
        property: &str,
        wanted: bool,
    ) -> Result<Option<T>>
    where
        T: TryFrom<OwnedValue>,
    {
        if !wanted {
            return Ok(None);
        }
        let value: OwnedValue = self
            .properties_call(name, path, "Get", &(SERVICE_INTERFACE, property))
            .await?;
        Ok(T::try_from(value).ok())
    }

    /// `StartUnit(unit, "replace")` and waits for the job's end.
    pub async fn start(&self, unit: &str) -> Result<JobOutcome> {
        self.run_job(JobMethod::Start, unit).await
    }

    /// `StopUnit(unit, "replace")` and waits for the job's end.
    pub async fn stop(&self, unit: &str) -> Result<JobOutcome> {
        self.run_job(JobMethod::Stop, unit).await
    }

    /// `RestartUnit(unit, "replace")` and waits for the job's end.
    pub async fn restart(&self, unit: &str) -> Result<JobOutcome> {
        self.run_job(JobMethod::Restart, unit).await
    }

    async fn run_job(&self, method: JobMethod, unit: &str) -> Result<JobOutcome> {
        let call = match method {
            JobMethod::Start => self.manager.start_unit(unit, "replace").await,
            JobMethod::Stop => self.manager.stop_unit(unit, "replace").await,
            JobMethod::Restart => self.manager.restart_unit(unit, "replace").await,
        };
        let job = call.map_err(|e| call_error(method.name(), unit, e))?;
        self.wait_job(method.name(), unit, job.as_str()).await
    }

    /// Waits for the job systemd queued for `unit` on its own, e.g. the restart it passes
    /// on to a unit that `Requires=` one being restarted: `None` when the unit has no job,
    /// because it already ended (its unit's state tells how) or there never was one.
    ///
    /// A job that ends between the look and the wait is not missed: its `JobRemoved` is kept
    /// until claimed, like the result of a job this connection started.
    pub async fn wait_queued_job(&self, unit: &str) -> Result<Option<JobOutcome>> {
        const METHOD: &str = "ListUnitsByNames";
        let rows = self
            .manager
            .list_units_by_names(&[unit])
            .await
            .map_err(|e| call_error(METHOD, unit, e))?;
        let [row] = rows.as_slice() else {
            return Err(SystemdError::RowCount {
                asked: 1,
                got: rows.len(),
            });
        };
        let job = row.9.as_str();
        if job == "/" {
            return Ok(None);
        }
        self.wait_job("Job", unit, job).await.map(Some)
    }

    /// Waits up to the job timeout for `job`'s `JobRemoved`, or claims it if it came first.
    async fn wait_job(&self, method: &'static str, unit: &str, job: &str) -> Result<JobOutcome> {
        tracing::debug!(unit, job, method, "waiting for job");
        let rx = match self.waiters.register(job) {
            Registration::Finished(result) => return Ok(JobOutcome::from_result(&result)),
            Registration::Pending(rx) => rx,
            Registration::Closed => return Err(disconnected(method, unit, job)),
        };
        match tokio::time::timeout(self.job_timeout, rx).await {
            Ok(Ok(result)) => Ok(JobOutcome::from_result(&result)),
            Ok(Err(_)) => Err(disconnected(method, unit, job)),
            Err(_) => {
                self.waiters.forget(job);
                Err(SystemdError::JobTimeout {
                    method,
                    unit: unit.to_owned(),
                    job: job.to_owned(),
                    timeout: self.job_timeout,
                })
            }
        }
    }

    /// `EnableUnitFiles(files, runtime=false, force=false)`; follow with [`reload`](Self::reload)
    /// so systemd's view (e.g. `UnitFileState`) catches up.
    pub async fn enable(&self, files: &[String]) -> Result<Vec<UnitFileChange>> {
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        let (_carries_install_info, changes) = self
            .manager
            .enable_unit_files(&refs, false, false)
            .await
            .map_err(|e| call_error("EnableUnitFiles", files.join(" "), e))?;
        Ok(changes.into_iter().map(UnitFileChange::from).collect())
    }

    /// `DisableUnitFiles(files, runtime=false)`; follow with [`reload`](Self::reload).
    pub async fn disable(&self, files: &[String]) -> Result<Vec<UnitFileChange>> {
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        let changes = self
            .manager
            .disable_unit_files(&refs, false)
            .await
            .map_err(|e| call_error("DisableUnitFiles", files.join(" "), e))?;
        Ok(changes.into_iter().map(UnitFileChange::from).collect())
    }

    /// `ResetFailedUnit(unit)`: clears the failed state and the start-limit counter.
    pub async fn reset_failed(&self, unit: &str) -> Result<()> {
        self.manager
            .reset_failed_unit(unit)
            .await
            .map_err(|e| call_error("ResetFailedUnit", unit, e))
    }
}

fn disconnected(method: &'static str, unit: &str, job: &str) -> SystemdError {
    SystemdError::Disconnected {
        method,
        unit: unit.to_owned(),
        job: job.to_owned(),
    }
}

/// Drains `JobRemoved` for as long as the connection lives.
async fn dispatch_jobs(
    mut jobs: proxy::JobRemovedStream,
    waiters: Arc<JobWaiters>,
    events: broadcast::Sender<SystemdEvent>,
) {
    while let Some(signal) = jobs.next().await {
        match signal.args() {
            Ok(args) => {
                let job = args.job.as_str();
                waiters.job_removed(job, &args.result);
                // No receivers is normal: events are optional.
                let _ = events.send(SystemdEvent::JobRemoved {
                    id: args.id,
                    job: job.to_owned(),
                    unit: args.unit.clone(),
                    outcome: JobOutcome::from_result(&args.result),
                });
            }
            Err(e) => tracing::warn!(error = %e, "malformed JobRemoved signal"),
        }
    }
    tracing::debug!("JobRemoved stream ended");
    waiters.close();
}

/// Drains `UnitRemoved` for as long as the connection lives.
async fn dispatch_units(
    mut units: proxy::UnitRemovedStream,
    events: broadcast::Sender<SystemdEvent>,
) {
    while let Some(signal) = units.next().await {
        match signal.args() {
            Ok(args) => {
                let _ = events.send(SystemdEvent::UnitRemoved {
                    unit: args.unit.clone(),
                });
            }
            Err(e) => tracing::warn!(error = %e, "malformed UnitRemoved signal"),
        }
    }
}

fn prop_u32(props: &HashMap<String, OwnedValue>, key: &str) -> Option<u32> {
    props.get(key).and_then(|v| v.downcast_ref::<u32>().ok())
}

fn prop_i32(props: &HashMap<String, OwnedValue>, key: &str) -> Option<i32> {
    props.get(key).and_then(|v| v.downcast_ref::<i32>().ok())
}

fn prop_string(props: &HashMap<String, OwnedValue>, key: &str) -> String {
    props
        .get(key)
        .and_then(|v| v.downcast_ref::<&str>().ok())
        .map(str::to_owned)
        .unwrap_or_default()
}

fn prop_u64(props: &HashMap<String, OwnedValue>, key: &str) -> u64 {
    props
        .get(key)
        .and_then(|v| v.downcast_ref::<u64>().ok())
        .unwrap_or_default()
}

fn prop_strings(props: &HashMap<String, OwnedValue>, key: &str) -> Vec<String> {
    props
        .get(key)
        .and_then(|v| v.try_clone().ok())
        .and_then(|v| Vec::<String>::try_from(v).ok())
        .unwrap_or_default()
}

fn prop_bool(props: &HashMap<String, OwnedValue>, key: &str) -> bool {
    props
        .get(key)
        .and_then(|v| v.downcast_ref::<bool>().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_outcome_should_map_every_systemd_result() {
        for (result, outcome) in [
            ("done", JobOutcome::Done),
            ("canceled", JobOutcome::Canceled),
            ("timeout", JobOutcome::Timeout),
            ("failed", JobOutcome::Failed),
            ("dependency", JobOutcome::Dependency),
            ("skipped", JobOutcome::Skipped),
            ("invalid", JobOutcome::Other("invalid".to_owned())),
        ] {
            assert_eq!(JobOutcome::from_result(result), outcome);
            assert_eq!(outcome.as_str(), result);
        }
        assert!(JobOutcome::Done.is_done());
        assert!(!JobOutcome::Failed.is_done());
    }

    #[test]
    fn states_should_round_trip_their_strings() {
        for s in [
            "loaded",
            "not-found",
            "bad-setting",
            "error",
            "masked",
            "stub",
            "merged",
            "weird",
        ] {
            assert_eq!(LoadState::parse(s).as_str(), s);
        }
        for s in [
            "active",
            "reloading",
            "inactive",
            "failed",
            "activating",
            "deactivating",
            "maintenance",
            "refreshing",
            "weird",
        ] {
            assert_eq!(ActiveState::parse(s).as_str(), s);
        }
        assert_eq!(LoadState::parse("not-found"), LoadState::NotFound);
        assert_eq!(ActiveState::parse("failed"), ActiveState::Failed);
    }

    #[test]
    fn call_error_should_keep_dbus_name_and_message_apart() {
        let err = call_error(
            "StartUnit",
            "x.service",
            zbus::Error::FDO(Box::new(zbus::fdo::Error::AccessDenied(
                "not allowed".to_owned(),
            ))),
        );
        assert_eq!(
            err.dbus_name(),
            Some("org.freedesktop.DBus.Error.AccessDenied")
        );
        assert_eq!(
            err.to_string(),
            "systemd StartUnit(x.service) failed: org.freedesktop.DBus.Error.AccessDenied: not allowed"
        );
    }
}
