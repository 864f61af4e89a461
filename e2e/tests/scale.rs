//! podctl with many managed units: every command must keep working past dbus-daemon's limit
//! of 128 pending replies per connection, and stay fast enough to use.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use podctl_e2e::{ManifestDir, TestHost, line_of};

/// Well past dbus-daemon's 128 pending replies per connection.
const CONTAINERS: usize = 300;

fn sleeper(name: &str) -> String {
    format!(
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n  image: localhost/bb:v1\n  args: [sleep, \"3600\"]\n  network: none\n  stopTimeout: 5s\n"
    )
}

/// Runs `podctl ARGS` and returns its output with how long it took.
async fn timed(host: &TestHost, args: &[&str]) -> Result<(podctl_e2e::ExecOutput, Duration)> {
    let begin = Instant::now();
    let out = host.podctl(args).await?;
    let took = begin.elapsed();
    eprintln!(
        "podctl {} took {took:?} (exit {:?})",
        args.first().copied().unwrap_or(""),
        out.status.code()
    );
    Ok((out, took))
}

#[tokio::test]
async fn three_hundred_containers_should_apply_get_and_diff() -> Result<()> {
    let Some(host) = TestHost::require("three_hundred_containers_should_apply_get_and_diff").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let names: Vec<String> = (0..CONTAINERS)
        .map(|i| host.unique_name(&format!("n{i}")))
        .collect();
    let manifests: Vec<String> = names.iter().map(|n| sleeper(n)).collect();
    let dir = host.write_manifests(&[("many.yaml", &manifests.join("---\n"))])?;
    let result = apply_get_diff(&host, &dir, &names).await;
    // Cleaned up even after a failed check: 300 containers left behind would slow every
    // later test on this host.
    let (cleanup, took) = timed(
        &host,
        &[
            "apply",
            "--allow-empty",
            "-f",
            &host.write_manifests(&[])?.path_str(),
        ],
    )
    .await?;
    result?;
    ensure!(
        cleanup.success(),
        "cleanup apply failed: {}{}",
        cleanup.stdout,
        cleanup.stderr
    );
    eprintln!("cleanup of {CONTAINERS} containers took {took:?}");
    let left = host
        .exec([
            "systemctl",
            "list-unit-files",
            "--no-legend",
            "e2e-n*.service",
        ])
        .await?;
    ensure!(
        !names.iter().any(|n| left.stdout.contains(n.as_str())),
        "unit files left behind: {}",
        left.stdout
    );
    Ok(())
}

async fn apply_get_diff(host: &TestHost, dir: &ManifestDir, names: &[String]) -> Result<()> {
    let path = dir.path_str();
    let (first, took) = timed(host, &["apply", "-f", &path]).await?;
    ensure!(
        first.success(),
        "cold apply failed:\n{}{}",
        first.stdout,
        first.stderr
    );
    eprintln!("cold apply of {CONTAINERS} containers took {took:?}");
    let units: Vec<String> = names.iter().map(|n| format!("{n}.service")).collect();
    let active = host
        .exec(
            std::iter::once("systemctl")
                .chain(["is-active"])
                .chain(units.iter().map(String::as_str)),
        )
        .await?;
    ensure!(
        active.stdout.lines().filter(|l| *l == "active").count() == CONTAINERS,
        "not every unit is active:\n{}",
        active.stdout
    );

    // Reading 300 units' state is what failed with LimitsExceeded.
    let (get, took_get) = timed(host, &["get", "-f", &path]).await?;
    ensure!(get.success(), "get failed:\n{}{}", get.stdout, get.stderr);
    for name in names {
        ensure!(
            get.stdout.lines().any(|l| l.contains(name.as_str())),
            "get does not list {name}:\n{}",
            get.stdout
        );
    }

    let (second, took_noop) = timed(host, &["apply", "-f", &path]).await?;
    ensure!(
        second.success(),
        "no-op apply failed:\n{}{}",
        second.stdout,
        second.stderr
    );
    for name in names {
        let line = line_of(&second, &format!("container/{name}"));
        ensure!(
            line.contains("unchanged"),
            "second apply changed {name}: {line}\n{}",
            second.stdout
        );
    }

    let (diff, took_diff) = timed(host, &["diff", "-f", &path]).await?;
    ensure!(
        diff.status.code() == Some(0),
        "diff after a converged apply must show no changes:\n{}{}",
        diff.stdout,
        diff.stderr
    );
    eprintln!(
        "with {CONTAINERS} units: get {took_get:?}, no-op apply {took_noop:?}, diff {took_diff:?}"
    );
    Ok(())
}
