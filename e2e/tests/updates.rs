//! Guarded rollouts on the real test host: an image change from the manifest is pinned by
//! image ID, judged by the health gate, and rolled back to the pinned previous image when
//! it fails (never healthy, or crashing inside the watch window), without a retry loop;
//! the pin survives a daemon-reload and a restart of the unit. A new digest under the same
//! tag in the local registry is found by `podctl update --check` and rolled out by the
//! controller on its own schedule (a failed one is held, not retried); `--max-parallel-updates`
//! bounds the rollouts of a pass, and a rollback stops the rest of them.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use podctl_e2e::controller::{finish, http_get, start_controller};
use podctl_e2e::{ExecOutput, ManifestDir, TestHost, line_of, wait_until};

const UNIT_DIR: &str = "/etc/systemd/system";

/// A web container on no network (its health check and `/version` are asked from inside),
/// with a fast health check and a short gate so that a test takes seconds.
fn web(name: &str, tag: &str, extra: &str) -> String {
    web_image(name, &format!("localhost/web:{tag}"), extra)
}

/// [`web`] with any image reference; `extra` may add to `update:` (it comes right after it).
fn web_image(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: podctl.io/v1
kind: Container
metadata: {{name: {name}}}
spec:
  image: {image}
  network: none
  stopTimeout: 2s
  healthCheck:
    command: [wget, -q, -O, /dev/null, \"http://127.0.0.1:8080/health\"]
    interval: 1s
    timeout: 5s
    retries: 1
  update:
    healthGate: {{timeout: 20s, watch: 3s}}
{extra}"
    )
}

async fn apply(host: &TestHost, dir: &ManifestDir) -> Result<ExecOutput> {
    host.podctl_logged(&["apply", "-f", &dir.path_str()]).await
}

async fn image_id(host: &TestHost, reference: &str) -> Result<String> {
    let v = host.podman_json(["image", "inspect", reference]).await?;
    v[0]["Id"]
        .as_str()
        .map(str::to_owned)
        .context("no Id in podman image inspect")
}

/// The image ID the container of that name runs.
async fn running_image(host: &TestHost, name: &str) -> Result<String> {
    let v = host.podman_json(["container", "inspect", name]).await?;
    v[0]["Image"]
        .as_str()
        .map(str::to_owned)
        .context("no Image in podman container inspect")
}

async fn version(host: &TestHost, name: &str) -> Result<String> {
    let out = host
        .exec_ok([
            "podman",
            "exec",
            name,
            "wget",
            "-q",
            "-O-",
            "http://127.0.0.1:8080/version",
        ])
        .await?;
    Ok(out.stdout.trim().to_owned())
}

fn unit_text(host: &TestHost, name: &str) -> Result<String> {
    let path = host.host_path(format!("{UNIT_DIR}/{name}.service"));
    std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
}

async fn history(host: &TestHost, name: &str) -> Result<String> {
    Ok(host.podctl_logged(&["history", name]).await?.stdout)
}

/// Waits until the container serves `/version` as `want`.
async fn serves(host: &TestHost, name: &str, want: &str) -> Result<()> {
    wait_until(
        Duration::from_secs(30),
        &format!("{name} serves {want}"),
        || async { Ok((version(host, name).await.ok().as_deref() == Some(want)).then_some(())) },
    )
    .await
}

#[tokio::test]
async fn image_change_should_be_gated_pinned_and_rolled_back_without_a_retry_loop() -> Result<()> {
    let Some(host) = TestHost::require(
        "image_change_should_be_gated_pinned_and_rolled_back_without_a_retry_loop",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("gated");
    let result = async {
        let (v1, v2, broken) = (
            image_id(&host, "localhost/web:v1").await?,
            image_id(&host, "localhost/web:v2").await?,
            image_id(&host, "localhost/web:broken").await?,
        );
        // v1: the first image is pinned, by ID.
        let dir = host.write_manifests(&[("web.yaml", &web(&name, "v1", ""))])?;
        ensure!(apply(&host, &dir).await?.success());
        ensure!(
            unit_text(&host, &name)?.contains(&format!("\t{v1}")),
            "unit not pinned to v1"
        );
        ensure!(history(&host, &name).await?.contains("Pinned"));

        // v1 -> v2: healthy, kept; the unit pinned to v2, v1 the rollback target.
        let dir = host.write_manifests(&[("web.yaml", &web(&name, "v2", ""))])?;
        let out = apply(&host, &dir).await?;
        ensure!(out.success(), "v2 rollout failed");
        ensure!(running_image(&host, &name).await? == v2);
        ensure!(
            unit_text(&host, &name)?.contains(&format!("\t{v2}")),
            "unit not pinned to v2"
        );
        let h = history(&host, &name).await?;
        ensure!(h.contains("Succeeded"), "{h}");
        ensure!(
            h.contains(&format!("rollback target localhost/web:v1@{}", &v1[..12])),
            "{h}"
        );
        serves(&host, &name, "v2").await?;

        // v2 -> broken: never healthy, rolled back within the gate; v2 serves again.
        let dir = host.write_manifests(&[("web.yaml", &web(&name, "broken", ""))])?;
        let began = Instant::now();
        let out = apply(&host, &dir).await?;
        let line = line_of(&out, &format!("container/{name}"));
        ensure!(!out.success(), "a failed gate must fail the apply");
        ensure!(
            line.contains("unhealthy after") && line.contains("rolled back to"),
            "{line}"
        );
        ensure!(running_image(&host, &name).await? == v2, "not back on v2");
        serves(&host, &name, "v2").await?;
        eprintln!(
            "broken: rolled back and serving v2 {:?} after the apply began",
            began.elapsed()
        );
        let h = history(&host, &name).await?;
        ensure!(
            h.contains("RolledBack")
                && h.contains(&format!("failed localhost/web:broken@{}", &broken[..12])),
            "{h}"
        );
        let get = host
            .podctl_logged(&[
                "get",
                "container",
                &name,
                "-o",
                "wide",
                "-f",
                &dir.path_str(),
                "--no-controller",
            ])
            .await?;
        ensure!(
            get.stdout.contains("RolledBack") && get.stdout.contains("unhealthy after"),
            "{}",
            get.stdout
        );

        // The same manifest again: the failed image is not tried again.
        let id = host.container_id(&name).await?;
        let out = apply(&host, &dir).await?;
        ensure!(out.success(), "held rollout must leave a converged host");
        ensure!(
            host.container_id(&name).await? == id,
            "retried the failed image"
        );
        let h = history(&host, &name).await?;
        ensure!(h.matches("RolledBack").count() == 1, "{h}");

        // A daemon-reload and a restart keep the pinned image.
        host.exec_ok(["systemctl", "daemon-reload"]).await?;
        host.exec_ok(["systemctl", "restart", &format!("{name}.service")])
            .await?;
        ensure!(host.container_id(&name).await? != id, "not restarted");
        ensure!(
            running_image(&host, &name).await? == v2,
            "restart moved off the pin"
        );
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}

#[tokio::test]
async fn a_version_that_crashes_in_the_watch_window_should_be_rolled_back() -> Result<()> {
    let Some(host) =
        TestHost::require("a_version_that_crashes_in_the_watch_window_should_be_rolled_back").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("crashy");
    let result = async {
        let v1 = image_id(&host, "localhost/web:v1").await?;
        // Healthy after about a second, exits after 3 s: inside the start timeout it passes,
        // inside the 3 s watch window that follows it crashes.
        let env = "  env: {CRASH_AFTER: \"3\"}\n";
        let dir = host.write_manifests(&[("web.yaml", &web(&name, "v1", env))])?;
        ensure!(apply(&host, &dir).await?.success());
        let dir = host.write_manifests(&[("web.yaml", &web(&name, "crashy", env))])?;
        let out = apply(&host, &dir).await?;
        let line = line_of(&out, &format!("container/{name}"));
        ensure!(!out.success() && line.contains("crashed after"), "{line}");
        ensure!(running_image(&host, &name).await? == v1, "not back on v1");
        serves(&host, &name, "v1").await?;
        let h = history(&host, &name).await?;
        ensure!(
            h.contains("RolledBack") && h.contains("crashed after"),
            "{h}"
        );
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}

#[tokio::test]
async fn rollback_should_restore_the_previous_image_and_hold_it() -> Result<()> {
    let Some(host) =
        TestHost::require("rollback_should_restore_the_previous_image_and_hold_it").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("rollback");
    let result = async {
        let (v1, v2) = (
            image_id(&host, "localhost/web:v1").await?,
            image_id(&host, "localhost/web:v2").await?,
        );
        let dir = host.write_manifests(&[("web.yaml", &web(&name, "v1", ""))])?;
        // Nothing rolled out before the first image: nothing to roll back to.
        let none = host
            .podctl_logged(&["rollback", &name, "-f", &dir.path_str()])
            .await?;
        ensure!(
            none.status.code() == Some(2),
            "rollback without a record must refuse"
        );
        ensure!(apply(&host, &dir).await?.success());
        let dir = host.write_manifests(&[("web.yaml", &web(&name, "v2", ""))])?;
        ensure!(apply(&host, &dir).await?.success());
        ensure!(running_image(&host, &name).await? == v2);

        let out = host
            .podctl_logged(&["rollback", &name, "-f", &dir.path_str()])
            .await?;
        ensure!(out.success(), "rollback failed");
        ensure!(running_image(&host, &name).await? == v1, "not back on v1");
        ensure!(
            unit_text(&host, &name)?.contains(&format!("\t{v1}")),
            "unit not pinned to v1"
        );
        serves(&host, &name, "v1").await?;
        // The manifest still says v2: no apply rolls forward to it by itself.
        let id = host.container_id(&name).await?;
        ensure!(apply(&host, &dir).await?.success());
        ensure!(
            host.container_id(&name).await? == id,
            "rolled forward again"
        );
        let h = history(&host, &name).await?;
        ensure!(
            h.contains("rollback") && h.contains(&format!("failed localhost/web:v2@{}", &v2[..12])),
            "{h}"
        );
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}

/// The podman health log's first passing check of `name`, in µs since the epoch.
async fn first_healthy_us(host: &TestHost, name: &str) -> Result<u64> {
    let v = host.podman_json(["container", "inspect", name]).await?;
    let state = &v[0]["State"];
    // podman 4.3 calls it Healthcheck, later versions Health.
    let health = if state["Health"].is_object() {
        &state["Health"]
    } else {
        &state["Healthcheck"]
    };
    let end = health["Log"]
        .as_array()
        .context("no health log")?
        .iter()
        .find(|e| e["ExitCode"].as_i64() == Some(0))
        .and_then(|e| e["End"].as_str())
        .context("no passing health check in the log")?
        .to_owned();
    let out = host.exec_ok(["date", "-d", &end, "+%s%6N"]).await?;
    Ok(out.stdout.trim().parse()?)
}

#[tokio::test]
async fn a_dependent_should_start_only_after_its_dependency_is_healthy() -> Result<()> {
    let Some(host) =
        TestHost::require("a_dependent_should_start_only_after_its_dependency_is_healthy").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let db = host.unique_name("db");
    let app = host.unique_name("app");
    // The dependency turns healthy 3 s after it started (its unit is active at once).
    let db_manifest = format!(
        "apiVersion: podctl.io/v1
kind: Container
metadata: {{name: {db}}}
spec:
  image: localhost/web:v1
  network: none
  stopTimeout: 2s
  args: [sh, -c, \"sleep 3; touch /tmp/ready; exec web-serve\"]
  healthCheck:
    command: [test, -f, /tmp/ready]
    interval: 1s
    timeout: 5s
    retries: 1
"
    );
    let app_manifest = format!(
        "apiVersion: podctl.io/v1
kind: Container
metadata: {{name: {app}}}
spec:
  image: localhost/web:v1
  network: none
  stopTimeout: 2s
  dependsOn: [{{name: {db}, condition: healthy}}]
"
    );
    let result = async {
        let dir =
            host.write_manifests(&[("db.yaml", &db_manifest), ("app.yaml", &app_manifest)])?;
        ensure!(apply(&host, &dir).await?.success());
        let systemd = host.systemd().await?;
        let db_active = systemd
            .unit(&format!("{db}.service"))
            .await?
            .active_enter_timestamp;
        let app_active = systemd
            .unit(&format!("{app}.service"))
            .await?
            .active_enter_timestamp;
        let healthy = first_healthy_us(&host, &db).await?;
        eprintln!("db active {db_active}, db healthy {healthy}, app active {app_active}");
        ensure!(
            healthy >= db_active + 2_000_000,
            "db was healthy too early for the test to mean anything"
        );
        ensure!(
            app_active >= healthy,
            "app active at {app_active}, before db was healthy at {healthy}"
        );
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}

/// `manifest` (from [`web`] or [`web_image`]) with a health check that is unhealthy only
/// after 3 failures (a broken image still fails in about 3 s). Every health check of these
/// tests gets 5 s to answer: podman's exec took over 1 s at a load average of 10.
fn tolerant(manifest: &str) -> String {
    manifest.replace("timeout: 5s\n    retries: 1", "timeout: 5s\n    retries: 3")
}

/// The tests' registry, inside the sandbox (plain HTTP by its registries.conf.d).
const REGISTRY: &str = "127.0.0.1:5000";

/// Pushes a local test image to the registry under `tag` of `REGISTRY/web`: a new digest
/// under the same tag when the image differs.
async fn push(host: &TestHost, image: &str, tag: &str) -> Result<()> {
    host.exec_ok([
        "podman",
        "push",
        "--quiet",
        image,
        &format!("{REGISTRY}/web:{tag}"),
    ])
    .await?;
    Ok(())
}

async fn update_check(host: &TestHost, dir: &ManifestDir) -> Result<ExecOutput> {
    host.podctl_logged(&["update", "--check", "-f", &dir.path_str()])
        .await
}

/// `podctl_update_last_check_timestamp_seconds` from the controller's /metrics (0: none).
async fn last_check(host: &TestHost) -> Result<f64> {
    Ok(http_get(host, "/metrics")
        .await?
        .lines()
        .find_map(|l| l.strip_prefix("podctl_update_last_check_timestamp_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0))
}

#[tokio::test]
async fn a_new_digest_under_the_tag_should_be_rolled_out_by_the_controller_and_a_failed_one_held()
-> Result<()> {
    let Some(host) = TestHost::require(
        "a_new_digest_under_the_tag_should_be_rolled_out_by_the_controller_and_a_failed_one_held",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("follow");
    let result = async {
        push(&host, "localhost/web:v1", &name).await?;
        let image = format!("{REGISTRY}/web:{name}");
        let manifest = tolerant(&web_image(&name, &image, "    policy: registry\n"));
        let dir = host.write_manifests(&[("web.yaml", &manifest)])?;
        ensure!(apply(&host, &dir).await?.success());
        let check = update_check(&host, &dir).await?;
        ensure!(check.status.code() == Some(0), "nothing new yet: {check:?}");
        ensure!(check.stdout.contains("up to date"), "{}", check.stdout);

        // v2 under the same tag: --check sees it (old -> new digest) and exits 1.
        push(&host, "localhost/web:v2", &name).await?;
        let check = update_check(&host, &dir).await?;
        let line = line_of(&check, &format!("container/{name}"));
        ensure!(check.status.code() == Some(1), "an update must exit 1");
        ensure!(
            line.contains(&image) && line.contains("sha256:") && line.contains(" -> sha256:"),
            "{line}"
        );

        // The controller finds it on its own schedule, pulls it and rolls it out.
        start_controller(&host, &dir, "--update-interval 1s --update-jitter 0s").await?;
        wait_until(
            Duration::from_secs(60),
            "the controller rolled out v2",
            || async {
                Ok((version(&host, &name).await.ok().as_deref() == Some("v2")).then_some(()))
            },
        )
        .await?;
        wait_until(
            Duration::from_secs(30),
            "update --check exits 0",
            || async {
                let out = host
                    .podctl(["update", "--check", "-f", &dir.path_str()])
                    .await?;
                Ok((out.status.code() == Some(0)).then_some(()))
            },
        )
        .await?;
        let h = history(&host, &name).await?;
        ensure!(
            h.contains("image-changed") && h.contains("Succeeded"),
            "{h}"
        );
        ensure!(
            last_check(&host).await? > 0.0,
            "no last check time in /metrics"
        );

        // A broken image under the tag: rolled back once, then held over later checks.
        push(&host, "localhost/web:broken", &name).await?;
        wait_until(
            Duration::from_secs(60),
            "the broken image rolled back",
            || async {
                Ok(history(&host, &name)
                    .await?
                    .contains("RolledBack")
                    .then_some(()))
            },
        )
        .await?;
        let after = last_check(&host).await?;
        wait_until(
            Duration::from_secs(30),
            "three more update checks",
            || async { Ok((last_check(&host).await? >= after + 3.0).then_some(())) },
        )
        .await?;
        let h = history(&host, &name).await?;
        ensure!(
            h.matches("RolledBack").count() == 1,
            "retried the failed image: {h}"
        );
        serves(&host, &name, "v2").await?;
        let check = update_check(&host, &dir).await?;
        ensure!(
            check.status.code() == Some(0) && check.stdout.contains("held"),
            "a held image is no update: {check:?}"
        );
        Ok(())
    }
    .await;
    finish(&host, result).await
}

async fn apply_one_at_a_time(host: &TestHost, dir: &ManifestDir) -> Result<ExecOutput> {
    host.podctl_logged(&[
        "apply",
        "--max-parallel-updates",
        "1",
        "-f",
        &dir.path_str(),
    ])
    .await
}

/// The unit's ActiveEnterTimestamp (µs since the epoch).
async fn active_since(host: &TestHost, name: &str) -> Result<u64> {
    let systemd = host.systemd().await?;
    Ok(systemd
        .unit(&format!("{name}.service"))
        .await?
        .active_enter_timestamp)
}

#[tokio::test]
async fn max_parallel_updates_should_bound_rollouts_and_a_rollback_stop_the_rest() -> Result<()> {
    let Some(host) = TestHost::require(
        "max_parallel_updates_should_bound_rollouts_and_a_rollback_stop_the_rest",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    // The graph's order is by name: a, then b, then c.
    let names = [
        host.unique_name("upa"),
        host.unique_name("upb"),
        host.unique_name("upc"),
    ];
    let result = async {
        let manifests = |tags: [&str; 3]| -> Result<ManifestDir> {
            let files: Vec<(String, String)> = names
                .iter()
                .zip(tags)
                .map(|(n, t)| (format!("{n}.yaml"), tolerant(&web(n, t, ""))))
                .collect();
            let files: Vec<(&str, &str)> = files
                .iter()
                .map(|(f, t)| (f.as_str(), t.as_str()))
                .collect();
            host.write_manifests(&files)
        };
        ensure!(
            apply(&host, &manifests(["v1", "v1", "v1"])?)
                .await?
                .success()
        );

        // One at a time: each restart waits for the gate (3 s watch) of the one before.
        let out = apply_one_at_a_time(&host, &manifests(["v2", "v2", "v2"])?).await?;
        ensure!(out.success(), "v2 rollouts failed");
        let mut since = Vec::new();
        for n in &names {
            since.push(active_since(&host, n).await?);
        }
        eprintln!("active since (µs): {since:?}");
        for pair in since.windows(2) {
            ensure!(
                pair[1] >= pair[0] + 3_000_000,
                "two rollouts overlapped: {since:?}"
            );
        }

        // a fails its gate first: b and c are not rolled out in that pass.
        let v2 = image_id(&host, "localhost/web:v2").await?;
        let out = apply_one_at_a_time(&host, &manifests(["broken", "v1", "v1"])?).await?;
        ensure!(!out.success(), "a rollback must fail the apply");
        ensure!(
            line_of(&out, &format!("container/{}", names[0])).contains("rolled back to"),
            "{}",
            out.stdout
        );
        for n in &names[1..] {
            let line = line_of(&out, &format!("container/{n}"));
            ensure!(
                line.contains("BLOCKED") && line.contains("rolled back in this pass"),
                "{line}"
            );
            ensure!(running_image(&host, n).await? == v2, "{n} left v2");
            ensure!(
                unit_text(&host, n)?.contains(&format!("\t{v2}")),
                "{n}'s unit not put back on v2"
            );
        }
        // The next pass rolls them out; a stays held.
        let out = apply_one_at_a_time(&host, &manifests(["broken", "v1", "v1"])?).await?;
        ensure!(out.success(), "the next apply must roll b and c out");
        let v1 = image_id(&host, "localhost/web:v1").await?;
        for n in &names[1..] {
            ensure!(running_image(&host, n).await? == v1, "{n} not on v1");
        }
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}
