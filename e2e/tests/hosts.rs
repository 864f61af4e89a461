//! `metadata.hosts` on the real test host: a host applies only the objects that choose it
//! (by name or by its labels in the host file), and `diff --host` shows another host's plan.

use anyhow::{Result, ensure};
use podctl_e2e::TestHost;

fn container(name: &str, hosts: &str) -> String {
    format!(
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata:\n  name: {name}\n{hosts}spec:\n  image: localhost/bb:v1\n  network: none\n  args: [sleep, infinity]\n  stopTimeout: 2s\n"
    )
}

#[tokio::test]
async fn a_host_should_apply_only_the_objects_that_choose_it() -> Result<()> {
    let Some(host) = TestHost::require("a_host_should_apply_only_the_objects_that_choose_it").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let (db, agent) = (
        host.unique_name("hosts-db"),
        host.unique_name("hosts-agent"),
    );
    let base = format!("/srv/{}", host.unique_name("hosts"));
    let (db_host, web_host) = (format!("{base}-db.yaml"), format!("{base}-web.yaml"));
    host.write_file(&db_host, "name: db-1\nlabels: {role: db}\n")?;
    host.write_file(&web_host, "name: web-1\nlabels: {role: web, wave: \"0\"}\n")?;
    let dir = host.write_manifests(&[
        (
            "db.yaml",
            &container(&db, "  hosts: {selector: {role: db}}\n"),
        ),
        ("agent.yaml", &container(&agent, "")),
    ])?;
    let path = dir.path_str();

    let all = host.podctl(["validate", "-f", &path]).await?;
    ensure!(
        all.success() && all.stdout.contains("2 objects"),
        "{}",
        all.stdout
    );
    let web = host
        .podctl(["validate", "--host", &web_host, "-f", &path])
        .await?;
    ensure!(
        web.success() && web.stdout.contains("1 object "),
        "{}",
        web.stdout
    );

    // Another host's plan, from this one.
    let diff = host
        .podctl(["diff", "--host", &db_host, "-f", &path])
        .await?;
    ensure!(
        diff.stdout.contains(&format!("container/{db}")),
        "{}",
        diff.stdout
    );
    let diff = host
        .podctl(["diff", "--host", &web_host, "-f", &path])
        .await?;
    ensure!(
        !diff.stdout.contains(&format!("container/{db}")),
        "{}",
        diff.stdout
    );

    let out = host
        .podctl(["apply", "--allow-empty", "--host", &web_host, "-f", &path])
        .await?;
    ensure!(out.success(), "{}{}", out.stdout, out.stderr);
    let active = |unit: String| {
        let host = &host;
        async move {
            anyhow::Ok(
                host.exec(["systemctl", "is-active", "--quiet", &unit])
                    .await?
                    .success(),
            )
        }
    };
    ensure!(
        active(format!("{agent}.service")).await?,
        "the agent is not running"
    );
    ensure!(
        !active(format!("{db}.service")).await?,
        "the db runs on a web host"
    );

    // A broken host file: its place and the fix, nothing applied.
    host.write_file(&web_host, "name: web-1\nlabel: {role: web}\n")?;
    let bad = host
        .podctl(["apply", "--allow-empty", "--host", &web_host, "-f", &path])
        .await?;
    ensure!(
        bad.status.code() == Some(2) && bad.stderr.contains(&format!("{web_host}:2:")),
        "{}",
        bad.stderr
    );
    host.prune_all().await
}
