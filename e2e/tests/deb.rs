//! The Debian package (`hack/deb`) on the test host: installed with apt, its controller unit
//! there but not enabled, started through systemd and converging the host, then purged —
//! and the containers and volumes it made are still there.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use podctl_e2e::{TestHost, wait_until};

const TIMEOUT: Duration = Duration::from_secs(60);
const UNIT: &str = "podctl.service";

/// Builds the package from the binary under test (stripped when `strip` is there, so it
/// packs in seconds) into `out` on the host side of the sandbox's /tmp.
fn build_deb(bin: &Path, out: &Path) -> Result<String> {
    let stripped = out.join("podctl");
    let binary = match Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(bin)
        .status()
    {
        Ok(s) if s.success() => stripped,
        _ => bin.to_path_buf(),
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../hack/deb");
    let output = Command::new(script)
        .arg(out)
        .env("PODCTL_DEB_BINARY", &binary)
        .output()
        .context("cannot run hack/deb")?;
    ensure!(
        output.status.success(),
        "hack/deb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deb = String::from_utf8(output.stdout)?.trim().to_string();
    let name = Path::new(&deb)
        .file_name()
        .context("hack/deb printed no file")?
        .to_string_lossy()
        .into_owned();
    Ok(name)
}

#[tokio::test]
async fn the_deb_should_install_with_apt_run_the_controller_and_purge_cleanly() -> Result<()> {
    let Some(host) =
        TestHost::require("the_deb_should_install_with_apt_run_the_controller_and_purge_cleanly")
            .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("debapp");
    let volume = host.unique_name("debdata");
    let pkg = host.write_manifests(&[])?;
    let deb = build_deb(&host.podctl_bin()?, &host.host_path(pkg.path()))?;
    // A unit of the same name that other tests install in /etc would hide the package's.
    for leftover in [
        "/etc/systemd/system/podctl.service",
        "/etc/systemd/system/podctl.service.d",
    ] {
        let path = host.host_path(leftover);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir_all(&path);
    }
    let installed = host
        .sh(&format!(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y {}/{deb}",
            pkg.path_str()
        ))
        .await?;
    ensure!(
        installed.success(),
        "apt-get install failed:\n{}{}",
        installed.stdout,
        installed.stderr
    );

    let result = async {
        for file in [
            "/usr/bin/podctl",
            "/lib/systemd/system/podctl.service",
            "/usr/share/man/man1/podctl.1.gz",
            "/usr/share/man/man1/podctl-import-compose.1.gz",
            "/usr/share/bash-completion/completions/podctl",
            "/usr/share/zsh/vendor-completions/_podctl",
            "/usr/share/fish/vendor_completions.d/podctl.fish",
            "/usr/share/podctl/schema/manifest.schema.json",
            "/usr/share/doc/podctl/migrate.md",
        ] {
            ensure!(host.host_path(file).is_file(), "{file} is not installed");
        }
        let enabled = host.exec(["systemctl", "is-enabled", UNIT]).await?;
        ensure!(enabled.stdout.trim() == "disabled", "podctl.service is {:?} after install", enabled.stdout.trim());
        let inactive = host.exec(["systemctl", "is-active", UNIT]).await?;
        ensure!(inactive.stdout.trim() == "inactive", "podctl.service runs after install");

        // The controller, as the package installs it, on /etc/podctl/manifests.
        host.write_file(
            "/etc/podctl/manifests/deb.yaml",
            &format!(
                "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {{name: {volume}}}\nspec: {{}}\n---\n\
                 apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n  image: localhost/web:v1\n  network: host\n  env: {{PORT: \"18491\"}}\n  stopTimeout: 5s\n  volumes: [{{volume: {volume}, path: /data}}]\n"
            ),
        )?;
        let started = host.exec(["systemctl", "start", UNIT]).await?;
        ensure!(started.success(), "systemctl start podctl failed: {}\n{}", started.stderr, host.journal(UNIT).await?);
        let systemd = host.systemd().await?;
        wait_until(TIMEOUT, "the container of the manifest active", || async {
            let s = systemd.unit(&format!("{name}.service")).await?;
            Ok((s.active_state == "active").then_some(()))
        })
        .await?;

        let purged = host
            .sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y podctl")
            .await?;
        ensure!(purged.success(), "apt-get purge failed:\n{}{}", purged.stdout, purged.stderr);
        ensure!(!host.host_path("/usr/bin/podctl").exists(), "/usr/bin/podctl left after purge");
        let controller = systemd.unit(UNIT).await?;
        ensure!(controller.active_state != "active", "the controller still runs after purge: {controller:?}");
        // What podctl made is the operator's: still there, still running.
        let app = systemd.unit(&format!("{name}.service")).await?;
        ensure!(app.active_state == "active", "the container stopped with the package: {app:?}");
        let exists = host.exec(["podman", "volume", "exists", &volume]).await?;
        ensure!(exists.success(), "the volume {volume} is gone after purge");
        ensure!(host.host_path("/etc/podctl/manifests/deb.yaml").is_file(), "purge removed the manifests");
        Ok(())
    }
    .await;

    // Clean up with the work tree's podctl, whatever happened above.
    let journal = host.journal(UNIT).await.unwrap_or_default();
    host.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y podctl >/dev/null 2>&1; true")
        .await?;
    let _ = std::fs::remove_file(host.host_path("/etc/podctl/manifests/deb.yaml"));
    let cleaned = host.prune_all().await;
    host.exec(["podman", "volume", "rm", "-f", &volume]).await?;
    result.with_context(|| format!("podctl.service journal:\n{journal}"))?;
    cleaned
}
