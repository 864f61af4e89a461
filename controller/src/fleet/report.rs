//! What a host tells the fleet: the commit at its manifests path and how it runs it. The
//! assessment is pure: the controller's `/status` document, its container samples and the
//! rollout records in, one [`HostState`] and a reason out; [`Tracker`] keeps the times a
//! state began (a soak is measured from them).

use serde::{Deserialize, Serialize};

use crate::adapters::podman::Health;
use crate::controller::container_metrics::ContainerSample;
use crate::report::controller_status::{ControllerStatus, ObjectPhase};

/// The report's format version.
pub const VERSION: u32 = 1;

/// How a host runs the commit at its manifests path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HostState {
    /// Every object applied and up to date, every container up and, with a health check,
    /// healthy.
    Converged,
    /// Taking the commit: not loaded yet, objects pending, containers starting.
    Progressing,
    /// Applied, but a container is down or unhealthy.
    Degraded,
    /// An object failed (or backs off, is blocked, in conflict), or a container's rollout to
    /// this commit's image was rolled back.
    Failed,
    /// The commit's manifests are invalid on this host; it keeps running the previous ones.
    Invalid,
}

impl HostState {
    pub const ALL: [HostState; 5] = [
        Self::Converged,
        Self::Progressing,
        Self::Degraded,
        Self::Failed,
        Self::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Converged => "Converged",
            Self::Progressing => "Progressing",
            Self::Degraded => "Degraded",
            Self::Failed => "Failed",
            Self::Invalid => "Invalid",
        }
    }
}

impl std::fmt::Display for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One host's entry in etcd (`PREFIX/hosts/NAME`, on the host's lease).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostReport {
    pub version: u32,
    pub name: String,
    pub wave: u32,
    pub group: String,
    /// The commit `podctl sync` put at the manifests path; `None` for a tree it did not make.
    pub commit: Option<String>,
    pub state: HostState,
    /// Why the state is not `Converged`: the first object in trouble.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Unix seconds: since when `commit` and `state` are what they are.
    pub since: f64,
    /// Unix seconds: since when `commit` is at the manifests path (as this host saw it).
    pub commit_since: f64,
}

/// What the assessment reads.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The commit at the manifests path now.
    pub disk_commit: Option<&'a str>,
    pub status: &'a ControllerStatus,
    /// The running revision's containers, as the metrics sample them.
    pub containers: &'a [ContainerSample],
    /// Containers whose last rollout was rolled back, and when it ended (Unix seconds).
    pub rolled_back: &'a [(String, f64)],
    /// A reconcile pass is running: a container down now may be one it restarts.
    pub pass_running: bool,
}

/// The host's state for the commit at its manifests path, and why it is not converged.
/// `commit_since`: when that commit arrived (a rollback before it belongs to an older one).
pub fn assess(o: &Observation<'_>, commit_since: f64) -> (HostState, Option<String>) {
    if let Some(invalid) = &o.status.invalid_revision {
        let first = invalid
            .errors
            .first()
            .map(|e| format!(": {}:{}:{}: {}", e.file, e.line, e.col, e.message))
            .unwrap_or_default();
        return (
            HostState::Invalid,
            Some(format!("{}{first}", invalid.message)),
        );
    }
    let running = o.status.revision.as_ref().and_then(|r| r.commit.as_deref());
    if o.status.revision.is_none() || running != o.disk_commit {
        return (
            HostState::Progressing,
            Some("the commit is not loaded yet".to_owned()),
        );
    }
    if let Some((name, _)) = o.rolled_back.iter().find(|(_, at)| *at >= commit_since) {
        return (
            HostState::Failed,
            Some(format!("container/{name}: its rollout was rolled back")),
        );
    }
    let mut progressing = None;
    for object in &o.status.objects {
        let what = || {
            let message = object.message.as_deref().unwrap_or("");
            format!(
                "{}/{}: {} {message}",
                object.kind.lowercase(),
                object.name,
                object.status
            )
            .trim_end()
            .to_owned()
        };
        match object.status {
            ObjectPhase::Failed
            | ObjectPhase::Blocked
            | ObjectPhase::Conflict
            | ObjectPhase::BackingOff => return (HostState::Failed, Some(what())),
            ObjectPhase::Pending => {
                progressing.get_or_insert_with(what);
            }
            ObjectPhase::UpToDate | ObjectPhase::Applied => {}
        }
    }
    // The objects' states are the last pass's: until a pass that began after the revision
    // was loaded has ended, they describe the previous revision (a rollout not begun).
    let loaded_at = o.status.revision.as_ref().map_or(0.0, |r| r.loaded_at);
    if o.status
        .last_reconcile
        .as_ref()
        .is_none_or(|p| p.started_at < loaded_at)
    {
        progressing.get_or_insert_with(|| "the commit's first pass has not ended yet".to_owned());
    }
    if let Some(reason) = progressing {
        return (HostState::Progressing, Some(reason));
    }
    match containers_state(o.containers) {
        // A rollout (or a repair) stops and starts units: while the pass runs, a container
        // down is progress; the pass's outcome says whether it failed.
        (HostState::Degraded, Some(why)) if o.pass_running => (
            HostState::Progressing,
            Some(format!("a reconcile pass is running ({why})")),
        ),
        other => other,
    }
}

/// Converged when every container is up and healthy; a health check still starting is
/// progress, one that failed (or a container down) is degradation.
fn containers_state(samples: &[ContainerSample]) -> (HostState, Option<String>) {
    let mut starting = None;
    for s in samples {
        match (s.up, s.health) {
            (false, _) => {
                return (
                    HostState::Degraded,
                    Some(format!(
                        "container/{}: {} is not running",
                        s.container, s.unit
                    )),
                );
            }
            (true, Some(Health::Unhealthy)) => {
                return (
                    HostState::Degraded,
                    Some(format!("container/{}: unhealthy", s.container)),
                );
            }
            (true, Some(Health::Starting)) => {
                starting.get_or_insert_with(|| {
                    format!("container/{}: health check starting", s.container)
                });
            }
            (true, Some(Health::Healthy) | None) => {}
        }
    }
    match starting {
        Some(reason) => (HostState::Progressing, Some(reason)),
        None => (HostState::Converged, None),
    }
}

/// The times a commit and a state began: a report says `since` (the soak counts from it)
/// and `commitSince` (how long a canary has had the commit).
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    last: Option<(Option<String>, HostState)>,
    since: f64,
    commit_since: f64,
}

impl Tracker {
    /// When the commit now at the manifests path arrived (`now` for a new one).
    pub fn commit_since(&mut self, commit: Option<&str>, now: f64) -> f64 {
        let same = self
            .last
            .as_ref()
            .is_some_and(|(c, _)| c.as_deref() == commit);
        if !same {
            self.commit_since = now;
        }
        self.commit_since
    }

    /// Records the state seen at `now` and returns the report.
    pub fn observe(
        &mut self,
        host: &super::FleetHost,
        commit: Option<&str>,
        (state, reason): (HostState, Option<String>),
        now: f64,
    ) -> HostReport {
        let commit_since = self.commit_since(commit, now);
        let key = (commit.map(str::to_owned), state);
        if self.last.as_ref() != Some(&key) {
            self.since = now;
            self.last = Some(key);
        }
        HostReport {
            version: VERSION,
            name: host.name.clone(),
            wave: host.wave,
            group: host.group.clone(),
            commit: commit.map(str::to_owned),
            state,
            reason,
            since: self.since,
            commit_since,
        }
    }
}

#[cfg(test)]
mod tests;
