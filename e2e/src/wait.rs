//! Bounded polling: tests synchronise on observable conditions with a deadline, never on
//! fixed sleeps, so they are as fast as the system allows and fail with a reason when it stalls.

use std::future::Future;
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::time::{Instant, MissedTickBehavior, interval};

/// Polls `check` until it yields `Some(value)` or `timeout` has passed.
///
/// `check` returns `Ok(None)` for "not yet" and `Err` for "could not tell"; both are retried,
/// and the last error (if any) is part of the timeout error so a failing test says why.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    // 50 ms between polls: quick enough for state changes that take ~100 ms, light on 2 cores.
    let mut tick = interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let last_error = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => None,
            Err(e) => Some(e),
        };
        if Instant::now() >= deadline {
            match last_error {
                Some(e) => {
                    bail!("timed out after {timeout:?} waiting for {what}; last error: {e:#}")
                }
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn wait_until_should_return_the_value_once_the_condition_holds() {
        let calls = AtomicU32::new(0);
        let got = wait_until(Duration::from_secs(5), "third call", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok((n == 3).then_some(n))
        })
        .await
        .unwrap();
        assert_eq!(got, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_until_should_fail_with_the_last_error_at_the_deadline() {
        let err = wait_until(Duration::from_secs(1), "never", || async {
            Err::<Option<()>, _>(anyhow::anyhow!("still broken"))
        })
        .await
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("waiting for never"), "{msg}");
        assert!(msg.contains("still broken"), "{msg}");
    }
}
