//! HAProxy's runtime API on its admin socket (`stats socket ... level admin`): one command
//! per connection, its answer read to the end. A switch of a blue-green proxy is two
//! `set server` commands, applied by HAProxy at once, with no reload and no connection
//! dropped; `show stat` tells how many sessions a server still has.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

/// How long one command may take: the socket is local, HAProxy answers at once.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum HaproxyError {
    #[error("cannot send `{command}` to HAProxy's admin socket {}", socket.display())]
    Io {
        socket: PathBuf,
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HAProxy's admin socket {} did not answer `{command}` within {}s", socket.display(), TIMEOUT.as_secs())]
    Timeout { socket: PathBuf, command: String },
    /// HAProxy answered with an error (a `set` answers nothing when it worked).
    #[error("HAProxy refused `{command}`: {answer}")]
    Refused { command: String, answer: String },
    #[error("HAProxy's `show stat` has no server {backend}/{server}")]
    NoServer { backend: String, server: String },
}

impl HaproxyError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Timeout { .. } => "timeout",
            Self::Refused { .. } => "refused",
            Self::NoServer { .. } => "no_server",
        }
    }
}

/// An administrative state of a server (`set server B/S state ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Takes new connections.
    Ready,
    /// Takes no new connections; the ones it has run on.
    Maint,
}

impl ServerState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Maint => "maint",
        }
    }
}

/// One HAProxy's admin socket.
#[derive(Debug, Clone)]
pub struct Haproxy {
    socket: PathBuf,
}

impl Haproxy {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one command and returns HAProxy's answer.
    pub async fn command(&self, command: &str) -> Result<String, HaproxyError> {
        let io = |source| HaproxyError::Io {
            socket: self.socket.clone(),
            command: command.to_owned(),
            source,
        };
        let exchange = async {
            let mut stream = UnixStream::connect(&self.socket).await.map_err(io)?;
            stream
                .write_all(format!("{command}\n").as_bytes())
                .await
                .map_err(io)?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.map_err(io)?;
            Ok(answer)
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| HaproxyError::Timeout {
                socket: self.socket.clone(),
                command: command.to_owned(),
            })?
    }

    pub async fn set_state(
        &self,
        backend: &str,
        server: &str,
        state: ServerState,
    ) -> Result<(), HaproxyError> {
        let command = format!("set server {backend}/{server} state {}", state.as_str());
        let answer = self.command(&command).await?;
        match answer.trim() {
            "" => Ok(()),
            other => Err(HaproxyError::Refused {
                command,
                answer: other.to_owned(),
            }),
        }
    }

    /// The sessions `backend/server` has now (`scur` of `show stat`).
    pub async fn sessions(&self, backend: &str, server: &str) -> Result<u64, HaproxyError> {
        let answer = self.command("show stat").await?;
        current_sessions(&answer, backend, server).ok_or_else(|| HaproxyError::NoServer {
            backend: backend.to_owned(),
            server: server.to_owned(),
        })
    }
}

/// `scur` of `backend/server` in `show stat`'s CSV (its header line names the columns).
fn current_sessions(csv: &str, backend: &str, server: &str) -> Option<u64> {
    let mut lines = csv.lines();
    let header = lines.next()?.trim_start_matches("# ");
    let column = header.split(',').position(|c| c == "scur")?;
    lines.find_map(|l| {
        let fields: Vec<&str> = l.split(',').collect();
        (fields.first() == Some(&backend) && fields.get(1) == Some(&server))
            .then(|| fields.get(column)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_sessions_should_read_scur_of_the_server() {
        let csv = "# pxname,svname,qcur,qmax,scur,smax\nweb,FRONTEND,,,3,9\napp,blue,0,0,2,5\napp,green,0,0,0,1\n";
        assert_eq!(current_sessions(csv, "app", "blue"), Some(2));
        assert_eq!(current_sessions(csv, "app", "green"), Some(0));
        assert_eq!(current_sessions(csv, "app", "red"), None);
    }
}
