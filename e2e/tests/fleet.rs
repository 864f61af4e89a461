//! A fleet on three test hosts, one etcd and one bare Git repository (`podctl_e2e::fleet`):
//! host h1 is the canary (wave 0), h2 and h3 are wave 1 in group `web` with one slot. Every
//! host runs dist/podctl.service and dist/podctl-sync.timer (every second here) with
//! /etc/podctl/fleet.env. One scenario, in order:
//!
//! 1. a commit reaches h1 first, h2 and h3 only after h1 ran it converged for the soak, one
//!    at a time (etcd's history and the hosts' journals say so);
//! 2. a bad commit (a container that never turns healthy) stops at h1: h2 and h3 never
//!    take it, and `podctl fleet status` says why; a fixing commit rolls through;
//! 3. etcd stopped mid-rollout: h2 and h3 hold their commit and the controller still
//!    repairs drift; etcd back, the rollout resumes;
//! 4. a wave-1 host whose plug is pulled (SIGKILL to its PID 1) while it holds the group's
//!    slot blocks the other one only until its lease runs out.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use podctl_e2e::fleet::{ETCD, TestFleet};
use podctl_e2e::{TestHost, controller, wait_until};
use serde_json::Value;

const SOAK: &str = "3s";
const LEASE_TTL: &str = "6s";
const WAVES: [u32; 3] = [0, 1, 1];

/// The web container every host runs; `extra` goes under `spec`.
fn web(image: &str, extra: &str) -> String {
    format!(
        "apiVersion: podctl.io/v1
kind: Container
metadata: {{name: web}}
spec:
  image: localhost/web:{image}
  network: none
  stopTimeout: 2s
  healthCheck:
    command: [wget, -q, -O, /dev/null, \"http://127.0.0.1:8080/health\"]
    interval: 1s
    timeout: 5s
    retries: 1
  update:
    healthGate: {{timeout: 15s, watch: 2s}}
{extra}"
    )
}

/// A container that turns healthy only `seconds` after it starts: a host taking it holds
/// its slot that long.
fn slow(seconds: u32) -> String {
    format!(
        "apiVersion: podctl.io/v1
kind: Container
metadata: {{name: slow}}
spec:
  image: localhost/bb:v1
  network: none
  stopTimeout: 2s
  args: [sh, -c, \"sleep {seconds}; touch /tmp/ready; exec sleep infinity\"]
  healthCheck:
    command: [test, -f, /tmp/ready]
    interval: 1s
    retries: 1
    startPeriod: 60s
"
    )
}

/// The bare repository the hosts sync from and a work tree beside it (host-side git; the
/// paths are the same inside every host).
struct Repo {
    base: std::path::PathBuf,
}

impl Repo {
    fn url(&self) -> String {
        format!("file://{}/fleet.git", self.base.display())
    }

    async fn git(&self, args: &str) -> Result<String> {
        let out = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -e; cd {}/src; git -c user.email=e2e@podctl.test -c user.name=e2e {args}",
                self.base.display()
            ))
            .output()
            .await?;
        ensure!(
            out.status.success(),
            "git {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    async fn init(&self) -> Result<()> {
        let b = self.base.display();
        let out = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -e; git init -q --bare -b main {b}/fleet.git; git init -q -b main {b}/src; \
                 git -C {b}/src remote add origin {b}/fleet.git"
            ))
            .output()
            .await?;
        ensure!(
            out.status.success(),
            "git init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Replaces the manifests with `files`, commits, pushes; the commit.
    async fn commit(&self, message: &str, files: &[(&str, String)]) -> Result<String> {
        let src = self.base.join("src");
        for entry in std::fs::read_dir(&src)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                std::fs::remove_file(path)?;
            }
        }
        for (name, text) in files {
            std::fs::write(src.join(name), text)?;
        }
        self.git("add -A").await?;
        self.git(&format!("commit -q --allow-empty -m '{message}'"))
            .await?;
        self.git("push -q origin HEAD:main").await?;
        self.git("rev-parse HEAD").await
    }
}

/// Installs host `i`: identity, fleet.env, sync.env, the controller and the sync timer.
async fn install(fleet: &TestFleet, repo: &Repo, i: usize) -> Result<()> {
    let host = &fleet.hosts[i];
    host.write_file(
        "/etc/podctl/host.yaml",
        &format!("name: h{}\nwave: {}\ngroup: web\n", i + 1, WAVES[i]),
    )?;
    write_fleet_env(host, SOAK)?;
    host.write_file(
        "/etc/podctl/sync.env",
        &format!("PODCTL_SYNC_REPO={}\nPODCTL_SYNC_BRANCH=main\n", repo.url()),
    )?;
    controller::start(host, "/etc/podctl/manifests", "", "").await?;
    let dist = concat!(env!("CARGO_MANIFEST_DIR"), "/../dist");
    let bin = host.podctl_bin()?;
    for unit in ["podctl-sync.service", "podctl-sync.timer"] {
        host.write_file(
            format!("/etc/systemd/system/{unit}"),
            &std::fs::read_to_string(format!("{dist}/{unit}"))?,
        )?;
    }
    host.write_file(
        "/etc/systemd/system/podctl-sync.service.d/50-e2e.conf",
        &format!(
            "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=\nExecStart={} sync $PODCTL_SYNC_ARGS\n",
            bin.display()
        ),
    )?;
    // Every second, at once from boot: the production timer's minute is too slow for a test.
    host.write_file(
        "/etc/systemd/system/podctl-sync.timer.d/50-e2e.conf",
        "[Timer]\nOnBootSec=\nOnActiveSec=0\nOnUnitInactiveSec=1s\nRandomizedDelaySec=0\nAccuracySec=50ms\n",
    )?;
    host.exec_ok(["systemctl", "daemon-reload"]).await?;
    host.exec_ok(["systemctl", "start", "podctl-sync.timer"])
        .await?;
    Ok(())
}

fn write_fleet_env(host: &TestHost, soak: &str) -> Result<()> {
    host.write_file(
        "/etc/podctl/fleet.env",
        &format!(
            "PODCTL_FLEET_ETCD={ETCD}\nPODCTL_FLEET_SOAK={soak}\nPODCTL_FLEET_MAX_PARALLEL=1\nPODCTL_FLEET_LEASE_TTL={LEASE_TTL}\n"
        ),
    )
}

/// `podctl fleet status -o json`, asked on host `via`.
async fn status(fleet: &TestFleet, via: usize) -> Result<Value> {
    let out = fleet.hosts[via]
        .podctl(["fleet", "status", "-o", "json", "--fleet-etcd", ETCD])
        .await?
        .ok()?;
    serde_json::from_str(&out.stdout).context("fleet status JSON")
}

fn host_row<'a>(status: &'a Value, name: &str) -> Option<&'a Value> {
    status["hosts"]
        .as_array()?
        .iter()
        .find(|h| h["name"] == name)
}

/// Waits until every host in `names` reports `commit` converged.
async fn converged(
    fleet: &TestFleet,
    names: &[&str],
    commit: &str,
    within: Duration,
) -> Result<Value> {
    wait_until(
        within,
        &format!("{names:?} converged on {commit}"),
        || async {
            let s = status(fleet, 0).await?;
            let all = names.iter().all(|n| {
                host_row(&s, n).is_some_and(|h| h["commit"] == commit && h["state"] == "Converged")
            });
            Ok(all.then_some(s))
        },
    )
    .await
}

/// One event of etcd's history under the fleet's prefix.
#[derive(Debug, Clone)]
struct Event {
    revision: i64,
    key: String,
    /// `None` for a delete.
    value: Option<Value>,
}

/// Every put and delete under /podctl/fleet since revision 1, read with a watch from the
/// first revision up to the current one.
fn history(fleet: &TestFleet) -> Result<Vec<Event>> {
    fleet.in_network(|| async {
        use etcd_client::{Client, EventType, GetOptions, WatchOptions};
        let mut client = Client::connect([ETCD], None).await?;
        let now = client
            .get(
                "/podctl/fleet/",
                Some(GetOptions::new().with_prefix().with_count_only()),
            )
            .await?
            .header()
            .map_or(0, |h| h.revision());
        let mut stream = client
            .watch(
                "/podctl/fleet/",
                Some(WatchOptions::new().with_prefix().with_start_revision(1)),
            )
            .await?;
        let mut events = Vec::new();
        let mut last = 0;
        while last < now {
            let Some(message) =
                tokio::time::timeout(Duration::from_secs(10), stream.message()).await??
            else {
                break;
            };
            for e in message.events() {
                let Some(kv) = e.kv() else { continue };
                last = kv.mod_revision();
                events.push(Event {
                    revision: kv.mod_revision(),
                    key: kv.key_str()?.to_owned(),
                    value: match e.event_type() {
                        EventType::Put => {
                            Some(serde_json::from_slice(kv.value()).unwrap_or(Value::Null))
                        }
                        EventType::Delete => None,
                    },
                });
            }
        }
        Ok(events)
    })
}

/// The first revision at which `key` was put with `field == value` (and `commit`).
fn first_put<'a>(
    events: &'a [Event],
    key: &str,
    commit: &str,
    check: impl Fn(&Value) -> bool,
) -> Option<&'a Event> {
    events.iter().find(|e| {
        e.key == key
            && e.value
                .as_ref()
                .is_some_and(|v| (v["commit"] == commit || v["target"] == commit) && check(v))
    })
}

/// When the sync of `host` said it took `commit` (µs since the epoch, from its journal).
async fn taken_at(host: &TestHost, commit: &str) -> Result<u64> {
    let out = host
        .exec_ok([
            "journalctl",
            "-u",
            "podctl-sync.service",
            "-o",
            "json",
            "--no-pager",
        ])
        .await?;
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| {
            e["MESSAGE"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("synced {commit} -> ")))
        })
        .and_then(|e| e["__REALTIME_TIMESTAMP"].as_str()?.parse().ok())
        .with_context(|| format!("no swap to {commit} in {}'s sync journal", host.name()))
}

async fn linked_commit(host: &TestHost) -> Result<String> {
    let link = std::fs::read_link(host.host_path("/etc/podctl/manifests"))?;
    Ok(link
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| c.len() == 40)
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_should_go_wave_by_wave_stop_at_a_failing_canary_and_survive_etcd_and_host_loss()
-> Result<()> {
    let Some(_probe) = TestHost::require(
        "a_commit_should_go_wave_by_wave_stop_at_a_failing_canary_and_survive_etcd_and_host_loss",
    )
    .await
    else {
        return Ok(());
    };
    let started = std::time::Instant::now();
    let mut fleet = TestFleet::up(3).await?;
    let result = scenario(&mut fleet).await;
    let mut journals = String::new();
    if result.is_err() {
        for host in &fleet.hosts {
            for unit in ["podctl.service", "podctl-sync.service"] {
                let j = host.journal(unit).await.unwrap_or_default();
                let tail: Vec<&str> = j.lines().rev().take(40).collect();
                journals.push_str(&format!(
                    "--- {} {unit}\n{}\n",
                    host.name(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
        }
    }
    let down = fleet.down().await;
    eprintln!(
        "fleet scenario took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    result.with_context(|| format!("journals:\n{journals}"))?;
    down
}

async fn scenario(fleet: &mut TestFleet) -> Result<()> {
    let repo = Repo {
        base: fleet.work.clone(),
    };
    repo.init().await?;
    for i in 0..fleet.hosts.len() {
        install(fleet, &repo, i).await?;
    }
    let within = Duration::from_secs(90);

    // 1. Wave by wave, one slot at a time.
    let c1 = repo.commit("v1", &[("web.yaml", web("v1", ""))]).await?;
    converged(fleet, &["h1", "h2", "h3"], &c1, within).await?;
    let events = history(fleet)?;
    let canary = first_put(&events, "/podctl/fleet/hosts/h1", &c1, |v| {
        v["state"] == "Converged"
    })
    .context("h1 never reported c1 converged")?;
    let canary_since = canary
        .value
        .as_ref()
        .and_then(|v| v["since"].as_f64())
        .unwrap_or(0.0);
    let mut slots = Vec::new();
    for h in ["h2", "h3"] {
        let slot = first_put(
            &events,
            &format!("/podctl/fleet/slots/web/{h}"),
            &c1,
            |_| true,
        )
        .with_context(|| format!("{h} took no slot for c1"))?;
        ensure!(
            slot.revision > canary.revision,
            "{h} took c1 before the canary converged: {events:#?}"
        );
        let since = slot
            .value
            .as_ref()
            .and_then(|v| v["since"].as_f64())
            .unwrap_or(0.0);
        ensure!(
            since >= canary_since + 3.0,
            "{h} took c1 {:.1} s after the canary converged, before the 3 s soak",
            since - canary_since
        );
        let waited = first_put(&events, &format!("/podctl/fleet/gates/{h}"), &c1, |v| {
            v["state"] == "waiting"
        });
        ensure!(
            waited.is_some_and(|w| w.revision < slot.revision),
            "{h} never said it waited for the canary"
        );
        slots.push(slot.clone());
    }
    slots.sort_by_key(|s| s.revision);
    let first_holder = slots[0].key.clone();
    let given_back = events
        .iter()
        .find(|e| e.key == first_holder && e.value.is_none() && e.revision > slots[0].revision)
        .context("the first wave-1 host never gave its slot back")?;
    ensure!(
        given_back.revision < slots[1].revision,
        "h2 and h3 held the group's one slot at once"
    );
    let t1 = taken_at(&fleet.hosts[0], &c1).await?;
    for i in [1, 2] {
        ensure!(
            taken_at(&fleet.hosts[i], &c1).await? > t1 + 3_000_000,
            "journals: h{} swapped to c1 within the soak of h1's swap",
            i + 1
        );
    }

    // 2. A bad commit stops at the canary; a fix rolls through.
    let c2 = repo
        .commit("broken", &[("web.yaml", web("broken", ""))])
        .await?;
    let s = wait_until(within, "h2 and h3 halted on c2", || async {
        let s = status(fleet, 1).await?;
        let halted = ["h2", "h3"].iter().all(|n| {
            host_row(&s, n)
                .is_some_and(|h| h["gate"]["state"] == "halted" && h["gate"]["target"] == c2)
        });
        Ok(halted.then_some(s))
    })
    .await?;
    let why = host_row(&s, "h2")
        .map(|h| h["gate"]["reason"].to_string())
        .unwrap_or_default();
    ensure!(
        why.contains("h1 (wave 0) is Failed on") && why.contains("rolled back"),
        "halt reason: {why}"
    );
    let table = fleet.hosts[2]
        .podctl(["fleet", "status", "--fleet-etcd", ETCD])
        .await?
        .ok()?;
    ensure!(
        table.stdout.contains("halted: h1 (wave 0) is Failed"),
        "fleet status:\n{}",
        table.stdout
    );
    for i in [1, 2] {
        ensure!(
            linked_commit(&fleet.hosts[i]).await? == c1,
            "h{} left c1",
            i + 1
        );
    }
    let c3 = repo.commit("v2", &[("web.yaml", web("v2", ""))]).await?;
    converged(fleet, &["h1", "h2", "h3"], &c3, within).await?;
    let events = history(fleet)?;
    for h in ["h2", "h3"] {
        ensure!(
            first_put(
                &events,
                &format!("/podctl/fleet/slots/web/{h}"),
                &c2,
                |_| true
            )
            .is_none(),
            "{h} took a slot for the bad commit"
        );
        let swapped = first_put(&events, &format!("/podctl/fleet/hosts/{h}"), &c2, |_| true);
        ensure!(swapped.is_none(), "{h} ran the bad commit");
    }

    // 3. etcd stopped mid-rollout: hold, keep repairing, resume.
    for i in [1, 2] {
        write_fleet_env(&fleet.hosts[i], "1h")?;
    }
    let c4 = repo
        .commit(
            "v2 release 4",
            &[("web.yaml", web("v2", "  env: {RELEASE: \"4\"}\n"))],
        )
        .await?;
    converged(fleet, &["h1"], &c4, within).await?;
    fleet.stop_etcd().await?;
    for i in [1, 2] {
        let host = &fleet.hosts[i];
        let gate = host.host_path("/var/lib/podctl/fleet/gate.json");
        wait_until(within, "the sync says etcd is unreachable", || async {
            let text = std::fs::read_to_string(&gate).unwrap_or_default();
            Ok(text.contains("\"unreachable\"").then_some(()))
        })
        .await?;
        ensure!(
            linked_commit(host).await? == c3,
            "h{} moved while etcd was down",
            i + 1
        );
        // Drift: web stopped by hand. The controller may start it again before the stop
        // job ends (systemctl then says the job was canceled): that is the repair too.
        let repairs = || async {
            let journal = host.journal("podctl.service").await?;
            Ok::<_, anyhow::Error>(journal.matches("drift repaired: container/web").count())
        };
        let before = repairs().await?;
        let stop = host.exec(["systemctl", "stop", "web.service"]).await?;
        ensure!(
            stop.success() || stop.stderr.contains("canceled"),
            "systemctl stop web.service: {}",
            stop.stderr
        );
        wait_until(
            within,
            "the controller repairs web.service while etcd is down",
            || async {
                let active = host.exec(["systemctl", "is-active", "web.service"]).await?;
                Ok((active.stdout.trim() == "active" && repairs().await? > before).then_some(()))
            },
        )
        .await?;
        write_fleet_env(host, SOAK)?;
    }
    fleet.start_etcd().await?;
    converged(fleet, &["h1", "h2", "h3"], &c4, within).await?;

    // 4. A host powered off while it holds the slot blocks the other only for its lease.
    let c5 = repo
        .commit(
            "slow",
            &[
                ("web.yaml", web("v2", "  env: {RELEASE: \"4\"}\n")),
                ("slow.yaml", slow(20)),
            ],
        )
        .await?;
    converged(fleet, &["h1"], &c5, within).await?;
    let holder = wait_until(within, "a wave-1 host holds the slot for c5", || async {
        let s = status(fleet, 0).await?;
        let holder = s["slots"]["web"].as_array().and_then(|slots| {
            slots
                .iter()
                .find(|x| x["commit"] == c5 && x["host"] != "h1")
                .and_then(|x| x["host"].as_str().map(str::to_owned))
        });
        Ok(holder)
    })
    .await?;
    let (dead, other) = if holder == "h2" { (1, "h3") } else { (2, "h2") };
    fleet.power_off(dead).await?;
    let off = std::time::Instant::now();
    wait_until(within, "the other wave-1 host takes the slot", || async {
        let s = status(fleet, 0).await?;
        let taken = s["slots"]["web"].as_array().is_some_and(|slots| {
            slots
                .iter()
                .any(|x| x["commit"] == c5 && x["host"] == other)
        });
        Ok(taken.then_some(()))
    })
    .await?;
    let took = off.elapsed();
    eprintln!(
        "{other} took the slot {:.1} s after {holder} was powered off",
        took.as_secs_f64()
    );
    // The lease (6 s, renewed every 2 s) keeps the slot a while, then a sync run or two;
    // a dead holder must not block for longer.
    ensure!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "{other} waited {took:?} for the dead host's slot (its lease: {LEASE_TTL})"
    );
    converged(fleet, &[other], &c5, within).await?;
    let s = status(fleet, 0).await?;
    ensure!(
        host_row(&s, &holder).is_none(),
        "{holder} still reported after its lease"
    );
    eprintln!(
        "the other wave-1 host converged {:.1} s after {holder} was powered off",
        off.elapsed().as_secs_f64()
    );
    Ok(())
}
