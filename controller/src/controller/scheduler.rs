//! Delays and deduplicates reconcile requests: one pending request per key (the earlier
//! `run_at` wins), and a key that is busy (being reconciled) is held back until it is done,
//! so no two reconciles of one key ever run at once. Shaped after kube-runtime's scheduler.

use std::collections::HashMap;
use std::future::poll_fn;
use std::hash::Hash;
use std::task::Poll;

use tokio::time::Instant;
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue;

/// A request to reconcile `key` no earlier than `run_at`, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<K, R> {
    pub key: K,
    pub run_at: Instant,
    pub reason: R,
}

struct Pending<R> {
    queue_key: delay_queue::Key,
    run_at: Instant,
    reason: R,
}

/// The scheduler; `K` names what is reconciled, `R` says why.
pub struct Scheduler<K, R> {
    queue: DelayQueue<K>,
    pending: HashMap<K, Pending<R>>,
    /// Keys handed out by [`next`](Self::next) and not yet [`done`](Self::done).
    busy: HashMap<K, Option<Request<K, R>>>,
}

impl<K: Hash + Eq + Clone, R> Default for Scheduler<K, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone, R> Scheduler<K, R> {
    pub fn new() -> Self {
        Self {
            queue: DelayQueue::new(),
            pending: HashMap::new(),
            busy: HashMap::new(),
        }
    }

    /// Adds a request; if one for the same key is pending (or held), the earlier wins and
    /// keeps its reason.
    pub fn schedule(&mut self, request: Request<K, R>) {
        if let Some(held) = self.busy.get_mut(&request.key) {
            match held {
                Some(h) if h.run_at <= request.run_at => {}
                _ => *held = Some(request),
            }
            return;
        }
        match self.pending.get_mut(&request.key) {
            Some(p) if p.run_at <= request.run_at => {}
            Some(p) => {
                self.queue.reset_at(&p.queue_key, request.run_at);
                p.run_at = request.run_at;
                p.reason = request.reason;
            }
            None => {
                let queue_key = self.queue.insert_at(request.key.clone(), request.run_at);
                self.pending.insert(
                    request.key,
                    Pending {
                        queue_key,
                        run_at: request.run_at,
                        reason: request.reason,
                    },
                );
            }
        }
    }

    /// Moves `key`'s pending (or held) request to no earlier than `not_before`, keeping its
    /// reason: a request made before a reason to wait was known must wait too.
    pub fn postpone(&mut self, key: &K, not_before: Instant) {
        if let Some(Some(held)) = self.busy.get_mut(key) {
            held.run_at = held.run_at.max(not_before);
        }
        if let Some(p) = self.pending.get_mut(key)
            && p.run_at < not_before
        {
            self.queue.reset_at(&p.queue_key, not_before);
            p.run_at = not_before;
        }
    }

    /// When the key will run, if it is pending.
    pub fn pending_at(&self, key: &K) -> Option<Instant> {
        self.pending.get(key).map(|p| p.run_at)
    }

    pub fn is_busy(&self, key: &K) -> bool {
        self.busy.contains_key(key)
    }

    /// Waits for the next due request and marks its key busy. Never resolves while nothing
    /// is pending (so it can sit in a `select!` loop without spinning).
    pub async fn next(&mut self) -> Request<K, R> {
        loop {
            let key = poll_fn(|cx| {
                if self.queue.is_empty() {
                    return Poll::Pending;
                }
                match self.queue.poll_expired(cx) {
                    Poll::Ready(Some(expired)) => Poll::Ready(expired.into_inner()),
                    Poll::Ready(None) | Poll::Pending => Poll::Pending,
                }
            })
            .await;
            // The queue and the pending map change together; skip a key without an entry.
            let Some(p) = self.pending.remove(&key) else {
                continue;
            };
            self.busy.insert(key.clone(), None);
            return Request {
                key,
                run_at: p.run_at,
                reason: p.reason,
            };
        }
    }

    /// Marks `key` as no longer busy; a request that came in meanwhile is queued now.
    pub fn done(&mut self, key: &K) {
        if let Some(Some(held)) = self.busy.remove(key) {
            self.schedule(held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn req(
        key: &'static str,
        after_ms: u64,
        reason: &'static str,
    ) -> Request<&'static str, &'static str> {
        Request {
            key,
            run_at: Instant::now() + Duration::from_millis(after_ms),
            reason,
        }
    }

    /// Polls `next` without waiting: `None` when nothing is due now.
    async fn due(
        s: &mut Scheduler<&'static str, &'static str>,
    ) -> Option<Request<&'static str, &'static str>> {
        tokio::select! {
            biased;
            r = s.next() => Some(r),
            () = std::future::ready(()) => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn scheduler_should_run_a_request_at_its_time() {
        let mut s = Scheduler::new();
        s.schedule(req("a", 200, "file"));
        assert!(due(&mut s).await.is_none());
        tokio::time::advance(Duration::from_millis(199)).await;
        assert!(due(&mut s).await.is_none());
        tokio::time::advance(Duration::from_millis(1)).await;
        let r = due(&mut s).await.unwrap();
        assert_eq!((r.key, r.reason), ("a", "file"));
    }

    #[tokio::test(start_paused = true)]
    async fn scheduler_dedupe_should_keep_earlier_item() {
        let mut s = Scheduler::new();
        s.schedule(req("a", 1000, "resync"));
        s.schedule(req("a", 100, "event"));
        s.schedule(req("a", 500, "later"));
        tokio::time::advance(Duration::from_millis(100)).await;
        let r = due(&mut s).await.unwrap();
        assert_eq!(r.reason, "event");
        s.done(&"a");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(
            due(&mut s).await.is_none(),
            "the later duplicates were merged away"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn scheduler_should_hold_a_busy_key_until_done() {
        let mut s = Scheduler::new();
        s.schedule(req("a", 0, "first"));
        let r = due(&mut s).await.unwrap();
        assert_eq!(r.reason, "first");
        s.schedule(req("a", 0, "while-busy"));
        s.schedule(req("a", 50, "while-busy-later"));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(due(&mut s).await.is_none(), "held while busy");
        assert!(s.is_busy(&"a"));
        s.done(&"a");
        let r = due(&mut s).await.unwrap();
        assert_eq!(r.reason, "while-busy");
    }

    #[tokio::test(start_paused = true)]
    async fn scheduler_should_not_hold_other_keys_back() {
        let mut s = Scheduler::new();
        s.schedule(req("a", 0, "a"));
        let _a = due(&mut s).await.unwrap();
        s.schedule(req("b", 10, "b"));
        tokio::time::advance(Duration::from_millis(10)).await;
        assert_eq!(due(&mut s).await.unwrap().key, "b");
    }

    #[tokio::test(start_paused = true)]
    async fn scheduler_postpone_should_delay_pending_and_held_requests() {
        let mut s = Scheduler::new();
        s.schedule(req("a", 100, "event"));
        let later = Instant::now() + Duration::from_secs(4);
        s.postpone(&"a", later);
        assert_eq!(s.pending_at(&"a"), Some(later));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(due(&mut s).await.is_none(), "postponed");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            due(&mut s).await.unwrap().reason,
            "event",
            "the reason is kept"
        );

        s.schedule(req("a", 0, "while-busy"));
        let later = Instant::now() + Duration::from_secs(2);
        s.postpone(&"a", later);
        s.done(&"a");
        assert_eq!(s.pending_at(&"a"), Some(later));
        s.postpone(&"a", Instant::now());
        assert_eq!(s.pending_at(&"a"), Some(later), "never earlier");
    }

    #[tokio::test(start_paused = true)]
    async fn scheduler_next_should_wait_while_empty() {
        let mut s: Scheduler<&str, &str> = Scheduler::new();
        let waited = tokio::time::timeout(Duration::from_secs(3600), s.next()).await;
        assert!(waited.is_err());
    }
}
