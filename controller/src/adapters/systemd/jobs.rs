//! Matches `JobRemoved` signals to the callers waiting for those jobs.
//!
//! One dispatcher task per connection drains the signal stream continuously: zbus stops
//! reading the socket when a stream's queue is full, so a per-caller stream that is not polled
//! while its `StartUnit` call is in flight could stall every call on the connection. A job
//! can also finish before its caller registers (the signal races the method reply through two
//! tasks), so results nobody waits for yet are kept for a while and claimed on registration.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long an unclaimed result is kept: far longer than the gap between a method reply and
/// the caller's registration, short enough that results of foreign jobs do not pile up.
const KEEP_UNCLAIMED: Duration = Duration::from_secs(120);
/// Upper bound on unclaimed results, in case many foreign jobs finish within `KEEP_UNCLAIMED`.
const MAX_UNCLAIMED: usize = 4096;

/// Waiters keyed by job object path, plus results that arrived before their waiter.
#[derive(Default)]
pub(crate) struct JobWaiters {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    waiting: HashMap<String, oneshot::Sender<String>>,
    unclaimed: VecDeque<(String, String, Instant)>,
    closed: bool,
}

/// What [`JobWaiters::register`] found.
pub(crate) enum Registration {
    /// The job had already finished with this result string.
    Finished(String),
    /// The result will arrive on this channel; a closed channel means the connection is gone.
    Pending(oneshot::Receiver<String>),
    /// The dispatcher has stopped: no result will ever arrive.
    Closed,
}

impl JobWaiters {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the maps consistent (every
        // operation is a single insert or remove), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers interest in `job`; call it right after the method call returned the path.
    pub(crate) fn register(&self, job: &str) -> Registration {
        let mut inner = self.lock();
        if let Some(pos) = inner.unclaimed.iter().position(|(path, _, _)| path == job)
            && let Some((_, result, _)) = inner.unclaimed.remove(pos)
        {
            return Registration::Finished(result);
        }
        if inner.closed {
            return Registration::Closed;
        }
        let (tx, rx) = oneshot::channel();
        inner.waiting.insert(job.to_owned(), tx);
        Registration::Pending(rx)
    }

    /// Withdraws a waiter that gave up (timeout, cancellation).
    pub(crate) fn forget(&self, job: &str) {
        self.lock().waiting.remove(job);
    }

    /// Delivers one `JobRemoved`: to its waiter, or into the unclaimed results.
    pub(crate) fn job_removed(&self, job: &str, result: &str) {
        self.job_removed_at(job, result, Instant::now());
    }

    fn job_removed_at(&self, job: &str, result: &str, now: Instant) {
        let mut inner = self.lock();
        if let Some(tx) = inner.waiting.remove(job) {
            // The waiter may have been dropped meanwhile; then nobody needs the result.
            let _ = tx.send(result.to_owned());
            return;
        }
        while inner
            .unclaimed
            .front()
            .is_some_and(|(_, _, at)| now.saturating_duration_since(*at) > KEEP_UNCLAIMED)
            || inner.unclaimed.len() >= MAX_UNCLAIMED
        {
            inner.unclaimed.pop_front();
        }
        inner
            .unclaimed
            .push_back((job.to_owned(), result.to_owned(), now));
    }

    /// The signal stream ended: wake every waiter (their channels close) and refuse new ones.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.waiting.clear();
    }

    #[cfg(test)]
    fn unclaimed_len(&self) -> usize {
        self.lock().unclaimed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "/org/freedesktop/systemd1/job/42";

    #[tokio::test]
    async fn register_should_receive_result_sent_after_registration() {
        let waiters = JobWaiters::default();
        let Registration::Pending(rx) = waiters.register(JOB) else {
            panic!("expected a pending registration");
        };
        waiters.job_removed(JOB, "done");
        assert_eq!(rx.await.unwrap(), "done");
    }

    #[test]
    fn register_should_claim_result_that_arrived_before_registration() {
        let waiters = JobWaiters::default();
        waiters.job_removed(JOB, "failed");
        let Registration::Finished(result) = waiters.register(JOB) else {
            panic!("expected the early result");
        };
        assert_eq!(result, "failed");
        assert_eq!(waiters.unclaimed_len(), 0);
    }

    #[tokio::test]
    async fn parallel_waiters_should_each_get_their_own_job() {
        let waiters = JobWaiters::default();
        let rxs: Vec<_> = (0..5)
            .map(|i| match waiters.register(&format!("{JOB}{i}")) {
                Registration::Pending(rx) => rx,
                _ => panic!("expected pending"),
            })
            .collect();
        for i in (0..5).rev() {
            waiters.job_removed(&format!("{JOB}{i}"), &format!("r{i}"));
        }
        for (i, rx) in rxs.into_iter().enumerate() {
            assert_eq!(rx.await.unwrap(), format!("r{i}"));
        }
    }

    #[test]
    fn unclaimed_results_should_expire() {
        let waiters = JobWaiters::default();
        let start = Instant::now();
        waiters.job_removed_at("/old", "done", start);
        waiters.job_removed_at(
            "/new",
            "done",
            start + KEEP_UNCLAIMED + Duration::from_secs(1),
        );
        assert_eq!(waiters.unclaimed_len(), 1);
        assert!(matches!(waiters.register("/old"), Registration::Pending(_)));
    }

    #[tokio::test]
    async fn close_should_end_pending_waiters_and_refuse_new_ones() {
        let waiters = JobWaiters::default();
        let Registration::Pending(rx) = waiters.register(JOB) else {
            panic!("expected pending");
        };
        waiters.close();
        assert!(rx.await.is_err());
        assert!(matches!(waiters.register("/other"), Registration::Closed));
    }
}
