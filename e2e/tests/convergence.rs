//! Convergence that can be trusted: what `diff` and `get` say is what the host runs, even
//! after an apply was killed or interrupted half-way, and nothing a user has is removed by a
//! revision that only looks empty (a dangling link, a directory with no container left).
//!
//! Every test applies, so each holds the apply turn shared with the other test binaries.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use podctl_e2e::{ManifestDir, TestHost, line_of, wait_until};

const UNIT_DIR: &str = "/etc/systemd/system";
const TIMEOUT: Duration = Duration::from_secs(60);

/// A cheap container: busybox sleeping, no network to set up.
fn sleeper(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n  image: localhost/bb:v1\n  args: [sleep, \"600\"]\n  network: none\n  stopTimeout: 5s\n{extra}"
    )
}

/// The env of a running container as `KEY=VALUE` strings.
async fn env_of(host: &TestHost, name: &str) -> Result<Vec<String>> {
    let v = host.podman_json(["container", "inspect", name]).await?;
    Ok(v[0]["Config"]["Env"]
        .as_array()
        .context("no Config.Env")?
        .iter()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect())
}

/// The definition hash a container was created with, and the one its unit file carries.
async fn hashes(host: &TestHost, name: &str) -> Result<(String, String)> {
    let v = host.podman_json(["container", "inspect", name]).await?;
    let label = v[0]["Config"]["Labels"]["io.podctl.hash"]
        .as_str()
        .context("no io.podctl.hash label")?
        .to_owned();
    let unit = std::fs::read_to_string(host.host_path(format!("{UNIT_DIR}/{name}.service")))?;
    let file = unit
        .lines()
        .find_map(|l| l.strip_prefix("X-Podctl-Hash="))
        .context("no X-Podctl-Hash= in the unit")?
        .to_owned();
    Ok((label, file))
}

/// Every container runs exactly what its unit file says, with `MODE=mode`.
async fn assert_runs(host: &TestHost, names: &[String], mode: &str) -> Result<()> {
    for name in names {
        let env = env_of(host, name).await?;
        ensure!(
            env.contains(&format!("MODE={mode}")),
            "{name} runs {env:?}, not MODE={mode}"
        );
        let (label, file) = hashes(host, name).await?;
        ensure!(label == file, "{name}: container hash {label}, unit {file}");
    }
    Ok(())
}

fn manifests(names: &[String], mode: &str) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| {
            (
                format!("{n}.yaml"),
                sleeper(n, &format!("  env: {{MODE: {mode}}}\n")),
            )
        })
        .collect()
}

fn write(host: &TestHost, files: &[(String, String)]) -> Result<ManifestDir> {
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    host.write_manifests(&refs)
}

/// Ten sleepers named `TAG0`…, and two manifest sets for them that differ in every unit
/// (`MODE=one`, `MODE=two`).
fn ten_sleepers(host: &TestHost, tag: &str) -> Result<(Vec<String>, ManifestDir, ManifestDir)> {
    let names: Vec<String> = (0..10)
        .map(|i| host.unique_name(&format!("{tag}{i}")))
        .collect();
    let one = write(host, &manifests(&names, "one"))?;
    let two = write(host, &manifests(&names, "two"))?;
    Ok((names, one, two))
}

#[tokio::test]
async fn an_apply_killed_after_writing_the_units_is_seen_by_diff_and_finished_by_the_next()
-> Result<()> {
    let Some(host) = TestHost::require("an_apply_killed_after_writing_the_units").await else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let (names, one, two) = ten_sleepers(&host, "k")?;
    let result = async {
        ensure!(
            host.podctl_logged(&["apply", "-f", &one.path_str()])
                .await?
                .success()
        );

        // Killed once all ten unit files are written, before the reload and the restarts.
        let killed = host.apply_killed_at(&two, "unit-written:10").await?;
        ensure!(!killed.success(), "the failpoint did not fire");
        ensure!(killed.stderr.contains("failpoint unit-written:10"));

        // Before: "No changes", while every container ran MODE=one.
        let diff = host.podctl_logged(&["diff", "-f", &two.path_str()]).await?;
        ensure!(diff.status.code() == Some(1), "diff must see the drift");
        for name in &names {
            ensure!(
                diff.stdout.contains(&format!("~ container/{name}  repair")),
                "{name} not a repair:\n{}",
                diff.stdout
            );
        }
        ensure!(diff.stdout.contains("interrupted before the restart"));
        let get = host.podctl_logged(&["get", "-f", &two.path_str()]).await?;
        ensure!(!get.stdout.contains("Converged"), "{}", get.stdout);

        let again = host
            .podctl_logged(&["apply", "-f", &two.path_str()])
            .await?;
        ensure!(again.success());
        for name in &names {
            ensure!(
                line_of(&again, &format!("container/{name}")).contains("restart"),
                "{name} not restarted:\n{}",
                again.stdout
            );
        }
        assert_runs(&host, &names, "two").await?;
        let diff = host.podctl_logged(&["diff", "-f", &two.path_str()]).await?;
        ensure!(diff.status.code() == Some(0), "diff after the repair");
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}

#[tokio::test]
async fn ctrl_c_stops_apply_at_a_safe_point_and_the_next_apply_finishes() -> Result<()> {
    let Some(host) = TestHost::require("ctrl_c_stops_apply_at_a_safe_point").await else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let (names, one, two) = ten_sleepers(&host, "c")?;
    let result = async {
        ensure!(
            host.podctl_logged(&["apply", "-f", &one.path_str()])
                .await?
                .success()
        );
        // One restart at a time, so that there is a "middle" to interrupt.
        let running = {
            let host = host.clone();
            let dir = two.path_str();
            tokio::spawn(async move {
                host.podctl(["apply", "--concurrency", "1", "-f", &dir])
                    .await
            })
        };
        wait_until(TIMEOUT, "the first container restarted", || async {
            for name in &names {
                if env_of(&host, name).await?.contains(&"MODE=two".to_owned()) {
                    return Ok(Some(()));
                }
            }
            Ok(None)
        })
        .await?;
        host.exec_ok([
            "pkill",
            "-INT",
            "-f",
            &format!("podctl apply --concurrency 1 -f {}", two.path_str()),
        ])
        .await?;
        let out = running.await.context("apply task")??;
        eprintln!(
            "interrupted apply: {}\n{}{}",
            out.status, out.stdout, out.stderr
        );
        ensure!(out.status.code() == Some(130), "exit {}", out.status);
        ensure!(out.stderr.contains("interrupted"), "{}", out.stderr);
        ensure!(
            out.stdout.contains("interrupted before it was attempted"),
            "the objects not attempted are reported:\n{}",
            out.stdout
        );
        // No half-written unit is left behind.
        for entry in std::fs::read_dir(host.host_path(UNIT_DIR))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            ensure!(
                !name.ends_with(".podctl-tmp"),
                "temporary unit file {name} left"
            );
        }
        let diff = host.podctl_logged(&["diff", "-f", &two.path_str()]).await?;
        ensure!(diff.status.code() == Some(1), "the rest is still to do");

        ensure!(
            host.podctl_logged(&["apply", "-f", &two.path_str()])
                .await?
                .success()
        );
        assert_runs(&host, &names, "two").await?;
        let diff = host.podctl_logged(&["diff", "-f", &two.path_str()]).await?;
        ensure!(diff.status.code() == Some(0));
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}

#[tokio::test]
async fn a_dangling_link_or_a_tree_without_containers_removes_nothing() -> Result<()> {
    let Some(host) = TestHost::require("a_dangling_link_or_a_tree_without_containers").await else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let app = host.unique_name("keep");
    let data = host.unique_name("data");
    let volume = format!(
        "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {{name: {data}}}\nspec: {{reclaimPolicy: Delete}}\n"
    );
    let app_manifest = sleeper(
        &app,
        &format!("  volumes: [{{volume: {data}, path: /data}}]\n"),
    );
    // The manifests live in a shared folder the tree links to, as the docs allow (with
    // --allow-links-to: podctl follows no other link out of the tree).
    let shared = host.write_manifests(&[("app.yaml", &app_manifest), ("volume.yaml", &volume)])?;
    let shared_dir = shared.path_str();
    let tree = host.write_manifests(&[])?;
    std::os::unix::fs::symlink(shared.path(), host.host_path(tree.path().join("shared")))?;
    let result = async {
        ensure!(
            host.podctl_logged(&[
                "apply",
                "-f",
                &tree.path_str(),
                "--allow-links-to",
                &shared_dir
            ])
            .await?
            .success()
        );
        host.exec_ok([
            "podman",
            "exec",
            &app,
            "sh",
            "-c",
            "echo precious > /data/f",
        ])
        .await?;
        let id = host.container_id(&app).await?;

        // The shared folder is briefly gone: the link dangles.
        let moved = host.host_path(format!("{}.away", shared.path_str()));
        std::fs::rename(host.host_path(shared.path()), &moved)?;
        let validate = host
            .podctl_logged(&[
                "validate",
                "-f",
                &tree.path_str(),
                "--allow-links-to",
                &shared_dir,
            ])
            .await?;
        let apply = host
            .podctl_logged(&[
                "apply",
                "-f",
                &tree.path_str(),
                "--allow-links-to",
                &shared_dir,
            ])
            .await?;
        let diff = host
            .podctl_logged(&[
                "diff",
                "-f",
                &tree.path_str(),
                "--allow-links-to",
                &shared_dir,
            ])
            .await?;
        std::fs::rename(&moved, host.host_path(shared.path()))?;
        for out in [&validate, &apply, &diff] {
            ensure!(out.status.code() == Some(2), "{:?} must refuse", out.argv);
            ensure!(
                out.stderr.contains("shared:1:1: dangling symlink"),
                "{}",
                out.stderr
            );
        }
        ensure!(
            host.container_id(&app).await? == id,
            "the container was touched"
        );

        // Only a Volume left: no container declared, so every managed one would go.
        let volume_only = host.write_manifests(&[("volume.yaml", &volume)])?;
        let diff = host
            .podctl_logged(&["diff", "-f", &volume_only.path_str()])
            .await?;
        ensure!(
            diff.stderr.contains("declares no container"),
            "{}",
            diff.stderr
        );
        let refused = host
            .podctl_logged(&["apply", "-f", &volume_only.path_str()])
            .await?;
        ensure!(refused.status.code() == Some(2));
        ensure!(
            refused.stderr.contains("declares no container")
                && refused.stderr.contains("--allow-empty"),
            "{}",
            refused.stderr
        );
        ensure!(
            host.container_id(&app).await? == id,
            "the container was touched"
        );
        let kept = host
            .exec_ok(["podman", "exec", &app, "cat", "/data/f"])
            .await?;
        ensure!(kept.stdout.trim() == "precious", "the volume lost its data");
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}

#[tokio::test]
async fn an_always_image_moved_behind_podctl_restarts_its_container() -> Result<()> {
    let Some(host) = TestHost::require("an_always_image_moved_behind_podctl").await else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let app = host.unique_name("always");
    let reference = format!("127.0.0.1:5000/{app}:moving");
    let tag_and_push = |source: &'static str| {
        let reference = reference.clone();
        let host = host.clone();
        async move {
            host.exec_ok(["podman", "tag", source, &reference]).await?;
            host.exec_ok(["podman", "push", "--tls-verify=false", &reference])
                .await?;
            anyhow::Ok(())
        }
    };
    tag_and_push("localhost/bb:v1").await?;
    let image = format!(
        "apiVersion: podctl.io/v1\nkind: Image\nmetadata: {{name: {app}}}\nspec:\n  ref: {reference}\n  pullPolicy: Always\n  tlsVerify: false\n"
    );
    let container =
        sleeper(&app, "").replace("image: localhost/bb:v1", &format!("image: {{ref: {app}}}"));
    let dir = host.write_manifests(&[("image.yaml", &image), ("app.yaml", &container)])?;
    let result = async {
        ensure!(
            host.podctl_logged(&["apply", "-f", &dir.path_str()])
                .await?
                .success()
        );
        let id = host.container_id(&app).await?;
        // An admin moves the tag (here and in the registry): podctl's own pull then finds
        // nothing new, yet the container runs the old image. With `pullPolicy: Always` the
        // container follows its tag: the new image is rolled out (pinned, gated).
        tag_and_push("localhost/bb:v2").await?;
        let diff = host.podctl_logged(&["diff", "-f", &dir.path_str()]).await?;
        ensure!(
            diff.stdout.contains(&format!(
                "~ container/{app}  update: changed: image (new ID)"
            )),
            "{}",
            diff.stdout
        );
        let apply = host
            .podctl_logged(&["apply", "-f", &dir.path_str()])
            .await?;
        ensure!(apply.success());
        ensure!(host.container_id(&app).await? != id, "not restarted");
        let v2 = host
            .podman_json(["image", "inspect", "localhost/bb:v2"])
            .await?;
        let running = host.podman_json(["container", "inspect", &app]).await?;
        ensure!(
            running[0]["Image"] == v2[0]["Id"],
            "runs {} instead of bb:v2 {}",
            running[0]["Image"],
            v2[0]["Id"]
        );
        let diff = host.podctl_logged(&["diff", "-f", &dir.path_str()]).await?;
        ensure!(
            !diff.stdout.contains(&format!("container/{app}")),
            "{}",
            diff.stdout
        );
        Ok(())
    }
    .await;
    host.prune_all().await?;
    host.exec(["podman", "rmi", "-f", &reference]).await?;
    result
}

#[tokio::test]
async fn a_drop_in_on_a_managed_unit_is_drift_that_podctl_reports_and_leaves() -> Result<()> {
    let Some(host) = TestHost::require("a_drop_in_on_a_managed_unit_is_drift").await else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let app = host.unique_name("dropin");
    let dir = host.write_manifests(&[("app.yaml", &sleeper(&app, ""))])?;
    let drop_in = format!("{UNIT_DIR}/{app}.service.d/override.conf");
    let result = async {
        ensure!(
            host.podctl_logged(&["apply", "-f", &dir.path_str()])
                .await?
                .success()
        );
        host.write_file(&drop_in, "[Service]\nEnvironment=FROM_DROP_IN=1\n")?;
        host.exec_ok(["systemctl", "daemon-reload"]).await?;

        let diff = host.podctl_logged(&["diff", "-f", &dir.path_str()]).await?;
        ensure!(diff.status.code() == Some(1), "a drop-in is drift");
        ensure!(diff.stdout.contains(&drop_in), "{}", diff.stdout);
        let json = host
            .podctl_logged(&["diff", "-o", "json", "-f", &dir.path_str()])
            .await?;
        let v: serde_json::Value = serde_json::from_str(&json.stdout)?;
        ensure!(v["changes"][0]["dropIns"][0] == drop_in.as_str(), "{v}");
        let get = host
            .podctl_logged(&["get", "container", &app, "-f", &dir.path_str()])
            .await?;
        ensure!(get.stdout.contains("Degraded"), "{}", get.stdout);
        let apply = host
            .podctl_logged(&["apply", "-f", &dir.path_str()])
            .await?;
        ensure!(apply.status.code() == Some(1));
        ensure!(apply.stderr.contains(&drop_in), "{}", apply.stderr);
        ensure!(
            host.host_path(&drop_in).exists(),
            "podctl removed the operator's drop-in"
        );

        std::fs::remove_file(host.host_path(&drop_in))?;
        host.exec_ok(["systemctl", "daemon-reload"]).await?;
        let diff = host.podctl_logged(&["diff", "-f", &dir.path_str()]).await?;
        ensure!(diff.status.code() == Some(0));
        Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(host.host_path(format!("{UNIT_DIR}/{app}.service.d")));
    host.exec(["systemctl", "daemon-reload"]).await?;
    host.prune_all().await?;
    result
}
