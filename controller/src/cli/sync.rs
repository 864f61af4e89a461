//! `podctl sync`: one fetch of a Git repository into the manifests link (`podctl::sync`).

use std::path::PathBuf;

use clap::Args;
use podctl::adapters::git::Credentials;
use podctl::fleet::{self, record::GateState};
use podctl::sync::{self, SyncOptions, Synced};
use podctl_api::printable;

use super::fleet::EtcdArgs;
use super::{DEFAULT_HOST_FILE, DEFAULT_MANIFESTS, Exit};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The repository: `file:///srv/fleet.git`, `https://host/ops/fleet.git`,
    /// `ssh://git@host/ops/fleet.git`.
    #[arg(long, value_name = "URL", env = "PODCTL_SYNC_REPO")]
    pub repo: String,
    /// The branch or tag to follow (default: the repository's default branch).
    #[arg(long, value_name = "B", env = "PODCTL_SYNC_BRANCH")]
    pub branch: Option<String>,
    /// The manifests path, a symlink swapped to each new commit's checkout.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_MANIFESTS)]
    pub dest: PathBuf,
    /// A directory inside the repository holding the manifests (default: its root), so that
    /// host files and scripts beside it are not read as manifests.
    #[arg(long, value_name = "DIR", env = "PODCTL_SYNC_PATH", value_parser = relative_path)]
    pub path: Option<PathBuf>,
    /// How many earlier checkouts to keep beside the current one.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub keep: usize,
    /// An SSH allowed-signers file (`git help config`, gpg.ssh.allowedSignersFile): a commit
    /// without a signature of one of its keys is refused.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// A private key for SSH URLs.
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// The known_hosts file for SSH URLs (default: root's).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// A file holding a token for HTTPS URLs (sent as a bearer token, never on argv).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Where the bare repository and the checkouts are kept (STATE_DIR/sync).
    #[arg(long, value_name = "DIR", env = "PODCTL_STATE_DIR", default_value = podctl::reconcile::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// How long every host of the lower waves must run a new commit converged and healthy
    /// before this host takes it (with --fleet-etcd).
    #[arg(
        long = "fleet-soak",
        value_name = "DURATION",
        env = "PODCTL_FLEET_SOAK",
        default_value = "5m",
        help_heading = "Fleet (etcd)"
    )]
    pub soak: podctl_api::values::Duration,
    /// How many hosts of this host's group may take a commit at once (with --fleet-etcd;
    /// give every host the same number).
    #[arg(
        long = "fleet-max-parallel",
        value_name = "N",
        env = "PODCTL_FLEET_MAX_PARALLEL",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..),
        help_heading = "Fleet (etcd)"
    )]
    pub max_parallel: u32,
    /// This host's identity with its wave and group (with --fleet-etcd).
    #[arg(long = "host", value_name = "FILE", env = "PODCTL_HOST_FILE", default_value = DEFAULT_HOST_FILE, help_heading = "Fleet (etcd)")]
    pub host_file: PathBuf,
}

pub fn run(args: &SyncArgs) -> anyhow::Result<Exit> {
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the token file {}: {e}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let options = SyncOptions {
        url: args.repo.clone(),
        reference: args.branch.clone().unwrap_or_else(|| "HEAD".to_owned()),
        dest: args.dest.clone(),
        work_dir: args.state_dir.join("sync"),
        keep: args.keep,
        path: args.path.clone(),
        allowed_signers: args.allowed_signers.clone(),
        credentials: Credentials {
            ssh_key: args.ssh_key.clone(),
            known_hosts: args.known_hosts.clone(),
            token,
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let Some(etcd) = args.etcd.config()? else {
        let result = runtime.block_on(sync::sync(&options));
        return Ok(report(result.map(Some), args, None));
    };
    let identity = match super::read_host(&args.host_file) {
        Ok(host) => host,
        Err(exit) => return Ok(exit),
    };
    let me = match fleet::FleetHost::of(&identity) {
        Ok(me) => me,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Exit::Error);
        }
    };
    let policy = fleet::gate::Policy {
        soak: args.soak.as_std(),
        max_parallel: args.max_parallel,
    };
    let result = runtime.block_on(fleet::rollout::sync(
        &options,
        &etcd,
        &me,
        &policy,
        &args.state_dir,
    ));
    Ok(match result {
        Ok(outcome) => report(Ok(outcome.synced), args, Some(&outcome.state)),
        Err(fleet::rollout::RolloutError::Sync(e)) => report(Err(e), args, None),
        Err(e) => {
            eprintln!("error: {}", printable(&podctl::report::error_chain(&e)));
            tracing::error!(kind = e.kind(), "sync failed");
            Exit::Error
        }
    })
}

/// Prints what a sync did; the exit status. etcd unreachable is an error (exit 2): the host
/// keeps its commit, and the timer's next run tries again.
fn report(
    result: Result<Option<Synced>, sync::SyncError>,
    args: &SyncArgs,
    gate: Option<&GateState>,
) -> Exit {
    match (result, gate) {
        (Ok(_), Some(state @ GateState::Unreachable(_))) => {
            eprintln!("error: {}", printable(&state.to_string()));
            Exit::Error
        }
        (Ok(None), Some(state)) => {
            println!("held: {}", printable(&state.to_string()));
            Exit::Ok
        }
        (Ok(Some(Synced::Swapped { commit, previous })), _) => {
            let from = previous.map_or_else(String::new, |p| format!(" (was {})", short(&p)));
            println!("synced {} -> {}{from}", commit, args.dest.display());
            Exit::Ok
        }
        (Ok(Some(Synced::UpToDate { commit })), _) => {
            println!("up to date: {} at {commit}", args.dest.display());
            Exit::Ok
        }
        (Ok(None), None) => Exit::Ok,
        (Err(e), _) => {
            eprintln!("error: {}", printable(&podctl::report::error_chain(&e)));
            tracing::error!(kind = e.kind(), "sync failed");
            Exit::Error
        }
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// `--path`: inside the repository, so relative and without `..`.
fn relative_path(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    let inside = path.components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if inside && !value.is_empty() {
        Ok(path)
    } else {
        Err("a directory inside the repository: relative, without `..`".to_owned())
    }
}
