//! `podctl sync`: one fetch of a Git repository into the manifests link (`podctl::sync`).

use std::path::PathBuf;

use clap::Args;
use podctl::adapters::git::Credentials;
use podctl::sync::{self, SyncOptions, Synced};
use podctl_api::printable;

use super::{DEFAULT_MANIFESTS, Exit};

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
    match runtime.block_on(sync::sync(&options)) {
        Ok(Synced::Swapped { commit, previous }) => {
            let from = previous.map_or_else(String::new, |p| format!(" (was {})", short(&p)));
            println!("synced {} -> {}{from}", commit, args.dest.display());
            Ok(Exit::Ok)
        }
        Ok(Synced::UpToDate { commit }) => {
            println!("up to date: {} at {commit}", args.dest.display());
            Ok(Exit::Ok)
        }
        Err(e) => {
            let mut message = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                message.push_str(&format!(": {c}"));
                cause = c.source();
            }
            eprintln!("error: {}", printable(&message));
            tracing::error!(kind = e.kind(), "sync failed");
            Ok(Exit::Error)
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
