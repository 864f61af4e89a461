//! Backoff for reconcile passes that fail as a whole (podman or systemd not answering, no
//! file descriptors left): after failure number n, no pass runs for 1 s, 2 s, 4 s ... up to
//! 5 min, whatever asks for one (host events, lost event streams, resyncs, object retries).
//! A pass that succeeds ends it; SIGHUP ends it at once; a new revision gets one immediate
//! try without forgetting the count.

use tokio::time::Instant;

use super::backoff;

#[derive(Debug, Default)]
pub struct PassBackoff {
    /// Failed passes since the last one that succeeded.
    failures: u32,
    /// No pass before this; `None` once it has passed or was lifted.
    not_before: Option<Instant>,
}

impl PassBackoff {
    /// Records a failed pass at `now`; returns when the next one may run.
    pub fn failed(&mut self, now: Instant) -> Instant {
        self.failures = self.failures.saturating_add(1);
        let at = now + backoff::delay(self.failures);
        self.not_before = Some(at);
        at
    }

    /// A pass succeeded, or the operator asked for a retry (SIGHUP): passes run whenever
    /// they are asked for again.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Lets the next pass run at once but keeps the count, so that if it fails too the
    /// wait after it is longer still (a new revision deserves a try; it may not help).
    pub fn try_now(&mut self) {
        self.not_before = None;
    }

    /// When a pass asked for at `run_at` may run.
    pub fn gate(&self, run_at: Instant) -> Instant {
        self.not_before.map_or(run_at, |at| at.max(run_at))
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[tokio::test(start_paused = true)]
    async fn pass_backoff_should_double_the_wait_after_each_failed_pass() {
        let mut b = PassBackoff::default();
        let start = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..10 {
            let now = Instant::now();
            let at = b.failed(now);
            waits.push((at - now).as_secs());
            // Every request in between (events every 100 ms) is held to that time.
            for ms in (0..(at - now).as_millis() as u64).step_by(100) {
                assert_eq!(b.gate(now + Duration::from_millis(ms)), at);
            }
            tokio::time::advance(at - now).await;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        // Ten passes in 811 s, where a retry every 100 ms made 8110.
        assert_eq!(Instant::now() - start, secs(811));
    }

    #[tokio::test(start_paused = true)]
    async fn pass_backoff_should_leave_later_requests_alone() {
        let mut b = PassBackoff::default();
        let now = Instant::now();
        assert_eq!(b.gate(now), now, "no failure: no wait");
        let at = b.failed(now);
        assert_eq!(b.gate(now + secs(60)), now + secs(60), "a resync after it");
        assert_eq!(b.gate(now), at);
    }

    #[tokio::test(start_paused = true)]
    async fn pass_backoff_should_end_with_a_successful_pass() {
        let mut b = PassBackoff::default();
        let now = Instant::now();
        b.failed(now);
        b.failed(now);
        b.reset();
        assert_eq!(b.gate(now), now);
        assert_eq!(b.failures(), 0);
        assert_eq!(b.failed(now), now + secs(1), "counting starts over");
    }

    #[tokio::test(start_paused = true)]
    async fn pass_backoff_try_now_should_keep_the_count() {
        let mut b = PassBackoff::default();
        let now = Instant::now();
        b.failed(now);
        b.failed(now);
        b.try_now();
        assert_eq!(b.gate(now), now, "a new revision runs at once");
        assert_eq!(
            b.failed(now),
            now + secs(4),
            "and waits longer if it fails too"
        );
    }
}
