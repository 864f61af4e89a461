//! Fleet rollouts: a new commit reaches the canaries (wave 0) first and the next waves only
//! after every host of the lower waves ran it converged and healthy for a soak time; a
//! canary that fails halts the rollout. Coordination goes through etcd, never shared files:
//!
//! - `PREFIX/hosts/NAME`: each host's [`report::HostReport`], written by its controller on
//!   a lease it keeps alive (a host that dies disappears when the lease runs out);
//! - `PREFIX/gates/NAME`: what `podctl sync` decided for the commit it fetched
//!   ([`record::GateRecord`]: waiting, halted and why), on the same lease;
//! - `PREFIX/slots/GROUP/NAME`: the hosts of a group taking a commit now, a counting
//!   semaphore with the semantics of Zincati's FleetLock (take before the swap, give back
//!   once converged), also on the host's lease; `PREFIX/slots-guard/GROUP` serialises takers.
//!
//! The decisions are pure ([`gate`], [`report`]); [`etcd`] is the I/O, [`reporter`] the
//! controller's task, [`rollout`] the gated `podctl sync`. docs/fleet.md is the guide.

pub mod etcd;
pub mod gate;
pub mod record;
pub mod report;
pub mod reporter;
pub mod rollout;
pub mod status;

use std::path::PathBuf;
use std::time::Duration;

/// Where the fleet's keys live unless `--fleet-prefix` says otherwise.
pub const DEFAULT_PREFIX: &str = "/podctl/fleet";
/// How long a host's keys outlive its last keep-alive.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

/// How to reach etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// `http://10.0.0.1:2379`, `https://…` (several: any member of the cluster).
    pub endpoints: Vec<String>,
    /// The keys' prefix, without a trailing `/`.
    pub prefix: String,
    pub tls: Option<TlsFiles>,
}

/// PEM files for etcd over TLS: the CA that signed the members' certificates, and this
/// host's client certificate and key when the cluster asks for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub client: Option<(PathBuf, PathBuf)>,
}

/// This host in the fleet (from `host.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetHost {
    pub name: String,
    pub wave: u32,
    pub group: String,
}

impl FleetHost {
    /// The host's identity as a fleet member: a wave is required, so that a host never
    /// joins as a canary by accident.
    pub fn of(identity: &podctl_api::HostIdentity) -> Result<Self, FleetError> {
        let wave = identity
            .fleet_wave()
            .map_err(FleetError::Identity)?
            .ok_or_else(|| {
                FleetError::Identity(format!(
                    "host {} has no wave: add `wave: 0` (a canary) or `wave: 1`, … to its host.yaml",
                    identity.name
                ))
            })?;
        let group = identity.fleet_group().to_owned();
        if group.is_empty() || group.contains('/') {
            return Err(FleetError::Identity(format!(
                "group {group:?} of host {}: a non-empty name without `/`",
                identity.name
            )));
        }
        if identity.name.contains('/') {
            return Err(FleetError::Identity(format!(
                "host name {:?}: a fleet member's name has no `/`",
                identity.name
            )));
        }
        Ok(Self {
            name: identity.name.clone(),
            wave,
            group,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot reach etcd at {endpoints}")]
    Connect {
        endpoints: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("etcd: cannot {what}")]
    Etcd {
        what: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("cannot read {what} for etcd's TLS ({path})")]
    Tls {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Identity(String),
    #[error(
        "host {0} has no report in etcd: run its controller with --fleet-etcd (it writes the report `podctl sync` needs)"
    )]
    NoReport(String),
    #[error("this host's lease in etcd ran out")]
    LeaseLost,
    #[error("cannot encode the fleet record")]
    Encode(#[source] serde_json::Error),
}

impl FleetError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect { .. } | Self::Etcd { .. } | Self::LeaseLost => "etcd",
            Self::Tls { .. } => "tls",
            Self::Identity(_) => "identity",
            Self::NoReport(_) => "no-report",
            Self::Encode(_) => "encode",
        }
    }

    /// etcd could not be reached or answered: the host keeps its commit and tries again.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Connect { .. } | Self::Etcd { .. })
    }
}

/// Unix seconds now.
pub fn now() -> f64 {
    crate::report::controller_status::unix_now()
}
