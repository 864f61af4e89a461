//! Several test hosts and one etcd on a private network the test makes for itself
//! (`../shared/notes/fleet-network.md`): each host is a sandbox of `hack/sandbox` (its own
//! network namespace), and a namespace `podctl-fleet-PID` holds a bridge, etcd on
//! 10.250.0.1:2379 and one end of a veth pair per host (10.250.0.1N inside host N). Nothing
//! touches the machine's own network. The work directory (bare Git repository, etcd's data)
//! sits in the work tree's `target/`, which every sandbox shows at the same path.

use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tokio::process::{Child, Command};

use crate::host::{TestHost, repo_root};
use crate::wait_until;

/// etcd's client URL on the fleet's network.
pub const ETCD: &str = "http://10.250.0.1:2379";

pub struct TestFleet {
    pub hosts: Vec<TestHost>,
    names: Vec<String>,
    netns: String,
    etcd: Option<Child>,
    /// Under the work tree's target/: the same path inside every host.
    pub work: PathBuf,
}

impl TestFleet {
    /// Boots `n` hosts `fleet-PID-1..n` with the test images, the network and etcd.
    pub async fn up(n: usize) -> Result<Self> {
        let pid = std::process::id();
        let repo = repo_root();
        let names: Vec<String> = (1..=n).map(|i| format!("fleet-{pid}-{i}")).collect();
        let work = repo.join("target").join(format!("e2e-fleet-{pid}"));
        std::fs::create_dir_all(&work)?;
        let mut fleet = Self {
            hosts: Vec::new(),
            names: names.clone(),
            netns: format!("podctl-fleet-{pid}"),
            etcd: None,
            work,
        };
        // Booting takes one lock of hack/sandbox: one after the other.
        for name in &names {
            run_hack(&repo, "sandbox", &["up"], name).await?;
        }
        // The images are built in every host at once.
        let builds: Vec<_> = names
            .iter()
            .map(|name| {
                let (repo, name) = (repo.clone(), name.clone());
                tokio::spawn(async move { run_hack(&repo, "images", &[], &name).await })
            })
            .collect();
        for build in builds {
            build.await??;
        }
        for name in &names {
            fleet.hosts.push(TestHost::open(name).await?);
        }
        fleet.network().await?;
        fleet.start_etcd().await?;
        Ok(fleet)
    }

    /// The bridge namespace and one veth pair per host (see the module's comment). The
    /// bridge gets a fixed MAC address: by default it takes the lowest of its ports', so a
    /// host killed with its veth changed it, and the other hosts' ARP entries for etcd
    /// pointed nowhere for 15-30 s (seen: connect timeouts to etcd right after a kill).
    async fn network(&self) -> Result<()> {
        let ns = &self.netns;
        sh(&format!(
            "set -e; ip netns add {ns}; ip netns exec {ns} ip link set lo up; \
             ip netns exec {ns} ip link add br0 type bridge; \
             ip netns exec {ns} ip link set br0 address 02:00:0a:fa:00:01; \
             ip netns exec {ns} ip addr add 10.250.0.1/24 dev br0; ip netns exec {ns} ip link set br0 up"
        ))
        .await?;
        for (i, host) in self.hosts.iter().enumerate() {
            let n = 11 + i;
            let p = host.pid();
            sh(&format!(
                "set -e; ip netns exec {ns} ip link add h{n} type veth peer name eth0 netns {p}; \
                 ip netns exec {ns} ip link set h{n} master br0 up; \
                 nsenter -t {p} -n ip addr add 10.250.0.{n}/24 dev eth0; nsenter -t {p} -n ip link set eth0 up"
            ))
            .await?;
        }
        Ok(())
    }

    /// Host `i`'s address on the fleet's network.
    pub fn address(&self, i: usize) -> String {
        format!("10.250.0.{}", 11 + i)
    }

    /// Starts etcd (again, on the same data: a restart keeps keys and leases).
    pub async fn start_etcd(&mut self) -> Result<()> {
        let data = self.work.join("etcd");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.work.join("etcd.log"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns, "etcd", "--name", "podctl-e2e"])
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--listen-client-urls",
                ETCD,
                "--advertise-client-urls",
                ETCD,
                "--listen-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-cluster",
                "podctl-e2e=http://127.0.0.1:2380",
            ])
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("cannot start etcd (hack/install-deps installs etcd-server)")?;
        self.etcd = Some(child);
        wait_until(Duration::from_secs(30), "etcd answering", || async {
            Ok(self.etcdctl(&["endpoint", "health"]).await.ok().map(|_| ()))
        })
        .await
    }

    /// Stops etcd (SIGKILL: as a crash or a power cut would) and waits for it to be gone.
    pub async fn stop_etcd(&mut self) -> Result<()> {
        if let Some(mut child) = self.etcd.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// `etcdctl ARGS` against the fleet's etcd; stdout.
    pub async fn etcdctl(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns, "etcdctl", "--endpoints", ETCD])
            .args(["--command-timeout", "3s"])
            .args(args)
            .env("ETCDCTL_API", "3")
            .output()
            .await?;
        ensure!(
            out.status.success(),
            "etcdctl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `f` on a thread inside the fleet's network namespace (a current-thread runtime of
    /// its own): how the test itself speaks to etcd, e.g. with the etcd-client crate.
    pub fn in_network<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let path = Path::new("/run/netns").join(&self.netns);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            rustix::thread::move_into_link_name_space(
                ns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .context("setns into the fleet's network")?;
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread in the fleet's network panicked"))?
    }

    /// Pulls host `i`'s plug: SIGKILL to its PID 1 ends every process of it at once, so
    /// nothing says goodbye (no lease revoked); `down` cleans up after it.
    pub async fn power_off(&self, i: usize) -> Result<()> {
        sh(&format!("kill -KILL {}", self.hosts[i].pid())).await
    }

    /// etcd stopped, the network removed, every host powered off and its storage purged.
    pub async fn down(mut self) -> Result<()> {
        let _ = self.stop_etcd().await;
        let _ = sh(&format!("ip netns del {}", self.netns)).await;
        let mut first_error = None;
        for name in &self.names {
            if let Err(e) = run_hack(&repo_root(), "sandbox", &["down", "--purge"], name).await {
                first_error.get_or_insert(e);
            }
        }
        let _ = std::fs::remove_dir_all(&self.work);
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

async fn run_hack(repo: &Path, script: &str, args: &[&str], sandbox: &str) -> Result<()> {
    let out = Command::new(repo.join("hack").join(script))
        .args(args)
        .env("PODCTL_SANDBOX", sandbox)
        .current_dir(repo)
        .output()
        .await?;
    if !out.status.success() {
        bail!(
            "hack/{script} {} for {sandbox} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

async fn sh(script: &str) -> Result<()> {
    let out = Command::new("bash").args(["-c", script]).output().await?;
    ensure!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
