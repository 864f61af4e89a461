//! The test host itself: systemd over D-Bus, the local registry, and a podman container
//! as a systemd service. If these fail, no podctl e2e test can be trusted.
//!
//! Each test uses its own unit and container names, so they run in parallel threads.

use std::time::Duration;

use podctl_e2e::{TestHost, wait_until};

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn transient_unit_should_be_active_over_dbus() -> anyhow::Result<()> {
    let Some(host) = TestHost::require("transient_unit_should_be_active_over_dbus").await else {
        return Ok(());
    };
    let unit = format!("{}.service", host.unique_name("transient"));
    host.exec_ok(["systemd-run", "--quiet", "--unit", &unit, "sleep", "600"])
        .await?;

    let systemd = host.systemd().await?;
    let status = wait_until(TIMEOUT, &format!("{unit} active"), || async {
        let s = systemd.unit(&unit).await?;
        Ok((s.active_state == "active").then_some(s))
    })
    .await?;
    assert_eq!(status.load_state, "loaded");
    assert_eq!(status.sub_state, "running");
    assert!(status.active_enter_timestamp > 0, "{status:?}");
    assert_eq!(status.n_restarts, Some(0));
    assert!(status.main_pid.is_some_and(|pid| pid > 0), "{status:?}");

    host.exec_ok(["systemctl", "stop", &unit]).await?;
    let after = systemd.unit(&unit).await?;
    assert_ne!(after.active_state, "active", "{after:?}");
    Ok(())
}

#[tokio::test]
async fn image_should_pull_from_local_registry_and_run() -> anyhow::Result<()> {
    let Some(host) = TestHost::require("image_should_pull_from_local_registry_and_run").await
    else {
        return Ok(());
    };
    let image = "127.0.0.1:5000/bb:v1";
    host.exec_ok(["podman", "pull", "--quiet", image]).await?;

    let inspect = host.podman_json(["image", "inspect", image]).await?;
    let tags = &inspect[0]["RepoTags"];
    assert!(
        tags.as_array()
            .is_some_and(|t| t.iter().any(|t| t == image)),
        "{image} not among the tags after pull: {tags}"
    );

    let name = host.unique_name("pull");
    let out = host
        .exec_ok([
            "podman",
            "run",
            "--rm",
            "--name",
            &name,
            "--network",
            "none",
            image,
            "cat",
            "/etc/bb-version",
        ])
        .await?;
    assert_eq!(out.stdout.trim(), "v1");
    Ok(())
}

#[tokio::test]
async fn podman_notify_unit_should_become_active() -> anyhow::Result<()> {
    let Some(host) = TestHost::require("podman_notify_unit_should_become_active").await else {
        return Ok(());
    };
    let name = host.unique_name("ctr");
    let unit = format!("{name}.service");
    // The shape podctl renders: podman supervised by systemd, conmon's notify as readiness,
    // and the container id file removed first so a restart does not trip over a stale one.
    let unit_file = format!(
        "# Written by podctl-e2e: a podman container as a Type=notify service.
[Unit]
Description=podctl e2e {name}

[Service]
Type=notify
NotifyAccess=all
Environment=PODMAN_SYSTEMD_UNIT=%n
ExecStartPre=/bin/rm -f %t/%n.ctr-id
ExecStart=/usr/bin/podman run --sdnotify=conmon --cgroups=no-conmon --rm --replace -d \
--cidfile=%t/%n.ctr-id --name {name} --network none 127.0.0.1:5000/bb:v1 sleep 600
ExecStop=/usr/bin/podman stop --ignore --time 5 --cidfile=%t/%n.ctr-id
ExecStopPost=/usr/bin/podman rm -f --ignore --cidfile=%t/%n.ctr-id
Restart=on-failure
TimeoutStopSec=20
"
    );
    host.write_file(format!("/run/systemd/system/{unit}"), &unit_file)?;
    host.exec_ok(["systemctl", "daemon-reload"]).await?;
    host.exec_ok(["systemctl", "start", &unit]).await?;

    let systemd = host.systemd().await?;
    let status = wait_until(TIMEOUT, &format!("{unit} active"), || async {
        let s = systemd.unit(&unit).await?;
        Ok((s.active_state == "active").then_some(s))
    })
    .await?;
    assert_eq!(
        status.sub_state,
        "running",
        "{status:?}\njournal:\n{}",
        host.journal(&unit).await?
    );

    let ps = host
        .podman_json([
            "ps",
            "--filter",
            &format!("name=^{name}$"),
            "--format",
            "json",
        ])
        .await?;
    assert_eq!(ps[0]["State"], "running", "{ps}");
    // With --sdnotify=conmon, conmon is the service's main process and reports readiness.
    let inspect = host.podman_json(["container", "inspect", &name]).await?;
    assert_eq!(
        inspect[0]["State"]["ConmonPid"],
        status.main_pid.unwrap_or(0),
        "systemd's MainPID is the container's conmon: {status:?}"
    );

    host.exec_ok(["systemctl", "stop", &unit]).await?;
    let left = host
        .podman_json([
            "ps",
            "-a",
            "--filter",
            &format!("name=^{name}$"),
            "--format",
            "json",
        ])
        .await?;
    assert_eq!(
        left.as_array().map(Vec::len),
        Some(0),
        "container left after stop: {left}"
    );
    host.exec_ok(["rm", "-f", &format!("/run/systemd/system/{unit}")])
        .await?;
    host.exec_ok(["systemctl", "daemon-reload"]).await?;
    Ok(())
}

#[tokio::test]
async fn manifest_dir_should_be_visible_inside() -> anyhow::Result<()> {
    let Some(host) = TestHost::require("manifest_dir_should_be_visible_inside").await else {
        return Ok(());
    };
    let dir = host.write_manifests(&[("app/web.yaml", "kind: Container\nname: web\n")])?;
    let out = host
        .exec_ok(["cat", &format!("{}/app/web.yaml", dir.path_str())])
        .await?;
    assert_eq!(out.stdout, "kind: Container\nname: web\n");

    let failed = host.exec(["sh", "-c", "echo oops >&2; exit 7"]).await?;
    assert_eq!(failed.status.code(), Some(7));
    assert_eq!(failed.stderr, "oops\n");
    assert!(failed.ok().is_err());
    Ok(())
}
