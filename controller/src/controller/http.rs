//! A tiny HTTP/1.1 responder: `/metrics`, `/healthz` and `/readyz` on TCP, open to every
//! local user, and `/status` (it names files, units and errors) only on a unix socket that
//! only root may connect to. GET only, one request per connection, no keep-alive: enough
//! for Prometheus and `podctl get`, without a web framework.
//!
//! Built for a hostile local user: a cap on connections served at once (the excess closed
//! at once) and a few seconds to send a request, so idle or slowloris connections cannot
//! hold the file descriptors that reconciling needs.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{
    DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Where `/status` is served by default; `/run/podctl` is the unit's `RuntimeDirectory=`.
pub const DEFAULT_STATUS_SOCKET: &str = "/run/podctl/status.sock";
/// Connections served at once on TCP; more are closed as soon as they are accepted.
/// Prometheus and a few curls need a handful.
pub const MAX_TCP_CONNECTIONS: usize = 64;
/// Only root reaches the socket; a small cap still bounds a runaway script.
pub const MAX_SOCKET_CONNECTIONS: usize = 16;
/// How long a client has to send its request line and headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client has to take the answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// A request head larger than this is answered with 400.
const MAX_HEAD: usize = 16 * 1024;

/// What the endpoints serve; implemented by the controller's shared state.
pub trait Endpoints: Send + Sync + 'static {
    /// The metrics text; async because container metrics are read from systemd on a scrape.
    fn metrics(&self) -> futures_util::future::BoxFuture<'_, String>;
    fn status_json(&self) -> String;
    fn ready(&self) -> bool;
    /// A connection was closed at once because the cap was reached.
    fn connection_rejected(&self);
}

pub struct Response {
    pub code: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// Which listener a request came in on: it decides whether `/status` is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Surface {
    /// TCP, reachable by every local user; `status_socket` is where `/status` went.
    Tcp { status_socket: Option<PathBuf> },
    /// The root-only unix socket: everything, `/status` included.
    StatusSocket,
}

/// Routes one request line to its response.
pub async fn route(
    method: &str,
    path: &str,
    endpoints: &dyn Endpoints,
    surface: &Surface,
) -> Response {
    let path = path.split('?').next().unwrap_or(path);
    let text = |code, body: &str| Response {
        code,
        content_type: "text/plain; charset=utf-8",
        body: body.to_owned(),
    };
    if method != "GET" && method != "HEAD" {
        return text(405, "only GET\n");
    }
    match (path, surface) {
        ("/metrics", _) => Response {
            code: 200,
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body: endpoints.metrics().await,
        },
        ("/healthz", _) => text(200, "ok\n"),
        ("/readyz", _) if endpoints.ready() => text(200, "ready\n"),
        ("/readyz", _) => text(
            503,
            "not ready: the first revision is not loaded and applied yet\n",
        ),
        ("/status", Surface::StatusSocket) => Response {
            code: 200,
            content_type: "application/json",
            body: endpoints.status_json(),
        },
        // It names files, units and load errors: root only, and says where it went.
        (
            "/status",
            Surface::Tcp {
                status_socket: Some(socket),
            },
        ) => text(
            404,
            &format!(
                "/status is served only to root, on the unix socket {socket}: run `podctl get` \
                 as root, or `curl --unix-socket {socket} http://localhost/status`\n",
                socket = socket.display()
            ),
        ),
        (
            "/status",
            Surface::Tcp {
                status_socket: None,
            },
        ) => text(
            404,
            "/status is served only to root, on a unix socket, and this controller runs \
             with --status-socket off\n",
        ),
        (_, Surface::StatusSocket) => text(
            404,
            "not found; try /metrics, /healthz, /readyz or /status\n",
        ),
        (_, Surface::Tcp { .. }) => text(404, "not found; try /metrics, /healthz or /readyz\n"),
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Binds `addr` now (so a bad address fails at start), then serves until `cancel`.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("cannot create {} for the status socket: {source}", dir.display())]
    Directory {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} (owner uid {uid}, mode {mode:o}) may be written by others: anyone could replace \
         the status socket; make it root's, mode 0755 or tighter",
        dir.display()
    )]
    UnsafeDirectory { dir: PathBuf, uid: u32, mode: u32 },
    #[error("{} exists and is not a socket; remove it or choose another --status-socket", path.display())]
    NotASocket { path: PathBuf },
    #[error("cannot serve the status socket {}: {source}", path.display())]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The bound status socket; the file is removed when it is dropped.
#[derive(Debug)]
pub struct StatusSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl Drop for StatusSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the status socket at `path`, mode 0600, in a directory only its owner (this
/// process's user) may write. A socket left by an earlier controller is replaced: the
/// caller holds the host lock, so no other controller serves it.
pub fn bind_status_socket(path: &Path) -> Result<StatusSocket, SocketError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_err = |source| SocketError::Directory {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(dir_err)?;
    let meta = std::fs::metadata(dir).map_err(dir_err)?;
    if meta.uid() != rustix::process::geteuid().as_raw() || meta.mode() & 0o022 != 0 {
        return Err(SocketError::UnsafeDirectory {
            dir: dir.to_path_buf(),
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        });
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            let _ = std::fs::remove_file(path);
        }
        Ok(_) => {
            return Err(SocketError::NotASocket {
                path: path.to_path_buf(),
            });
        }
        Err(_) => {}
    }
    let bind_err = |source| SocketError::Bind {
        path: path.to_path_buf(),
        source,
    };
    // Connecting needs write permission on the socket: with the unit's UMask=0022 others
    // cannot connect even before the chmod below.
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    let socket = StatusSocket {
        listener,
        path: path.to_path_buf(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    Ok(socket)
}

/// A bound listener of either kind.
pub enum Listener {
    Tcp(TcpListener),
    Socket(StatusSocket),
}

/// An accepted connection of either kind.
trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

impl Listener {
    async fn accept(&self) -> io::Result<Box<dyn Connection>> {
        Ok(match self {
            Listener::Tcp(l) => Box::new(l.accept().await?.0),
            Listener::Socket(s) => Box::new(s.listener.accept().await?.0),
        })
    }
}

/// Serves `listener` until `cancel`, at most `limit` connections at once: one more is
/// closed as soon as it is accepted, which frees its file descriptor at once (a client
/// that keeps it open holds only its own end).
pub async fn serve(
    listener: Listener,
    surface: Surface,
    limit: usize,
    endpoints: Arc<dyn Endpoints>,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limit));
    let surface = Arc::new(surface);
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    // Out of file descriptors (EMFILE) is the usual cause: let some close.
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            endpoints.connection_rejected();
            drop(stream);
            continue;
        };
        let endpoints = endpoints.clone();
        let surface = surface.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = handle(stream, &*endpoints, &surface).await {
                tracing::debug!(error = %e, "http client dropped");
            }
        });
    }
}

async fn handle(
    mut stream: Box<dyn Connection>,
    endpoints: &dyn Endpoints,
    surface: &Surface,
) -> io::Result<()> {
    let head = tokio::time::timeout(HEADER_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request head in time"))??;
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let response = match (parts.next(), parts.next()) {
        (Some(method), Some(path)) if head.len() <= MAX_HEAD => {
            let mut r = route(method, path, endpoints, surface).await;
            if method == "HEAD" {
                r.body.clear();
            }
            r
        }
        _ => Response {
            code: 400,
            content_type: "text/plain",
            body: "bad request\n".to_owned(),
        },
    };
    tokio::time::timeout(WRITE_TIMEOUT, write_response(&mut stream, &response))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "answer not taken in time"))?
}

/// The request head, up to its blank line, the end of the stream, or a little over
/// [`MAX_HEAD`].
async fn read_head(stream: &mut Box<dyn Connection>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() <= MAX_HEAD {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}

async fn write_response(stream: &mut Box<dyn Connection>, response: &Response) -> io::Result<()> {
    let header = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.code,
        reason(response.code),
        response.content_type,
        response.body.len()
    );
    stream.write_all(header.as_bytes()).await?;
    stream.write_all(response.body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpStream, UnixStream};

    struct Fake(bool);
    impl Endpoints for Fake {
        fn metrics(&self) -> futures_util::future::BoxFuture<'_, String> {
            Box::pin(async { "podctl_x 1\n# EOF\n".to_owned() })
        }
        fn status_json(&self) -> String {
            "{}".to_owned()
        }
        fn ready(&self) -> bool {
            self.0
        }
        fn connection_rejected(&self) {}
    }

    fn tcp() -> Surface {
        Surface::Tcp {
            status_socket: Some(PathBuf::from("/run/podctl/status.sock")),
        }
    }

    #[tokio::test]
    async fn route_should_serve_each_endpoint() {
        for surface in [tcp(), Surface::StatusSocket] {
            let get = |path| route("GET", path, &Fake(true), &surface);
            assert_eq!(get("/metrics").await.body, "podctl_x 1\n# EOF\n");
            assert_eq!(get("/healthz").await.code, 200);
            assert_eq!(get("/readyz?verbose").await.code, 200);
            assert_eq!(get("/nope").await.code, 404);
            let not_ready = route("GET", "/readyz", &Fake(false), &surface).await;
            assert_eq!(not_ready.code, 503);
            let post = route("POST", "/status", &Fake(true), &surface).await;
            assert_eq!(post.code, 405);
        }
        let status = route("GET", "/status", &Fake(true), &Surface::StatusSocket).await;
        assert_eq!(
            (status.code, status.content_type),
            (200, "application/json")
        );
    }

    #[tokio::test]
    async fn route_should_say_where_status_went_instead_of_serving_it_on_tcp() {
        let r = route("GET", "/status", &Fake(true), &tcp()).await;
        assert_eq!(r.code, 404);
        assert!(
            r.body
                .contains("only to root, on the unix socket /run/podctl/status.sock"),
            "{}",
            r.body
        );
        assert!(!r.body.contains('{'), "{}", r.body);
        let off = route(
            "GET",
            "/status",
            &Fake(true),
            &Surface::Tcp {
                status_socket: None,
            },
        )
        .await;
        assert!(off.body.contains("--status-socket off"), "{}", off.body);
    }

    async fn read_all(s: &mut (impl AsyncRead + Unpin)) -> String {
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn serve_should_answer_over_tcp() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        tokio::spawn(serve(
            Listener::Tcp(listener),
            tcp(),
            4,
            Arc::new(Fake(true)),
            cancel.clone(),
        ));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let out = read_all(&mut s).await;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nready\n"), "{out}");
        cancel.cancel();
    }

    #[tokio::test]
    async fn serve_should_close_connections_beyond_the_cap_at_once_and_idle_ones_soon() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        tokio::spawn(serve(
            Listener::Tcp(listener),
            tcp(),
            2,
            Arc::new(Fake(true)),
            cancel.clone(),
        ));
        let started = std::time::Instant::now();
        let mut idle = Vec::new();
        for _ in 0..2 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        // Both slots are taken by clients that send nothing: the third is closed unread.
        let mut third = TcpStream::connect(addr).await.unwrap();
        let out = tokio::time::timeout(Duration::from_secs(2), read_all(&mut third))
            .await
            .expect("a connection beyond the cap must be closed at once");
        assert_eq!(out, "");
        assert!(
            started.elapsed() < HEADER_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
        // The idle ones are dropped at the header timeout, which frees their slots.
        for s in &mut idle {
            let out = tokio::time::timeout(HEADER_TIMEOUT * 2, read_all(s))
                .await
                .expect("an idle connection must be closed at the header timeout");
            assert_eq!(out, "");
        }
        assert!(
            started.elapsed() >= HEADER_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(read_all(&mut s).await.ends_with("ok\n"));
        cancel.cancel();
    }

    #[tokio::test]
    async fn status_socket_should_be_0600_serve_status_and_replace_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/status.sock");
        drop(bind_status_socket(&path).unwrap());
        assert!(!path.exists(), "dropping the socket removes its file");
        // A socket file left behind by a controller that was killed.
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale);
        let socket = bind_status_socket(&path).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.mode() & 0o777, 0o600);
        let cancel = CancellationToken::new();
        tokio::spawn(serve(
            Listener::Socket(socket),
            Surface::StatusSocket,
            2,
            Arc::new(Fake(true)),
            cancel.clone(),
        ));
        let mut s = UnixStream::connect(&path).await.unwrap();
        s.write_all(b"GET /status HTTP/1.1\r\n\r\n").await.unwrap();
        let out = read_all(&mut s).await;
        assert!(
            out.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json"),
            "{out}"
        );
        cancel.cancel();
    }

    #[test]
    fn status_socket_should_refuse_to_replace_a_file_that_is_not_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.sock");
        std::fs::write(&path, "precious").unwrap();
        let err = bind_status_socket(&path).unwrap_err();
        assert!(matches!(err, SocketError::NotASocket { .. }), "{err:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }

    #[test]
    fn status_socket_should_refuse_a_directory_others_may_write() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = bind_status_socket(&dir.path().join("status.sock")).unwrap_err();
        assert!(
            matches!(err, SocketError::UnsafeDirectory { .. }),
            "{err:?}"
        );
    }
}
