//! Pulling images: every pull of a plan up front, in parallel with a bound, each retried
//! with exponential backoff when the error looks like the network's (never when the
//! registry answered "no such image" or "unauthorized"), with progress on a terminal.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Semaphore;
use tracing::{Instrument as _, info, info_span, warn};

use super::Executor;
use super::error::ActionError;
use crate::adapters::podman::PodmanError;
use crate::plan::{Action, Change, Step};

/// Tries in all: the first, then retries after 1s, 2s and 4s.
pub const ATTEMPTS: u32 = 4;
pub const FIRST_DELAY: Duration = Duration::from_secs(1);

/// Whether a failed pull is worth retrying: the registry could not be reached or failed
/// transiently. podman prints Go's network errors in its stderr.
pub fn is_network_error(error: &PodmanError) -> bool {
    const TRANSIENT: &[&str] = &[
        "connection refused",
        "connection reset",
        "i/o timeout",
        "tls handshake timeout",
        "no such host",
        "network is unreachable",
        "temporary failure in name resolution",
        "unexpected eof",
        "server misbehaving",
        "502 bad gateway",
        "503 service unavailable",
        "504 gateway timeout",
        "429 too many requests",
        "toomanyrequests",
    ];
    match error {
        PodmanError::Failed { stderr, .. } => {
            let stderr = stderr.to_ascii_lowercase();
            TRANSIENT.iter().any(|t| stderr.contains(t))
        }
        PodmanError::Spawn { .. } | PodmanError::Parse { .. } => false,
    }
}

/// Runs `pull` until it succeeds, fails with a non-network error, or `attempts` are
/// used up; `sleep` waits between tries (1s, 2s, 4s) and `on_retry` hears of each retry.
pub async fn with_retry<P, PF, S, SF>(
    attempts: u32,
    mut pull: P,
    mut sleep: S,
    mut on_retry: impl FnMut(u32, Duration, &PodmanError),
) -> Result<(), PodmanError>
where
    P: FnMut() -> PF,
    PF: Future<Output = Result<(), PodmanError>>,
    S: FnMut(Duration) -> SF,
    SF: Future<Output = ()>,
{
    let mut delay = FIRST_DELAY;
    let mut attempt = 1;
    loop {
        match pull().await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < attempts && is_network_error(&e) => {
                on_retry(attempt, delay, &e);
                sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The last line of podman's stderr: the reason, for a one-line progress message.
pub fn short_reason(error: &PodmanError) -> String {
    error
        .stderr()
        .and_then(|s| s.lines().rev().find(|l| !l.trim().is_empty()))
        .map_or_else(|| error.to_string(), |l| l.trim().to_string())
}

/// The pulls of one execution: each reference's result, and which references got a new ID.
#[derive(Debug, Default)]
pub(super) struct Pulls {
    pub results: HashMap<String, Result<(), ActionError>>,
    pub changed: BTreeSet<String>,
    /// The image ID of each reference pulled, listed after the pulls.
    pub ids: BTreeMap<String, String>,
}

impl Pulls {
    /// How the pull of `reference` went; one that was never made is a failure.
    pub fn result(&self, reference: &str) -> Result<(), ActionError> {
        self.results.get(reference).cloned().unwrap_or_else(|| {
            Err(ActionError::NotPulled {
                reference: reference.to_owned(),
            })
        })
    }
}

/// Whether podctl brings `reference` onto the host (it was absent before), so that it
/// may remove it again when no manifest uses it.
pub(super) fn newly_pulled(steps: &[&Step], reference: &str) -> bool {
    steps.iter().flat_map(|s| s.actions.iter()).any(|a| {
        matches!(a, Action::PullImage { reference: r, previous_id: None, .. } if r == reference)
    })
}

/// What one pull needs, taken from its `PullImage` action.
struct Wanted<'a> {
    reference: &'a str,
    tls_verify: Option<bool>,
    auth_file: Option<&'a std::path::Path>,
    previous_id: Option<&'a str>,
}

/// The pulls of `steps`, once per reference (the first action for it wins); none for a
/// step the plan refused.
fn wanted<'a>(steps: &[&'a Step]) -> BTreeMap<&'a str, Wanted<'a>> {
    let mut wanted = BTreeMap::new();
    for step in steps
        .iter()
        .filter(|s| !matches!(s.change, Change::Conflict { .. } | Change::Error { .. }))
    {
        for action in &step.actions {
            if let Action::PullImage {
                reference,
                tls_verify,
                auth_file,
                previous_id,
            } = action
            {
                wanted.entry(reference.as_str()).or_insert(Wanted {
                    reference,
                    tls_verify: *tls_verify,
                    auth_file: auth_file.as_deref(),
                    previous_id: previous_id.as_deref(),
                });
            }
        }
    }
    wanted
}

impl Executor<'_> {
    /// Every image the plan pulls, once per reference, `concurrency` at a time, each with
    /// retries; then one image listing to see which references got a new ID.
    pub(super) async fn pull_all(&self, steps: &[&Step]) -> Pulls {
        let wanted = wanted(steps);
        let mut pulls = Pulls::default();
        if wanted.is_empty() {
            return pulls;
        }
        let semaphore = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let work = wanted.values().map(|w| {
            let semaphore = semaphore.clone();
            async move {
                let _permit = semaphore.acquire().await;
                (
                    w.reference.to_owned(),
                    self.pull(w.reference, w.tls_verify, w.auth_file).await,
                )
            }
            .instrument(info_span!("pull"))
        });
        pulls.results = join_all(work).await.into_iter().collect();

        let previous: BTreeMap<&str, &str> = wanted
            .values()
            .filter_map(|w| Some((w.reference, w.previous_id?)))
            .collect();
        // One listing after the pulls: the ID each pulled reference names now (a rollout
        // pins it), and which references changed.
        match self.podman.images().await {
            Ok(images) => {
                for image in images {
                    for name in &image.names {
                        if wanted.contains_key(name.as_str()) {
                            pulls.ids.insert(name.clone(), image.id.clone());
                        }
                        if previous
                            .get(name.as_str())
                            .is_some_and(|old| *old != image.id)
                        {
                            info!(reference = %name, id = %image.id, "image changed");
                            pulls.changed.insert(name.clone());
                        }
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot list images after pulling"),
        }
        pulls
    }

    async fn pull(
        &self,
        reference: &str,
        tls_verify: Option<bool>,
        auth_file: Option<&std::path::Path>,
    ) -> Result<(), ActionError> {
        info!(%reference, "pulling image");
        let begin = Instant::now();
        self.report(|| PullProgress::Started {
            reference: reference.to_owned(),
        });
        let result = with_retry(
            self.pull_attempts,
            || self.podman.pull(reference, tls_verify, auth_file),
            tokio::time::sleep,
            |attempt, delay, e| {
                let reason = short_reason(e);
                warn!(%reference, attempt, delay_s = delay.as_secs(), %reason, "pull failed, retrying");
                self.report(|| PullProgress::Retrying {
                    reference: reference.to_owned(),
                    attempt,
                    attempts: self.pull_attempts,
                    delay,
                    reason: reason.to_string(),
                });
            },
        )
        .await;
        self.report(|| match &result {
            Ok(()) => PullProgress::Done {
                reference: reference.to_owned(),
                elapsed: begin.elapsed(),
            },
            Err(e) => PullProgress::Failed {
                reference: reference.to_owned(),
                reason: short_reason(e).to_string(),
            },
        });
        result.map_err(|e| ActionError::Pull {
            reference: reference.to_owned(),
            source: Arc::new(e),
        })
    }
}

impl Executor<'_> {
    /// Hands a progress event to the sink, if there is one (built only then).
    fn report(&self, event: impl FnOnce() -> PullProgress) {
        if let Some(sink) = &self.progress {
            sink(&event());
        }
    }
}

/// What a pull is doing, for a person watching: `apply` on a terminal renders these; the
/// controller has no sink and logs only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullProgress {
    Started {
        reference: String,
    },
    Retrying {
        reference: String,
        attempt: u32,
        attempts: u32,
        delay: Duration,
        reason: String,
    },
    Done {
        reference: String,
        elapsed: Duration,
    },
    Failed {
        reference: String,
        reason: String,
    },
}

impl fmt::Display for PullProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Started { reference } => write!(f, "pulling {reference} ..."),
            Self::Retrying {
                reference,
                attempt,
                attempts,
                delay,
                reason,
            } => write!(
                f,
                "pull of {reference} failed (try {attempt}/{attempts}): {reason}; retrying in {}s",
                delay.as_secs()
            ),
            Self::Done { reference, elapsed } => {
                write!(f, "pulled {reference} in {:.1}s", elapsed.as_secs_f64())
            }
            Self::Failed { reference, reason } => write!(f, "pull of {reference} failed: {reason}"),
        }
    }
}

/// Where progress events go.
pub type ProgressSink = Arc<dyn Fn(&PullProgress) + Send + Sync>;

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::ExitStatus;

    use super::*;
    use crate::adapters::podman::Argv;

    fn failure(stderr: &str) -> PodmanError {
        PodmanError::Failed {
            argv: Argv(vec!["podman".into(), "pull".into()]),
            status: ExitStatus::from_raw(125 << 8),
            stderr: stderr.into(),
        }
    }

    const REFUSED: &str = "Error: initializing source docker://127.0.0.1:5000/bb:v9: pinging container registry 127.0.0.1:5000: Get \"http://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: connect: connection refused";
    const UNKNOWN: &str = "Error: initializing source docker://127.0.0.1:5000/bb:v9: reading manifest v9 in 127.0.0.1:5000/bb: manifest unknown: manifest unknown";

    #[tokio::test]
    async fn pull_should_retry_network_errors_with_exponential_backoff() {
        let tries = RefCell::new(0);
        let slept = RefCell::new(Vec::new());
        let result = with_retry(
            ATTEMPTS,
            || {
                *tries.borrow_mut() += 1;
                async { Err(failure(REFUSED)) }
            },
            |d| {
                slept.borrow_mut().push(d);
                async {}
            },
            |_, _, _| {},
        )
        .await;
        assert!(result.is_err());
        assert_eq!(*tries.borrow(), 4);
        assert_eq!(*slept.borrow(), [1, 2, 4].map(Duration::from_secs).to_vec());
    }

    #[tokio::test]
    async fn pull_should_not_retry_a_missing_tag() {
        let tries = RefCell::new(0);
        let result = with_retry(
            ATTEMPTS,
            || {
                *tries.borrow_mut() += 1;
                async { Err(failure(UNKNOWN)) }
            },
            |_| async {},
            |_, _, _| {},
        )
        .await;
        assert!(result.is_err());
        assert_eq!(*tries.borrow(), 1);
    }

    #[tokio::test]
    async fn pull_should_stop_retrying_once_it_succeeds() {
        let tries = RefCell::new(0);
        let result = with_retry(
            ATTEMPTS,
            || {
                *tries.borrow_mut() += 1;
                let n = *tries.borrow();
                async move { if n < 2 { Err(failure(REFUSED)) } else { Ok(()) } }
            },
            |_| async {},
            |_, _, _| {},
        )
        .await;
        assert!(result.is_ok());
        assert_eq!(*tries.borrow(), 2);
    }

    #[test]
    fn short_reason_should_be_the_last_stderr_line() {
        assert_eq!(short_reason(&failure("a\nError: b\n")), "Error: b");
    }
}
