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

#[tokio::test]
async fn a_variant_should_reach_only_the_hosts_of_its_group() -> Result<()> {
    let Some(host) = TestHost::require("a_variant_should_reach_only_the_hosts_of_its_group").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let web = host.unique_name("variant-web");
    let base = format!("/srv/{}", host.unique_name("variant"));
    let (canary, rest) = (format!("{base}-canary.yaml"), format!("{base}-rest.yaml"));
    host.write_file(&canary, "name: web-1\nlabels: {wave: \"0\"}\n")?;
    host.write_file(&rest, "name: web-2\nlabels: {wave: \"1\"}\n")?;
    let variant = |wave: &str, tag: &str| {
        container(
            &web,
            &format!("  hosts: {{selector: {{wave: \"{wave}\"}}}}\n"),
        )
        .replace("localhost/bb:v1", &format!("localhost/bb:{tag}"))
    };
    let dir = host.write_manifests(&[
        ("web-canary.yaml", &variant("0", "v2")),
        ("web.yaml", &variant("1", "v1")),
    ])?;
    let path = dir.path_str();
    // By image ID: units run their image by ID, and one ID has several names here.
    let id = |args: Vec<&str>| {
        let host = &host;
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        async move { anyhow::Ok(host.exec_ok(args).await?.stdout.trim().to_owned()) }
    };
    for (file, want) in [(&canary, "localhost/bb:v2"), (&rest, "localhost/bb:v1")] {
        let out = host
            .podctl(["apply", "--allow-empty", "--host", file, "-f", &path])
            .await?;
        ensure!(out.success(), "{}{}", out.stdout, out.stderr);
        let runs = id(vec!["podman", "inspect", "--format", "{{.Image}}", &web]).await?;
        let wanted = id(vec![
            "podman", "image", "inspect", "--format", "{{.Id}}", want,
        ])
        .await?;
        ensure!(runs == wanted, "{file}: runs {runs}, not {want} ({wanted})");
    }
    host.prune_all().await
}
