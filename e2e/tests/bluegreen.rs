//! Blue-green rollouts on the real test host, under continuous load from `wrk` through the
//! HAProxy that podctl runs in front of the container: v1 -> v2 switches with no failed
//! request, v2 -> broken is never switched to (and fails no request either), a rollback to
//! the previous version switches cleanly too; and a switch killed at any step is finished
//! or undone by the next apply, with the proxy serving all along.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use podctl_e2e::{ExecOutput, Load, ManifestDir, TestHost, line_of, wait_until};

/// Load long enough to cover a rollout: start, health check (1 s interval), a 2 s watch,
/// the drain and the stop take about 5 s here.
const LOAD: Duration = Duration::from_secs(20);
/// wrk's floor for "continuous load" (it does thousands here).
const MIN_RATE: f64 = 200.0;

/// A published port per process, so that two test binaries on one sandbox do not clash.
/// Below 12768, so that the colours' ports (+10000, +20000) stay below Linux's ephemeral
/// range (32768-60999): wrk's thousands of connections once held a colour's port as their
/// local port and the colour could not bind it (docs/bluegreen.md).
fn port() -> u16 {
    10_000 + (std::process::id() % 1000) as u16
}

fn web(name: &str, tag: &str, port: u16) -> String {
    format!(
        "apiVersion: podctl.io/v1
kind: Container
metadata: {{name: {name}}}
spec:
  image: localhost/web:{tag}
  ports: ['{port}:8080']
  stopTimeout: 2s
  healthCheck:
    command: [wget, -q, -O, /dev/null, \"http://127.0.0.1:8080/health\"]
    interval: 1s
    timeout: 5s
    retries: 1
  update:
    strategy: blue-green
    healthGate: {{timeout: 20s, watch: 2s}}
"
    )
}

async fn apply(host: &TestHost, dir: &ManifestDir) -> Result<ExecOutput> {
    host.podctl_logged(&["apply", "-f", &dir.path_str()]).await
}

/// What the proxy answers on `/version`.
async fn proxied_version(host: &TestHost, port: u16) -> Result<String> {
    let url = format!("http://127.0.0.1:{port}/version");
    Ok(host
        .exec_ok(["wget", "-q", "-O-", &url])
        .await?
        .stdout
        .trim()
        .to_owned())
}

/// Waits (bounded) until the proxy answers `/version` with `want`.
async fn serves(host: &TestHost, port: u16, want: &str) -> Result<()> {
    wait_until(
        Duration::from_secs(20),
        &format!("the proxy serving {want}"),
        || async {
            Ok((proxied_version(host, port).await.ok().as_deref() == Some(want)).then_some(()))
        },
    )
    .await
}

/// The colours whose unit is active.
async fn active_colours(host: &TestHost, name: &str) -> Result<Vec<&'static str>> {
    let mut active = Vec::new();
    for colour in ["blue", "green"] {
        let unit = format!("{name}-{colour}.service");
        if host
            .exec(["systemctl", "is-active", "--quiet", &unit])
            .await?
            .success()
        {
            active.push(colour);
        }
    }
    Ok(active)
}

/// `podctl get` of the container, as JSON.
async fn get(host: &TestHost, dir: &ManifestDir, name: &str) -> Result<serde_json::Value> {
    let out = host
        .podctl([
            "get",
            "--no-controller",
            "-f",
            &dir.path_str(),
            "container",
            name,
            "-o",
            "json",
        ])
        .await?
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).context("get -o json")?;
    Ok(v["items"][0].clone())
}

/// One rollout under load: the apply's output and what wrk measured.
async fn rollout(host: &TestHost, name: &str, tag: &str, port: u16) -> Result<(ExecOutput, Load)> {
    let dir = host.write_manifests(&[("web.yaml", &web(name, tag, port))])?;
    let url = format!("http://127.0.0.1:{port}/version");
    let (out, load) = host.under_load(&url, LOAD, apply(host, &dir)).await?;
    eprintln!("blue-green to {tag}: {load}");
    ensure!(load.requests_per_sec >= MIN_RATE, "load too light: {load}");
    Ok((out, load))
}

#[tokio::test]
async fn blue_green_should_switch_without_failed_requests_and_never_to_a_broken_version()
-> Result<()> {
    let Some(host) = TestHost::require(
        "blue_green_should_switch_without_failed_requests_and_never_to_a_broken_version",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("bg");
    let port = port();
    let result = async {
        let dir = host.write_manifests(&[("web.yaml", &web(&name, "v1", port))])?;
        ensure!(apply(&host, &dir).await?.success(), "first apply failed");
        // The first colour is started directly (nothing to switch from): its unit is
        // active before its server listens.
        serves(&host, port, "v1").await?;
        ensure!(active_colours(&host, &name).await? == ["blue"]);

        // v1 -> v2: green starts, passes its gate, takes the traffic; blue drains and stops.
        let (out, load) = rollout(&host, &name, "v2", port).await?;
        ensure!(out.success(), "v2 rollout failed");
        ensure!(
            load.failed() == 0,
            "requests failed during v1 -> v2: {load}"
        );
        ensure!(proxied_version(&host, port).await? == "v2");
        ensure!(active_colours(&host, &name).await? == ["green"]);
        let status = get(&host, &dir, &name).await?;
        ensure!(status["blueGreen"]["active"] == "green", "get: {status}");
        ensure!(
            status["unit"] == format!("{name}-green.service"),
            "get: {status}"
        );

        // v2 -> broken: blue never turns healthy, so the proxy is never switched.
        let (out, load) = rollout(&host, &name, "broken", port).await?;
        ensure!(!out.success(), "the broken rollout should fail the apply");
        let line = line_of(&out, &format!("container/{name}"));
        ensure!(
            line.contains("failed its gate on blue") && line.contains("green keeps serving"),
            "apply said: {line}"
        );
        ensure!(
            load.failed() == 0,
            "requests failed during v2 -> broken: {load}"
        );
        ensure!(proxied_version(&host, port).await? == "v2");
        ensure!(active_colours(&host, &name).await? == ["green"]);
        let status = get(&host, &dir, &name).await?;
        ensure!(
            status["blueGreen"]["failed"]
                .as_str()
                .is_some_and(|f| f.starts_with("blue: unhealthy")),
            "get: {status}"
        );
        // Not tried again: the failed definition is held.
        let broken = host.write_manifests(&[("web.yaml", &web(&name, "broken", port))])?;
        let again = apply(&host, &broken).await?;
        ensure!(
            again.success() && line_of(&again, &format!("container/{name}")).contains("unchanged")
        );

        // Back to the previous version: a rollout like any other, without a failed request.
        let (out, load) = rollout(&host, &name, "v1", port).await?;
        ensure!(out.success(), "rollback to v1 failed");
        ensure!(
            load.failed() == 0,
            "requests failed during the rollback to v1: {load}"
        );
        ensure!(proxied_version(&host, port).await? == "v1");
        ensure!(active_colours(&host, &name).await? == ["blue"]);
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}

#[tokio::test]
async fn a_switch_killed_at_any_step_should_be_finished_or_undone_by_the_next_apply() -> Result<()>
{
    let Some(host) = TestHost::require(
        "a_switch_killed_at_any_step_should_be_finished_or_undone_by_the_next_apply",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("bgkill");
    let port = port() + 1000;
    let result = async {
        let dir = host.write_manifests(&[("web.yaml", &web(&name, "v1", port))])?;
        ensure!(apply(&host, &dir).await?.success(), "first apply failed");
        serves(&host, port, "v1").await?;
        let mut serving = "v1";
        for point in podctl::failpoint::BLUEGREEN_POINTS {
            let next = if serving == "v1" { "v2" } else { "v1" };
            let dir = host.write_manifests(&[("web.yaml", &web(&name, next, port))])?;
            let killed = host.apply_killed_at(&dir, point).await?;
            ensure!(!killed.success(), "apply was not killed at {point}");
            // Killed anywhere, one colour still serves through the proxy.
            let now = proxied_version(&host, port).await?;
            ensure!(
                now == serving || now == next,
                "after a kill at {point} the proxy served {now}"
            );
            let out = apply(&host, &dir).await?;
            ensure!(out.success(), "the apply after a kill at {point} failed");
            serves(&host, port, next).await?;
            let colours = active_colours(&host, &name).await?;
            ensure!(
                colours.len() == 1,
                "after a kill at {point}: colours {colours:?} active"
            );
            let status = get(&host, &dir, &name).await?;
            ensure!(
                status["blueGreen"]["phase"] == "serving",
                "after {point}: {status}"
            );
            serving = next;
        }
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}

/// A Volume backed up with `consistency: stop` into a repository under /srv, mounted by a
/// blue-green container with `update.backupBefore`.
fn with_backed_up_volume(host: &TestHost, name: &str, tag: &str, port: u16) -> Result<String> {
    let password = format!("/srv/{name}-pw");
    host.write_file(&password, "e2e-bluegreen-pw-7q")?;
    let container = web(name, tag, port)
        .replace(
            "  stopTimeout: 2s\n",
            &format!("  stopTimeout: 2s\n  volumes: [{{volume: {name}, path: /data}}]\n"),
        )
        .replace(
            "    strategy: blue-green\n",
            "    strategy: blue-green\n    backupBefore: true\n",
        );
    Ok(format!(
        "apiVersion: podctl.io/v1\nkind: Secret\nmetadata: {{name: {name}-pw}}\nspec: {{source: {{file: {password}}}}}\n\
         ---\napiVersion: podctl.io/v1\nkind: BackupRepository\nmetadata: {{name: {name}}}\nspec: {{repository: /srv/{name}/restic, passwordSecret: {name}-pw}}\n\
         ---\napiVersion: podctl.io/v1\nkind: Volume\nmetadata: {{name: {name}}}\nspec:\n  reclaimPolicy: Delete\n  backup: {{repository: {name}, consistency: stop}}\n\
         ---\n{container}"
    ))
}

/// Snapshots of `volume`, as `podctl backup list` counts them.
async fn snapshots(host: &TestHost, dir: &ManifestDir, volume: &str) -> Result<usize> {
    let out = host
        .podctl(["backup", "list", "-f", &dir.path_str(), volume])
        .await?
        .ok()?;
    Ok(out
        .stdout
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count())
}

#[tokio::test]
async fn backups_should_stop_and_start_the_serving_colour_and_run_before_a_switch() -> Result<()> {
    let Some(host) = TestHost::require(
        "backups_should_stop_and_start_the_serving_colour_and_run_before_a_switch",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("bgbk");
    let port = port() + 2000;
    let result = async {
        let dir = host.write_manifests(&[(
            "all.yaml",
            &with_backed_up_volume(&host, &name, "v1", port)?,
        )])?;
        ensure!(apply(&host, &dir).await?.success(), "first apply failed");
        serves(&host, port, "v1").await?;
        // `consistency: stop`: the colour that runs is the consumer.
        let out = host
            .podctl_logged(&["backup", "run", "-f", &dir.path_str(), &name])
            .await?;
        ensure!(out.success(), "backup failed");
        ensure!(
            out.stdout
                .contains(&format!("stopped and started again: {name}-blue.service")),
            "backup said: {}",
            out.stdout
        );
        serves(&host, port, "v1").await?;
        ensure!(snapshots(&host, &dir, &name).await? == 1);
        // `backupBefore`: a switch to another image is an update; the snapshot comes first.
        let dir = host.write_manifests(&[(
            "all.yaml",
            &with_backed_up_volume(&host, &name, "v2", port)?,
        )])?;
        ensure!(apply(&host, &dir).await?.success(), "v2 apply failed");
        serves(&host, port, "v2").await?;
        ensure!(active_colours(&host, &name).await? == ["green"]);
        ensure!(
            snapshots(&host, &dir, &name).await? == 2,
            "no snapshot before the switch"
        );
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}
