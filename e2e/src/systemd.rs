//! Unit state read over the sandbox's D-Bus system bus (org.freedesktop.systemd1), from
//! outside the sandbox: the same path podctl's own systemd adapter takes, so a test that passes
//! here proves the bus, not just `systemctl`'s view.

use anyhow::{Context, Result};
use zbus::proxy::CacheProperties;
use zbus::zvariant::OwnedObjectPath;

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    /// Loads the unit if needed (GetUnit fails for units systemd has not loaded).
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1"
)]
trait Unit {
    #[zbus(property)]
    fn load_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn sub_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn active_enter_timestamp(&self) -> zbus::Result<u64>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1"
)]
trait Service {
    #[zbus(property, name = "NRestarts")]
    fn n_restarts(&self) -> zbus::Result<u32>;
    #[zbus(property, name = "MainPID")]
    fn main_pid(&self) -> zbus::Result<u32>;
    /// Each command: path, argv, ignore-failure, then timestamps, pid and status.
    #[zbus(property, name = "ExecStart")]
    fn exec_start(&self) -> zbus::Result<Vec<ExecCommand>>;
    #[zbus(property, name = "ReadWritePaths")]
    fn read_write_paths(&self) -> zbus::Result<Vec<String>>;
}

/// systemd's `a(sasbttttuii)` of `ExecStart`.
type ExecCommand = (String, Vec<String>, bool, u64, u64, u64, u64, u32, i32, i32);

/// What systemd parsed out of a service's unit file: the words and paths it will use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedService {
    pub load_state: String,
    /// The argv of each `ExecStart=` command.
    pub exec_start: Vec<Vec<String>>,
    pub read_write_paths: Vec<String>,
}

/// A snapshot of the properties tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitStatus {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// CLOCK_REALTIME in µs when the unit last became active; 0 if never.
    pub active_enter_timestamp: u64,
    /// Only for services: how often systemd restarted it automatically.
    pub n_restarts: Option<u32>,
    /// Only for services: the main process as the sandbox's PID namespace sees it; 0 if none.
    pub main_pid: Option<u32>,
}

/// A connection to the sandbox's systemd over its system bus.
#[derive(Clone)]
pub struct Systemd {
    conn: zbus::Connection,
}

impl Systemd {
    /// Connects to a bus address such as `unix:path=/proc/PID/root/run/dbus/system_bus_socket`.
    pub async fn connect(address: &str) -> Result<Self> {
        let conn = zbus::connection::Builder::address(address)
            .with_context(|| format!("bad D-Bus address {address}"))?
            .build()
            .await
            .with_context(|| format!("cannot connect to the system bus at {address}"))?;
        Ok(Self { conn })
    }

    pub fn connection(&self) -> &zbus::Connection {
        &self.conn
    }

    /// How systemd parsed a service's unit file (after a `daemon-reload`): a property that
    /// is not valid UTF-8 fails here, as it fails `systemctl status`.
    pub async fn parsed_service(&self, name: &str) -> Result<ParsedService> {
        let manager = ManagerProxy::new(&self.conn).await?;
        let path = manager
            .load_unit(name)
            .await
            .with_context(|| format!("LoadUnit({name}) failed"))?;
        let unit = UnitProxy::builder(&self.conn)
            .path(path.clone())?
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let service = ServiceProxy::builder(&self.conn)
            .path(path)?
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let context = || format!("reading the parsed properties of {name}");
        Ok(ParsedService {
            load_state: unit.load_state().await.with_context(context)?,
            exec_start: service
                .exec_start()
                .await
                .with_context(context)?
                .into_iter()
                .map(|c| c.1)
                .collect(),
            read_write_paths: service.read_write_paths().await.with_context(context)?,
        })
    }

    /// Reads a unit's current state; every call asks systemd (no cached properties).
    pub async fn unit(&self, name: &str) -> Result<UnitStatus> {
        let manager = ManagerProxy::new(&self.conn).await?;
        let path = manager
            .load_unit(name)
            .await
            .with_context(|| format!("LoadUnit({name}) failed"))?;
        let unit = UnitProxy::builder(&self.conn)
            .path(path.clone())?
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let context = || format!("reading properties of {name}");
        let (n_restarts, main_pid) = if name.ends_with(".service") {
            let service = ServiceProxy::builder(&self.conn)
                .path(path)?
                .cache_properties(CacheProperties::No)
                .build()
                .await?;
            (
                Some(service.n_restarts().await.with_context(context)?),
                Some(service.main_pid().await.with_context(context)?),
            )
        } else {
            (None, None)
        };
        Ok(UnitStatus {
            name: name.to_owned(),
            load_state: unit.load_state().await.with_context(context)?,
            active_state: unit.active_state().await.with_context(context)?,
            sub_state: unit.sub_state().await.with_context(context)?,
            active_enter_timestamp: unit.active_enter_timestamp().await.with_context(context)?,
            n_restarts,
            main_pid,
        })
    }
}
