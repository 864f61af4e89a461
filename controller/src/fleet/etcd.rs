//! The fleet's keys in etcd: one read of everything, the host's lease, reports and gate
//! records on it, and the group's slots (a counting semaphore taken in a transaction).

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, LeaseKeepAliveStream, LeaseKeeper,
    PutOptions, Txn, TxnOp, TxnOpResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::gate::{Policy, Slot, may_take_slot};
use super::record::GateRecord;
use super::report::HostReport;
use super::{EtcdConfig, FleetError};

/// How long to wait for a connection, and for any one request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts at a slot when other hosts take slots at the same moment.
const SLOT_ATTEMPTS: usize = 5;

/// A connection to etcd and the key layout under the prefix.
#[derive(Clone)]
pub struct Etcd {
    client: Client,
    prefix: String,
}

/// Everything under the prefix, read at one revision.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Each live host's report with its lease.
    pub hosts: Vec<(HostReport, i64)>,
    pub gates: Vec<GateRecord>,
    /// Slot holders by group.
    pub slots: BTreeMap<String, Vec<Slot>>,
    /// Keys under the prefix that are not what podctl writes there (shown, not trusted).
    pub unreadable: Vec<String>,
    /// etcd's revision of the read.
    pub revision: i64,
}

impl Snapshot {
    pub fn reports(&self) -> Vec<HostReport> {
        self.hosts.iter().map(|(r, _)| r.clone()).collect()
    }

    pub fn host(&self, name: &str) -> Option<&(HostReport, i64)> {
        self.hosts.iter().find(|(r, _)| r.name == name)
    }
}

/// What taking a slot came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotTaken {
    /// This host holds a slot (now, or it held one already).
    Held,
    /// Every slot is taken: who holds them.
    Full(String),
}

impl Etcd {
    pub async fn connect(config: &EtcdConfig) -> Result<Self, FleetError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT);
        if let Some(tls) = &config.tls {
            options = options.with_tls(tls_options(tls)?);
        }
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(|source| FleetError::Connect {
                endpoints: config.endpoints.join(","),
                source,
            })?;
        Ok(Self {
            client,
            prefix: config.prefix.trim_end_matches('/').to_owned(),
        })
    }

    fn host_key(&self, name: &str) -> String {
        format!("{}/hosts/{name}", self.prefix)
    }

    fn gate_key(&self, name: &str) -> String {
        format!("{}/gates/{name}", self.prefix)
    }

    fn slots_prefix(&self, group: &str) -> String {
        format!("{}/slots/{group}/", self.prefix)
    }

    fn slot_key(&self, group: &str, name: &str) -> String {
        format!("{}/slots/{group}/{name}", self.prefix)
    }

    fn guard_key(&self, group: &str) -> String {
        format!("{}/slots-guard/{group}", self.prefix)
    }

    /// Every key under the prefix, at one revision.
    pub async fn snapshot(&self) -> Result<Snapshot, FleetError> {
        let mut client = self.client.clone();
        let response = client
            .get(
                format!("{}/", self.prefix),
                Some(GetOptions::new().with_prefix()),
            )
            .await
            .map_err(etcd("read the fleet's keys"))?;
        let mut snapshot = Snapshot {
            revision: response.header().map_or(0, |h| h.revision()),
            ..Snapshot::default()
        };
        let hosts = format!("{}/hosts/", self.prefix);
        let gates = format!("{}/gates/", self.prefix);
        let slots = format!("{}/slots/", self.prefix);
        let guards = format!("{}/slots-guard/", self.prefix);
        for kv in response.kvs() {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            let read = if key.starts_with(&hosts) {
                decode::<HostReport>(kv.value()).map(|r| snapshot.hosts.push((r, kv.lease())))
            } else if key.starts_with(&gates) {
                decode::<GateRecord>(kv.value()).map(|g| snapshot.gates.push(g))
            } else if let Some(rest) = key.strip_prefix(&slots) {
                let group = rest.split('/').next().unwrap_or("").to_owned();
                decode::<Slot>(kv.value()).map(|s| snapshot.slots.entry(group).or_default().push(s))
            } else if key.starts_with(&guards) {
                Some(())
            } else {
                None
            };
            if read.is_none() {
                snapshot.unreadable.push(key);
            }
        }
        Ok(snapshot)
    }

    /// A new lease of `ttl` (whole seconds, at least 2).
    pub async fn grant(&self, ttl: Duration) -> Result<i64, FleetError> {
        let mut client = self.client.clone();
        let ttl = i64::try_from(ttl.as_secs().max(2)).unwrap_or(i64::MAX);
        let lease = client
            .lease_grant(ttl, None)
            .await
            .map_err(etcd("grant a lease"))?;
        Ok(lease.id())
    }

    /// A stream that keeps `lease` alive, one request per [`KeepAlive::renew`].
    pub async fn keep_alive(&self, lease: i64) -> Result<KeepAlive, FleetError> {
        let mut client = self.client.clone();
        let (keeper, stream) = client
            .lease_keep_alive(lease)
            .await
            .map_err(etcd("keep the lease alive"))?;
        Ok(KeepAlive { keeper, stream })
    }

    /// Gives the lease up: the host's keys go at once (a clean stop).
    pub async fn revoke(&self, lease: i64) -> Result<(), FleetError> {
        let mut client = self.client.clone();
        client
            .lease_revoke(lease)
            .await
            .map_err(etcd("revoke the lease"))?;
        Ok(())
    }

    pub async fn put_report(&self, report: &HostReport, lease: i64) -> Result<(), FleetError> {
        self.put(
            self.host_key(&report.name),
            report,
            lease,
            "write this host's report",
        )
        .await
    }

    pub async fn put_gate(&self, gate: &GateRecord, lease: i64) -> Result<(), FleetError> {
        self.put(
            self.gate_key(&gate.host),
            gate,
            lease,
            "write this host's gate record",
        )
        .await
    }

    async fn put<T: Serialize>(
        &self,
        key: String,
        value: &T,
        lease: i64,
        what: &str,
    ) -> Result<(), FleetError> {
        let mut client = self.client.clone();
        let value = serde_json::to_vec(value).map_err(FleetError::Encode)?;
        client
            .put(key, value, Some(PutOptions::new().with_lease(lease)))
            .await
            .map_err(etcd(what))?;
        Ok(())
    }

    /// Takes one of the group's slots for `slot.host`, on `lease`. Holders are read and the
    /// guard key compared and bumped in one transaction each way, so two hosts never both
    /// take the last slot; slots given back or lost with a lease only free room.
    pub async fn take_slot(
        &self,
        group: &str,
        slot: &Slot,
        lease: i64,
        policy: &Policy,
    ) -> Result<SlotTaken, FleetError> {
        let mut client = self.client.clone();
        let guard = self.guard_key(group);
        for _ in 0..SLOT_ATTEMPTS {
            let read = Txn::new().and_then([
                TxnOp::get(guard.clone(), None),
                TxnOp::get(
                    self.slots_prefix(group),
                    Some(GetOptions::new().with_prefix()),
                ),
            ]);
            let response = client.txn(read).await.map_err(etcd("read the slots"))?;
            let mut gets = response.op_responses().into_iter().filter_map(|r| match r {
                TxnOpResponse::Get(g) => Some(g),
                TxnOpResponse::Put(_) | TxnOpResponse::Delete(_) | TxnOpResponse::Txn(_) => None,
            });
            let guard_revision = gets
                .next()
                .and_then(|g| g.kvs().first().map(etcd_client::KeyValue::mod_revision))
                .unwrap_or(0);
            let holders: Vec<Slot> = gets
                .next()
                .map(|g| g.kvs().iter().filter_map(|kv| decode(kv.value())).collect())
                .unwrap_or_default();
            if let Err(full) = may_take_slot(&slot.host, &holders, policy, slot.since) {
                return Ok(SlotTaken::Full(full));
            }
            if holders
                .iter()
                .any(|h| h.host == slot.host && h.commit == slot.commit)
            {
                return Ok(SlotTaken::Held);
            }
            let unchanged = if guard_revision == 0 {
                Compare::version(guard.clone(), CompareOp::Equal, 0)
            } else {
                Compare::mod_revision(guard.clone(), CompareOp::Equal, guard_revision)
            };
            let value = serde_json::to_vec(slot).map_err(FleetError::Encode)?;
            let take = Txn::new().when([unchanged]).and_then([
                TxnOp::put(guard.clone(), slot.host.clone(), None),
                TxnOp::put(
                    self.slot_key(group, &slot.host),
                    value,
                    Some(PutOptions::new().with_lease(lease)),
                ),
            ]);
            if client
                .txn(take)
                .await
                .map_err(etcd("take a slot"))?
                .succeeded()
            {
                return Ok(SlotTaken::Held);
            }
        }
        Ok(SlotTaken::Full(format!(
            "other hosts took slots of group {group} at the same time {SLOT_ATTEMPTS} times in a row"
        )))
    }

    /// Gives this host's slot back.
    pub async fn give_slot(&self, group: &str, host: &str) -> Result<(), FleetError> {
        let mut client = self.client.clone();
        client
            .delete(self.slot_key(group, host), None)
            .await
            .map_err(etcd("give the slot back"))?;
        Ok(())
    }
}

/// One lease's keep-alive stream.
pub struct KeepAlive {
    keeper: LeaseKeeper,
    stream: LeaseKeepAliveStream,
}

impl KeepAlive {
    /// Renews the lease once; `LeaseLost` when etcd says it is gone (it ran out).
    pub async fn renew(&mut self) -> Result<(), FleetError> {
        self.keeper
            .keep_alive()
            .await
            .map_err(etcd("keep the lease alive"))?;
        match self
            .stream
            .message()
            .await
            .map_err(etcd("keep the lease alive"))?
        {
            Some(answer) if answer.ttl() > 0 => Ok(()),
            Some(_) | None => Err(FleetError::LeaseLost),
        }
    }
}

fn etcd(what: &str) -> impl FnOnce(etcd_client::Error) -> FleetError + '_ {
    move |source| FleetError::Etcd {
        what: what.to_owned(),
        source,
    }
}

fn decode<T: DeserializeOwned>(value: &[u8]) -> Option<T> {
    serde_json::from_slice(value).ok()
}

fn tls_options(tls: &super::TlsFiles) -> Result<etcd_client::TlsOptions, FleetError> {
    let read = |what, path: &std::path::Path| {
        std::fs::read(path).map_err(|source| FleetError::Tls {
            what,
            path: path.to_owned(),
            source,
        })
    };
    let mut options = etcd_client::TlsOptions::new()
        .ca_certificate(etcd_client::Certificate::from_pem(read("the CA", &tls.ca)?));
    if let Some((cert, key)) = &tls.client {
        options = options.identity(etcd_client::Identity::from_pem(
            read("the client certificate", cert)?,
            read("the client key", key)?,
        ));
    }
    Ok(options)
}
