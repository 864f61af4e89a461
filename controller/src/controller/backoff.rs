//! Per-object exponential backoff: an object that failed is retried after 1 s, 2 s, 4 s, ...
//! up to 5 min, so one crash-looping container never makes the controller spin.

use std::collections::HashMap;
use std::time::Duration;

use podctl_api::ObjectRef;
use tokio::time::Instant;

pub const INITIAL: Duration = Duration::from_secs(1);
pub const CAP: Duration = Duration::from_secs(300);

/// The delay before retry number `failures` (1-based): `INITIAL * 2^(failures-1)`, capped.
pub fn delay(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    INITIAL.saturating_mul(1 << exp).min(CAP)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failing {
    pub failures: u32,
    pub retry_at: Instant,
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
        self.failing
            .insert(object.clone(), Failing { failures, retry_at });
        retry_at
    }

    /// Forgets `object`'s failures (it converged, or left the revision).
    pub fn succeeded(&mut self, object: &ObjectRef) {
        self.failing.remove(object);
    }

    /// Whether `object` is waiting out its backoff at `now`.
    pub fn is_backing_off(&self, object: &ObjectRef, now: Instant) -> bool {
        self.failing.get(object).is_some_and(|f| f.retry_at > now)
    }

    pub fn get(&self, object: &ObjectRef) -> Option<Failing> {
        self.failing.get(object).copied()
    }

    /// The earliest retry time of any failing object.
    pub fn next_retry(&self) -> Option<Instant> {
        self.failing.values().map(|f| f.retry_at).min()
    }

    pub fn retain(&mut self, keep: impl Fn(&ObjectRef) -> bool) {
        self.failing.retain(|o, _| keep(o));
    }

    pub fn len(&self) -> usize {
        self.failing.len()
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
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!b.is_backing_off(&a, Instant::now()));
        assert!(!b.is_backing_off(&obj("b"), now));
        b.succeeded(&a);
        assert!(b.is_empty());
        assert_eq!(
            b.failed(&a, now),
            now + Duration::from_secs(1),
            "reset after success"
        );
    }
}
