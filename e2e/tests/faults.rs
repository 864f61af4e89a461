//! The fault campaign: podctl killed (SIGKILL, through the failpoints of debug builds) at
//! every step of a realistic change — ten containers with a dependency chain, a volume
//! holding data, a rotated secret, a container removed — and then run again. Each time the
//! host converges, `diff` exits 0 only when the host really matches, no half-written unit
//! file or stray container remains, and the volume keeps its data. The same for the
//! controller killed mid-pass and restarted by systemd.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use podctl_e2e::{ManifestDir, TestHost, wait_until};

const UNIT_DIR: &str = "/etc/systemd/system";
const CONTROLLER: &str = "podctl.service";
const FAILPOINT_FILE: &str = "/run/podctl-e2e-failpoint";

/// One side of the change: `a` has the extra container, `b` does not; env, the secret's
/// source and so every unit differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    A,
    B,
}

impl Version {
    fn mode(self) -> &'static str {
        match self {
            Version::A => "a",
            Version::B => "b",
        }
    }

    fn other(self) -> Self {
        match self {
            Version::A => Version::B,
            Version::B => Version::A,
        }
    }
}

/// The objects of the scenario, named for this test run.
struct Scenario {
    /// c0..c8 in every version, c9 only in A.
    containers: Vec<String>,
    volume: String,
    secret: String,
    secrets_dir: String,
}

impl Scenario {
    fn new(host: &TestHost) -> Result<Self> {
        let s = Self {
            containers: (0..10)
                .map(|i| host.unique_name(&format!("f{i}")))
                .collect(),
            volume: host.unique_name("fdata"),
            secret: host.unique_name("fpw"),
            secrets_dir: format!("/tmp/{}", host.unique_name("fsecrets")),
        };
        for v in [Version::A, Version::B] {
            host.write_file(
                format!("{}/pw-{}", s.secrets_dir, v.mode()),
                &format!("secret-{}", v.mode()),
            )?;
        }
        Ok(s)
    }

    fn expected(&self, v: Version) -> &[String] {
        match v {
            Version::A => &self.containers,
            Version::B => &self.containers[..9],
        }
    }

    fn manifests(&self, v: Version) -> Vec<(String, String)> {
        let mut files = vec![
            (
                "volume.yaml".to_owned(),
                format!(
                    "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {{name: {}}}\nspec: {{reclaimPolicy: Delete}}\n",
                    self.volume
                ),
            ),
            (
                "secret.yaml".to_owned(),
                format!(
                    "apiVersion: podctl.io/v1\nkind: Secret\nmetadata: {{name: {}}}\nspec:\n  source: {{file: {}/pw-{}}}\n",
                    self.secret,
                    self.secrets_dir,
                    v.mode()
                ),
            ),
        ];
        for (i, name) in self.expected(v).iter().enumerate() {
            let mut extra = format!("  env: {{MODE: {}}}\n", v.mode());
            match i {
                0 => extra.push_str(&format!(
                    "  volumes: [{{volume: {}, path: /data}}]\n",
                    self.volume
                )),
                // A chain: c2 -> c1 -> c0, restarted by systemd with their dependency.
                1 | 2 => extra.push_str(&format!("  dependsOn: [{}]\n", self.containers[i - 1])),
                3 => extra.push_str(&format!(
                    "  secrets: [{{secret: {}, path: /run/secrets/pw}}]\n",
                    self.secret
                )),
                _ => {}
            }
            files.push((
                format!("{name}.yaml"),
                format!(
                    "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n  image: localhost/bb:v1\n  args: [sleep, \"600\"]\n  network: none\n  stopTimeout: 5s\n{extra}"
                ),
            ));
        }
        files
    }

    fn write(&self, host: &TestHost, v: Version) -> Result<ManifestDir> {
        let files = self.manifests(v);
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        host.write_manifests(&refs)
    }

    /// The host runs exactly version `v`: every container with its env and the unit's
    /// definition, the extra one only in A, the rotated secret, the volume's data.
    async fn check(&self, host: &TestHost, v: Version) -> Result<()> {
        for name in self.expected(v) {
            let c = host.podman_json(["container", "inspect", name]).await?;
            let env = c[0]["Config"]["Env"].to_string();
            ensure!(
                env.contains(&format!("MODE={}", v.mode())),
                "{name} runs {env}"
            );
            ensure!(c[0]["State"]["Running"] == true, "{name} is not running");
            let label = c[0]["Config"]["Labels"]["io.podctl.hash"]
                .as_str()
                .context("hash label")?;
            let unit =
                std::fs::read_to_string(host.host_path(format!("{UNIT_DIR}/{name}.service")))?;
            ensure!(
                unit.contains(&format!("X-Podctl-Hash={label}")),
                "{name} runs definition {label}, not its unit's"
            );
        }
        let managed = host
            .exec_ok([
                "podman",
                "ps",
                "-a",
                "--filter",
                "label=io.podctl.managed=true",
                "--format",
                "{{.Names}}",
            ])
            .await?;
        let ours: BTreeSet<&str> = managed
            .stdout
            .lines()
            .filter(|n| self.containers.iter().any(|c| c == n))
            .collect();
        let want: BTreeSet<&str> = self.expected(v).iter().map(String::as_str).collect();
        ensure!(
            ours == want,
            "managed containers {ours:?}, expected {want:?}"
        );
        let secret = host
            .exec_ok([
                "podman",
                "exec",
                &self.containers[3],
                "cat",
                "/run/secrets/pw",
            ])
            .await?;
        ensure!(
            secret.stdout == format!("secret-{}", v.mode()),
            "the secret was not rotated"
        );
        let data = host
            .exec_ok(["podman", "exec", &self.containers[0], "cat", "/data/f"])
            .await?;
        ensure!(data.stdout.trim() == "precious", "the volume lost its data");
        no_temporary_unit_files(host)
    }
}

fn no_temporary_unit_files(host: &TestHost) -> Result<()> {
    for entry in std::fs::read_dir(host.host_path(UNIT_DIR))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        ensure!(
            !name.ends_with(".podctl-tmp"),
            "half-written unit file {name} left"
        );
    }
    Ok(())
}

/// The first apply of version A, and the data written into the volume.
async fn set_up(host: &TestHost, s: &Scenario) -> Result<()> {
    let a = s.write(host, Version::A)?;
    ensure!(
        host.podctl_logged(&["apply", "-f", &a.path_str()])
            .await?
            .success()
    );
    host.exec_ok([
        "podman",
        "exec",
        &s.containers[0],
        "sh",
        "-c",
        "echo precious > /data/f",
    ])
    .await?;
    s.check(host, Version::A).await
}

/// Every failpoint, each while going to the other version; the first goes from A to B, so
/// that a container is removed there.
const KILLS: &[&str] = &[
    "remove-container",
    "pulled",
    "resource",
    "unit-written:1",
    "unit-written:6",
    "reloaded",
    "enabled",
    "started:1",
    "started:4",
];

#[tokio::test]
async fn apply_killed_at_every_step_converges_on_the_next_run() -> Result<()> {
    let Some(host) =
        TestHost::require("apply_killed_at_every_step_converges_on_the_next_run").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    // Every step of an apply has a failpoint here; a new one must join the campaign.
    for point in podctl::failpoint::POINTS {
        ensure!(
            KILLS.iter().any(|k| k.split(':').next() == Some(*point)),
            "failpoint {point} is not in the campaign"
        );
    }
    let s = Scenario::new(&host)?;
    let result = async {
        set_up(&host, &s).await?;
        let mut at = Version::A;
        for point in KILLS {
            let to = at.other();
            let dir = s.write(&host, to)?;
            let killed = host.apply_killed_at(&dir, point).await?;
            ensure!(
                !killed.success() && killed.stderr.contains(&format!("failpoint {point}")),
                "failpoint {point} did not fire going to {to:?}"
            );
            no_temporary_unit_files(&host)?;
            // diff says "no changes" only when that is true.
            let diff = host.podctl_logged(&["diff", "-f", &dir.path_str()]).await?;
            match diff.status.code() {
                Some(0) => s.check(&host, to).await.context(format!(
                    "after a kill at {point}, diff said no changes but the host differs"
                ))?,
                Some(1) => {}
                other => anyhow::bail!("diff after a kill at {point} exited {other:?}"),
            }
            let again = host
                .podctl_logged(&["apply", "-f", &dir.path_str()])
                .await?;
            ensure!(again.success(), "the apply after a kill at {point} failed");
            let diff = host.podctl_logged(&["diff", "-f", &dir.path_str()]).await?;
            ensure!(
                diff.status.code() == Some(0),
                "not converged after a kill at {point}"
            );
            s.check(&host, to)
                .await
                .with_context(|| format!("after a kill at {point} and one more apply"))?;
            at = to;
        }
        Ok(())
    }
    .await;
    host.prune_all().await?;
    result
}

/// Runs dist/podctl.service on `manifests` with a failpoint file; systemd restarts it after
/// the kill (Restart=always), and the new controller finds the file gone.
async fn start_controller(host: &TestHost, manifests: &str) -> Result<()> {
    podctl_e2e::controller::start_with_drop_in(
        host,
        manifests,
        "--resync 600",
        &format!("Environment=PODCTL_FAILPOINT_FILE={FAILPOINT_FILE}\nRestartSec=100ms\n"),
    )
    .await
}

/// Points the link `link` (a path inside the sandbox) at `to`, atomically, as a sync tool
/// does: a new link renamed over the old one.
fn swap_link(host: &TestHost, link: &str, to: &ManifestDir) -> Result<()> {
    let tmp = host.host_path(format!("{link}.new"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(to.path(), &tmp)?;
    std::fs::rename(&tmp, host.host_path(link))?;
    Ok(())
}

#[tokio::test]
async fn controller_killed_mid_pass_converges_after_its_restart() -> Result<()> {
    let Some(host) =
        TestHost::require("controller_killed_mid_pass_converges_after_its_restart").await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let s = Scenario::new(&host)?;
    // The controller reads the manifests through a link swapped like a sync tool does.
    let link = format!("/tmp/{}", host.unique_name("fctl"));
    let result = async {
        set_up(&host, &s).await?;
        let trees = [
            (Version::A, s.write(&host, Version::A)?),
            (Version::B, s.write(&host, Version::B)?),
        ];
        swap_link(&host, &link, &trees[0].1)?;
        start_controller(&host, &link).await?;
        let systemd = host.systemd().await?;
        let before = systemd.unit(CONTROLLER).await?;
        for (i, point) in ["unit-written:3", "started:2"].into_iter().enumerate() {
            host.write_file(FAILPOINT_FILE, point)?;
            let (to, tree) = &trees[(i + 1) % 2];
            swap_link(&host, &link, tree)?;
            wait_until(Duration::from_secs(60), "the failpoint fired", || async {
                Ok((!host.host_path(FAILPOINT_FILE).exists()).then_some(()))
            })
            .await?;
            wait_until(
                Duration::from_secs(120),
                "the restarted controller converged the host",
                || async { Ok(s.check(&host, *to).await.ok()) },
            )
            .await
            .with_context(|| format!("controller killed at {point}"))?;
            let diff = host
                .podctl_logged(&["diff", "-f", &tree.path_str()])
                .await?;
            ensure!(diff.status.code() == Some(0), "not converged after {point}");
        }
        let after = systemd.unit(CONTROLLER).await?;
        ensure!(
            after.active_enter_timestamp > before.active_enter_timestamp,
            "the controller was never killed and restarted"
        );
        Ok(())
    }
    .await;
    host.exec(["systemctl", "stop", CONTROLLER]).await?;
    let _ = std::fs::remove_file(host.host_path(format!("{UNIT_DIR}/{CONTROLLER}.d/50-e2e.conf")));
    let _ = std::fs::remove_file(host.host_path(FAILPOINT_FILE));
    let _ = std::fs::remove_file(host.host_path(&link));
    host.exec(["systemctl", "daemon-reload"]).await?;
    host.prune_all().await?;
    result
}
