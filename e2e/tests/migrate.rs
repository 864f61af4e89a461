//! A Compose stack imported with `podctl import compose` runs on the test host: applied,
//! both services active and healthy, the dependent started only after its dependency was
//! healthy (`depends_on: condition: service_healthy`).

use std::time::Duration;

use anyhow::Result;
use podctl_e2e::{TestHost, wait_until};

const TIMEOUT: Duration = Duration::from_secs(60);

async fn health(host: &TestHost, name: &str) -> Result<String> {
    let v = host.podman_json(["container", "inspect", name]).await?;
    let state = &v[0]["State"];
    Ok(state["Health"]["Status"]
        .as_str()
        .or(state["Healthcheck"]["Status"].as_str())
        .unwrap_or("")
        .to_owned())
}

#[tokio::test]
async fn an_imported_compose_stack_should_run_and_be_healthy() -> Result<()> {
    let Some(host) = TestHost::require("an_imported_compose_stack_should_run_and_be_healthy").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let db = host.unique_name("cdb");
    let web = host.unique_name("cweb");
    // The test images serve /health on $PORT; the host network keeps traffic on the
    // sandbox's loopback. `${DB_PORT:-18481}` is interpolated by the import.
    let compose = format!(
        r#"services:
  {db}:
    image: localhost/web:v1
    network_mode: host
    environment:
      PORT: "${{DB_PORT:-18481}}"
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:18481/health"]
      interval: 1s
      timeout: 2s
      retries: 3
    restart: always
    stop_grace_period: 5s
  {web}:
    image: localhost/web:v1
    network_mode: host
    environment:
      PORT: "18482"
    depends_on:
      {db}:
        condition: service_healthy
    healthcheck:
      test: wget -q -O /dev/null http://127.0.0.1:18482/health
      interval: 1s
      timeout: 2s
    restart: always
    stop_grace_period: 5s
"#
    );
    let src = host.write_manifests(&[("compose.yaml", &compose)])?;
    let out = format!("{}/manifests", src.path_str());
    let imported = host
        .podctl([
            "import",
            "compose",
            "--strict",
            "-o",
            &out,
            &format!("{}/compose.yaml", src.path_str()),
        ])
        .await?;
    eprintln!("podctl import:\n{}{}", imported.stdout, imported.stderr);
    assert!(imported.success(), "the import failed");
    let applied = host.podctl(["apply", "-f", &out]).await?;
    eprintln!("podctl apply:\n{}{}", applied.stdout, applied.stderr);
    assert!(applied.success(), "apply of the imported stack failed");

    let systemd = host.systemd().await?;
    for name in [&db, &web] {
        wait_until(TIMEOUT, &format!("{name} active and healthy"), || async {
            let unit = systemd.unit(&format!("{name}.service")).await?;
            let healthy = health(&host, name).await.unwrap_or_default() == "healthy";
            Ok((unit.active_state == "active" && healthy).then_some(()))
        })
        .await?;
    }
    let served = host
        .exec_ok(["wget", "-q", "-O", "-", "http://127.0.0.1:18482/health"])
        .await?;
    assert_eq!(served.stdout.trim(), "ok v1");
    // The dependent waited for the dependency's health check before it started.
    let (db_unit, web_unit) = (
        systemd.unit(&format!("{db}.service")).await?,
        systemd.unit(&format!("{web}.service")).await?,
    );
    assert!(
        db_unit.active_enter_timestamp <= web_unit.active_enter_timestamp,
        "{web} became active before {db}: {db_unit:?} {web_unit:?}"
    );
    host.prune_all().await
}
