//! When the controller looks for new images (`update.policy: registry|local`): first after
//! a random delay up to `jitter`, then `interval` after each check ended plus a new random
//! delay, like podman-auto-update.timer's `RandomizedDelaySec`, so that hosts started
//! together do not all ask one registry at the same instant. Pure: the random fraction is
//! an argument, [`random_fraction`] makes one.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use tokio::time::Instant;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
pub const DEFAULT_JITTER: Duration = Duration::from_secs(300);

/// The schedule of update checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateTimer {
    interval: Duration,
    jitter: Duration,
}

impl Default for UpdateTimer {
    fn default() -> Self {
        Self::new(DEFAULT_INTERVAL, DEFAULT_JITTER)
    }
}

impl UpdateTimer {
    pub fn new(interval: Duration, jitter: Duration) -> Self {
        Self { interval, jitter }
    }

    /// The first check of a controller that started at `start`: after the random delay
    /// only, so a restarted controller does not wait a whole interval.
    pub fn first(&self, start: Instant, fraction: f64) -> Instant {
        start + self.delay(fraction)
    }

    /// The check after one that ended at `ended`.
    pub fn next(&self, ended: Instant, fraction: f64) -> Instant {
        ended + self.interval + self.delay(fraction)
    }

    /// `fraction` (clamped to [0, 1]) of the jitter.
    fn delay(&self, fraction: f64) -> Duration {
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.jitter.mul_f64(fraction)
    }
}

/// A fraction in [0, 1) from the standard library's randomly keyed hasher: enough to spread
/// hosts over the jitter, without a random number crate.
pub fn random_fraction() -> f64 {
    let bits = RandomState::new().build_hasher().finish() >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use tokio::time::{advance, pause};

    use super::*;

    #[tokio::test]
    async fn checks_should_follow_the_interval_plus_the_random_delay() {
        pause();
        let timer = UpdateTimer::new(Duration::from_secs(3600), Duration::from_secs(300));
        let start = Instant::now();
        assert_eq!(timer.first(start, 0.0), start);
        assert_eq!(timer.first(start, 0.5), start + Duration::from_secs(150));
        advance(Duration::from_secs(10)).await;
        let ended = Instant::now();
        assert_eq!(
            timer.next(ended, 1.0),
            start + Duration::from_secs(10 + 3600 + 300)
        );
    }

    #[tokio::test]
    async fn a_bad_fraction_should_add_no_more_than_the_jitter() {
        pause();
        let timer = UpdateTimer::new(Duration::from_secs(60), Duration::from_secs(5));
        let now = Instant::now();
        assert_eq!(timer.next(now, 7.0), now + Duration::from_secs(65));
        assert_eq!(timer.next(now, -1.0), now + Duration::from_secs(60));
        assert_eq!(timer.next(now, f64::NAN), now + Duration::from_secs(60));
    }

    #[test]
    fn random_fractions_should_stay_in_range() {
        for _ in 0..1000 {
            let f = random_fraction();
            assert!((0.0..1.0).contains(&f), "{f}");
        }
    }
}
