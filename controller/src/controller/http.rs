//! A tiny HTTP/1.1 responder for `/metrics`, `/healthz`, `/readyz` and `/status`: GET only,
//! one request per connection, no keep-alive. Enough for Prometheus and `podctl get`,
//! without a web framework.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// What the endpoints serve; implemented by the controller's shared state.
pub trait Endpoints: Send + Sync + 'static {
    fn metrics(&self) -> String;
    fn status_json(&self) -> String;
    fn ready(&self) -> bool;
}

pub struct Response {
    pub code: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// Routes one request line to its response.
pub fn route(method: &str, path: &str, endpoints: &dyn Endpoints) -> Response {
    let path = path.split('?').next().unwrap_or(path);
    let text = |code, body: &str| Response {
        code,
        content_type: "text/plain; charset=utf-8",
        body: body.to_owned(),
    };
    if method != "GET" && method != "HEAD" {
        return text(405, "only GET\n");
    }
    match path {
        "/metrics" => Response {
            code: 200,
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body: endpoints.metrics(),
        },
        "/healthz" => text(200, "ok\n"),
        "/readyz" if endpoints.ready() => text(200, "ready\n"),
        "/readyz" => text(
            503,
            "not ready: the first revision is not loaded and applied yet\n",
        ),
        "/status" => Response {
            code: 200,
            content_type: "application/json",
            body: endpoints.status_json(),
        },
        _ => text(
            404,
            "not found; try /metrics, /healthz, /readyz or /status\n",
        ),
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
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

pub async fn serve(
    listener: TcpListener,
    endpoints: Arc<dyn Endpoints>,
    cancel: CancellationToken,
) {
    loop {
        let (stream, _) = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            if let Err(e) =
                tokio::time::timeout(Duration::from_secs(10), handle(stream, &*endpoints)).await
            {
                tracing::debug!(error = %e, "http client too slow");
            }
        });
    }
}

async fn handle(mut stream: TcpStream, endpoints: &dyn Endpoints) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 16 * 1024 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let response = match (parts.next(), parts.next()) {
        (Some(method), Some(path)) => {
            let mut r = route(method, path, endpoints);
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

    struct Fake(bool);
    impl Endpoints for Fake {
        fn metrics(&self) -> String {
            "podctl_x 1\n# EOF\n".to_owned()
        }
        fn status_json(&self) -> String {
            "{}".to_owned()
        }
        fn ready(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn route_should_serve_each_endpoint() {
        assert_eq!(
            route("GET", "/metrics", &Fake(true)).body,
            "podctl_x 1\n# EOF\n"
        );
        assert_eq!(route("GET", "/healthz", &Fake(false)).code, 200);
        assert_eq!(route("GET", "/readyz", &Fake(false)).code, 503);
        assert_eq!(route("GET", "/readyz?verbose", &Fake(true)).code, 200);
        assert_eq!(
            route("GET", "/status", &Fake(true)).content_type,
            "application/json"
        );
        assert_eq!(route("GET", "/nope", &Fake(true)).code, 404);
        assert_eq!(route("POST", "/status", &Fake(true)).code, 405);
    }

    #[tokio::test]
    async fn serve_should_answer_over_tcp() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        tokio::spawn(serve(listener, Arc::new(Fake(true)), cancel.clone()));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nready\n"), "{out}");
        cancel.cancel();
    }
}
