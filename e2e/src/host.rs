//! [`TestHost`]: the running sandbox of `hack/sandbox`, seen from a test.
//!
//! Everything goes through `hack/sandbox` (status, exec) so the tests and a person debugging
//! by hand use the same entry points. Which sandbox: `PODCTL_SANDBOX`, default `podctl`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};
use tokio::process::Command;

use crate::systemd::Systemd;

/// The sandbox as `hack/sandbox status` describes it.
#[derive(Debug, Clone)]
pub struct TestHost {
    name: String,
    pid: u32,
    repo: PathBuf,
    root: PathBuf,
    bus_address: String,
}

/// What a command run inside printed, and how it ended.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub argv: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Fails with the command line, its status and its stderr unless it exited 0.
    pub fn ok(self) -> Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            bail!(
                "`{}` inside the sandbox failed ({}):\nstdout: {}\nstderr: {}",
                self.argv.join(" "),
                self.status,
                self.stdout.trim_end(),
                self.stderr.trim_end()
            )
        }
    }
}

/// Why the harness cannot run here; decides between skipping and failing.
enum Unavailable {
    /// Not root, or the tools to boot a sandbox are missing: skip (fail under CI).
    NotCapable(String),
    /// Capable, but no sandbox is up: always a failure, with the command that fixes it.
    NotUp(String),
}

impl TestHost {
    /// The sandbox for this test, or `None` after printing `SKIPPED` when this environment
    /// cannot have one (not root, no systemd/nsenter). Panics when it could but none is up, and
    /// always under `CI`, where a skipped e2e suite would look like a green one.
    pub async fn require(test: &str) -> Option<TestHost> {
        let why = match Self::locate().await {
            Ok(host) => return Some(host),
            Err(why) => why,
        };
        match why {
            Unavailable::NotCapable(reason) if std::env::var_os("CI").is_none() => {
                // Straight to stderr: libtest captures eprintln! of passing tests, and a skip
                // must be visible.
                let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
                None
            }
            Unavailable::NotCapable(reason) => {
                panic!(
                    "{test}: no test host and CI is set, so this fails instead of skipping: {reason}"
                )
            }
            Unavailable::NotUp(reason) => panic!("{test}: {reason}"),
        }
    }

    /// The running sandbox `name` (one a test booted itself, say); an error if it is not up.
    pub async fn open(name: &str) -> Result<TestHost> {
        match Self::locate_named(name.to_owned()).await {
            Ok(host) => Ok(host),
            Err(Unavailable::NotCapable(why) | Unavailable::NotUp(why)) => bail!("{why}"),
        }
    }

    /// Finds the running sandbox named by `PODCTL_SANDBOX` (default `podctl`).
    async fn locate() -> std::result::Result<TestHost, Unavailable> {
        Self::locate_named(sandbox_name()).await
    }

    async fn locate_named(name: String) -> std::result::Result<TestHost, Unavailable> {
        // The effective uid from /proc: no libc dependency for one number.
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?");
        if euid != "0" {
            return Err(Unavailable::NotCapable(format!(
                "needs root to enter the sandbox (euid {euid})"
            )));
        }
        for tool in [
            "/lib/systemd/systemd",
            "/usr/bin/nsenter",
            "/usr/bin/unshare",
        ] {
            if !Path::new(tool).exists() {
                return Err(Unavailable::NotCapable(format!(
                    "{tool} is missing: run hack/install-deps"
                )));
            }
        }
        let repo = repo_root();
        let out = Command::new(repo.join("hack/sandbox"))
            .arg("status")
            .env("PODCTL_SANDBOX", &name)
            .output()
            .await
            .map_err(|e| Unavailable::NotCapable(format!("cannot run hack/sandbox: {e}")))?;
        let fields = parse_status(&String::from_utf8_lossy(&out.stdout));
        if fields.get("state").map(String::as_str) != Some("up") {
            return Err(Unavailable::NotUp(format!(
                "sandbox '{name}' is not up: run `PODCTL_SANDBOX={name} hack/sandbox up && hack/images` \
                 (or hack/test, which does all of it)"
            )));
        }
        let field = |key: &str| {
            fields
                .get(key)
                .cloned()
                .ok_or_else(|| Unavailable::NotUp(format!("hack/sandbox status printed no {key}=")))
        };
        let pid = field("pid")?
            .parse()
            .map_err(|e| Unavailable::NotUp(format!("bad pid in hack/sandbox status: {e}")))?;
        Ok(TestHost {
            name,
            pid,
            repo,
            root: PathBuf::from(field("root")?),
            bus_address: field("bus_address")?,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Host pid of the sandbox's systemd (PID 1 inside).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The sandbox's root as seen from the host (`/proc/PID/root`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The system bus of the sandbox, reachable from the host.
    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    /// The host path of a path inside the sandbox.
    pub fn host_path(&self, inside: impl AsRef<Path>) -> PathBuf {
        let inside = inside.as_ref();
        self.root.join(inside.strip_prefix("/").unwrap_or(inside))
    }

    /// A name no other test (thread or process) uses: for units, containers, directories.
    pub fn unique_name(&self, what: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("e2e-{what}-{}-{n}", std::process::id())
    }

    /// Runs a command inside the sandbox (all its namespaces, its root, its cgroups).
    pub async fn exec<I, S>(&self, argv: I) -> Result<ExecOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let argv: Vec<String> = argv.into_iter().map(|s| s.as_ref().to_owned()).collect();
        if argv.is_empty() {
            bail!("exec needs a command");
        }
        let out = Command::new(self.repo.join("hack/sandbox"))
            .arg("exec")
            .args(&argv)
            .env("PODCTL_SANDBOX", &self.name)
            .current_dir(&self.repo)
            .output()
            .await
            .with_context(|| format!("cannot run hack/sandbox exec {}", argv.join(" ")))?;
        Ok(ExecOutput {
            argv,
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Like [`exec`](Self::exec), but a non-zero exit is an error carrying stdout and stderr.
    pub async fn exec_ok<I, S>(&self, argv: I) -> Result<ExecOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.exec(argv).await?.ok()
    }

    /// Runs `bash -c SCRIPT` inside; for pipelines and redirections.
    pub async fn sh(&self, script: &str) -> Result<ExecOutput> {
        self.exec(["bash", "-c", script]).await
    }

    /// The podctl binary of this workspace (`PODCTL_BIN` overrides); it sits in the work tree,
    /// which the sandbox shows at the same path.
    pub fn podctl_bin(&self) -> Result<PathBuf> {
        let bin = match std::env::var_os("PODCTL_BIN") {
            Some(bin) => PathBuf::from(bin),
            None => std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| self.repo.join("target"))
                .join("debug/podctl"),
        };
        if !bin.is_file() {
            bail!(
                "{} does not exist: build it first with `cargo build -p podctl`",
                bin.display()
            );
        }
        if !self.host_path(&bin).is_file() {
            bail!(
                "{} is not visible inside the sandbox: only the work tree {} is; \
                 build into its target/ or set PODCTL_BIN to a path under it",
                bin.display(),
                self.repo.display()
            );
        }
        Ok(bin)
    }

    /// Runs `podctl ARGS...` inside the sandbox.
    pub async fn podctl<I, S>(&self, args: I) -> Result<ExecOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let bin = self.podctl_bin()?;
        let mut argv = vec![bin.to_string_lossy().into_owned()];
        argv.extend(args.into_iter().map(|s| s.as_ref().to_owned()));
        self.exec(argv).await
    }

    /// Runs `podman ARGS...` inside and parses its stdout as JSON (pass `--format json` or a
    /// `{{json .}}` template yourself: podman 4.3 does not take `json` everywhere).
    pub async fn podman_json<I, S>(&self, args: I) -> Result<serde_json::Value>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut argv = vec!["podman".to_owned()];
        argv.extend(args.into_iter().map(|s| s.as_ref().to_owned()));
        let out = self.exec_ok(&argv).await?;
        serde_json::from_str(&out.stdout)
            .with_context(|| format!("`{}` printed no JSON: {}", argv.join(" "), out.stdout))
    }

    /// The journal of a unit (message text only): attach it to assertion messages so a
    /// failing test shows what the service said.
    pub async fn journal(&self, unit: &str) -> Result<String> {
        let out = self
            .exec_ok(["journalctl", "--no-pager", "-o", "cat", "-u", unit])
            .await?;
        Ok(out.stdout)
    }

    /// A connection to the sandbox's systemd over its system bus.
    pub async fn systemd(&self) -> Result<Systemd> {
        Systemd::connect(&self.bus_address).await
    }

    /// A fresh, empty directory in the sandbox's /tmp holding `files` (relative path,
    /// content); it disappears when the returned value is dropped, or with the sandbox.
    pub fn write_manifests(&self, files: &[(&str, &str)]) -> Result<ManifestDir> {
        let tmp = self.host_path("/tmp");
        let dir = tempfile::Builder::new()
            .prefix("podctl-e2e-")
            .tempdir_in(&tmp)
            .with_context(|| format!("cannot create a directory in {}", tmp.display()))?;
        let name = dir
            .path()
            .file_name()
            .context("temporary directory without a name")?
            .to_owned();
        for (rel, content) in files {
            let path = dir.path().join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&path, content)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(ManifestDir {
            inside: Path::new("/tmp").join(name),
            _dir: dir,
        })
    }

    /// Writes a file inside the sandbox (e.g. a unit under /run/systemd/system).
    pub fn write_file(&self, inside: impl AsRef<Path>, content: &str) -> Result<()> {
        let path = self.host_path(inside);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// A manifest set written for one test.
pub struct ManifestDir {
    inside: PathBuf,
    _dir: tempfile::TempDir,
}

impl ManifestDir {
    /// Its path inside the sandbox: what to pass to `podctl -f`.
    pub fn path(&self) -> &Path {
        &self.inside
    }

    pub fn path_str(&self) -> String {
        self.inside.to_string_lossy().into_owned()
    }
}

fn sandbox_name() -> String {
    std::env::var("PODCTL_SANDBOX").unwrap_or_else(|_| "podctl".to_owned())
}

/// The workspace root: this crate lives in `<root>/e2e`.
pub(crate) fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// `key=value` lines of `hack/sandbox status`.
fn parse_status(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_status_should_read_key_value_lines() {
        let f = parse_status(
            "name=x\nstate=up\npid=42\nbus_address=unix:path=/proc/42/root/run/dbus/system_bus_socket\n",
        );
        assert_eq!(f["pid"], "42");
        assert_eq!(
            f["bus_address"],
            "unix:path=/proc/42/root/run/dbus/system_bus_socket"
        );
    }
}
