//! systemd's notification protocol (`sd_notify`) over `$NOTIFY_SOCKET`, without libsystemd:
//! `READY=1`, `STATUS=...`, `STOPPING=1`, `RELOADING=1` and watchdog pings.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where to send notifications; `None` when not run by systemd as `Type=notify`.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (honouring `$WATCHDOG_PID`). Never fails:
    /// without a usable socket, notifications are no-ops.
    pub fn from_env() -> Self {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let addr = socket_addr(path.as_encoded_bytes()).ok()?;
            let sock = UnixDatagram::unbound().ok()?;
            Some((sock, addr))
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&us| us > 0 && for_us)
            .map(Duration::from_micros);
        Self { socket, watchdog }
    }

    /// A notifier that sends nothing (tests, `podctl controller` run by hand).
    pub fn disabled() -> Self {
        Self {
            socket: None,
            watchdog: None,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// How often to ping the watchdog: half of `WatchdogSec=`, as sd_watchdog_enabled advises.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// Sends `state`, newline-separated `KEY=VALUE` assignments.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        match &self.socket {
            Some((sock, addr)) => sock.send_to_addr(state.as_bytes(), addr).map(|_| ()),
            None => Ok(()),
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    fn send(&self, state: &str) {
        if let Err(e) = self.notify(state) {
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

/// `NOTIFY_SOCKET` is a path, or `@name` for an abstract socket.
fn socket_addr(raw: &[u8]) -> io::Result<SocketAddr> {
    match raw.split_first() {
        Some((b'@', name)) => {
            use std::os::linux::net::SocketAddrExt as _;
            SocketAddr::from_abstract_name(name)
        }
        Some(_) => {
            use std::os::unix::ffi::OsStrExt as _;
            SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(raw))
        }
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty NOTIFY_SOCKET",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifier_should_send_datagrams_to_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            socket: Some((
                UnixDatagram::unbound().unwrap(),
                SocketAddr::from_pathname(&path).unwrap(),
            )),
            watchdog: Some(Duration::from_secs(30)),
        };
        notifier.ready("revision abc\nline two");
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=revision abc line two");
        assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(15)));
    }

    #[test]
    fn disabled_notifier_should_do_nothing() {
        let n = Notifier::disabled();
        assert!(!n.is_enabled());
        assert!(n.notify("READY=1").is_ok());
    }

    #[test]
    fn socket_addr_should_take_abstract_names() {
        let addr = socket_addr(b"@podctl-test").unwrap();
        use std::os::linux::net::SocketAddrExt as _;
        assert_eq!(addr.as_abstract_name(), Some(&b"podctl-test"[..]));
    }
}
