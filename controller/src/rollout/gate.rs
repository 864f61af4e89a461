//! The health gate of one rollout as a pure state machine: fed what the host shows
//! (a [`Probe`]) and the time, it says whether the new container passed, failed (and
//! why), or when to look again. The shell in `execute/rollout.rs` does the looking.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::observe::Health;

/// How often the shell looks at the new container while a gate is open.
pub const POLL: Duration = Duration::from_millis(500);

/// What a gate asks of the new container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateSpec {
    /// Running (and healthy, with a health check) within this long after the restart.
    pub timeout: Duration,
    /// Then staying so, with no restart and no unhealthy state, this long.
    pub watch: Duration,
    /// The container has a health check: "running" is not enough, it must be healthy.
    pub health_check: bool,
}

/// What the shell saw of the unit and its container at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Probe {
    /// systemd's `ActiveState` is `active`.
    pub unit_active: bool,
    /// systemd's `NRestarts` (automatic restarts since the last manual start).
    pub n_restarts: u32,
    /// The ID of the container of that name, if one exists.
    pub container_id: Option<String>,
    pub running: bool,
    pub health: Option<Health>,
}

/// Why a new image was rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum FailReason {
    /// Not running (or not healthy) when the start timeout ran out.
    TimedOut { secs: u64, last: LastSeen },
    /// The health check reported `unhealthy`.
    Unhealthy { after_secs: u64 },
    /// The container stopped, or systemd restarted it, this long after the rollout began.
    Crashed { after_secs: u64 },
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut { secs, last } => write!(f, "timed out after {secs}s ({last})"),
            Self::Unhealthy { after_secs } => write!(f, "unhealthy after {after_secs}s"),
            Self::Crashed { after_secs } => write!(f, "crashed after {after_secs}s"),
        }
    }
}

/// The state the new container was last seen in, for a timeout's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LastSeen {
    NotRunning,
    HealthStarting,
    NotYetProbed,
}

impl fmt::Display for LastSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotRunning => "not running",
            Self::HealthStarting => "health check still starting",
            Self::NotYetProbed => "never seen",
        })
    }
}

/// Where a gate is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting for the container to run (and be healthy); restarts counted from `n_restarts`.
    Starting {
        baseline: Option<u32>,
        last: LastSeen,
    },
    /// It was up and healthy: it must stay so until `until`, as the same container.
    Watching {
        until: Instant,
        container_id: String,
        n_restarts: u32,
    },
    Done(Verdict),
}

/// What the shell does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Look again at this instant.
    Pending {
        next: Instant,
    },
    Passed,
    Failed(FailReason),
}

/// One rollout's gate.
#[derive(Debug, Clone)]
pub struct Gate {
    spec: GateSpec,
    began: Instant,
    phase: Phase,
}

impl Gate {
    /// A gate opened at `now`, just after the new container's start was asked for.
    pub fn new(spec: GateSpec, now: Instant) -> Self {
        Self {
            spec,
            began: now,
            phase: Phase::Starting {
                baseline: None,
                last: LastSeen::NotYetProbed,
            },
        }
    }

    fn secs_since_begin(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.began).as_secs()
    }

    /// Feeds one probe seen at `now`; returns what to do next. Once passed or failed,
    /// the verdict stays.
    pub fn observe(&mut self, probe: &Probe, now: Instant) -> Verdict {
        let next = match std::mem::replace(
            &mut self.phase,
            Phase::Starting {
                baseline: None,
                last: LastSeen::NotYetProbed,
            },
        ) {
            Phase::Done(verdict) => Phase::Done(verdict),
            Phase::Starting { baseline, .. } => self.starting(baseline, probe, now),
            Phase::Watching {
                until,
                container_id,
                n_restarts,
            } => self.watching(until, container_id, n_restarts, probe, now),
        };
        self.phase = next;
        self.verdict(now)
    }

    /// Without a probe (the host could not be asked): only the clock moves.
    pub fn tick(&mut self, now: Instant) -> Verdict {
        if let Phase::Starting { last, .. } = &self.phase
            && now >= self.began + self.spec.timeout
        {
            self.phase = Phase::Done(Verdict::Failed(FailReason::TimedOut {
                secs: self.secs_since_begin(now),
                last: *last,
            }));
        }
        self.verdict(now)
    }

    fn verdict(&self, now: Instant) -> Verdict {
        match &self.phase {
            Phase::Done(v) => v.clone(),
            Phase::Starting { .. } => Verdict::Pending {
                next: (now + POLL).min(self.began + self.spec.timeout),
            },
            Phase::Watching { until, .. } => Verdict::Pending {
                next: (now + POLL).min(*until),
            },
        }
    }

    fn starting(&self, baseline: Option<u32>, probe: &Probe, now: Instant) -> Phase {
        let baseline = baseline.unwrap_or(probe.n_restarts);
        let after_secs = self.secs_since_begin(now);
        if probe.n_restarts > baseline {
            return Phase::Done(Verdict::Failed(FailReason::Crashed { after_secs }));
        }
        if probe.health == Some(Health::Unhealthy) {
            return Phase::Done(Verdict::Failed(FailReason::Unhealthy { after_secs }));
        }
        let up = probe.unit_active && probe.running;
        let healthy = !self.spec.health_check || probe.health == Some(Health::Healthy);
        match (&probe.container_id, up && healthy) {
            (Some(id), true) => {
                if self.spec.watch.is_zero() {
                    return Phase::Done(Verdict::Passed);
                }
                Phase::Watching {
                    until: now + self.spec.watch,
                    container_id: id.clone(),
                    n_restarts: probe.n_restarts,
                }
            }
            _ if now >= self.began + self.spec.timeout => {
                Phase::Done(Verdict::Failed(FailReason::TimedOut {
                    secs: after_secs,
                    last: if up {
                        LastSeen::HealthStarting
                    } else {
                        LastSeen::NotRunning
                    },
                }))
            }
            _ => Phase::Starting {
                baseline: Some(baseline),
                last: if up {
                    LastSeen::HealthStarting
                } else {
                    LastSeen::NotRunning
                },
            },
        }
    }

    fn watching(
        &self,
        until: Instant,
        container_id: String,
        n_restarts: u32,
        probe: &Probe,
        now: Instant,
    ) -> Phase {
        let after_secs = self.secs_since_begin(now);
        let same = probe.container_id.as_deref() == Some(container_id.as_str());
        if !same || !probe.running || !probe.unit_active || probe.n_restarts > n_restarts {
            return Phase::Done(Verdict::Failed(FailReason::Crashed { after_secs }));
        }
        if probe.health == Some(Health::Unhealthy) {
            return Phase::Done(Verdict::Failed(FailReason::Unhealthy { after_secs }));
        }
        if now >= until {
            return Phase::Done(Verdict::Passed);
        }
        Phase::Watching {
            until,
            container_id,
            n_restarts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    fn spec(health_check: bool) -> GateSpec {
        GateSpec {
            timeout: Duration::from_secs(10),
            watch: Duration::from_secs(5),
            health_check,
        }
    }

    fn up(id: &str, health: Option<Health>) -> Probe {
        Probe {
            unit_active: true,
            n_restarts: 0,
            container_id: Some(id.into()),
            running: true,
            health,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gate_should_pass_after_healthy_for_the_watch_window() {
        let mut gate = Gate::new(spec(true), Instant::now());
        let starting = up("a", Some(Health::Starting));
        assert!(matches!(
            gate.observe(&starting, Instant::now()),
            Verdict::Pending { .. }
        ));
        advance(Duration::from_secs(2)).await;
        let healthy = up("a", Some(Health::Healthy));
        assert!(matches!(
            gate.observe(&healthy, Instant::now()),
            Verdict::Pending { .. }
        ));
        advance(Duration::from_secs(4)).await;
        assert!(matches!(
            gate.observe(&healthy, Instant::now()),
            Verdict::Pending { .. }
        ));
        advance(Duration::from_secs(1)).await;
        assert_eq!(gate.observe(&healthy, Instant::now()), Verdict::Passed);
    }

    #[tokio::test(start_paused = true)]
    async fn gate_should_time_out_when_never_healthy() {
        let mut gate = Gate::new(spec(true), Instant::now());
        let starting = up("a", Some(Health::Starting));
        gate.observe(&starting, Instant::now());
        advance(Duration::from_secs(10)).await;
        assert_eq!(
            gate.observe(&starting, Instant::now()),
            Verdict::Failed(FailReason::TimedOut {
                secs: 10,
                last: LastSeen::HealthStarting
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gate_should_fail_at_once_on_unhealthy() {
        let mut gate = Gate::new(spec(true), Instant::now());
        advance(Duration::from_secs(3)).await;
        assert_eq!(
            gate.observe(&up("a", Some(Health::Unhealthy)), Instant::now()),
            Verdict::Failed(FailReason::Unhealthy { after_secs: 3 })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gate_should_fail_when_the_container_is_replaced_in_the_watch_window() {
        let mut gate = Gate::new(spec(false), Instant::now());
        gate.observe(&up("a", None), Instant::now());
        advance(Duration::from_secs(3)).await;
        // systemd restarted it: another container, one more restart.
        let restarted = Probe {
            n_restarts: 1,
            ..up("b", None)
        };
        assert_eq!(
            gate.observe(&restarted, Instant::now()),
            Verdict::Failed(FailReason::Crashed { after_secs: 3 })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gate_should_fail_on_a_restart_while_starting() {
        let mut gate = Gate::new(spec(true), Instant::now());
        gate.observe(&up("a", Some(Health::Starting)), Instant::now());
        advance(Duration::from_secs(1)).await;
        let restarted = Probe {
            n_restarts: 1,
            running: false,
            ..up("a", None)
        };
        assert_eq!(
            gate.observe(&restarted, Instant::now()),
            Verdict::Failed(FailReason::Crashed { after_secs: 1 })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gate_should_time_out_on_the_clock_alone() {
        let mut gate = Gate::new(spec(false), Instant::now());
        advance(Duration::from_secs(9)).await;
        assert!(matches!(gate.tick(Instant::now()), Verdict::Pending { .. }));
        advance(Duration::from_secs(1)).await;
        assert_eq!(
            gate.tick(Instant::now()),
            Verdict::Failed(FailReason::TimedOut {
                secs: 10,
                last: LastSeen::NotYetProbed
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gate_should_never_wait_past_its_deadline() {
        let mut gate = Gate::new(spec(false), Instant::now());
        advance(Duration::from_millis(9_800)).await;
        let Verdict::Pending { next } = gate.tick(Instant::now()) else {
            panic!("pending")
        };
        assert_eq!(next - Instant::now(), Duration::from_millis(200));
    }
}
