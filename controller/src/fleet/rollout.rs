//! `podctl sync` in a fleet: the commit is fetched as always, then taken only when the wave
//! rule and the group's slots allow; whatever is decided is recorded (etcd and the local
//! file) and said. etcd unreachable: the host keeps its commit (the controller keeps
//! repairing drift meanwhile) and the next run decides again.

use std::path::Path;

use super::etcd::{Etcd, SlotTaken};
use super::gate::{self, Decision, Policy, Slot};
use super::record::{self, GateRecord, GateState};
use super::{EtcdConfig, FleetError, FleetHost};
use crate::report::error_chain as chain;
use crate::sync::{self, Fetched, SyncError, SyncOptions, Synced};

/// What a gated sync did.
#[derive(Debug)]
pub struct Outcome {
    pub state: GateState,
    /// The swap, when the commit was taken.
    pub synced: Option<Synced>,
}

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Fleet(#[from] FleetError),
}

impl RolloutError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sync(e) => e.kind(),
            Self::Fleet(e) => e.kind(),
        }
    }
}

/// Fetches, decides, and swaps only when the fleet allows; see the module's comment.
pub async fn sync(
    options: &SyncOptions,
    config: &EtcdConfig,
    me: &FleetHost,
    policy: &Policy,
    state_dir: &Path,
) -> Result<Outcome, RolloutError> {
    let fetched = sync::fetch(options).await?;
    let decided = match decide(&fetched, config, me, policy).await {
        Ok(d) => d,
        Err(e) if e.is_unreachable() => {
            let state =
                GateState::Unreachable(format!("{}; keeping the current commit", chain(&e)));
            remember(state_dir, me, &fetched, &state, None).await;
            tracing::warn!(host = %me.name, target = %fetched.commit, "etcd unreachable: keeping the current commit");
            return Ok(Outcome {
                state,
                synced: None,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let (state, synced) = match decided.take {
        Take::No(state) => (state, None),
        // The same commit; the link may still have to move (another --path).
        Take::UpToDate => (
            GateState::UpToDate,
            Some(sync::install(options, &fetched).await?),
        ),
        Take::Yes => match sync::install(options, &fetched).await {
            Ok(synced) => (GateState::Swapped, Some(synced)),
            Err(e) => {
                // The slot was for this commit; without it on disk, others may have it.
                let _ = decided.etcd.give_slot(&me.group, &me.name).await;
                return Err(e.into());
            }
        },
    };
    let in_etcd = InEtcd {
        etcd: &decided.etcd,
        lease: decided.lease,
        previous: decided.previous.as_ref(),
    };
    remember(state_dir, me, &fetched, &state, Some(in_etcd)).await;
    match &state {
        GateState::Halted(why) => {
            tracing::warn!(host = %me.name, target = %fetched.commit, "rollout halted for this host: {why}");
        }
        GateState::Waiting(why) | GateState::WaitingForSlot(why) => {
            tracing::info!(host = %me.name, target = %fetched.commit, "waiting before taking the commit: {why}");
        }
        GateState::Swapped => {
            tracing::info!(host = %me.name, wave = me.wave, commit = %fetched.commit, "fleet: commit taken");
        }
        GateState::UpToDate | GateState::Unreachable(_) => {}
    }
    Ok(Outcome { state, synced })
}

enum Take {
    UpToDate,
    Yes,
    No(GateState),
}

struct Decided {
    etcd: Etcd,
    lease: i64,
    take: Take,
    /// This host's gate record in etcd before this run.
    previous: Option<GateRecord>,
}

/// Where the gate record goes in etcd, and what is there already.
struct InEtcd<'a> {
    etcd: &'a Etcd,
    lease: i64,
    previous: Option<&'a GateRecord>,
}

/// Reads the fleet, gives back a slot this host is done with, applies the wave rule and
/// takes a slot.
async fn decide(
    fetched: &Fetched,
    config: &EtcdConfig,
    me: &FleetHost,
    policy: &Policy,
) -> Result<Decided, FleetError> {
    let etcd = Etcd::connect(config).await?;
    let snapshot = etcd.snapshot().await?;
    let (mine, lease) = snapshot
        .host(&me.name)
        .cloned()
        .ok_or_else(|| FleetError::NoReport(me.name.clone()))?;
    let now = super::now();
    let held = snapshot
        .slots
        .get(&me.group)
        .and_then(|slots| slots.iter().find(|s| s.host == me.name));
    if let Some(slot) = held
        && gate::slot_done(slot, &mine)
    {
        etcd.give_slot(&me.group, &me.name).await?;
        tracing::info!(host = %me.name, commit = %slot.commit, "fleet: converged, slot given back");
    }
    let take = match gate::decide(
        me,
        fetched.current.as_deref(),
        &fetched.commit,
        &snapshot.reports(),
        policy,
        now,
    ) {
        Decision::UpToDate => Take::UpToDate,
        Decision::Wait(why) => Take::No(GateState::Waiting(why)),
        Decision::Halt(why) => Take::No(GateState::Halted(why)),
        Decision::Proceed => {
            let slot = Slot {
                host: me.name.clone(),
                commit: fetched.commit.clone(),
                since: now,
            };
            match etcd.take_slot(&me.group, &slot, lease, policy).await? {
                SlotTaken::Held => Take::Yes,
                SlotTaken::Full(why) => Take::No(GateState::WaitingForSlot(why)),
            }
        }
    };
    let previous = snapshot.gates.into_iter().find(|g| g.host == me.name);
    Ok(Decided {
        etcd,
        lease,
        take,
        previous,
    })
}

/// Records the decision locally (the metrics read it) and, when etcd answers, in etcd.
async fn remember(
    state_dir: &Path,
    me: &FleetHost,
    fetched: &Fetched,
    state: &GateState,
    etcd: Option<InEtcd<'_>>,
) {
    let current = match state {
        GateState::Swapped | GateState::UpToDate => Some(fetched.commit.clone()),
        GateState::Waiting(_)
        | GateState::WaitingForSlot(_)
        | GateState::Halted(_)
        | GateState::Unreachable(_) => fetched.current.clone(),
    };
    let record = GateRecord {
        version: record::VERSION,
        host: me.name.clone(),
        wave: me.wave,
        target: fetched.commit.clone(),
        current,
        state: state.clone(),
        at: super::now(),
    };
    if let Err(e) = record::write(state_dir, &record) {
        tracing::warn!(host = %me.name, error = %e, "cannot write the local gate record");
    }
    // etcd keeps every revision until compaction: a decision repeated by each run of the
    // timer is written once, with the time it was first made.
    let Some(to) = etcd else { return };
    let unchanged = to.previous.is_some_and(|p| {
        (&p.target, &p.current, &p.state) == (&record.target, &record.current, &record.state)
    });
    if !unchanged && let Err(e) = to.etcd.put_gate(&record, to.lease).await {
        tracing::warn!(host = %me.name, error = %chain(&e), "cannot write the gate record to etcd");
    }
}
