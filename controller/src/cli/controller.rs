//! `podctl controller`: parses the options of the long-running reconciler and runs it
//! (`podctl::controller` holds the loop).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{Exit, HostArgs, LockArgs, ManifestArgs, RolloutArgs};
use podctl::controller::{self, Config};

#[derive(Debug, Args)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub rollouts: RolloutArgs,
    /// Where to serve /metrics, /healthz and /readyz over TCP (any local user may connect);
    /// `off` to serve nothing there.
    #[arg(long, value_name = "ADDR", env = "PODCTL_METRICS_ADDRESS", default_value = controller::DEFAULT_METRICS_ADDRESS)]
    pub metrics_address: String,
    /// The unix socket (mode 0600, root only) that serves /status, which `podctl get` reads;
    /// `off` to serve it nowhere.
    #[arg(long, value_name = "PATH", env = "PODCTL_STATUS_SOCKET", default_value = controller::http::DEFAULT_STATUS_SOCKET)]
    pub status_socket: PathBuf,
    /// Seconds between full resyncs that repair drift even without events.
    #[arg(long, value_name = "SECONDS", env = "PODCTL_RESYNC", default_value_t = controller::DEFAULT_RESYNC.as_secs_f64())]
    pub resync: f64,
    /// Milliseconds the manifest directory must be quiet before it is read (2 s while a
    /// file of it is still open for writing).
    #[arg(long, value_name = "MS", default_value_t = controller::DEFAULT_DEBOUNCE.as_millis() as u64)]
    pub debounce_ms: u64,
    #[command(flatten)]
    pub lock: LockArgs,
    /// Seconds SIGTERM waits for the reconcile pass in flight before abandoning it.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub shutdown_grace: f64,
    /// Apply an empty revision even though it removes every container podctl manages.
    #[arg(long)]
    pub allow_empty: bool,
    /// How often to look for new images of containers with `update.policy: registry` or
    /// `local` (e.g. `1h`, `30m`): the first check after the random delay, then this long
    /// after each check ended plus the random delay.
    #[arg(
        long,
        value_name = "DURATION",
        env = "PODCTL_UPDATE_INTERVAL",
        default_value = "1h"
    )]
    pub update_interval: podctl_api::values::Duration,
    /// Up to how long each update check is delayed at random, so that hosts do not ask a
    /// registry all at once (`0s`: no delay).
    #[arg(
        long,
        value_name = "DURATION",
        env = "PODCTL_UPDATE_JITTER",
        default_value = "5m"
    )]
    pub update_jitter: podctl_api::values::Duration,
    #[command(flatten)]
    pub etcd: super::fleet::EtcdArgs,
    /// How long this host's report outlives the controller in etcd when it stops answering
    /// (a powered-off host stops counting for the rollout after this long).
    #[arg(
        long = "fleet-lease-ttl",
        value_name = "DURATION",
        env = "PODCTL_FLEET_LEASE_TTL",
        default_value = "15s",
        help_heading = "Fleet (etcd)"
    )]
    pub lease_ttl: podctl_api::values::Duration,
}

pub fn run(args: &ControllerArgs) -> anyhow::Result<Exit> {
    let metrics_address: Option<SocketAddr> = match args.metrics_address.as_str() {
        "off" | "" => None,
        a => Some(a.parse().map_err(|e| {
            anyhow::anyhow!(
                "--metrics-address {a}: {e} (expected IP:PORT, e.g. 127.0.0.1:9883, or off)"
            )
        })?),
    };
    let seconds = |what: &str, s: f64| {
        Duration::try_from_secs_f64(s).map_err(|e| anyhow::anyhow!("{what} {s}: {e}"))
    };
    let resync = seconds("--resync", args.resync)?;
    anyhow::ensure!(
        resync >= Duration::from_secs(1),
        "--resync must be at least 1 second"
    );
    anyhow::ensure!(
        args.update_interval.as_std() >= Duration::from_secs(1),
        "--update-interval must be at least 1 second"
    );
    let load_options = match args.manifests.load_options() {
        Ok(o) => o,
        Err(exit) => return Ok(exit),
    };
    let fleet = match args.etcd.config()? {
        None => None,
        Some(etcd) => {
            anyhow::ensure!(
                args.lease_ttl.as_std() >= Duration::from_secs(3),
                "--fleet-lease-ttl must be at least 3 seconds"
            );
            let identity = load_options.host.clone().unwrap_or_default();
            Some(podctl::fleet::reporter::ReporterConfig {
                host: podctl::fleet::FleetHost::of(&identity)?,
                etcd,
                lease_ttl: args.lease_ttl.as_std(),
                manifests: args.manifests.dir.clone(),
                state_dir: args.host.state_dir.clone(),
            })
        }
    };
    let config = Config {
        manifests: args.manifests.dir.clone(),
        host_file: args.manifests.host_file.clone(),
        load_options,
        host: args.rollouts.config(&args.host),
        metrics_address,
        status_socket: (args.status_socket.as_os_str() != "off")
            .then(|| args.status_socket.clone()),
        lock_file: args.lock.lock_file.clone(),
        lock_timeout: args.lock.lock_timeout.as_std(),
        resync,
        debounce: Duration::from_millis(args.debounce_ms),
        shutdown_grace: seconds("--shutdown-grace", args.shutdown_grace)?,
        allow_empty: args.allow_empty,
        update_timer: controller::update_timer::UpdateTimer::new(
            args.update_interval.as_std(),
            args.update_jitter.as_std(),
        ),
        fleet,
    };
    // Two workers: the loop and the pass in flight; podman and systemd do the heavy work.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(controller::run(config, CancellationToken::new()))?;
    Ok(Exit::Ok)
}
