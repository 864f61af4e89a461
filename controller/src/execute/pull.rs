//! Pulling images: every pull of a plan up front, in parallel with a bound, each retried
//! with exponential backoff when the error looks like the network's (never when the
//! registry answered "no such image" or "unauthorized"), with progress on a terminal.

use std::future::Future;
use std::time::Duration;

use crate::adapters::podman::PodmanError;

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
