//! `podctl apply` on the real test host: containers become systemd services, in dependency
//! order, converge idempotently, recover, and never touch what podctl does not own.
//!
//! podctl prunes every managed object the revision does not name, so the tests that apply
//! take turns (`TestHost::apply_turn`, shared with the other test binaries); each still
//! uses its own object names.

use std::time::Duration;

use anyhow::{Context, Result};
use podctl_e2e::{ExecOutput, ManifestDir, TestHost, line_of, wait_until};
const TIMEOUT: Duration = Duration::from_secs(60);
const UNIT_DIR: &str = "/etc/systemd/system";

fn container(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n  image: {image}\n  stopTimeout: 5s\n{extra}"
    )
}

async fn apply(host: &TestHost, dir: &ManifestDir) -> Result<ExecOutput> {
    let out = host.podctl(["apply", "-f", &dir.path_str()]).await?;
    eprintln!("podctl apply:\n{}{}", out.stdout, out.stderr);
    Ok(out)
}

/// Now, as systemd's `*Timestamp` properties count (CLOCK_REALTIME µs; the sandbox shares
/// the host's clock).
fn micros_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

async fn unit_mtime(host: &TestHost, unit: &str) -> Result<std::time::SystemTime> {
    let path = host.host_path(format!("{UNIT_DIR}/{unit}"));
    Ok(std::fs::metadata(&path)
        .with_context(|| format!("stat {}", path.display()))?
        .modified()?)
}

#[tokio::test]
async fn db_and_app_should_start_in_order_converge_and_be_repaired() -> Result<()> {
    let Some(host) =
        TestHost::require("db_and_app_should_start_in_order_converge_and_be_repaired").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let db = host.unique_name("db");
    let app = host.unique_name("app");
    let (db_unit, app_unit) = (format!("{db}.service"), format!("{app}.service"));
    let db_manifest = container(&db, "localhost/web:v1", "  env: {PORT: \"8081\"}\n");
    let app_manifest = |mode: &str| {
        container(
            &app,
            "localhost/web:v1",
            &format!("  dependsOn: [{db}]\n  env: {{PORT: \"8082\", MODE: {mode}}}\n"),
        )
    };
    let dir = host.write_manifests(&[
        ("db.yaml", &db_manifest),
        ("app.yaml", &app_manifest("one")),
    ])?;

    let first = apply(&host, &dir).await?;
    assert!(first.success(), "first apply failed");
    let systemd = host.systemd().await?;
    let db_status = systemd.unit(&db_unit).await?;
    let app_status = systemd.unit(&app_unit).await?;
    assert_eq!(
        (
            db_status.active_state.as_str(),
            app_status.active_state.as_str()
        ),
        ("active", "active")
    );
    assert!(
        db_status.active_enter_timestamp <= app_status.active_enter_timestamp,
        "db became active after app: {db_status:?} {app_status:?}"
    );
    let unit_text = std::fs::read_to_string(host.host_path(format!("{UNIT_DIR}/{app_unit}")))?;
    assert!(unit_text.starts_with("# Managed by podctl. Changes will be overwritten.\n"));
    assert!(unit_text.contains("X-Podctl-Hash="));
    let labels = host.podman_json(["container", "inspect", &app]).await?;
    assert_eq!(labels[0]["Config"]["Labels"]["io.podctl.managed"], "true");

    // A second apply with nothing changed touches nothing.
    let (db_id, app_id) = (
        host.container_id(&db).await?,
        host.container_id(&app).await?,
    );
    let mtime = unit_mtime(&host, &app_unit).await?;
    let second = apply(&host, &dir).await?;
    assert!(second.success());
    assert!(
        line_of(&second, &format!("container/{app}")).contains("unchanged"),
        "{}",
        second.stdout
    );
    assert!(
        line_of(&second, &format!("container/{db}")).contains("unchanged"),
        "{}",
        second.stdout
    );
    assert_eq!(unit_mtime(&host, &app_unit).await?, mtime);
    assert_eq!(host.container_id(&app).await?, app_id);

    // systemd restarts a killed container.
    let before = systemd.unit(&app_unit).await?.n_restarts.unwrap_or(0);
    host.exec_ok(["podman", "kill", &app]).await?;
    wait_until(TIMEOUT, "app restarted by systemd", || async {
        let s = systemd.unit(&app_unit).await?;
        Ok((s.n_restarts.unwrap_or(0) > before && s.active_state == "active").then_some(()))
    })
    .await?;

    // A changed env restarts app only.
    let app_id = host.container_id(&app).await?;
    let changed = host.write_manifests(&[
        ("db.yaml", &db_manifest),
        ("app.yaml", &app_manifest("two")),
    ])?;
    let third = apply(&host, &changed).await?;
    assert!(third.success());
    assert!(
        line_of(&third, &format!("container/{app}")).contains("env"),
        "{}",
        third.stdout
    );
    assert_ne!(
        host.container_id(&app).await?,
        app_id,
        "app was not restarted"
    );
    assert_eq!(host.container_id(&db).await?, db_id, "db was restarted");

    // A unit stopped by hand shows as stopped (not as a crash), and is started again.
    host.exec_ok(["systemctl", "stop", &app_unit]).await?;
    let get = host
        .podctl(["get", "container", &app, "-f", &changed.path_str()])
        .await?;
    assert!(
        get.stdout.contains("Degraded") && get.stdout.contains("stopped"),
        "{}{}",
        get.stdout,
        get.stderr
    );
    let fourth = apply(&host, &changed).await?;
    assert!(fourth.success());
    assert!(
        line_of(&fourth, &format!("container/{app}")).contains("repair"),
        "{}",
        fourth.stdout
    );
    assert_eq!(systemd.unit(&app_unit).await?.active_state, "active");

    // A changed db restarts app too (Requires=): systemd does it, the plan says so.
    let (db_id, app_id) = (
        host.container_id(&db).await?,
        host.container_id(&app).await?,
    );
    let db_changed = container(&db, "localhost/web:v1", "  env: {PORT: \"8081\", X: y}\n");
    let both =
        host.write_manifests(&[("db.yaml", &db_changed), ("app.yaml", &app_manifest("two"))])?;
    let diff = host.podctl(["diff", "-f", &both.path_str()]).await?;
    assert!(
        diff.stdout.contains(&format!(
            "~ container/{app}  repair: restarted with container/{db}"
        )),
        "{}",
        diff.stdout
    );
    let began = micros_now();
    let fifth = apply(&host, &both).await?;
    assert!(fifth.success());
    assert!(
        line_of(&fifth, &format!("container/{app}")).contains("restarted-with"),
        "{}",
        fifth.stdout
    );
    // Reported ok only once systemd's restart of app is over: active again, no waiting.
    let app_status = systemd.unit(&app_unit).await?;
    assert_eq!(app_status.active_state, "active", "{app_status:?}");
    assert!(
        app_status.active_enter_timestamp > began,
        "app not restarted during the apply: {app_status:?}"
    );
    assert_ne!(host.container_id(&db).await?, db_id, "db not restarted");
    assert_ne!(host.container_id(&app).await?, app_id, "app not restarted");

    // A removed manifest takes its unit and container with it.
    let only_db = host.write_manifests(&[("db.yaml", &db_manifest)])?;
    let sixth = apply(&host, &only_db).await?;
    assert!(sixth.success());
    assert!(
        !host.host_path(format!("{UNIT_DIR}/{app_unit}")).exists(),
        "unit file left behind"
    );
    let ps = host
        .podman_json([
            "ps",
            "-a",
            "--format",
            "json",
            "--filter",
            &format!("name=^{app}$"),
        ])
        .await?;
    assert_eq!(
        ps.as_array().map(Vec::len),
        Some(0),
        "container left behind: {ps}"
    );
    assert_eq!(systemd.unit(&db_unit).await?.active_state, "active");

    host.prune_all().await
}

#[tokio::test]
async fn dependent_failing_its_restart_with_its_dependency_should_fail_the_apply() -> Result<()> {
    let Some(host) = TestHost::require(
        "dependent_failing_its_restart_with_its_dependency_should_fail_the_apply",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let db = host.unique_name("rw-db");
    let app = host.unique_name("rw-app");
    let app_unit = format!("{app}.service");
    // app reads an env file at every start; podctl does not look into it, so removing it
    // by hand changes no plan, and only makes app's next start fail (podman --env-file).
    let env_file = format!("/tmp/{app}.env");
    host.write_file(&env_file, "GREETING=hello\n")?;
    let db_manifest = |port: &str| {
        container(
            &db,
            "localhost/web:v1",
            &format!("  network: host\n  env: {{PORT: \"{port}\"}}\n"),
        )
    };
    let app_manifest = container(
        &app,
        "localhost/bb:v1",
        &format!(
            "  args: [sleep, \"600\"]\n  dependsOn: [{db}]\n  envFiles: [{env_file}]\n  restart: {{policy: on-failure, delay: 30s}}\n"
        ),
    );
    let first = host.write_manifests(&[
        ("db.yaml", &db_manifest("18181")),
        ("app.yaml", &app_manifest),
    ])?;
    let out = apply(&host, &first).await?;
    assert!(out.success(), "first apply failed");

    std::fs::remove_file(host.host_path(&env_file))?;
    let changed = host.write_manifests(&[
        ("db.yaml", &db_manifest("18182")),
        ("app.yaml", &app_manifest),
    ])?;
    let out = apply(&host, &changed).await?;
    let line = line_of(&out, &format!("container/{app}"));
    assert!(
        line.contains("FAILED") && line.contains(&app_unit),
        "app's failed restart not reported:\n{}",
        out.stdout
    );
    assert_eq!(out.status.code(), Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        line_of(&out, &format!("container/{db}")).contains("ok"),
        "{}",
        out.stdout
    );
    let systemd = host.systemd().await?;
    let status = systemd.unit(&app_unit).await?;
    assert_ne!(status.active_state, "active", "{status:?}");

    host.prune_all().await
}

/// A container of `localhost/bb:v1` that sleeps; `stubborn` ignores SIGTERM, so stopping it
/// lasts until the test kills it (its stop timeout, 120 s, is far beyond the test's).
fn sleeper(name: &str, stubborn: bool) -> String {
    // `args`, not `command`: the image's init stays PID 1 and passes SIGTERM on.
    let (args, stop) = if stubborn {
        ("[sh, -c, \"trap '' TERM; sleep 600\"]", "120s")
    } else {
        ("[sleep, \"600\"]", "5s")
    };
    format!(
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n  image: localhost/bb:v1\n  args: {args}\n  stopTimeout: {stop}\n"
    )
}

#[tokio::test]
async fn concurrent_applies_should_take_turns_and_leave_the_host_on_the_last() -> Result<()> {
    let Some(host) =
        TestHost::require("concurrent_applies_should_take_turns_and_leave_the_host_on_the_last")
            .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let (x, z, y) = (
        host.unique_name("lk-x"),
        host.unique_name("lk-z"),
        host.unique_name("lk-y"),
    );
    let (x_unit, y_unit) = (format!("{x}.service"), format!("{y}.service"));
    let setup = host.write_manifests(&[("x.yaml", &sleeper(&x, true))])?;
    let first_dir = host.write_manifests(&[("z.yaml", &sleeper(&z, false))])?;
    let second_dir = host.write_manifests(&[("y.yaml", &sleeper(&y, false))])?;
    assert!(apply(&host, &setup).await?.success(), "setup apply failed");
    let systemd = host.systemd().await?;
    let lock_file = host.host_path("/run/podctl/controller.lock");
    let second_err = format!("/tmp/{y}.stderr");
    let bin = host.podctl_bin()?;

    // The first apply removes x, whose stop hangs until x is killed: it holds the host lock
    // for as long as the test wants.
    let first_path = first_dir.path_str();
    let first = host.podctl(["apply", "-f", &first_path]);
    let others = async {
        wait_until(
            TIMEOUT,
            "the first apply to stop x under the lock",
            || async {
                let held = std::fs::read_to_string(&lock_file).unwrap_or_default();
                let x_state = systemd.unit(&x_unit).await?.active_state;
                Ok(
                    (held.contains(&first_dir.path_str()) && x_state == "deactivating")
                        .then_some(()),
                )
            },
        )
        .await?;

        // With a short --lock-timeout: a clear error naming the apply in the way.
        let timed_out = host
            .podctl([
                "apply",
                "--lock-timeout",
                "1s",
                "-f",
                &second_dir.path_str(),
            ])
            .await?;
        anyhow::ensure!(
            timed_out.status.code() == Some(2)
                && timed_out.stderr.contains("is still held after")
                && timed_out.stderr.contains("by podctl apply (pid ")
                && timed_out.stderr.contains(&first_dir.path_str())
                && timed_out.stderr.contains("--lock-timeout"),
            "the short wait did not end in a clear error: {:?}\n{}{}",
            timed_out.status,
            timed_out.stdout,
            timed_out.stderr
        );

        // With the default: it waits (and says so), then applies once the first is done.
        let script = format!(
            "exec {} apply -f {} 2>{second_err}",
            bin.display(),
            second_dir.path_str()
        );
        let second = host.sh(&script);
        let release = async {
            wait_until(TIMEOUT, "the second apply to wait for the lock", || async {
                let err = std::fs::read_to_string(host.host_path(&second_err)).unwrap_or_default();
                Ok(err.contains("waiting up to").then_some(()))
            })
            .await?;
            host.exec_ok(["podman", "kill", "--signal", "KILL", &x])
                .await
        };
        let (second, released) = tokio::join!(second, release);
        released?;
        second
    };
    let (first, second) = tokio::join!(first, others);
    let (first, second) = (first?, second?);
    let second_stderr = std::fs::read_to_string(host.host_path(&second_err))?;
    eprintln!(
        "first apply:\n{}{}\nsecond apply:\n{}{second_stderr}",
        first.stdout, first.stderr, second.stdout
    );
    assert!(first.success(), "the first apply failed");
    assert!(second.success(), "the second apply failed");
    assert!(
        second_stderr.contains("held by podctl apply (pid ")
            && second_stderr.contains(&first_dir.path_str()),
        "{second_stderr}"
    );
    // The second planned on the host the first left: it removed z, which it had not seen.
    assert!(
        line_of(&second, &format!("container/{z}")).contains("delete"),
        "{}",
        second.stdout
    );
    assert_eq!(systemd.unit(&y_unit).await?.active_state, "active");
    for gone in [&x, &z] {
        assert!(
            !host
                .host_path(format!("{UNIT_DIR}/{gone}.service"))
                .exists(),
            "{gone}'s unit is left"
        );
    }
    host.prune_all().await
}

#[tokio::test]
async fn foreign_unit_should_be_reported_and_left_alone() -> Result<()> {
    let Some(host) = TestHost::require("foreign_unit_should_be_reported_and_left_alone").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("foreign");
    let unit_path = format!("{UNIT_DIR}/{name}.service");
    let foreign = "[Unit]\nDescription=not podctl's\n[Service]\nExecStart=/bin/sleep 600\n";
    host.write_file(&unit_path, foreign)?;
    host.exec_ok(["systemctl", "daemon-reload"]).await?;
    host.exec_ok(["systemctl", "start", &format!("{name}.service")])
        .await?;
    let other = host.unique_name("other");
    let dir = host.write_manifests(&[
        (
            "a.yaml",
            &container(&name, "localhost/bb:v1", "  args: [sleep, \"600\"]\n"),
        ),
        (
            "b.yaml",
            &container(&other, "localhost/bb:v1", "  args: [sleep, \"600\"]\n"),
        ),
    ])?;
    let out = apply(&host, &dir).await?;
    assert_eq!(out.status.code(), Some(1), "a conflict must fail the apply");
    let line = line_of(&out, &format!("container/{name}"));
    assert!(
        line.contains("CONFLICT") && line.contains("not managed by podctl"),
        "{line}"
    );
    assert!(
        line_of(&out, &format!("container/{other}")).contains("ok"),
        "{}",
        out.stdout
    );
    assert_eq!(
        std::fs::read_to_string(host.host_path(&unit_path))?,
        foreign
    );
    let systemd = host.systemd().await?;
    assert_eq!(
        systemd.unit(&format!("{name}.service")).await?.active_state,
        "active"
    );

    host.prune_all().await?;
    // Even the cleanup leaves the foreign unit alone.
    assert_eq!(
        std::fs::read_to_string(host.host_path(&unit_path))?,
        foreign
    );
    host.exec_ok(["systemctl", "stop", &format!("{name}.service")])
        .await?;
    std::fs::remove_file(host.host_path(&unit_path))?;
    Ok(())
}

#[tokio::test]
async fn missing_image_should_block_dependents_but_not_others() -> Result<()> {
    let Some(host) =
        TestHost::require("missing_image_should_block_dependents_but_not_others").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let (broken, dependent, independent) = (
        host.unique_name("noimg"),
        host.unique_name("dep"),
        host.unique_name("indep"),
    );
    let (nostart, after_nostart) = (host.unique_name("nostart"), host.unique_name("depns"));
    let dir = host.write_manifests(&[
        (
            "a.yaml",
            &container(&broken, "localhost/does-not-exist:v1", ""),
        ),
        (
            "b.yaml",
            &container(
                &dependent,
                "localhost/bb:v1",
                &format!("  args: [sleep, \"600\"]\n  dependsOn: [{broken}]\n"),
            ),
        ),
        (
            "c.yaml",
            &container(
                &independent,
                "localhost/bb:v1",
                "  args: [sleep, \"600\"]\n",
            ),
        ),
        (
            "d.yaml",
            &container(&nostart, "localhost/bb:v1", "  command: [/nonexistent]\n"),
        ),
        (
            "e.yaml",
            &container(
                &after_nostart,
                "localhost/bb:v1",
                &format!("  args: [sleep, \"600\"]\n  dependsOn: [{nostart}]\n"),
            ),
        ),
    ])?;
    let out = apply(&host, &dir).await?;
    assert_eq!(out.status.code(), Some(1));
    let failed = line_of(&out, &format!("container/{broken}"));
    assert!(
        failed.contains("FAILED") && failed.contains("cannot pull"),
        "{failed}"
    );
    let blocked = line_of(&out, &format!("container/{dependent}"));
    assert!(
        blocked.contains("BLOCKED") && blocked.contains(&broken),
        "{blocked}"
    );
    assert!(
        line_of(&out, &format!("container/{independent}")).contains("ok"),
        "{}",
        out.stdout
    );
    let systemd = host.systemd().await?;
    assert_eq!(
        systemd
            .unit(&format!("{independent}.service"))
            .await?
            .active_state,
        "active"
    );
    assert_ne!(
        systemd
            .unit(&format!("{dependent}.service"))
            .await?
            .active_state,
        "active"
    );
    assert!(
        line_of(&out, &format!("container/{after_nostart}")).contains("BLOCKED"),
        "{}",
        out.stdout
    );
    // Neither the failed container nor the ones it blocks got a unit: nothing on the host
    // would start them (at boot, say) before the image is there. A container blocked by
    // one that failed to start has its new unit taken back.
    for name in [&broken, &dependent, &after_nostart] {
        let unit = format!("{UNIT_DIR}/{name}.service");
        assert!(
            !host.exec(["test", "-e", &unit]).await?.success(),
            "{unit} was written"
        );
    }
    host.prune_all().await
}

#[tokio::test]
async fn hardened_container_should_run_and_recover_when_unhealthy() -> Result<()> {
    let Some(host) =
        TestHost::require("hardened_container_should_run_and_recover_when_unhealthy").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("hardened");
    // /tmp of a read-only container is a fresh tmpfs per container: the flag file makes the
    // container unhealthy until it is replaced.
    let extra = "  args: [sleep, \"600\"]\n  network: host\n  healthCheck:\n    command: [/bin/sh, -c, \"test ! -e /tmp/sick\"]\n    interval: 1s\n    timeout: 2s\n    retries: 1\n    onFailure: restart\n  security:\n    readOnlyRootFilesystem: true\n    noNewPrivileges: true\n    capDrop: [ALL]\n    systemd:\n      protectSystem: strict\n      protectHome: true\n";
    let dir = host.write_manifests(&[("h.yaml", &container(&name, "localhost/bb:v1", extra))])?;
    let out = apply(&host, &dir).await?;
    assert!(out.success());
    let unit_text = std::fs::read_to_string(host.host_path(format!("{UNIT_DIR}/{name}.service")))?;
    assert!(unit_text.contains("ProtectSystem=strict"), "{unit_text}");

    // Health, restart count and ID of the container now running under the unit.
    let health = || async {
        let v = host.podman_json(["container", "inspect", &name]).await?;
        let state = &v[0]["State"];
        let status = state["Health"]["Status"]
            .as_str()
            .or(state["Healthcheck"]["Status"].as_str())
            .unwrap_or("")
            .to_owned();
        let id = v[0]["Id"].as_str().unwrap_or("").to_owned();
        Ok::<_, anyhow::Error>((status, v[0]["RestartCount"].as_u64().unwrap_or(0), id))
    };
    wait_until(TIMEOUT, "healthy", || async {
        Ok((health().await?.0 == "healthy").then_some(()))
    })
    .await?;
    let (_, restarts_before, id_before) = health().await?;
    host.exec_ok(["podman", "exec", &name, "touch", "/tmp/sick"])
        .await?;
    // podman's restart action stops the container; under systemd the unit then starts a
    // fresh one (--rm), so recovery shows as a new container or a restart count.
    wait_until(TIMEOUT, "recovered and healthy again", || async {
        let (status, restarts, id) = health().await.unwrap_or_default();
        let recovered = restarts > restarts_before || (!id.is_empty() && id != id_before);
        Ok((recovered && status == "healthy").then_some(()))
    })
    .await?;
    let systemd = host.systemd().await?;
    assert_eq!(
        systemd.unit(&format!("{name}.service")).await?.active_state,
        "active"
    );
    host.prune_all().await
}

#[tokio::test]
async fn diff_should_be_clean_after_apply_and_name_every_drift() -> Result<()> {
    let Some(host) =
        TestHost::require("diff_should_be_clean_after_apply_and_name_every_drift").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("drift");
    let unit = format!("{name}.service");
    let manifest = |level: &str| {
        container(
            &name,
            "localhost/bb:v1",
            &format!("  args: [sleep, \"600\"]\n  env: {{LEVEL: {level}}}\n"),
        )
    };
    let dir = host.write_manifests(&[("a.yaml", &manifest("info"))])?;
    let diff = |dir: String| {
        let host = &host;
        async move {
            let out = host.podctl(["diff", "-f", &dir]).await?;
            eprintln!("podctl diff:\n{}{}", out.stdout, out.stderr);
            anyhow::Ok(out)
        }
    };

    let before = diff(dir.path_str()).await?;
    assert_eq!(before.status.code(), Some(1), "a fresh host has changes");
    assert!(
        before
            .stdout
            .contains(&format!("+ container/{name}  create")),
        "{}",
        before.stdout
    );
    assert!(apply(&host, &dir).await?.success());
    let clean = diff(dir.path_str()).await?;
    assert_eq!(clean.status.code(), Some(0), "nothing to do after apply");
    assert!(clean.stdout.starts_with("No changes"), "{}", clean.stdout);

    // Stopped by hand.
    host.exec_ok(["systemctl", "stop", &unit]).await?;
    let stopped = diff(dir.path_str()).await?;
    assert_eq!(stopped.status.code(), Some(1));
    assert!(
        stopped
            .stdout
            .contains(&format!("~ container/{name}  repair: unit is")),
        "{}",
        stopped.stdout
    );
    assert!(apply(&host, &dir).await?.success());

    // Edited by hand.
    let path = host.host_path(format!("{UNIT_DIR}/{unit}"));
    let original = std::fs::read_to_string(&path)?;
    std::fs::write(&path, original.replace("Restart=on-failure", "Restart=no"))?;
    let edited = diff(dir.path_str()).await?;
    assert_eq!(edited.status.code(), Some(1));
    assert!(
        edited.stdout.contains("edited outside podctl"),
        "{}",
        edited.stdout
    );
    assert!(
        edited.stdout.contains("-Restart=no") && edited.stdout.contains("+Restart=on-failure"),
        "{}",
        edited.stdout
    );
    assert!(apply(&host, &dir).await?.success());

    // Container removed behind systemd's back: diff agrees with whatever systemd made of it.
    host.exec_ok(["podman", "rm", "-f", "-t", "0", &name])
        .await?;
    let systemd = host.systemd().await?;
    // Wait until systemd has settled: restarted it (Restart=on-failure) or given up.
    let settled = wait_until(
        TIMEOUT,
        "the unit to settle after its container is gone",
        || async {
            let s = systemd.unit(&unit).await?;
            let restarted = s.active_state == "active" && s.n_restarts.unwrap_or(0) > 0;
            let down = matches!(s.active_state.as_str(), "failed" | "inactive");
            Ok((restarted || down).then_some(s))
        },
    )
    .await?;
    let removed = diff(dir.path_str()).await?;
    if settled.active_state == "active" {
        assert_eq!(
            removed.status.code(),
            Some(0),
            "systemd repaired it: {}",
            removed.stdout
        );
    } else {
        assert_eq!(removed.status.code(), Some(1), "{}", removed.stdout);
        assert!(
            removed
                .stdout
                .contains(&format!("container/{name}  repair")),
            "{}",
            removed.stdout
        );
    }
    assert!(apply(&host, &dir).await?.success());

    // A changed env: exactly that field, one line of the unit.
    let changed = host.write_manifests(&[("a.yaml", &manifest("debug"))])?;
    let env = diff(changed.path_str()).await?;
    assert_eq!(env.status.code(), Some(1));
    assert!(
        env.stdout.contains("update: changed: env\n"),
        "{}",
        env.stdout
    );
    assert!(
        env.stdout.contains("-\t--env=LEVEL=info") && env.stdout.contains("+\t--env=LEVEL=debug"),
        "{}",
        env.stdout
    );
    let json = host
        .podctl(["diff", "-o", "json", "-f", &changed.path_str()])
        .await?;
    let v: serde_json::Value = serde_json::from_str(&json.stdout)?;
    assert_eq!(v["schemaVersion"], 1);
    assert_eq!(v["changes"][0]["fields"], serde_json::json!(["env"]));

    // get shows it.
    let get = host.podctl(["get", "-f", &changed.path_str()]).await?;
    assert!(get.success(), "{}", get.stderr);
    assert!(
        get.stdout.contains(&name) && get.stdout.contains("Pending"),
        "{}",
        get.stdout
    );
    host.prune_all().await
}

#[tokio::test]
async fn one_unit_systemd_cannot_enable_should_fail_alone() -> Result<()> {
    let Some(host) = TestHost::require("one_unit_systemd_cannot_enable_should_fail_alone").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let names = [
        host.unique_name("en-a"),
        host.unique_name("en-taken"),
        host.unique_name("en-c"),
    ];
    let taken = &names[1];
    // A regular file where systemd would put the unit's boot symlink (a leftover of a
    // copy by hand): EnableUnitFiles fails with UnitExists, for the whole call.
    let wants = format!("{UNIT_DIR}/multi-user.target.wants/{taken}.service");
    host.write_file(&wants, "left here by hand\n")?;
    let sleeper = |name: &str| {
        container(
            name,
            "localhost/bb:v1",
            "  args: [sleep, \"600\"]\n  network: none\n",
        )
    };
    let files: Vec<(String, String)> = names
        .iter()
        .map(|n| (format!("{n}.yaml"), sleeper(n)))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    let dir = host.write_manifests(&refs)?;
    let out = apply(&host, &dir).await;
    host.exec_ok(["rm", "-f", &wants]).await?;
    let out = out?;
    let enabled: Vec<bool> = names
        .iter()
        .map(|n| {
            host.host_path(format!("{UNIT_DIR}/multi-user.target.wants/{n}.service"))
                .is_symlink()
        })
        .collect();
    let cleanup = host.prune_all().await;

    assert_eq!(out.status.code(), Some(1), "{}{}", out.stdout, out.stderr);
    let failed = line_of(&out, &format!("container/{taken}"));
    assert!(
        failed.contains("FAILED")
            && failed.contains("cannot enable the unit")
            && failed.contains("already exists"),
        "{}",
        out.stdout
    );
    for name in [&names[0], &names[2]] {
        let line = line_of(&out, &format!("container/{name}"));
        assert!(line.contains("ok"), "{name}: {}", out.stdout);
    }
    assert_eq!(enabled, [true, false, true], "enabled a, taken, c");
    cleanup
}

#[tokio::test]
async fn a_container_too_large_for_systemd_should_be_rejected_before_anything_runs() -> Result<()> {
    let Some(host) = TestHost::require(
        "a_container_too_large_for_systemd_should_be_rejected_before_anything_runs",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let (big, small) = (host.unique_name("big"), host.unique_name("small"));
    // 12 values of 100 KiB: each fits in an argument, together they pass systemd's 1 MiB
    // line limit, which made EnableUnitFiles fail for every unit of the apply.
    let env: String = (0..12)
        .map(|i| format!("    V{i}: {}\n", "x".repeat(100 * 1024)))
        .collect();
    let dir = host.write_manifests(&[
        (
            "big.yaml",
            &container(
                &big,
                "localhost/bb:v1",
                &format!("  args: [sleep, \"600\"]\n  network: none\n  env:\n{env}"),
            ),
        ),
        (
            "small.yaml",
            &container(
                &small,
                "localhost/bb:v1",
                "  args: [sleep, \"600\"]\n  network: none\n",
            ),
        ),
    ])?;
    let out = apply(&host, &dir).await?;
    let written = [&big, &small]
        .iter()
        .filter(|n| host.host_path(format!("{UNIT_DIR}/{n}.service")).exists())
        .count();
    host.prune_all().await?;
    assert_eq!(out.status.code(), Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("big.yaml:10:5:") && out.stderr.contains("LONG_LINE_MAX"),
        "{}",
        out.stderr
    );
    assert_eq!(written, 0, "an invalid revision must change nothing");
    Ok(())
}
