//! podman's REST API (the libpod endpoints) over its unix socket, for the read-only queries
//! of an observation and the controller's event stream. A request to a running
//! `podman system service` costs about a millisecond where every `podman` process costs
//! ~50 ms of start-up (Go runtime, storage, database), which is most of a no-op pass.
//!
//! The CLI stays the authority: whoever uses this falls back to it on any failure, and the
//! service is used only when it already runs or the caller keeps it running
//! (`docs/performance.md`): a socket-activated start costs ~0.4 s, more than it saves.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use super::types::{Container, Image, Network, Secret, SecretInspect, Volume};

/// Where podman's root API service listens (`podman.socket` of podman's packages).
pub const DEFAULT_SOCKET: &str = "/run/podman/podman.sock";

/// The libpod endpoints; podman 4 and 5 both serve this version prefix.
const PREFIX: &str = "/v4.0.0/libpod";

/// A query that takes longer is abandoned (and the caller asks the CLI instead).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot connect to podman's API at {socket}: {source}")]
    Connect {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP exchange with podman's API at {socket} failed: {source}")]
    Http {
        socket: PathBuf,
        #[source]
        source: hyper::Error,
    },
    #[error("podman's API answered GET {path} with {status}: {message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },
    #[error("podman's API answer to GET {path} cannot be parsed: {source}")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("podman's API did not answer GET {path} within {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout { path: String },
}

impl ApiError {
    /// A stable word for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Http { .. } => "http",
            Self::Status { .. } => "status",
            Self::Parse { .. } => "parse",
            Self::Timeout { .. } => "timeout",
        }
    }

    /// The object asked for does not exist (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Status { status: 404, .. })
    }
}

/// podman's API socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSocket {
    path: PathBuf,
}

impl ApiSocket {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every container, as `podman ps --all`.
    pub async fn containers(&self) -> Result<Vec<Container>, ApiError> {
        self.get_json("containers/json?all=true").await
    }

    /// The containers named exactly one of `names`, as `podman ps --all --filter name=…`.
    pub async fn containers_named(&self, names: &[String]) -> Result<Vec<Container>, ApiError> {
        let exact: Vec<String> = names.iter().map(|n| exact_name(n)).collect();
        let pairs: Vec<(&str, &str)> = exact.iter().map(|n| ("name", n.as_str())).collect();
        self.get_json(&format!(
            "containers/json?all=true&filters={}",
            filters(&pairs)
        ))
        .await
    }

    /// Local images, as `podman images` (the caller merges entries of one ID).
    pub async fn images(&self) -> Result<Vec<Image>, ApiError> {
        self.get_json("images/json").await
    }

    /// The local images among `references`, one inspect each, at once; podman resolves
    /// short names as `podman run` would. An absent one is left out.
    pub async fn images_named(
        &self,
        references: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<Image>, ApiError> {
        let inspects = references.iter().map(|reference| async move {
            match self
                .get_json::<ImageInspect>(&format!("images/{}/json", encode(reference)))
                .await
            {
                Ok(found) => Ok(Some(found.into_image(reference))),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        });
        let found = futures_util::future::try_join_all(inspects).await?;
        Ok(found.into_iter().flatten().collect())
    }

    pub async fn volumes(&self) -> Result<Vec<Volume>, ApiError> {
        self.get_json("volumes/json").await
    }

    pub async fn networks(&self) -> Result<Vec<Network>, ApiError> {
        self.get_json("networks/json").await
    }

    /// Every secret's metadata: the list for the IDs, then one inspect per secret, at once
    /// (podman 4.3's list answers `"Labels": null` even for labelled secrets; its inspect
    /// has them). A secret removed between the two is left out, as the CLI path does.
    pub async fn secrets(&self) -> Result<Vec<Secret>, ApiError> {
        let listed: Vec<SecretInspect> = self.get_json("secrets/json").await?;
        let inspects = listed.iter().map(|s| async move {
            match self
                .get_json::<SecretInspect>(&format!("secrets/{}/json", s.id()))
                .await
            {
                Ok(found) => Ok(Some(found)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        });
        let found = futures_util::future::try_join_all(inspects).await?;
        Ok(found.into_iter().flatten().map(Secret::from).collect())
    }

    /// `GET {PREFIX}/{endpoint}`, the whole body parsed as JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T, ApiError> {
        let path = format!("{PREFIX}/{endpoint}");
        let body = tokio::time::timeout(REQUEST_TIMEOUT, self.get_body(&path))
            .await
            .map_err(|_| ApiError::Timeout { path: path.clone() })??;
        serde_json::from_slice(&body).map_err(|source| ApiError::Parse { path, source })
    }

    async fn get_body(&self, path: &str) -> Result<Bytes, ApiError> {
        let (response, _connection) = self.send(path).await?;
        let status = response.status();
        let body = self.read_all(response).await?;
        if !status.is_success() {
            return Err(status_error(path, status.as_u16(), &body));
        }
        Ok(body)
    }

    async fn read_all(&self, response: hyper::Response<Incoming>) -> Result<Bytes, ApiError> {
        Ok(response
            .into_body()
            .collect()
            .await
            .map_err(|source| self.http_error(source))?
            .to_bytes())
    }

    /// `GET {PREFIX}/{endpoint}` of a stream of JSON lines (`events?stream=true`), read line
    /// by line. No timeout: an event stream is quiet for as long as the host is.
    pub async fn stream_lines(&self, endpoint: &str) -> Result<LineStream, ApiError> {
        let path = format!("{PREFIX}/{endpoint}");
        let (response, connection) = self.send(&path).await?;
        let status = response.status();
        if !status.is_success() {
            let body = self.read_all(response).await?;
            return Err(status_error(&path, status.as_u16(), &body));
        }
        Ok(LineStream {
            socket: self.path.clone(),
            body: response.into_body(),
            pending: Vec::new(),
            _connection: connection,
        })
    }

    /// One HTTP/1.1 connection and one GET on it; the connection is driven by a task that
    /// the returned guard ends when dropped.
    async fn send(&self, path: &str) -> Result<(hyper::Response<Incoming>, Connection), ApiError> {
        let stream = UnixStream::connect(&self.path)
            .await
            .map_err(|source| ApiError::Connect {
                socket: self.path.clone(),
                source,
            })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| self.http_error(source))?;
        // Its errors reach the request and the body as well.
        let connection = Connection(tokio::spawn(async move {
            let _ = connection.await;
        }));
        let request = hyper::Request::get(path)
            // HTTP/1.1 needs a Host; podman ignores its value.
            .header(hyper::header::HOST, "podman")
            .body(Empty::<Bytes>::new())
            .map_err(|e| status_error(path, 0, e.to_string().as_bytes()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|source| self.http_error(source))?;
        Ok((response, connection))
    }

    fn http_error(&self, source: hyper::Error) -> ApiError {
        ApiError::Http {
            socket: self.path.clone(),
            source,
        }
    }
}

/// The task driving one connection; dropping it closes the connection.
struct Connection(tokio::task::JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A streamed answer, read line by line.
pub struct LineStream {
    socket: PathBuf,
    body: Incoming,
    pending: Vec<u8>,
    _connection: Connection,
}

impl LineStream {
    /// The next non-empty line, or `None` at the end of the stream.
    pub async fn next_line(&mut self) -> Result<Option<String>, ApiError> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line).trim().to_owned();
                if line.is_empty() {
                    continue;
                }
                return Ok(Some(line));
            }
            let Some(frame) = self.body.frame().await else {
                return Ok(None);
            };
            let frame = frame.map_err(|source| ApiError::Http {
                socket: self.socket.clone(),
                source,
            })?;
            if let Some(data) = frame.data_ref() {
                self.pending.extend_from_slice(data);
            }
        }
    }
}

/// A non-success answer; podman's error bodies are `{"cause": ..., "message": ...}`.
fn status_error(path: &str, status: u16, body: &[u8]) -> ApiError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    ApiError::Status {
        path: path.to_owned(),
        status,
        message,
    }
}

/// What planning needs of `GET /libpod/images/{name}/json`.
#[derive(Debug, serde::Deserialize)]
struct ImageInspect {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "RepoDigests", default)]
    repo_digests: Option<Vec<String>>,
    #[serde(rename = "Digest", default)]
    digest: String,
}

impl ImageInspect {
    /// The image under its own names and the one it was asked by.
    fn into_image(self, asked: &str) -> Image {
        let mut names = self.repo_tags.unwrap_or_default();
        if !names.iter().any(|n| n == asked) {
            names.push(asked.to_owned());
        }
        Image {
            id: self.id,
            names,
            repo_digests: self.repo_digests.unwrap_or_default(),
            digest: self.digest,
            labels: Default::default(),
        }
    }
}

/// `filters` of podman's list and event endpoints: URL-encoded JSON
/// `{"key": ["value", ...]}`.
pub fn filters(pairs: &[(&str, &str)]) -> String {
    let mut map = std::collections::BTreeMap::<&str, Vec<&str>>::new();
    for (key, value) in pairs {
        map.entry(key).or_default().push(value);
    }
    encode(&serde_json::to_string(&map).unwrap_or_default())
}

/// podman's `name` filter is a regular expression: this one matches `name` and nothing else
/// (container names are `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, so only the dot needs escaping).
pub fn exact_name(name: &str) -> String {
    format!("^{}$", name.replace('.', "\\."))
}

/// Percent-encoding of everything but RFC 3986's unreserved characters: a path segment or
/// a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_should_be_url_encoded_json_lists() {
        assert_eq!(
            filters(&[("type", "container"), ("label", "a=b")]),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%2C%22type%22%3A%5B%22container%22%5D%7D"
        );
    }

    #[test]
    fn status_error_should_take_podmans_message() {
        let e = status_error(
            "/x",
            404,
            br#"{"cause":"no such secret","message":"s: no such secret","response":404}"#,
        );
        assert!(e.is_not_found());
        assert_eq!(
            e.to_string(),
            "podman's API answered GET /x with 404: s: no such secret"
        );
    }

    /// A socket nobody listens on is an error the caller can fall back from, not a hang.
    #[tokio::test]
    async fn a_missing_socket_should_be_a_connect_error() {
        let dir = tempfile::tempdir().unwrap();
        let api = ApiSocket::new(dir.path().join("none.sock"));
        let e = api
            .get_json::<serde_json::Value>("_ping")
            .await
            .unwrap_err();
        assert!(matches!(e, ApiError::Connect { .. }), "{e}");
    }
}
