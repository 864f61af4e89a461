//! `podctl apply` of volumes, secrets, images and networks on the real test host, and the
//! pruning of what left the revision. These tests apply (and so prune): they take turns with
//! every other applying test through `TestHost::apply_turn`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use podctl_e2e::{ExecOutput, ManifestDir, TestHost, line_of};

fn doc(kind: &str, name: &str, spec: &str) -> String {
    format!("apiVersion: podctl.io/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n{spec}")
}

/// A busybox container that runs `script` with sh and then sleeps.
fn sleeper(name: &str, image: &str, script: &str, extra: &str) -> String {
    doc(
        "Container",
        name,
        &format!(
            "  image: {image}\n  stopTimeout: 2s\n  args: [sh, -c, {}]\n{extra}",
            serde_json::to_string(&format!("{script}; exec sleep 600")).unwrap_or_default()
        ),
    )
}

async fn apply(host: &TestHost, dir: &ManifestDir, extra: &[&str]) -> Result<ExecOutput> {
    let mut args = vec!["apply", "-v", "-f"];
    let path = dir.path_str();
    args.push(&path);
    args.extend_from_slice(extra);
    let out = host.podctl(&args).await?;
    eprintln!("podctl {}:\n{}{}", args.join(" "), out.stdout, out.stderr);
    Ok(out)
}

async fn exists(host: &TestHost, what: &str, name: &str) -> Result<bool> {
    Ok(host.exec(["podman", what, "exists", name]).await?.success())
}

#[tokio::test]
async fn volume_data_should_survive_replacement_and_removal_unless_reclaim_delete() -> Result<()> {
    let Some(host) = TestHost::require(
        "volume_data_should_survive_replacement_and_removal_unless_reclaim_delete",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let (kept, scratch, app) = (
        host.unique_name("kept"),
        host.unique_name("scratch"),
        host.unique_name("volapp"),
    );
    let volumes = |kept_spec: &str| {
        (
            doc("Volume", &kept, kept_spec),
            doc("Volume", &scratch, "  reclaimPolicy: Delete\n"),
        )
    };
    let app_doc = |mode: &str| {
        sleeper(
            &app,
            "localhost/bb:v1",
            &format!("echo {mode} > /kept/{mode}; echo {mode} > /scratch/{mode}"),
            &format!(
                "  volumes: [{{volume: {kept}, path: /kept}}, {{volume: {scratch}, path: /scratch}}]\n"
            ),
        )
    };
    let (k, s) = volumes("  labels: {team: e2e}\n");
    let dir = host.write_manifests(&[
        ("v.yaml", &format!("{k}---\n{s}")),
        ("a.yaml", &app_doc("one")),
    ])?;
    let out = apply(&host, &dir, &[]).await?;
    ensure!(out.success(), "first apply failed");
    ensure!(
        line_of(&out, &format!("volume/{kept}")).contains("create-volume"),
        "{}",
        out.stdout
    );
    let inspect = host.podman_json(["volume", "inspect", &kept]).await?;
    ensure!(
        inspect[0]["Labels"]["io.podctl.managed"] == "true",
        "{inspect}"
    );
    ensure!(
        inspect[0]["Labels"]["io.podctl.reclaim"] == "Retain",
        "{inspect}"
    );
    ensure!(inspect[0]["Labels"]["team"] == "e2e", "{inspect}");
    let mountpoint = inspect[0]["Mountpoint"]
        .as_str()
        .context("no Mountpoint")?
        .to_owned();
    let file = host.host_path(format!("{mountpoint}/one"));
    podctl_e2e::wait_until(
        std::time::Duration::from_secs(30),
        "the container wrote its file",
        || async { Ok(file.exists().then_some(())) },
    )
    .await?;

    // The container is replaced (env changed); the data stays.
    let dir2 = host.write_manifests(&[
        ("v.yaml", &format!("{k}---\n{s}")),
        ("a.yaml", &app_doc("two")),
    ])?;
    let out = apply(&host, &dir2, &[]).await?;
    ensure!(out.success(), "second apply failed");
    let two = host.host_path(format!("{mountpoint}/two"));
    podctl_e2e::wait_until(
        std::time::Duration::from_secs(30),
        "the new container wrote",
        || async { Ok(two.exists().then_some(())) },
    )
    .await?;
    ensure!(file.exists(), "data of the first container is gone");

    // A changed immutable option is an error that says how to migrate; nothing is deleted,
    // and the container using the volume, with nothing else to do, runs on as it is.
    let (k_opt, _) = volumes("  labels: {team: e2e}\n  options: {type: tmpfs, device: tmpfs}\n");
    let dir3 = host.write_manifests(&[
        ("v.yaml", &format!("{k_opt}---\n{s}")),
        ("a.yaml", &app_doc("two")),
    ])?;
    let out = apply(&host, &dir3, &[]).await?;
    ensure!(
        out.status.code() == Some(1),
        "a changed option must fail the apply"
    );
    let line = line_of(&out, &format!("volume/{kept}"));
    ensure!(
        line.contains("FAILED") && line.contains("podman volume export"),
        "{line}"
    );
    ensure!(
        line_of(&out, &format!("container/{app}")).contains("unchanged"),
        "{}",
        out.stdout
    );
    ensure!(file.exists(), "a changed option deleted data");

    // Manifests removed: the Retain volume and its data stay (orphaned), the Delete one goes.
    let empty = host.write_manifests(&[])?;
    let out = apply(&host, &empty, &["--allow-empty"]).await?;
    ensure!(out.success(), "removal apply failed");
    let line = line_of(&out, &format!("volume/{kept}"));
    ensure!(
        line.contains("orphaned") && line.contains("reclaimPolicy Retain"),
        "{line}"
    );
    ensure!(
        exists(&host, "volume", &kept).await?,
        "retained volume deleted"
    );
    ensure!(file.exists(), "retained data deleted");
    ensure!(
        !exists(&host, "volume", &scratch).await?,
        "Delete volume kept"
    );
    ensure!(
        line_of(&out, &format!("volume/{scratch}")).contains("remove-volume"),
        "{}",
        out.stdout
    );
    // Still reported on the next apply, never deleted.
    let out = apply(&host, &empty, &["--allow-empty"]).await?;
    ensure!(
        line_of(&out, &format!("volume/{kept}")).contains("orphaned"),
        "{}",
        out.stdout
    );
    host.exec_ok(["podman", "volume", "rm", &kept]).await?;
    host.prune_all().await
}

/// podctl owns a podman object only when it carries both of its marks, `managed` and its
/// kind: a volume someone labelled `io.podctl.managed=true` by hand (here even with
/// `reclaim=Delete`) is neither pruned with its data nor adopted by a manifest of that name.
#[tokio::test]
async fn a_volume_labelled_managed_without_its_kind_should_be_neither_pruned_nor_adopted()
-> Result<()> {
    let Some(host) = TestHost::require(
        "a_volume_labelled_managed_without_its_kind_should_be_neither_pruned_nor_adopted",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let name = host.unique_name("handmade");
    host.exec_ok([
        "podman",
        "volume",
        "create",
        "--label=io.podctl.managed=true",
        "--label=io.podctl.reclaim=Delete",
        &name,
    ])
    .await?;

    let empty = host.write_manifests(&[])?;
    let out = apply(&host, &empty, &["--allow-empty"]).await?;
    ensure!(out.success(), "pruning apply failed");
    ensure!(
        exists(&host, "volume", &name).await?,
        "a volume podctl did not create was pruned:\n{}",
        out.stdout
    );

    let dir = host.write_manifests(&[("v.yaml", &doc("Volume", &name, "  driver: local\n"))])?;
    let out = apply(&host, &dir, &[]).await?;
    ensure!(
        out.status.code() == Some(1),
        "a manifest naming a volume podctl does not own must fail the apply:\n{}",
        out.stdout
    );
    let line = line_of(&out, &format!("volume/{name}"));
    ensure!(
        line.contains("CONFLICT") && line.contains("does not manage"),
        "{line}"
    );
    host.exec_ok(["podman", "volume", "rm", &name]).await?;
    host.prune_all().await
}

#[tokio::test]
async fn secret_rotation_should_restart_exactly_its_consumers_and_never_show_the_value()
-> Result<()> {
    let Some(host) = TestHost::require(
        "secret_rotation_should_restart_exactly_its_consumers_and_never_show_the_value",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let values = [
        format!("first-secret-value-{nanos}"),
        format!("second-secret-value-{nanos}"),
        format!("env-secret-value-{nanos}"),
    ];
    let (secret, env_secret, broken) = (
        host.unique_name("pw"),
        host.unique_name("token"),
        host.unique_name("broken"),
    );
    let (consumer, bystander, blocked) = (
        host.unique_name("consumer"),
        host.unique_name("bystander"),
        host.unique_name("blocked"),
    );
    let source = format!("/tmp/{secret}.txt");
    let env_name = format!("E2E_TOKEN_{}", std::process::id());
    host.write_file(&source, &values[0])?;
    let manifests = [
        doc(
            "Secret",
            &secret,
            &format!("  source: {{file: {source}}}\n"),
        ),
        doc(
            "Secret",
            &env_secret,
            &format!("  source: {{env: {env_name}}}\n"),
        ),
        doc(
            "Secret",
            &broken,
            "  source: {file: /nonexistent/podctl-e2e-secret}\n",
        ),
        sleeper(
            &consumer,
            "localhost/bb:v1",
            "true",
            &format!(
                "  secrets: [{{secret: {secret}, path: /run/secrets/pw}}, {{secret: {env_secret}, env: TOKEN}}]\n"
            ),
        ),
        sleeper(&bystander, "localhost/bb:v1", "true", ""),
        sleeper(
            &blocked,
            "localhost/bb:v1",
            "true",
            &format!("  secrets: [{{secret: {broken}, path: /run/secrets/b}}]\n"),
        ),
    ];
    let files: Vec<(String, &str)> = manifests
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("{i}.yaml"), m.as_str()))
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, m)| (n.as_str(), *m)).collect();
    let dir = host.write_manifests(&files)?;
    let path = dir.path_str();
    let podctl = host.podctl_bin()?.to_string_lossy().into_owned();
    let env_arg = format!("{env_name}={}", values[2]);
    let run = |args: Vec<String>| {
        let mut argv = vec!["env".to_string(), env_arg.clone(), podctl.clone()];
        argv.extend(args);
        let host = &host;
        async move {
            let out = host.exec(&argv).await?;
            eprintln!("{}:\n{}{}", argv.join(" "), out.stdout, out.stderr);
            anyhow::Ok(out)
        }
    };
    let apply_args = || {
        vec![
            "apply".to_string(),
            "-vv".to_string(),
            "-f".to_string(),
            path.clone(),
        ]
    };
    let mut outputs = String::new();

    let out = run(apply_args()).await?;
    outputs.push_str(&format!("{}{}", out.stdout, out.stderr));
    ensure!(
        out.status.code() == Some(1),
        "the unreadable secret must fail the apply"
    );
    let line = line_of(&out, &format!("secret/{broken}"));
    ensure!(
        line.contains("FAILED") && line.contains("/nonexistent/podctl-e2e-secret"),
        "{line}"
    );
    ensure!(
        line_of(&out, &format!("container/{blocked}")).contains("BLOCKED"),
        "{}",
        out.stdout
    );
    ensure!(
        line_of(&out, &format!("container/{consumer}")).contains("ok"),
        "{}",
        out.stdout
    );
    let seen = host
        .exec_ok(["podman", "exec", &consumer, "cat", "/run/secrets/pw"])
        .await?;
    ensure!(seen.stdout == values[0], "consumer sees {:?}", seen.stdout);
    let env = host.exec_ok(["podman", "exec", &consumer, "env"]).await?;
    ensure!(
        env.stdout.contains(&format!("TOKEN={}", values[2])),
        "env secret missing"
    );
    let labels = host.podman_json(["secret", "inspect", &secret]).await?;
    ensure!(
        labels[0]["Spec"]["Labels"]["io.podctl.managed"] == "true",
        "{labels}"
    );

    // Rotation: the new value replaces the secret; only the consumer restarts.
    let (consumer_id, bystander_id) = (
        host.container_id(&consumer).await?,
        host.container_id(&bystander).await?,
    );
    host.write_file(&source, &values[1])?;
    for command in ["diff", "get"] {
        let out = run(vec![command.to_string(), "-f".to_string(), path.clone()]).await?;
        outputs.push_str(&format!("{}{}", out.stdout, out.stderr));
    }
    let out = run(apply_args()).await?;
    outputs.push_str(&format!("{}{}", out.stdout, out.stderr));
    ensure!(
        line_of(&out, &format!("secret/{secret}")).contains("create-secret"),
        "{}",
        out.stdout
    );
    ensure!(
        line_of(&out, &format!("container/{consumer}")).contains("secrets"),
        "{}",
        out.stdout
    );
    ensure!(
        host.container_id(&consumer).await? != consumer_id,
        "consumer not restarted"
    );
    ensure!(
        host.container_id(&bystander).await? == bystander_id,
        "bystander restarted"
    );
    let seen = host
        .exec_ok(["podman", "exec", &consumer, "cat", "/run/secrets/pw"])
        .await?;
    ensure!(
        seen.stdout == values[1],
        "consumer sees {:?} after rotation",
        seen.stdout
    );

    // The values appear nowhere: podctl's output and logs, the journal, the unit files.
    let journal = host
        .exec_ok(["journalctl", "--no-pager", "-o", "verbose"])
        .await?;
    let units = host.sh("cat /etc/systemd/system/*.service").await?;
    for value in &values {
        ensure!(
            !outputs.contains(value.as_str()),
            "a secret value leaked into podctl output"
        );
        ensure!(
            !journal.stdout.contains(value.as_str()),
            "a secret value leaked into the journal"
        );
        ensure!(
            !units.stdout.contains(value.as_str()),
            "a secret value leaked into a unit file"
        );
        // Nor can it be guessed from the world-readable hash: a dictionary loop over
        // sha256(candidate) must not find the label (the hash is keyed per host).
        let guess = host
            .exec_ok(["sh", "-c", &format!("printf %s '{value}' | sha256sum")])
            .await?;
        let unkeyed = &guess.stdout[..16];
        ensure!(
            !units.stdout.contains(unkeyed),
            "a unit file carries the unkeyed sha256 of a secret value"
        );
        let labels = host
            .sh("podman secret ls --format '{{json .}}'; podman inspect --all 2>/dev/null")
            .await?;
        ensure!(
            !labels.stdout.contains(unkeyed),
            "podman labels carry the unkeyed sha256 of a secret value"
        );
    }
    let key = host
        .exec_ok(["stat", "-c", "%a %U", "/var/lib/podctl/secret-hash.key"])
        .await?;
    ensure!(
        key.stdout.trim() == "600 root",
        "the hash key is {}",
        key.stdout.trim()
    );
    std::fs::remove_file(host.host_path(&source))?;
    host.prune_all().await?;
    let left = host.exec(["podman", "secret", "inspect", &secret]).await?;
    ensure!(!left.success(), "secret not pruned");
    Ok(())
}

#[tokio::test]
async fn images_should_pull_from_the_registry_block_only_dependents_and_be_pruned() -> Result<()> {
    let Some(host) = TestHost::require(
        "images_should_pull_from_the_registry_block_only_dependents_and_be_pruned",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let tag = host.unique_name("tag");
    let reference = format!("127.0.0.1:5000/bb:{tag}");
    host.exec_ok([
        "podman",
        "push",
        "--quiet",
        "--tls-verify=false",
        "localhost/bb:v1",
        &format!("docker://{reference}"),
    ])
    .await?;
    let _ = host.exec(["podman", "rmi", &reference]).await?;
    let (img, bad, user, needs_bad, indep) = (
        host.unique_name("img"),
        host.unique_name("bad"),
        host.unique_name("imguser"),
        host.unique_name("needsbad"),
        host.unique_name("indep"),
    );
    let manifests = |policy: &str| {
        vec![
            doc(
                "Image",
                &img,
                &format!("  ref: {reference}\n  tlsVerify: false\n  pullPolicy: {policy}\n"),
            ),
            doc(
                "Image",
                &bad,
                "  ref: 127.0.0.1:5000/bb:no-such-tag\n  tlsVerify: false\n",
            ),
            sleeper(&user, &format!("{{ref: {img}}}"), "true", ""),
            sleeper(&needs_bad, &format!("{{ref: {bad}}}"), "true", ""),
            sleeper(&indep, "localhost/bb:v1", "true", ""),
        ]
    };
    let write = |docs: Vec<String>| {
        let joined = docs.join("---\n");
        host.write_manifests(&[("all.yaml", joined.as_str())])
    };
    let dir = write(manifests("IfNotPresent"))?;
    let out = apply(&host, &dir, &[]).await?;
    ensure!(
        out.status.code() == Some(1),
        "the missing tag must fail the apply"
    );
    ensure!(
        line_of(&out, &format!("image/{img}")).contains("pull"),
        "{}",
        out.stdout
    );
    let line = line_of(&out, &format!("image/{bad}"));
    ensure!(
        line.contains("FAILED") && line.contains("cannot pull"),
        "{line}"
    );
    ensure!(
        line_of(&out, &format!("container/{needs_bad}")).contains("BLOCKED"),
        "{}",
        out.stdout
    );
    ensure!(
        line_of(&out, &format!("container/{user}")).contains("ok"),
        "{}",
        out.stdout
    );
    ensure!(
        line_of(&out, &format!("container/{indep}")).contains("ok"),
        "{}",
        out.stdout
    );
    ensure!(
        exists(&host, "image", &reference).await?,
        "image not pulled"
    );
    // Held back by its failed image: no unit file is written or enabled for it.
    ensure!(
        !host
            .exec([
                "test",
                "-e",
                &format!("/etc/systemd/system/{needs_bad}.service")
            ])
            .await?
            .success(),
        "a unit was written for a container whose image failed"
    );

    // Always: a new image behind the same tag restarts its container.
    let user_id = host.container_id(&user).await?;
    let dir = write(manifests("Always"))?;
    let out = apply(&host, &dir, &[]).await?;
    ensure!(
        host.container_id(&user).await? == user_id,
        "restarted without a new image: {}",
        out.stdout
    );
    let get = host
        .podctl(["get", "image", &img, "-f", &dir.path_str()])
        .await?;
    ensure!(
        get.stdout.contains("Converged") && get.stdout.contains("pulled again on every apply"),
        "an Always image that is present is converged: {}{}",
        get.stdout,
        get.stderr
    );
    host.exec_ok([
        "podman",
        "push",
        "--quiet",
        "--tls-verify=false",
        "localhost/bb:v2",
        &format!("docker://{reference}"),
    ])
    .await?;
    let out = apply(&host, &dir, &[]).await?;
    let line = line_of(&out, &format!("container/{user}"));
    ensure!(line.contains("restart") && line.contains("image"), "{line}");
    ensure!(
        host.container_id(&user).await? != user_id,
        "not restarted on a new image"
    );
    let version = host
        .exec_ok(["podman", "exec", &user, "cat", "/etc/bb-version"])
        .await?;
    ensure!(version.stdout.trim() == "v2", "runs {}", version.stdout);

    // Pruned with its containers; images podctl did not pull stay.
    host.prune_all().await?;
    ensure!(
        !exists(&host, "image", &reference).await?,
        "pulled image not pruned"
    );
    ensure!(
        exists(&host, "image", "localhost/bb:v1").await?,
        "pruned an image podctl did not pull"
    );
    Ok(())
}

#[tokio::test]
async fn network_change_should_recreate_it_with_its_containers_and_prune_in_order() -> Result<()> {
    let Some(host) = TestHost::require(
        "network_change_should_recreate_it_with_its_containers_and_prune_in_order",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let (net, on_net, after, bystander, secret, volume) = (
        host.unique_name("net"),
        host.unique_name("onnet"),
        host.unique_name("after"),
        host.unique_name("bystander"),
        host.unique_name("netpw"),
        host.unique_name("netvol"),
    );
    let source = format!("/tmp/{secret}.txt");
    host.write_file(&source, "not a real secret")?;
    let manifests = |subnet: &str| {
        [
            doc("Network", &net, &format!("  subnet: {subnet}\n  labels: {{team: e2e}}\n")),
            doc("Secret", &secret, &format!("  source: {{file: {source}}}\n")),
            doc("Volume", &volume, "  reclaimPolicy: Delete\n"),
            sleeper(
                &on_net,
                "localhost/bb:v1",
                "true",
                &format!(
                    "  network: {net}\n  secrets: [{{secret: {secret}, path: /run/secrets/pw}}]\n  volumes: [{{volume: {volume}, path: /data}}]\n"
                ),
            ),
            sleeper(&after, "localhost/bb:v1", "true", &format!("  dependsOn: [{on_net}]\n")),
            sleeper(&bystander, "localhost/bb:v1", "true", ""),
        ]
        .join("---\n")
    };
    let dir = host.write_manifests(&[("all.yaml", &manifests("10.89.77.0/24"))])?;
    let out = apply(&host, &dir, &[]).await?;
    ensure!(out.success(), "first apply failed");
    let ip = |name: String| {
        let host = &host;
        let net = net.clone();
        async move {
            let v = host.podman_json(["container", "inspect", &name]).await?;
            anyhow::Ok(
                v[0]["NetworkSettings"]["Networks"][&net]["IPAddress"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        }
    };
    ensure!(
        ip(on_net.clone()).await?.starts_with("10.89.77."),
        "not on the subnet"
    );
    let ids = (
        host.container_id(&on_net).await?,
        host.container_id(&after).await?,
        host.container_id(&bystander).await?,
    );

    let dir = host.write_manifests(&[("all.yaml", &manifests("10.89.78.0/24"))])?;
    let out = apply(&host, &dir, &[]).await?;
    ensure!(out.success(), "network change failed");
    let line = line_of(&out, &format!("network/{net}"));
    ensure!(
        line.contains("stop") && line.contains("remove-network") && line.contains("create-network"),
        "{line}"
    );
    ensure!(
        ip(on_net.clone()).await?.starts_with("10.89.78."),
        "not on the new subnet"
    );
    ensure!(
        host.container_id(&on_net).await? != ids.0,
        "container on the network not restarted"
    );
    ensure!(
        host.container_id(&after).await? != ids.1,
        "its dependent not started again"
    );
    ensure!(
        host.container_id(&bystander).await? == ids.2,
        "bystander restarted"
    );
    let systemd = host.systemd().await?;
    let (a, b) = (
        systemd.unit(&format!("{on_net}.service")).await?,
        systemd.unit(&format!("{after}.service")).await?,
    );
    ensure!(
        a.active_state == "active" && b.active_state == "active",
        "{a:?} {b:?}"
    );
    ensure!(
        a.active_enter_timestamp <= b.active_enter_timestamp,
        "started out of order"
    );

    // Not recreated (its containers never stopped) while something outside the manifests
    // uses it, or while a container on it could not start again.
    let running = host.container_id(&on_net).await?;
    let intruder = host.unique_name("intruder");
    host.exec_ok([
        "podman",
        "run",
        "-d",
        "--name",
        &intruder,
        "--network",
        &net,
        "localhost/bb:v1",
        "sleep",
        "600",
    ])
    .await?;
    let dir = host.write_manifests(&[("all.yaml", &manifests("10.89.79.0/24"))])?;
    let out = apply(&host, &dir, &[]).await?;
    host.exec_ok(["podman", "rm", "-f", "-t", "0", &intruder])
        .await?;
    ensure!(out.status.code() == Some(1), "a network in use must fail");
    let line = line_of(&out, &format!("network/{net}"));
    ensure!(
        line.contains("cannot be recreated") && line.contains(&intruder),
        "{line}"
    );
    ensure!(
        host.container_id(&on_net).await? == running,
        "stopped for nothing"
    );
    std::fs::rename(
        host.host_path(&source),
        host.host_path(format!("{source}.away")),
    )?;
    let out = apply(&host, &dir, &[]).await?;
    std::fs::rename(
        host.host_path(format!("{source}.away")),
        host.host_path(&source),
    )?;
    ensure!(out.status.code() == Some(1), "a missing secret must fail");
    let line = line_of(&out, &format!("network/{net}"));
    ensure!(
        line.contains("not recreated") && line.contains(&on_net),
        "{line}"
    );
    ensure!(host.container_id(&on_net).await? == running, "left down");
    ensure!(
        systemd
            .unit(&format!("{on_net}.service"))
            .await?
            .active_state
            == "active",
        "left down"
    );

    // --prune=false keeps everything and says so.
    let empty = host.write_manifests(&[])?;
    let out = apply(&host, &empty, &["--allow-empty", "--prune=false"]).await?;
    ensure!(out.success(), "--prune=false failed");
    ensure!(
        line_of(&out, &format!("network/{net}")).contains("orphaned"),
        "{}",
        out.stdout
    );
    ensure!(
        exists(&host, "network", &net).await?,
        "network removed with --prune=false"
    );
    ensure!(
        exists(&host, "container", &on_net).await?,
        "container removed with --prune=false"
    );

    // Pruning: containers first, then the secret, the network, the volume; every step
    // succeeds only in that order (podman refuses to remove a network or volume in use).
    let out = apply(&host, &empty, &["--allow-empty"]).await?;
    ensure!(out.success(), "pruning failed");
    let order: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|o| o.split('/').next())
        .filter(|k| ["container", "secret", "network", "image", "volume"].contains(k))
        .collect();
    let mut sorted = order.clone();
    let rank = |k: &&str| {
        ["container", "secret", "network", "image", "volume"]
            .iter()
            .position(|x| x == k)
    };
    sorted.sort_by_key(rank);
    ensure!(order == sorted, "pruning order {order:?}");
    ensure!(!exists(&host, "network", &net).await?, "network not pruned");
    ensure!(
        !exists(&host, "volume", &volume).await?,
        "Delete volume not pruned"
    );
    ensure!(
        !host
            .exec(["podman", "secret", "inspect", &secret])
            .await?
            .success(),
        "secret not pruned"
    );
    std::fs::remove_file(host.host_path(&source))?;
    Ok(())
}
