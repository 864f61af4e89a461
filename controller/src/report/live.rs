//! The running controller's view, read from its `/status` on the root-only unix socket:
//! `podctl get` shows it beside its own observation, and falls back to it when the
//! manifests on disk are invalid. Trusted only when it comes from the controller: the
//! socket must be root's and closed to others, and the process behind it must run as root
//! and be the one that holds the host lock.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use podctl_api::printable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::controller_status::{ControllerStatus, ObjectPhase};
use super::status::{Convergence, Row};
use crate::lock::{self, Holder};

/// How long `get` waits for a controller: on a host without one it must not hang.
const TIMEOUT: Duration = Duration::from_millis(500);
/// A status larger than this is not read further.
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

/// Where the controller serves its status, and the host lock that names it.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub socket: &'a Path,
    pub lock_file: &'a Path,
}

/// Why whatever serves the socket is not taken for the controller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    #[error("it is not a socket")]
    NotASocket,
    #[error("it is owned by uid {0}, not root")]
    NotRootOwned(u32),
    #[error("other users may connect to it (mode {0:o})")]
    OpenToOthers(u32),
    #[error("the process serving it runs as uid {0}, not root")]
    PeerNotRoot(u32),
    #[error("the process serving it (pid {}) is not the controller that holds the host lock ({})",
        peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
        holder.as_ref().map_or_else(|| "no controller holds it".to_owned(), Holder::to_string))]
    NotTheController {
        peer: Option<i32>,
        holder: Option<Holder>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("the controller's status at {} is served to root only; run `podctl get` as root to see it", path.display())]
    Denied { path: PathBuf },
    #[error("not asking {}: {why}; anyone could serve a fake status there", path.display())]
    Untrusted { path: PathBuf, why: Untrusted },
    #[error("the controller at {} did not answer within {TIMEOUT:?}", path.display())]
    TimedOut { path: PathBuf },
    #[error("cannot read the controller's status at {}: {message}", path.display())]
    Protocol { path: PathBuf, message: String },
}

/// Fetches `/status` from the controller; `Ok(None)` when none runs (no socket, or one
/// left behind that nobody listens on).
pub async fn fetch(source: Source<'_>) -> Result<Option<ControllerStatus>, LiveError> {
    let path = source.socket.to_path_buf();
    tokio::time::timeout(TIMEOUT, get(source, "/status"))
        .await
        .map_err(|_| LiveError::TimedOut { path })?
}

async fn get(
    source: Source<'_>,
    request_path: &str,
) -> Result<Option<ControllerStatus>, LiveError> {
    let path = source.socket;
    let untrusted = |why| LiveError::Untrusted {
        path: path.to_path_buf(),
        why,
    };
    let io_error = |e: std::io::Error| match e.kind() {
        ErrorKind::PermissionDenied => LiveError::Denied {
            path: path.to_path_buf(),
        },
        _ => LiveError::Protocol {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    };
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        other => other.map_err(io_error)?,
    };
    check_socket_file(meta.file_type().is_socket(), meta.uid(), meta.mode()).map_err(untrusted)?;
    let mut stream = match UnixStream::connect(path).await {
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        other => other.map_err(io_error)?,
    };
    // The file could have been swapped between the check and the connect: the peer's
    // credentials, taken by the kernel, are what count.
    let peer = stream.peer_cred().map_err(io_error)?;
    check_peer(
        peer.uid(),
        peer.pid(),
        lock::current_holder(source.lock_file).as_ref(),
    )
    .map_err(untrusted)?;
    let request =
        format!("GET {request_path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(io_error)?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut response)
        .await
        .map_err(io_error)?;
    let protocol = |message: String| LiveError::Protocol {
        path: path.to_path_buf(),
        message,
    };
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| protocol("no HTTP header end".to_owned()))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(protocol(format!(
            "answered {}",
            head.lines().next().unwrap_or("")
        )));
    }
    serde_json::from_str(body)
        .map(Some)
        .map_err(|e| protocol(e.to_string()))
}

/// The socket file itself: root's, and nobody else may connect (connecting needs write
/// permission, so a socket others may write is one others may also have bound first).
fn check_socket_file(is_socket: bool, uid: u32, mode: u32) -> Result<(), Untrusted> {
    if !is_socket {
        return Err(Untrusted::NotASocket);
    }
    if uid != 0 {
        return Err(Untrusted::NotRootOwned(uid));
    }
    if mode & 0o007 != 0 {
        return Err(Untrusted::OpenToOthers(mode & 0o7777));
    }
    Ok(())
}

/// The process behind the socket: root, and the controller recorded in the host lock.
fn check_peer(uid: u32, pid: Option<i32>, holder: Option<&Holder>) -> Result<(), Untrusted> {
    if uid != 0 {
        return Err(Untrusted::PeerNotRoot(uid));
    }
    let is_controller = holder.is_some_and(|h| {
        h.command == lock::Command::Controller
            && pid.is_some_and(|p| i64::from(p) == i64::from(h.pid))
    });
    if !is_controller {
        return Err(Untrusted::NotTheController {
            peer: pid,
            holder: holder.cloned(),
        });
    }
    Ok(())
}

/// A one-line summary of the controller for the top of `podctl get`.
pub fn summary(status: &ControllerStatus) -> String {
    // Every string is escaped: this line goes to a terminal as it is.
    let revision = status.revision.as_ref().map_or_else(
        || "none".to_owned(),
        |r| match &r.commit {
            Some(commit) => format!(
                "{} (commit {})",
                printable(&r.short_hash),
                printable(commit.get(..12).unwrap_or(commit))
            ),
            None => printable(&r.short_hash).into_owned(),
        },
    );
    let mut line = format!(
        "controller: {} (pid {}), revision {revision}",
        status.controller.phase, status.controller.pid
    );
    if let Some(last) = &status.last_reconcile {
        line.push_str(&format!(
            "; last pass: {} ({} changed, {} failed)",
            printable(&last.reason),
            last.changed,
            last.failed
        ));
    }
    if let Some(invalid) = &status.invalid_revision {
        line.push_str(&format!(
            "\ncontroller: the manifests on disk are invalid ({}); it keeps running revision {revision}",
            printable(&invalid.message)
        ));
    }
    line
}

/// The controller's word for an object, when it says more than podctl's own observation:
/// backing off after failures, blocked, in conflict.
pub fn annotate(rows: &mut [Row], status: &ControllerStatus) {
    for row in rows {
        let found = status
            .objects
            .iter()
            .find(|o| o.name == row.name && o.kind == row.kind);
        let Some(o) = found.filter(|o| o.status.is_trouble()) else {
            continue;
        };
        let why = o.message.as_deref().unwrap_or("");
        let note = format!(
            "controller: {}{}{why}",
            o.status,
            if why.is_empty() { "" } else { ": " }
        );
        row.message = if row.message.is_empty() {
            note
        } else {
            format!("{}; {note}", row.message)
        };
        if row.status == Convergence::Converged {
            row.status = Convergence::Degraded;
        }
    }
}

/// Rows from the controller alone, for when the manifests on disk cannot be read.
pub fn rows(status: &ControllerStatus) -> Vec<Row> {
    status
        .objects
        .iter()
        .map(|o| {
            let row_status = match o.status {
                ObjectPhase::UpToDate | ObjectPhase::Applied => Convergence::Converged,
                ObjectPhase::Pending => Convergence::Pending,
                ObjectPhase::BackingOff
                | ObjectPhase::Failed
                | ObjectPhase::Blocked
                | ObjectPhase::Conflict => Convergence::Failed,
            };
            let active = match (&o.active_state, &o.sub_state) {
                (Some(a), Some(s)) => format!("{a}/{s}"),
                _ => String::new(),
            };
            Row {
                kind: o.kind,
                name: o.name.clone(),
                status: row_status,
                active,
                health: String::new(),
                restarts: None,
                age_seconds: None,
                message: o.message.clone().unwrap_or_default(),
                image: String::new(),
                unit: o.unit.clone().unwrap_or_default(),
                container_id: String::new(),
                rollout: String::new(),
                blue_green: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::controller_status::ControllerPhase;

    /// A document as the controller writes it, parsed as `get` parses it.
    fn sample() -> ControllerStatus {
        let object =
            |name: &str, status: &str, message: Option<&str>, unit_state: Option<(&str, &str)>| {
                serde_json::json!({
                    "kind": "Container", "name": name, "status": status, "message": message,
                    "change": null, "unit": format!("{name}.service"),
                    "activeState": unit_state.map(|u| u.0), "subState": unit_state.map(|u| u.1),
                    "failures": 0, "retryAt": null, "lastReconciledAt": null
                })
            };
        serde_json::from_value(serde_json::json!({
            "apiVersion": "podctl.io/v1", "kind": "ControllerStatus",
            "controller": {"version": "0.1.0", "pid": 42, "startedAt": 1.0, "manifests": "/m",
                           "unitDir": "/u", "ready": true, "phase": "running"},
            "revision": {"hash": "abc123def456abc", "shortHash": "abc123def456", "resolvedDir": "/m",
                         "objects": 2, "loadedAt": 1.0},
            "invalidRevision": {"detectedAt": 2.0, "message": "revision rejected: 2 errors in 1 file", "errors": []},
            "lastReconcile": {"startedAt": 1.0, "durationMs": 5, "reason": "manifests", "changed": 1,
                              "failed": 1, "error": null},
            "objects": [
                object("web", "UpToDate", None, Some(("active", "running"))),
                object("api", "BackingOff", Some("api.service: job failed"), None),
            ]
        }))
        .expect("the controller's document parses")
    }

    #[test]
    fn summary_names_the_revision_and_the_invalid_manifests() {
        let s = summary(&sample());
        assert!(s.starts_with("controller: running (pid 42), revision abc123def456; last pass: manifests (1 changed, 1 failed)"), "{s}");
        assert!(
            s.contains("manifests on disk are invalid (revision rejected: 2 errors in 1 file)"),
            "{s}"
        );
    }

    #[test]
    fn summary_should_escape_what_the_controller_says() {
        let mut status = sample();
        if let Some(last) = &mut status.last_reconcile {
            last.reason = "\u{1b}]0;pwned\u{7}manifests".into();
        }
        if let Some(invalid) = &mut status.invalid_revision {
            invalid.message = "\u{1b}[2J\u{202e}gnissim".into();
        }
        let s = summary(&status);
        assert!(!s.contains('\u{1b}') && !s.contains('\u{202e}'), "{s}");
        assert!(s.contains("\\u{1b}]0;pwned\\u{7}manifests"), "{s}");
    }

    #[test]
    fn socket_file_should_be_roots_and_closed_to_others() {
        assert_eq!(check_socket_file(true, 0, 0o140600), Ok(()));
        assert_eq!(check_socket_file(true, 0, 0o140660), Ok(()));
        assert_eq!(
            check_socket_file(false, 0, 0o100600),
            Err(Untrusted::NotASocket)
        );
        assert_eq!(
            check_socket_file(true, 1000, 0o140600),
            Err(Untrusted::NotRootOwned(1000))
        );
        assert_eq!(
            check_socket_file(true, 0, 0o140777),
            Err(Untrusted::OpenToOthers(0o777))
        );
    }

    #[test]
    fn peer_should_be_root_and_the_controller_holding_the_lock() {
        let controller = Holder {
            pid: 42,
            command: lock::Command::Controller,
            manifests: "/etc/podctl/manifests".to_owned(),
        };
        assert_eq!(check_peer(0, Some(42), Some(&controller)), Ok(()));
        assert_eq!(
            check_peer(1000, Some(42), Some(&controller)),
            Err(Untrusted::PeerNotRoot(1000))
        );
        for (pid, holder) in [
            (Some(43), Some(controller.clone())),
            (None, Some(controller.clone())),
            (Some(42), None),
            (
                Some(42),
                Some(Holder {
                    command: lock::Command::Apply,
                    ..controller.clone()
                }),
            ),
        ] {
            let err = check_peer(0, pid, holder.as_ref()).unwrap_err();
            assert!(matches!(err, Untrusted::NotTheController { .. }), "{err:?}");
        }
    }

    /// A root process that serves a status on a root-only socket but does not hold the
    /// host lock (a fake, or a stale test server) is not believed.
    #[tokio::test]
    async fn fetch_should_believe_only_the_process_that_holds_the_lock() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("SKIPPED: needs root (the socket must be root's)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("status.sock");
        let lock_file = dir.path().join("controller.lock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let body = serde_json::to_string(&sample()).unwrap();
                let _ = s
                    .write_all(format!("HTTP/1.1 200 OK\r\n\r\n{body}").as_bytes())
                    .await;
            }
        });
        let source = Source {
            socket: &socket,
            lock_file: &lock_file,
        };
        let err = fetch(source).await.unwrap_err();
        assert!(
            matches!(
                err,
                LiveError::Untrusted {
                    why: Untrusted::NotTheController { holder: None, .. },
                    ..
                }
            ),
            "{err:?}"
        );
        let me = Holder::me(lock::Command::Controller, dir.path());
        let _lock = lock::HostLock::acquire(&lock_file, &me, Duration::from_secs(1), |_| {})
            .await
            .unwrap();
        let status = fetch(source).await.unwrap().unwrap();
        assert_eq!(status.controller.phase, ControllerPhase::Running);
        let missing = Source {
            socket: &dir.path().join("none.sock"),
            lock_file: &lock_file,
        };
        assert!(fetch(missing).await.unwrap().is_none());
    }

    #[test]
    fn rows_come_from_the_controller_when_manifests_are_unreadable() {
        let rows = rows(&sample());
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].status, rows[0].active.as_str()),
            (Convergence::Converged, "active/running")
        );
        assert_eq!(rows[1].status, Convergence::Failed);
        assert_eq!(rows[1].message, "api.service: job failed");
    }
}
