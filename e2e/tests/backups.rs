//! Volume backups with restic on the real test host: `podctl backup run`, `backup list` and
//! `restore` against a real repository (a directory under /srv inside the sandbox). These
//! tests apply (and so prune): they take turns with every other applying test, and apply with
//! `--allow-empty` since their revisions may hold no container while another test's remain.

use std::collections::BTreeMap;

use anyhow::{Result, ensure};
use podctl_e2e::{ExecOutput, ManifestDir, TestHost};

const PASSWORD: &str = "e2e-restic-pw-Zq81";

fn doc(kind: &str, name: &str, spec: &str) -> String {
    format!("apiVersion: podctl.io/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n{spec}")
}

/// A Secret, a BackupRepository and a Volume with `backup` (`backup_extra` appended to it).
struct Setup {
    volume: String,
    repository: String,
    password_file: String,
}

impl Setup {
    fn new(host: &TestHost, what: &str) -> Result<Self> {
        let volume = host.unique_name(what);
        let base = format!("/srv/{volume}");
        let password_file = format!("{base}-pw");
        host.write_file(&password_file, PASSWORD)?;
        Ok(Self {
            repository: format!("{base}/restic"),
            password_file,
            volume,
        })
    }

    fn manifests(&self, backup_extra: &str, more: &str) -> String {
        let secret = format!("{}-pw", self.volume);
        let repo = format!("{}-repo", self.volume);
        [
            doc(
                "Secret",
                &secret,
                &format!("  source: {{file: {}}}\n", self.password_file),
            ),
            doc(
                "BackupRepository",
                &repo,
                &format!(
                    "  repository: {}\n  passwordSecret: {secret}\n",
                    self.repository
                ),
            ),
            doc(
                "Volume",
                &self.volume,
                // Delete: the cleanup prune removes it; a retained one would stay orphaned and
                // show in other tests' diffs.
                &format!(
                    "  reclaimPolicy: Delete\n  backup:\n    repository: {repo}\n{backup_extra}"
                ),
            ),
        ]
        .join("---\n")
            + more
    }
}

async fn podctl(host: &TestHost, args: &[&str]) -> Result<ExecOutput> {
    let out = host.podctl(args).await?;
    eprintln!("podctl {}:\n{}{}", args.join(" "), out.stdout, out.stderr);
    ensure!(
        !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
        "podctl printed the repository password"
    );
    Ok(out)
}

async fn ok(host: &TestHost, args: &[&str]) -> Result<ExecOutput> {
    let out = podctl(host, args).await?;
    ensure!(out.success(), "podctl {} failed", args.join(" "));
    Ok(out)
}

/// `sha256sum` of every file in the volume, by path, plus the list of directories.
async fn checksums(host: &TestHost, volume: &str) -> Result<BTreeMap<String, String>> {
    let out = host
        .sh(&format!(
            "cd \"$(podman volume inspect --format '{{{{.Mountpoint}}}}' {volume})\" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum && find . -type d | sort"
        ))
        .await?
        .ok()?;
    Ok(out
        .stdout
        .lines()
        .map(|l| match l.split_once("  ") {
            Some((sum, path)) => (path.to_owned(), sum.to_owned()),
            None => (l.to_owned(), "dir".to_owned()),
        })
        .collect())
}

async fn in_volume(host: &TestHost, volume: &str, script: &str) -> Result<ExecOutput> {
    host.sh(&format!(
        "set -e; cd \"$(podman volume inspect --format '{{{{.Mountpoint}}}}' {volume})\"; {script}"
    ))
    .await?
    .ok()
}

fn snapshot_of(out: &ExecOutput) -> Option<String> {
    let rest = out.stdout.split("snapshot ").nth(1)?;
    Some(rest.split_whitespace().next()?.to_owned())
}

#[tokio::test]
async fn restore_should_bring_back_exactly_the_files_of_the_snapshot() -> Result<()> {
    let Some(host) =
        TestHost::require("restore_should_bring_back_exactly_the_files_of_the_snapshot").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let setup = Setup::new(&host, "roundtrip")?;
    let dir: ManifestDir =
        host.write_manifests(&[("b.yaml", &setup.manifests("    consistency: none\n", ""))])?;
    let path = dir.path_str();
    ok(&host, &["apply", "--allow-empty", "-f", &path]).await?;
    let v = &setup.volume;
    in_volume(
        &host,
        v,
        "echo hello > a.txt; mkdir -p sub/deeper; head -c 300000 /dev/urandom > sub/blob.bin; \
         printf '\\000\\001\\377' > sub/deeper/bytes; echo temp > gone-before; rm gone-before; \
         echo kept > deleted-after",
    )
    .await?;
    let before = checksums(&host, v).await?;
    let out = ok(&host, &["backup", "run", v, "-f", &path]).await?;
    let snapshot = snapshot_of(&out);
    ensure!(snapshot.is_some(), "no snapshot ID in: {}", out.stdout);
    in_volume(
        &host,
        v,
        "echo changed > a.txt; rm deleted-after; rm -r sub/deeper; echo new > late.txt",
    )
    .await?;
    ensure!(
        checksums(&host, v).await? != before,
        "the changes did not change the volume"
    );
    ok(&host, &["restore", v, "-f", &path]).await?;
    let after = checksums(&host, v).await?;
    ensure!(
        after == before,
        "restored volume differs:\nbefore {before:?}\nafter  {after:?}"
    );
    ensure!(!after.contains_key("./late.txt") && after.contains_key("./deleted-after"));
    ensure!(!after.contains_key("./gone-before"));

    // --into: a new volume with the same content; the original is not touched.
    let copy = format!("{v}-copy");
    ok(&host, &["restore", v, "-f", &path, "--into", &copy]).await?;
    ensure!(
        checksums(&host, &copy).await? == before,
        "--into copy differs"
    );
    let again = podctl(&host, &["restore", v, "-f", &path, "--into", &copy]).await?;
    ensure!(
        !again.success() && again.stderr.contains("exists already"),
        "--into an existing volume must be refused"
    );
    let list = ok(&host, &["backup", "list", v, "-f", &path]).await?;
    ensure!(
        snapshot.is_some_and(|s| list.stdout.contains(&s)),
        "backup list does not show the snapshot"
    );
    host.exec(["podman", "volume", "rm", &copy]).await?;
    host.prune_all().await
}

/// A busybox container on `volume` that writes `running` to /data/state when it starts and
/// `stopped` when it gets SIGTERM.
fn consumer(name: &str, volume: &str) -> Result<String> {
    let script = "trap 'echo stopped > /data/state; exit 0' TERM; echo running > /data/state; while :; do sleep 1 & wait $!; done";
    Ok(format!(
        "---\n{}",
        doc(
            "Container",
            name,
            &format!(
                "  image: localhost/bb:v1\n  network: none\n  stopTimeout: 5s\n  args: [sh, -c, {}]\n  volumes: [{{volume: {volume}, path: /data}}]\n",
                serde_json::to_string(script)?
            ),
        )
    ))
}

/// Waits until the [`consumer`] of `volume` wrote `running` into it.
async fn consumer_running(host: &TestHost, volume: &str) -> Result<()> {
    podctl_e2e::wait_until(
        std::time::Duration::from_secs(30),
        "consumer running",
        || async {
            let state = in_volume(host, volume, "cat state 2>/dev/null || true").await?;
            Ok((state.stdout.trim() == "running").then_some(()))
        },
    )
    .await
}

/// The record `podctl backup run` left for `volume` (what `/metrics` reports).
async fn record(host: &TestHost, volume: &str) -> Result<serde_json::Value> {
    let out = host
        .exec_ok(["cat", &format!("/var/lib/podctl/backups/{volume}.json")])
        .await?;
    Ok(serde_json::from_str(&out.stdout)?)
}

async fn unit_active(host: &TestHost, unit: &str) -> Result<bool> {
    Ok(host
        .exec(["systemctl", "is-active", "--quiet", unit])
        .await?
        .success())
}

#[tokio::test]
async fn stop_consistency_should_back_up_the_volume_with_its_consumer_stopped() -> Result<()> {
    let Some(host) =
        TestHost::require("stop_consistency_should_back_up_the_volume_with_its_consumer_stopped")
            .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let setup = Setup::new(&host, "stopvol")?;
    let app = host.unique_name("stopapp");
    let unit = format!("{app}.service");
    let dir = host.write_manifests(&[(
        "b.yaml",
        &setup.manifests("    consistency: stop\n", &consumer(&app, &setup.volume)?),
    )])?;
    let path = dir.path_str();
    ok(&host, &["apply", "--allow-empty", "-f", &path]).await?;
    let v = &setup.volume;
    consumer_running(&host, v).await?;
    let first = host.container_id(&app).await?;

    // Without --stop, a restore under a running container is refused and changes nothing.
    ok(&host, &["backup", "run", v, "-f", &path]).await?;
    in_volume(&host, v, "echo precious > keep.txt").await?;
    let refused = podctl(&host, &["restore", v, "-f", &path]).await?;
    ensure!(
        !refused.success() && refused.stderr.contains("--stop"),
        "restore under a running consumer must be refused and name --stop"
    );
    ensure!(in_volume(&host, v, "cat keep.txt").await?.stdout.trim() == "precious");
    ensure!(
        unit_active(&host, &unit).await?,
        "the refused restore stopped the consumer"
    );

    // The snapshot holds `stopped`: the export ran after the consumer had stopped.
    let restored = format!("{v}-check");
    ok(&host, &["restore", v, "-f", &path, "--into", &restored]).await?;
    let state = in_volume(&host, &restored, "cat state").await?;
    host.exec(["podman", "volume", "rm", &restored]).await?;
    ensure!(
        state.stdout.trim() == "stopped",
        "snapshot state: {}",
        state.stdout
    );
    // ... and it runs again afterwards, as a new container.
    ensure!(
        unit_active(&host, &unit).await?,
        "{}",
        host.journal(&unit).await?
    );
    ensure!(
        host.container_id(&app).await? != first,
        "the consumer was not restarted"
    );

    // --stop: stopped, restored exactly (keep.txt is gone), started again.
    ok(&host, &["restore", v, "-f", &path, "--stop"]).await?;
    ensure!(
        unit_active(&host, &unit).await?,
        "{}",
        host.journal(&unit).await?
    );
    let files = in_volume(&host, v, "ls").await?;
    ensure!(
        !files.stdout.contains("keep.txt"),
        "restore merged: {}",
        files.stdout
    );
    host.prune_all().await
}

#[tokio::test]
async fn retention_should_thin_back_dated_snapshots_as_the_policy_says() -> Result<()> {
    let Some(host) =
        TestHost::require("retention_should_thin_back_dated_snapshots_as_the_policy_says").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let setup = Setup::new(&host, "retain")?;
    let dir = host.write_manifests(&[(
        "b.yaml",
        &setup.manifests(
            "    consistency: none\n    retention: {keepLast: 2, keepDaily: 3}\n",
            "",
        ),
    )])?;
    let path = dir.path_str();
    ok(&host, &["apply", "--allow-empty", "-f", &path]).await?;
    let v = &setup.volume;
    // Six snapshots 10, 9, 8, 3, 2 and 1 days old, tagged as podctl tags them.
    let restic = format!(
        "RESTIC_REPOSITORY={} RESTIC_PASSWORD_FILE={} restic",
        setup.repository, setup.password_file
    );
    let mut script =
        format!("set -e; {restic} init >/dev/null; h=$(cat /proc/sys/kernel/hostname)\n");
    for days in [10, 9, 8, 3, 2, 1] {
        script.push_str(&format!(
            "echo {days} | {restic} backup -q --stdin --stdin-filename {v}.tar --host \"$h\" --tag podctl-volume={v} --time \"$(date -d '-{days} days' '+%Y-%m-%d %H:%M:%S')\"\n"
        ));
    }
    host.sh(&script).await?.ok()?;
    ok(&host, &["backup", "run", v, "-f", &path]).await?;
    let dates = host
        .sh(&format!(
            "{restic} snapshots --json | grep -o '\"time\":\"[0-9-]*' | cut -d'\"' -f4"
        ))
        .await?
        .ok()?;
    let mut got: Vec<&str> = dates.stdout.lines().collect();
    got.sort_unstable();
    let expect = host
        .sh("for d in 2 1 0; do date -d \"-$d days\" +%Y-%m-%d; done")
        .await?
        .ok()?;
    let expect: Vec<&str> = expect.stdout.lines().collect();
    // keepLast 2: today's and yesterday's; keepDaily 3: today, -1 and -2 days.
    ensure!(
        got == expect,
        "snapshots left: {got:?}, expected {expect:?}"
    );
    host.prune_all().await
}

#[tokio::test]
async fn backup_should_fail_clearly_and_lose_nothing_on_a_wrong_password() -> Result<()> {
    let Some(host) =
        TestHost::require("backup_should_fail_clearly_and_lose_nothing_on_a_wrong_password").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let setup = Setup::new(&host, "wrongpw")?;
    let dir =
        host.write_manifests(&[("b.yaml", &setup.manifests("    consistency: none\n", ""))])?;
    let path = dir.path_str();
    ok(&host, &["apply", "--allow-empty", "-f", &path]).await?;
    let v = &setup.volume;
    in_volume(&host, v, "echo data > f").await?;
    ok(&host, &["backup", "run", v, "-f", &path]).await?;
    let good = record(&host, v).await?;
    ensure!(good["lastOutcome"] == "succeeded", "{good}");
    ensure!(
        good["lastSuccess"].as_u64() == good["lastAttempt"].as_u64(),
        "{good}"
    );
    host.write_file(&setup.password_file, "not-the-password-9x")?;
    for args in [
        vec!["backup", "run", v, "-f", &path],
        vec!["backup", "list", v, "-f", &path],
        vec!["restore", v, "-f", &path],
    ] {
        let out = podctl(&host, &args).await?;
        ensure!(
            !out.success(),
            "podctl {} succeeded with a wrong password",
            args.join(" ")
        );
        ensure!(
            out.stderr.contains("wrong password"),
            "unclear error: {}",
            out.stderr
        );
        ensure!(
            !out.stderr.contains("not-the-password-9x"),
            "the password was printed"
        );
    }
    ensure!(in_volume(&host, v, "cat f").await?.stdout.trim() == "data");
    // The failure is recorded for BackupFailed; the last good snapshot stays for BackupTooOld.
    let failed = record(&host, v).await?;
    ensure!(failed["lastOutcome"] == "failed", "{failed}");
    ensure!(failed["lastError"].is_string(), "{failed}");
    ensure!(failed["lastSuccess"] == good["lastSuccess"], "{failed}");
    ensure!(failed["snapshot"] == good["snapshot"], "{failed}");
    host.write_file(&setup.password_file, PASSWORD)?;
    let list = ok(&host, &["backup", "list", v, "-f", &path]).await?;
    ensure!(
        list.stdout.lines().count() == 2,
        "the snapshot is gone: {}",
        list.stdout
    );

    // A repository that cannot be created (its parent is a file): an error, exit non-zero.
    host.write_file(format!("/srv/{v}-file"), "x")?;
    let broken = setup
        .manifests("    consistency: none\n", "")
        .replace(&setup.repository, &format!("/srv/{v}-file/restic"));
    let dir = host.write_manifests(&[("b.yaml", &broken)])?;
    let out = podctl(&host, &["backup", "run", v, "-f", &dir.path_str()]).await?;
    ensure!(
        !out.success() && out.stderr.contains("restic"),
        "{}",
        out.stderr
    );
    host.prune_all().await
}

#[tokio::test]
async fn a_consistency_command_should_run_in_the_container_first_and_fail_the_backup_when_it_fails()
-> Result<()> {
    let Some(host) = TestHost::require(
        "a_consistency_command_should_run_in_the_container_first_and_fail_the_backup_when_it_fails",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let setup = Setup::new(&host, "cmdvol")?;
    let app = host.unique_name("cmdapp");
    let with = |command: &str| -> Result<String> {
        Ok(setup.manifests(
            &format!("    consistency: {{container: {app}, command: {command}, timeout: 30s}}\n"),
            &consumer(&app, &setup.volume)?,
        ))
    };
    // The dump names the consumer's state: it ran while the consumer ran.
    let good = with(r#"[sh, -c, "echo dumped-$(cat /data/state) > /data/dump.txt"]"#)?;
    let dir = host.write_manifests(&[("b.yaml", &good)])?;
    let path = dir.path_str();
    ok(&host, &["apply", "--allow-empty", "-f", &path]).await?;
    let v = &setup.volume;
    consumer_running(&host, v).await?;
    let container = host.container_id(&app).await?;
    ok(&host, &["backup", "run", v, "-f", &path]).await?;
    ensure!(
        host.container_id(&app).await? == container,
        "the consumer was restarted for a command consistency"
    );
    let restored = format!("{v}-check");
    ok(&host, &["restore", v, "-f", &path, "--into", &restored]).await?;
    let dump = in_volume(&host, &restored, "cat dump.txt").await?;
    host.exec(["podman", "volume", "rm", &restored]).await?;
    ensure!(
        dump.stdout.trim() == "dumped-running",
        "dump: {}",
        dump.stdout
    );

    // A failing command: exit 2 with its stderr, no snapshot stored, a failed record.
    let bad = with(r#"[sh, -c, "echo dump-broke >&2; exit 3"]"#)?;
    let dir = host.write_manifests(&[("b.yaml", &bad)])?;
    let bad_path = dir.path_str();
    let out = podctl(&host, &["backup", "run", v, "-f", &bad_path]).await?;
    ensure!(
        out.status.code() == Some(2)
            && out.stderr.contains("consistency command")
            && out.stderr.contains("dump-broke"),
        "{}",
        out.stderr
    );
    let list = ok(&host, &["backup", "list", v, "-f", &bad_path]).await?;
    ensure!(
        list.stdout.lines().count() == 2,
        "a snapshot was stored after the command failed: {}",
        list.stdout
    );
    let failed = record(&host, v).await?;
    ensure!(
        failed["lastOutcome"] == "failed" && failed["lastError"] == "consistency",
        "{failed}"
    );
    ensure!(
        host.container_id(&app).await? == container,
        "the consumer was touched"
    );
    host.prune_all().await
}

#[tokio::test]
async fn a_schedule_should_be_a_systemd_timer_that_backs_the_volume_up_and_goes_with_it()
-> Result<()> {
    let Some(host) = TestHost::require(
        "a_schedule_should_be_a_systemd_timer_that_backs_the_volume_up_and_goes_with_it",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let setup = Setup::new(&host, "timervol")?;
    let v = &setup.volume;
    let timer = format!("podctl-backup@{v}.timer");
    // Every 5 s and no randomized delay, so that systemd itself fires it within the test.
    let scheduled = setup.manifests(
        "    consistency: none\n    schedule: '*:*:0/5'\n    randomizedDelay: 0s\n",
        "",
    );
    let dir = host.write_manifests(&[("b.yaml", &scheduled)])?;
    let path = dir.path_str();
    ok(&host, &["apply", "--allow-empty", "-f", &path]).await?;
    let listed = host
        .exec_ok(["systemctl", "list-timers", "--all", "--no-pager"])
        .await?;
    ensure!(listed.stdout.contains(&timer), "{}", listed.stdout);
    ensure!(
        host.exec(["systemctl", "is-enabled", "--quiet", &timer])
            .await?
            .success(),
        "the timer is not enabled"
    );
    in_volume(&host, v, "echo timed > f").await?;
    // Fired by systemd, not by the test: the record of a successful run appears.
    let fired = podctl_e2e::wait_until(
        std::time::Duration::from_secs(90),
        "a backup run by the timer",
        || async {
            let out = host
                .exec(["cat", &format!("/var/lib/podctl/backups/{v}.json")])
                .await?;
            let done = out.success()
                && serde_json::from_str::<serde_json::Value>(&out.stdout)
                    .is_ok_and(|r| r["lastOutcome"] == "succeeded");
            Ok(done.then_some(()))
        },
    )
    .await;
    if let Err(e) = fired {
        let journal = host.journal(&format!("podctl-backup@{v}.service")).await?;
        anyhow::bail!("{e}; the service's journal:\n{journal}");
    }
    let list = ok(&host, &["backup", "list", v, "-f", &path]).await?;
    ensure!(
        list.stdout.lines().count() >= 2,
        "no snapshot: {}",
        list.stdout
    );
    // A second apply changes nothing.
    let again = ok(&host, &["diff", "-f", &path]).await?;
    ensure!(
        !again.stdout.contains(&timer),
        "diff after apply: {}",
        again.stdout
    );

    // The schedule leaves the manifest: the timer is stopped, disabled and its files gone.
    let unscheduled = setup.manifests("    consistency: none\n", "");
    let dir = host.write_manifests(&[("b.yaml", &unscheduled)])?;
    ok(&host, &["apply", "--allow-empty", "-f", &dir.path_str()]).await?;
    ensure!(
        !host
            .exec(["systemctl", "is-active", "--quiet", &timer])
            .await?
            .success(),
        "the timer still runs"
    );
    let gone = host
        .exec(["test", "-e", &format!("/etc/systemd/system/{timer}")])
        .await?;
    ensure!(!gone.success(), "the timer's file is still there");
    host.prune_all().await
}

#[tokio::test]
async fn backup_before_should_snapshot_the_volume_before_an_update_and_hold_the_update_when_it_fails()
-> Result<()> {
    let Some(host) = TestHost::require(
        "backup_before_should_snapshot_the_volume_before_an_update_and_hold_the_update_when_it_fails",
    )
    .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let setup = Setup::new(&host, "bbvol")?;
    let app = host.unique_name("bbapp");
    let v = &setup.volume;
    let on = |image: &str| -> Result<String> {
        let container = consumer(&app, v)?
            .replace(
                "  stopTimeout: 5s\n",
                "  stopTimeout: 5s\n  update: {backupBefore: true, healthGate: 1s}\n",
            )
            .replace("localhost/bb:v1", image);
        Ok(setup.manifests("    consistency: none\n", &container))
    };
    let image_of = || async {
        let out = host
            .exec_ok(["podman", "inspect", "--format", "{{.ImageName}}", &app])
            .await?;
        anyhow::Ok(out.stdout.trim().to_owned())
    };
    let record_file = format!("/var/lib/podctl/backups/{v}.json");
    let dir = host.write_manifests(&[("b.yaml", &on("localhost/bb:v1")?)])?;
    ok(&host, &["apply", "--allow-empty", "-f", &dir.path_str()]).await?;
    ensure!(
        !host.exec(["test", "-e", &record_file]).await?.success(),
        "a new container's first image was backed up"
    );
    in_volume(&host, v, "echo before-update > f").await?;

    // v1 -> v2: a snapshot first, then the rollout.
    let dir = host.write_manifests(&[("b.yaml", &on("localhost/bb:v2")?)])?;
    let path = dir.path_str();
    ok(&host, &["apply", "--allow-empty", "-f", &path]).await?;
    ensure!(image_of().await? == "localhost/bb:v2", "not updated");
    ensure!(record(&host, v).await?["lastOutcome"] == "succeeded");
    let restored = format!("{v}-check");
    ok(&host, &["restore", v, "-f", &path, "--into", &restored]).await?;
    let f = in_volume(&host, &restored, "cat f").await?;
    host.exec(["podman", "volume", "rm", &restored]).await?;
    ensure!(f.stdout.trim() == "before-update", "snapshot: {}", f.stdout);

    // A backup that fails holds the update: v2 keeps running, untouched.
    let container = host.container_id(&app).await?;
    host.write_file(&setup.password_file, "not-the-password-7q")?;
    let dir = host.write_manifests(&[("b.yaml", &on("localhost/bb:v1")?)])?;
    let out = podctl(&host, &["apply", "--allow-empty", "-f", &dir.path_str()]).await?;
    ensure!(
        !out.success() && out.stdout.contains("before the update failed"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    ensure!(
        image_of().await? == "localhost/bb:v2",
        "updated despite the failed backup"
    );
    ensure!(
        host.container_id(&app).await? == container,
        "the container was restarted"
    );
    host.write_file(&setup.password_file, PASSWORD)?;
    host.prune_all().await
}

#[tokio::test]
async fn a_corrupt_repository_should_fail_backup_and_restore_and_change_nothing() -> Result<()> {
    let Some(host) =
        TestHost::require("a_corrupt_repository_should_fail_backup_and_restore_and_change_nothing")
            .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let setup = Setup::new(&host, "corrupt")?;
    let dir =
        host.write_manifests(&[("b.yaml", &setup.manifests("    consistency: none\n", ""))])?;
    let path = dir.path_str();
    ok(&host, &["apply", "--allow-empty", "-f", &path]).await?;
    let v = &setup.volume;
    in_volume(&host, v, "echo data > f").await?;
    ok(&host, &["backup", "run", v, "-f", &path]).await?;
    // Every pack file of the repository overwritten: the snapshot's data is gone.
    host.sh(&format!(
        "set -e; for f in $(find {}/data -type f); do head -c 4096 /dev/urandom > \"$f\"; done",
        setup.repository
    ))
    .await?
    .ok()?;
    in_volume(&host, v, "echo newer > f").await?;
    let restore = podctl(&host, &["restore", v, "-f", &path]).await?;
    ensure!(
        !restore.success() && restore.stderr.contains("restic"),
        "restore from a corrupt repository: {}",
        restore.stderr
    );
    ensure!(
        in_volume(&host, v, "cat f").await?.stdout.trim() == "newer",
        "the volume was changed by a failed restore"
    );
    host.prune_all().await
}
