//! The host's event streams, merged into one channel for the controller loop: systemd's
//! D-Bus signals (`PropertiesChanged` of units, `JobRemoved`, `UnitRemoved`) and podman's
//! event stream of managed containers (`podman events`, restarted with backoff if it dies).

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use zbus::zvariant::OwnedValue;

use crate::adapters::podman::{Podman, api};
use crate::adapters::systemd::{ActiveState, Systemd, SystemdEvent};

/// Something happened on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// A unit's properties changed (only those present were in the signal).
    UnitChanged {
        unit: String,
        active_state: Option<ActiveState>,
        sub_state: Option<String>,
        n_restarts: Option<u32>,
    },
    /// A job of a unit ended other than `done` (failed, timeout, dependency, ...).
    JobFailed { unit: String, result: String },
    /// systemd unloaded a unit.
    UnitRemoved { unit: String },
    /// podman reported `status` for a managed container.
    Container {
        name: String,
        status: ContainerEvent,
    },
    /// A stream fell behind or restarted: what it reported may be missing, re-read all.
    Lost { source: &'static str },
}

/// What podman reported about a container (`Status` of `podman events`); only the words
/// podctl acts on have a variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerEvent {
    /// Its main process exited.
    Died,
    Remove,
    Stop,
    Kill,
    /// `start`, `create`, `health_status`, `exec`, ...: nothing podctl repairs.
    Other(String),
}

impl ContainerEvent {
    pub fn parse(status: &str) -> Self {
        match status {
            "died" => Self::Died,
            "remove" => Self::Remove,
            "stop" => Self::Stop,
            "kill" => Self::Kill,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Forwards systemd's signals until `cancel`.
pub async fn systemd_events(
    systemd: Systemd,
    tx: mpsc::Sender<HostEvent>,
    cancel: CancellationToken,
) {
    let mut jobs = systemd.events();
    let props = match properties_stream(systemd.connection()).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot subscribe to unit PropertiesChanged; relying on job signals and resync");
            None
        }
    };
    let mut props = props.map(Box::pin);
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => return,
            job = jobs.recv() => match job {
                Ok(SystemdEvent::JobRemoved { unit, outcome, .. }) if !outcome.is_done() => {
                    HostEvent::JobFailed { unit, result: outcome.as_str().to_owned() }
                }
                Ok(SystemdEvent::JobRemoved { .. }) => continue,
                Ok(SystemdEvent::UnitRemoved { unit }) => HostEvent::UnitRemoved { unit },
                Err(broadcast::error::RecvError::Lagged(_)) => HostEvent::Lost { source: "systemd" },
                Err(broadcast::error::RecvError::Closed) => return,
            },
            msg = next_or_pending(&mut props) => match msg {
                Some(Ok(msg)) => match unit_changed(&msg) {
                    Some(event) => event,
                    None => continue,
                },
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "bad PropertiesChanged message");
                    continue;
                }
                None => {
                    props = None;
                    HostEvent::Lost { source: "systemd" }
                }
            },
        };
        if tx.send(event).await.is_err() {
            return;
        }
    }
}

async fn next_or_pending<S: futures_util::Stream + Unpin>(s: &mut Option<S>) -> Option<S::Item> {
    match s {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

async fn properties_stream(conn: &zbus::Connection) -> zbus::Result<zbus::MessageStream> {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender("org.freedesktop.systemd1")?
        .interface("org.freedesktop.DBus.Properties")?
        .member("PropertiesChanged")?
        .path_namespace("/org/freedesktop/systemd1/unit")?
        .build();
    zbus::MessageStream::for_match_rule(rule, conn, Some(1024)).await
}

fn unit_changed(msg: &zbus::Message) -> Option<HostEvent> {
    let header = msg.header();
    let unit = unit_from_path(header.path()?.as_str())?;
    let (interface, changed, _invalidated): (String, HashMap<String, OwnedValue>, Vec<String>) =
        msg.body().deserialize().ok()?;
    let string = |key: &str| {
        changed
            .get(key)
            .and_then(|v| v.downcast_ref::<&str>().ok())
            .map(str::to_owned)
    };
    let (active_state, sub_state, n_restarts) = match interface.as_str() {
        "org.freedesktop.systemd1.Unit" => (
            string("ActiveState").map(|a| ActiveState::parse(&a)),
            string("SubState"),
            None,
        ),
        "org.freedesktop.systemd1.Service" => (
            None,
            None,
            changed
                .get("NRestarts")
                .and_then(|v| v.downcast_ref::<u32>().ok()),
        ),
        _ => return None,
    };
    if active_state.is_none() && sub_state.is_none() && n_restarts.is_none() {
        return None;
    }
    Some(HostEvent::UnitChanged {
        unit,
        active_state,
        sub_state,
        n_restarts,
    })
}

/// `/org/freedesktop/systemd1/unit/my_2dapp_2eservice` -> `my-app.service`: systemd escapes
/// every byte outside `[A-Za-z0-9]` as `_xx`.
pub fn unit_from_path(path: &str) -> Option<String> {
    let escaped = path.strip_prefix("/org/freedesktop/systemd1/unit/")?;
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            let hex = escaped.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The first wait before `podman events` is started again, doubled after each quick end.
const EVENTS_RESTART_INITIAL: Duration = Duration::from_secs(1);
const EVENTS_RESTART_CAP: Duration = Duration::from_secs(60);
/// A `podman events` that ran this long was working: the next restart waits the least again.
const EVENTS_HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Runs `podman events` for managed containers until `cancel`, restarting it with backoff
/// (1 s doubling to 60 s) whenever it exits. Each end is sent as [`HostEvent::Lost`]; the
/// loop defers the passes those ask for to the pass backoff, so a podman that fails at once
/// costs one attempt per wait, never a busy loop.
pub async fn podman_events(podman: Podman, tx: mpsc::Sender<HostEvent>, cancel: CancellationToken) {
    let mut delay = EVENTS_RESTART_INITIAL;
    loop {
        let started = tokio::time::Instant::now();
        let ended = tokio::select! {
            () = cancel.cancelled() => return,
            ended = run_podman_events(&podman, &tx) => ended,
        };
        match ended {
            Ok(()) => tracing::warn!("podman events ended; restarting it"),
            Err(e) => tracing::warn!(error = %e, "podman events failed; restarting it"),
        }
        if tx.send(HostEvent::Lost { source: "podman" }).await.is_err() {
            return;
        }
        if started.elapsed() > EVENTS_HEALTHY_RUN {
            delay = EVENTS_RESTART_INITIAL;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(EVENTS_RESTART_CAP);
    }
}

/// The event stream of podman's API when the queries use it (the open stream is what keeps
/// podman's API service running between passes), else `podman events`.
async fn run_podman_events(podman: &Podman, tx: &mpsc::Sender<HostEvent>) -> anyhow::Result<()> {
    let Some(api) = podman.api() else {
        return Ok(cli_podman_events(podman.program(), tx).await?);
    };
    let endpoint = format!(
        "events?stream=true&filters={}",
        api::filters(&[("type", "container"), ("label", "io.podctl.managed=true")])
    );
    let mut lines = api.stream_lines(&endpoint).await?;
    while let Some(line) = lines.next_line().await? {
        if let Some(event) = parse_api_event(&line)
            && tx.send(event).await.is_err()
        {
            break;
        }
    }
    Ok(())
}

async fn cli_podman_events(
    program: &std::path::Path,
    tx: &mpsc::Sender<HostEvent>,
) -> std::io::Result<()> {
    let mut child = tokio::process::Command::new(program)
        .args([
            "events",
            "--format",
            "json",
            "--filter",
            "type=container",
            "--filter",
            "label=io.podctl.managed=true",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let Some(stdout) = child.stdout.take() else {
        return Ok(());
    };
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(event) = parse_podman_event(&line)
            && tx.send(event).await.is_err()
        {
            break;
        }
    }
    let _ = child.kill().await;
    Ok(())
}

/// One line of `podman events --format json`.
pub fn parse_podman_event(line: &str) -> Option<HostEvent> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let name = v.get("Name")?.as_str()?.to_owned();
    let status = ContainerEvent::parse(v.get("Status")?.as_str()?);
    Some(HostEvent::Container { name, status })
}

/// One line of the API's event stream (Docker's shape: `Action`, `Actor.Attributes.name`).
pub fn parse_api_event(line: &str) -> Option<HostEvent> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let name = v.pointer("/Actor/Attributes/name")?.as_str()?.to_owned();
    let action = v.get("Action").or_else(|| v.get("status"))?.as_str()?;
    Some(HostEvent::Container {
        name,
        status: ContainerEvent::parse(action),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_from_path_should_unescape_systemd_object_paths() {
        assert_eq!(
            unit_from_path("/org/freedesktop/systemd1/unit/my_2dapp_2eservice").as_deref(),
            Some("my-app.service")
        );
        assert_eq!(unit_from_path("/org/freedesktop/systemd1/unit/bad_2"), None);
        assert_eq!(unit_from_path("/org/freedesktop/systemd1/job/1"), None);
    }

    #[test]
    fn parse_podman_event_should_read_name_and_status() {
        let line = r#"{"ID":"abc","Image":"localhost/web:v1","Name":"web","Status":"died","Time":"2024-01-01T00:00:00Z","Type":"container","Attributes":{"io.podctl.managed":"true"}}"#;
        assert_eq!(
            parse_podman_event(line),
            Some(HostEvent::Container {
                name: "web".into(),
                status: ContainerEvent::Died
            })
        );
        assert_eq!(parse_podman_event("not json"), None);
    }

    #[test]
    fn parse_api_event_should_read_the_actor_name_and_action() {
        let line = r#"{"status":"died","id":"dd78","from":"localhost/bb:v1","Type":"container","Action":"died","Actor":{"ID":"dd78","Attributes":{"containerExitCode":"137","io.podctl.managed":"true","name":"h1"}},"scope":"local","time":1796223011}"#;
        assert_eq!(
            parse_api_event(line),
            Some(HostEvent::Container {
                name: "h1".into(),
                status: ContainerEvent::Died
            })
        );
        assert_eq!(parse_api_event(r#"{"Action":"died"}"#), None);
    }

    /// A podman that cannot even be started (no such program, no file descriptors left)
    /// fails at once: the restarts must still wait 1 s, 2 s, 4 s ... up to 60 s.
    #[tokio::test(start_paused = true)]
    async fn podman_events_should_back_off_when_podman_fails_at_once() {
        let (tx, mut rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let start = tokio::time::Instant::now();
        let task = tokio::spawn(podman_events(
            Podman::with_program("/nonexistent/podman"),
            tx,
            cancel.clone(),
        ));
        let end = start + Duration::from_secs(200);
        let mut lost_at = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(end, rx.recv()).await {
            assert_eq!(event, HostEvent::Lost { source: "podman" });
            lost_at.push((tokio::time::Instant::now() - start).as_secs());
        }
        assert_eq!(lost_at, [0, 1, 3, 7, 15, 31, 63, 123, 183]);
        cancel.cancel();
        task.await.unwrap();
    }
}
