//! The running controller's view, read from its `/status` endpoint: `podctl get` shows it
//! beside its own observation, and falls back to it when the manifests on disk are invalid.

use std::time::Duration;

use anyhow::Context;
use podctl_api::Kind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::status::{Row, Status};

/// How long `get` waits for a controller: on a host without one it must not hang.
const TIMEOUT: Duration = Duration::from_millis(500);

/// Fetches `/status` from a controller at `address` (`127.0.0.1:9883`); `None` when no
/// controller answers there.
pub async fn fetch(address: &str) -> Option<serde_json::Value> {
    tokio::time::timeout(TIMEOUT, get(address, "/status"))
        .await
        .ok()?
        .ok()
}

async fn get(address: &str, path: &str) -> anyhow::Result<serde_json::Value> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP header end")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "status: {head}"
    );
    Ok(serde_json::from_str(body)?)
}

/// A one-line summary of the controller for the top of `podctl get`.
pub fn summary(status: &serde_json::Value) -> String {
    let pid = status["controller"]["pid"].as_u64().unwrap_or(0);
    let phase = status["controller"]["phase"].as_str().unwrap_or("?");
    let revision = status["revision"]["shortHash"].as_str().unwrap_or("none");
    let mut line = format!("controller: {phase} (pid {pid}), revision {revision}");
    let last = &status["lastReconcile"];
    if !last.is_null() {
        line.push_str(&format!(
            "; last pass: {} ({} changed, {} failed)",
            last["reason"].as_str().unwrap_or("?"),
            last["changed"].as_u64().unwrap_or(0),
            last["failed"].as_u64().unwrap_or(0)
        ));
    }
    let invalid = &status["invalidRevision"];
    if !invalid.is_null() {
        line.push_str(&format!(
            "\ncontroller: the manifests on disk are invalid ({}); it keeps running revision {revision}",
            invalid["message"].as_str().unwrap_or("invalid")
        ));
    }
    line
}

/// The controller's word for an object, when it says more than podctl's own observation:
/// backing off after failures, blocked, in conflict.
pub fn annotate(rows: &mut [Row], status: &serde_json::Value) {
    let Some(objects) = status["objects"].as_array() else {
        return;
    };
    for row in rows {
        let found = objects.iter().find(|o| {
            o["name"].as_str() == Some(row.name.as_str())
                && o["kind"].as_str() == Some(row.kind.as_str())
        });
        let Some(o) = found else { continue };
        let word = o["status"].as_str().unwrap_or("");
        if matches!(word, "BackingOff" | "Failed" | "Blocked" | "Conflict") {
            let why = o["message"].as_str().unwrap_or("");
            let note = format!(
                "controller: {word}{}{why}",
                if why.is_empty() { "" } else { ": " }
            );
            row.message = if row.message.is_empty() {
                note
            } else {
                format!("{}; {note}", row.message)
            };
            if row.status == Status::Converged {
                row.status = Status::Degraded;
            }
        }
    }
}

/// Rows from the controller alone, for when the manifests on disk cannot be read.
pub fn rows(status: &serde_json::Value) -> Vec<Row> {
    let objects = status["objects"].as_array().cloned().unwrap_or_default();
    objects
        .iter()
        .filter_map(|o| {
            let kind = Kind::parse_exact(o["kind"].as_str()?)?;
            let word = o["status"].as_str().unwrap_or("");
            let status = match word {
                "UpToDate" | "Applied" => Status::Converged,
                "Pending" => Status::Pending,
                "BackingOff" | "Failed" | "Blocked" | "Conflict" => Status::Failed,
                _ => Status::Progressing,
            };
            let active = match (o["activeState"].as_str(), o["subState"].as_str()) {
                (Some(a), Some(s)) => format!("{a}/{s}"),
                _ => String::new(),
            };
            Some(Row {
                kind,
                name: o["name"].as_str()?.to_string(),
                status,
                active,
                health: String::new(),
                restarts: None,
                age_seconds: None,
                message: o["message"].as_str().unwrap_or("").to_string(),
                image: String::new(),
                unit: o["unit"].as_str().unwrap_or("").to_string(),
                container_id: String::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "controller": {"pid": 42, "phase": "running"},
            "revision": {"shortHash": "abc123def456"},
            "invalidRevision": {"message": "revision rejected: 2 errors in 1 file"},
            "lastReconcile": {"reason": "manifests", "changed": 1, "failed": 1},
            "objects": [
                {"kind": "Container", "name": "web", "status": "UpToDate", "unit": "web.service",
                 "activeState": "active", "subState": "running"},
                {"kind": "Container", "name": "api", "status": "BackingOff", "message": "api.service: job failed"}
            ]
        })
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
    fn rows_come_from_the_controller_when_manifests_are_unreadable() {
        let rows = rows(&sample());
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].status, rows[0].active.as_str()),
            (Status::Converged, "active/running")
        );
        assert_eq!(rows[1].status, Status::Failed);
        assert_eq!(rows[1].message, "api.service: job failed");
    }
}
