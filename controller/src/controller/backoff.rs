//! Per-object exponential backoff: an object that failed is retried after 1 s, 2 s, 4 s, ...
//! up to 5 min, so one crash-looping container never makes the controller spin. A container
//! that comes back up keeps its count until it has stayed up for [`MIN_UPTIME`]: a brief
//! `active` between two crashes is no recovery.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use podctl_api::ObjectRef;
use tokio::time::Instant;

use crate::observe::{ActiveState, UnitStatus};

pub const INITIAL: Duration = Duration::from_secs(1);
pub const CAP: Duration = Duration::from_secs(300);
/// How long a container that failed must stay up before its failures are forgotten. The
/// same 5 minutes `podctl get` uses to call a container with restarts "restarting".
pub const MIN_UPTIME: Duration = Duration::from_secs(300);

/// The delay before retry number `failures` (1-based): `INITIAL * 2^(failures-1)`, capped.
pub fn delay(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    INITIAL.saturating_mul(1 << exp).min(CAP)
}

/// Where a failing object stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting out its delay: left out of passes until `retry_at`.
    BackingOff,
    /// Retried and fine so far, but not up for [`MIN_UPTIME`] yet: its next failure waits
    /// longer than the last one. No retry is pending.
    Recovering,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failing {
    pub failures: u32,
    pub retry_at: Instant,
    pub phase: Phase,
}

/// How long an object that a pass found fine has been running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uptime {
    /// Nothing runs (a network, a volume, a secret, an image): fine is fine.
    NotApplicable,
    /// Its unit has been active for this long.
    Up(Duration),
    /// Its unit is not active (starting, restarting, stopped).
    Down,
}

impl Uptime {
    /// A container's uptime from its unit as observed, at wall-clock time `now`
    /// (`ActiveEnterTimestamp` is wall-clock time).
    pub fn of_unit(unit: Option<&UnitStatus>, now: SystemTime) -> Self {
        let Some(u) = unit.filter(|u| u.active_state == ActiveState::Active) else {
            return Uptime::Down;
        };
        if u.active_enter_timestamp_us == 0 {
            return Uptime::Down;
        }
        let since = UNIX_EPOCH + Duration::from_micros(u.active_enter_timestamp_us);
        // A clock step back leaves `since` in the future: up since just now.
        Uptime::Up(now.duration_since(since).unwrap_or_default())
    }

    fn is_stable(self) -> bool {
        match self {
            Uptime::NotApplicable => true,
            Uptime::Up(d) => d >= MIN_UPTIME,
            Uptime::Down => false,
        }
    }
}

/// The objects that failed, and when each may be tried again.
#[derive(Debug, Default)]
pub struct Backoff {
    failing: HashMap<ObjectRef, Failing>,
}

impl Backoff {
    /// Records a failure of `object` at `now`; returns when to retry it.
    pub fn failed(&mut self, object: &ObjectRef, now: Instant) -> Instant {
        let failures = self.failing.get(object).map_or(0, |f| f.failures) + 1;
        let retry_at = now + delay(failures);
        self.failing.insert(
            object.clone(),
            Failing {
                failures,
                retry_at,
                phase: Phase::BackingOff,
            },
        );
        retry_at
    }

    /// A pass found `object` fine. Its failures are forgotten once it is stable (up for
    /// [`MIN_UPTIME`], or nothing that runs); until then it only stops backing off.
    pub fn succeeded(&mut self, object: &ObjectRef, uptime: Uptime) {
        if uptime.is_stable() {
            self.failing.remove(object);
        } else if let Some(f) = self.failing.get_mut(object) {
            f.phase = Phase::Recovering;
        }
    }

    /// Whether `object` is waiting out its backoff at `now`.
    pub fn is_backing_off(&self, object: &ObjectRef, now: Instant) -> bool {
        self.failing
            .get(object)
            .is_some_and(|f| f.phase == Phase::BackingOff && f.retry_at > now)
    }

    pub fn get(&self, object: &ObjectRef) -> Option<Failing> {
        self.failing.get(object).copied()
    }

    /// The earliest pending retry of any object backing off.
    pub fn next_retry(&self) -> Option<Instant> {
        self.failing
            .values()
            .filter(|f| f.phase == Phase::BackingOff)
            .map(|f| f.retry_at)
            .min()
    }

    /// A pass that started at `started` ran every object whose retry time had come: that
    /// retry is used up whatever came of it. Its outcome is recorded after this; one that
    /// was neither fine nor failed (blocked, a conflict) waits for the next event or resync
    /// instead of asking for a pass again at once.
    pub fn retries_used(&mut self, started: Instant) {
        for f in self.failing.values_mut() {
            if f.phase == Phase::BackingOff && f.retry_at <= started {
                f.phase = Phase::Recovering;
            }
        }
    }

    pub fn retain(&mut self, keep: impl Fn(&ObjectRef) -> bool) {
        self.failing.retain(|o, _| keep(o));
    }

    /// How many objects are waiting out their backoff at `now`.
    pub fn backing_off(&self, now: Instant) -> usize {
        self.failing
            .keys()
            .filter(|o| self.is_backing_off(o, now))
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.failing.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podctl_api::{Kind, Name};

    fn obj(name: &str) -> ObjectRef {
        ObjectRef::new(Kind::Container, name.parse::<Name>().unwrap())
    }

    #[test]
    fn delay_should_double_from_one_second_up_to_five_minutes() {
        let got: Vec<u64> = (1..=11).map(|n| delay(n).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(delay(u32::MAX), CAP);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_should_hold_a_failing_object_until_its_retry_time() {
        let mut b = Backoff::default();
        let a = obj("a");
        let now = Instant::now();
        assert_eq!(b.failed(&a, now), now + Duration::from_secs(1));
        assert_eq!(b.failed(&a, now), now + Duration::from_secs(2));
        assert!(b.is_backing_off(&a, now));
        assert_eq!(b.backing_off(now), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!b.is_backing_off(&a, Instant::now()));
        assert!(!b.is_backing_off(&obj("b"), now));
        b.succeeded(&a, Uptime::NotApplicable);
        assert!(b.is_empty());
        assert_eq!(
            b.failed(&a, now),
            now + Duration::from_secs(1),
            "reset after success"
        );
    }

    /// The crash loop of issue 12: a container that exits after 0.3 s is `active` for a
    /// moment after every start, and a pass that saw it then used to reset its backoff.
    #[tokio::test(start_paused = true)]
    async fn backoff_should_keep_growing_while_a_container_is_up_only_briefly() {
        let mut b = Backoff::default();
        let a = obj("a");
        let mut delays = Vec::new();
        for _ in 0..6 {
            let now = Instant::now();
            let retry_at = b.failed(&a, now);
            delays.push((retry_at - now).as_secs());
            tokio::time::advance(retry_at - now).await;
            b.retries_used(Instant::now());
            // Started again, seen up for 0.3 s by the next pass: not a recovery.
            b.succeeded(&a, Uptime::Up(Duration::from_millis(300)));
            b.succeeded(&a, Uptime::Down);
            let f = b.get(&a).unwrap();
            assert_eq!(f.phase, Phase::Recovering);
            assert!(!b.is_backing_off(&a, Instant::now()));
            assert_eq!(b.next_retry(), None, "no retry pending while it runs");
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32]);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_should_forget_failures_once_the_container_stayed_up() {
        let mut b = Backoff::default();
        let a = obj("a");
        b.failed(&a, Instant::now());
        b.failed(&a, Instant::now());
        b.succeeded(&a, Uptime::Up(MIN_UPTIME - Duration::from_secs(1)));
        assert_eq!(b.get(&a).map(|f| f.failures), Some(2));
        b.succeeded(&a, Uptime::Up(MIN_UPTIME));
        assert!(b.is_empty());
        let now = Instant::now();
        assert_eq!(b.failed(&a, now), now + INITIAL);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_used_should_end_only_the_retries_whose_time_had_come() {
        let mut b = Backoff::default();
        let (a, c) = (obj("a"), obj("c"));
        let start = Instant::now();
        b.failed(&a, start); // retry at +1 s
        b.failed(&c, start);
        b.failed(&c, start); // retry at +2 s
        tokio::time::advance(Duration::from_secs(1)).await;
        b.retries_used(Instant::now());
        assert_eq!(b.get(&a).map(|f| f.phase), Some(Phase::Recovering));
        assert_eq!(b.get(&c).map(|f| f.phase), Some(Phase::BackingOff));
        assert_eq!(b.next_retry(), Some(start + Duration::from_secs(2)));
        assert_eq!(b.backing_off(Instant::now()), 1);
    }

    #[test]
    fn uptime_should_count_only_an_active_unit_from_its_active_enter_timestamp() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let unit = |state: &str, entered_s: u64| UnitStatus {
            active_state: ActiveState::parse(state),
            active_enter_timestamp_us: entered_s * 1_000_000,
            ..UnitStatus::default()
        };
        assert_eq!(
            Uptime::of_unit(Some(&unit("active", 400)), now),
            Uptime::Up(Duration::from_secs(600))
        );
        assert_eq!(
            Uptime::of_unit(Some(&unit("activating", 400)), now),
            Uptime::Down
        );
        assert_eq!(Uptime::of_unit(Some(&unit("active", 0)), now), Uptime::Down);
        assert_eq!(Uptime::of_unit(None, now), Uptime::Down);
        assert_eq!(
            Uptime::of_unit(Some(&unit("active", 2_000)), now),
            Uptime::Up(Duration::ZERO),
            "a clock stepped back"
        );
    }
}
