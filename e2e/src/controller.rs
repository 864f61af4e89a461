//! `podctl controller` as the e2e tests run it: dist/podctl.service with a drop-in that
//! points it at the work tree's binary and a manifest directory, started through systemd
//! (`Type=notify`: the start returns once READY=1 arrived), and stopped and cleaned up
//! through podctl itself, with the controller's journal on failure.

use anyhow::{Context, Result, ensure};

use crate::host::{ManifestDir, TestHost};

pub const CONTROLLER: &str = "podctl.service";
const UNIT_DIR: &str = "/etc/systemd/system";

/// Installs dist/podctl.service with a drop-in that runs this work tree's binary on `dir`,
/// and starts it; `systemctl start` of a `Type=notify` unit returns once READY=1 arrived.
pub async fn start_controller(host: &TestHost, dir: &ManifestDir, extra: &str) -> Result<()> {
    start_controller_with_env(host, dir, extra, "").await
}

/// [`start_controller`] with `Environment=` settings (`"NAME=value ..."`) in the drop-in.
pub async fn start_controller_with_env(
    host: &TestHost,
    dir: &ManifestDir,
    extra: &str,
    environment: &str,
) -> Result<()> {
    start(host, &dir.path_str(), extra, environment).await
}

/// The same on any `manifests` path (a link `podctl sync` swaps, say).
pub async fn start(host: &TestHost, manifests: &str, extra: &str, environment: &str) -> Result<()> {
    // An empty `Environment=` would clear the unit's own (RUST_LOG).
    let lines = if environment.is_empty() {
        String::new()
    } else {
        format!("Environment={environment}\n")
    };
    start_with_drop_in(host, manifests, extra, &lines).await
}

/// [`start`] with any `[Service]` lines in the drop-in (`RestartSec=100ms`, say).
pub async fn start_with_drop_in(
    host: &TestHost,
    manifests: &str,
    extra: &str,
    lines: &str,
) -> Result<()> {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dist/podctl.service"
    ))?;
    host.write_file(format!("{UNIT_DIR}/{CONTROLLER}"), &unit)?;
    let bin = host.podctl_bin()?;
    host.write_file(
        format!("{UNIT_DIR}/{CONTROLLER}.d/50-e2e.conf"),
        &format!(
            "[Service]\n{lines}ExecStart=\nExecStart={} controller -f {manifests} {extra}\n",
            bin.display(),
        ),
    )?;
    host.exec_ok(["systemctl", "daemon-reload"]).await?;
    host.exec_ok(["systemctl", "reset-failed", CONTROLLER])
        .await
        .ok();
    let out = host.exec(["systemctl", "start", CONTROLLER]).await?;
    ensure!(
        out.success(),
        "the controller did not start: {}\n{}",
        out.stderr,
        host.journal(CONTROLLER).await?
    );
    Ok(())
}

/// Stops the controller and removes what the test created, through podctl itself.
pub async fn clean_up(host: &TestHost) -> Result<()> {
    host.exec(["systemctl", "stop", CONTROLLER]).await?;
    let _ = std::fs::remove_file(host.host_path(format!("{UNIT_DIR}/{CONTROLLER}.d/50-e2e.conf")));
    host.exec(["systemctl", "daemon-reload"]).await?;
    host.prune_all().await
}

/// Cleans up after a controller test, then reports its result with the controller's journal.
pub async fn finish(host: &TestHost, result: Result<()>) -> Result<()> {
    let journal = host.journal(CONTROLLER).await.unwrap_or_default();
    let cleaned = clean_up(host).await;
    result.with_context(|| format!("controller journal:\n{journal}"))?;
    cleaned
}

/// GET on the controller's TCP endpoint (`/metrics`, `/healthz`, `/readyz`).
pub async fn http_get(host: &TestHost, path: &str) -> Result<String> {
    let out = host
        .exec_ok([
            "curl",
            "-sS",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:9883{path}"),
        ])
        .await?;
    Ok(out.stdout)
}
