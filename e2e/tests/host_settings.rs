//! `kind: HostSettings` on the real test host (its own network namespace, so `net.*`
//! parameters are the sandbox's): sysctl applied through systemd-sysctl and read back from
//! /proc/sys, a later sysctl.d file reported by name, journald's retention as a drop-in.

use anyhow::{Result, ensure};
use podctl_e2e::TestHost;

const SETTINGS: &str = "apiVersion: podctl.io/v1\nkind: HostSettings\nmetadata: {name: e2e-base}\nspec:\n  sysctl: {net.core.somaxconn: \"1024\"}\n  journald: {maxRetention: 7d, systemMaxUse: 1G}\n";
const COMPETING: &str = "/etc/sysctl.d/99-e2e-competing.conf";

#[tokio::test]
async fn host_settings_should_be_applied_read_back_and_a_winning_file_named() -> Result<()> {
    let Some(host) =
        TestHost::require("host_settings_should_be_applied_read_back_and_a_winning_file_named")
            .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let dir = host.write_manifests(&[("h.yaml", SETTINGS)])?;
    let path = dir.path_str();
    let somaxconn = || async {
        let out = host
            .exec_ok(["cat", "/proc/sys/net/core/somaxconn"])
            .await?;
        anyhow::Ok(out.stdout.trim().to_owned())
    };
    let out = host.podctl(["apply", "--allow-empty", "-f", &path]).await?;
    ensure!(out.success(), "{}{}", out.stdout, out.stderr);
    ensure!(somaxconn().await? == "1024", "not applied");
    let dropin = host
        .exec_ok(["cat", "/etc/systemd/journald.conf.d/90-podctl.conf"])
        .await?;
    ensure!(
        dropin.stdout.contains("MaxRetentionSec=604800s"),
        "{}",
        dropin.stdout
    );
    ensure!(
        host.exec([
            "systemctl",
            "is-active",
            "--quiet",
            "systemd-journald.service"
        ])
        .await?
        .success(),
        "journald did not come back"
    );

    // A file applied after podctl's wins: reported by name, not fought over.
    host.write_file(COMPETING, "net.core.somaxconn = 2048\n")?;
    host.exec_ok(["systemctl", "restart", "systemd-sysctl.service"])
        .await?;
    let diff = host.podctl(["diff", "-f", &path]).await?;
    ensure!(
        diff.status.code() == Some(1) && diff.stdout.contains(COMPETING),
        "{}{}",
        diff.stdout,
        diff.stderr
    );
    host.exec_ok(["rm", COMPETING]).await?;

    // Changed by hand: applied again.
    host.exec_ok(["sysctl", "-q", "-w", "net.core.somaxconn=512"])
        .await?;
    let out = host.podctl(["apply", "--allow-empty", "-f", &path]).await?;
    ensure!(
        out.success() && out.stdout.contains("sysctl net.core.somaxconn was changed"),
        "{}",
        out.stdout
    );
    ensure!(somaxconn().await? == "1024", "not applied again");

    // Out of the revision: its files go.
    host.prune_all().await?;
    let left = host
        .exec(["test", "-e", "/etc/sysctl.d/90-podctl.conf"])
        .await?;
    ensure!(!left.success(), "the sysctl file was left behind");
    host.exec_ok(["sysctl", "-q", "-w", "net.core.somaxconn=4096"])
        .await?;
    Ok(())
}
