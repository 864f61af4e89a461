//! `podctl sync`: one Git commit of a repository becomes the manifest directory.
//!
//! The branch or tag is fetched into a bare repository under the state directory
//! (`STATE_DIR/sync/repo.git`), its commit checked (signature, when asked), its tree written
//! into a directory of its own (`STATE_DIR/sync/COMMIT`, complete before it gets that name),
//! and the manifests path (a symlink) swapped to it with one `rename`: the controller, which
//! watches the link, sees the old tree or the new one, never half of one. A failure at any
//! step leaves the link as it was. The last few checkouts are kept for a quick look back.
//!
//! Each checkout holds `.podctl-source.json` (hidden, so the loader skips it): the commit and
//! where it came from, which `get`, `/status` and the metrics show as the revision's identity
//! across hosts.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::adapters::git::{Credentials, Git, GitError};
use crate::state_file;

/// The file in a checkout that names its commit.
pub const SOURCE_FILE: &str = ".podctl-source.json";
const SOURCE_VERSION: u32 = 1;

/// What to sync, and where.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub url: String,
    /// A branch or tag of the remote; `HEAD` (its default branch) when none is given.
    pub reference: String,
    /// The manifests path: a symlink podctl swaps (made when missing).
    pub dest: PathBuf,
    /// Where the bare repository and the checkouts live.
    pub work_dir: PathBuf,
    /// How many checkouts to keep besides the current one.
    pub keep: usize,
    /// A directory inside the repository that holds the manifests (default: its root), so
    /// that files hosts must not read (host identities, CI scripts) can live beside it.
    pub path: Option<PathBuf>,
    /// An SSH allowed-signers file: commits must carry a signature of one of its keys.
    pub allowed_signers: Option<PathBuf>,
    pub credentials: Credentials,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    /// The link now points at `commit` (before: `previous`, if there was one).
    Swapped {
        commit: String,
        previous: Option<String>,
    },
    /// The link already pointed at `commit`.
    UpToDate { commit: String },
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot fetch {reference} of {url}; the manifests stay as they are")]
    Fetch {
        url: String,
        reference: String,
        #[source]
        source: GitError,
    },
    #[error(
        "commit {commit} is not signed by a key of {signers} (no signature, or another key's); refused, the manifests stay as they are"
    )]
    Signature {
        commit: String,
        signers: PathBuf,
        #[source]
        source: GitError,
    },
    #[error("cannot check commit {commit} out; the manifests stay as they are")]
    Checkout {
        commit: String,
        #[source]
        source: GitError,
    },
    #[error("cannot {what} ({path})")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{0} is a directory, not a symlink: podctl sync swaps a link and never replaces a directory; move it away (or sync to another --dest)"
    )]
    DestNotALink(PathBuf),
    #[error("cannot write {SOURCE_FILE}")]
    Source(#[source] state_file::StateFileError),
    #[error(
        "commit {commit} has no directory {path} (--path), or it is a link out of the checkout; the manifests stay as they are"
    )]
    NoPath { commit: String, path: PathBuf },
}

impl SyncError {
    /// A short label for logs and exit reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Fetch { .. } => "fetch",
            Self::Signature { .. } => "signature",
            Self::Checkout { .. } => "checkout",
            Self::Io { .. } | Self::Source(_) => "io",
            Self::DestNotALink(_) | Self::NoPath { .. } => "usage",
        }
    }
}

/// Where a checkout came from: `.podctl-source.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub version: u32,
    pub commit: String,
    /// The URL without credentials.
    pub repository: String,
    pub reference: String,
    /// Unix seconds of the sync that wrote the checkout.
    pub synced_at: u64,
}

/// The source of the manifest directory `dir`, if `podctl sync` made it.
pub fn source_of(dir: &Path) -> Option<Source> {
    state_file::read(&dir.join(SOURCE_FILE), SOURCE_VERSION)
        .ok()
        .flatten()
}

/// Fetches, checks, writes out and swaps; see the module's comment.
pub async fn sync(options: &SyncOptions) -> Result<Synced, SyncError> {
    let fetched = fetch(options).await?;
    install(options, &fetched).await
}

/// A commit fetched and checked (signature), not yet written out or linked.
#[derive(Debug)]
pub struct Fetched {
    git: Git,
    pub commit: String,
    /// The commit the manifests path points at now.
    pub current: Option<String>,
}

impl Fetched {
    /// The manifests path already shows this commit (at `--path`).
    pub fn is_current(&self, options: &SyncOptions) -> bool {
        self.current.as_deref() == Some(self.commit.as_str())
            && std::fs::read_link(&options.dest).ok().as_deref()
                == Some(target_of(options, &self.commit).as_path())
    }
}

/// Steps 1 and 2: the branch's commit, fetched and verified; the link is not touched.
pub async fn fetch(options: &SyncOptions) -> Result<Fetched, SyncError> {
    let git = Git::new(&options.work_dir.join("repo.git"));
    create_dir(&options.work_dir)?;
    let fetch_error = |source| SyncError::Fetch {
        url: redact(&options.url),
        reference: options.reference.clone(),
        source,
    };
    git.init().await.map_err(fetch_error)?;
    let commit = git
        .fetch(&options.url, &options.reference, &options.credentials)
        .await
        .map_err(fetch_error)?;
    if let Some(signers) = &options.allowed_signers {
        git.verify_commit(&commit, signers)
            .await
            .map_err(|source| SyncError::Signature {
                commit: commit.clone(),
                signers: signers.clone(),
                source,
            })?;
    }
    let current = current_commit(&options.dest, &options.work_dir)?;
    Ok(Fetched {
        git,
        commit,
        current,
    })
}

/// The directory the link points at for `commit`: the checkout, or its `--path`.
fn target_of(options: &SyncOptions, commit: &str) -> PathBuf {
    let checkout = options.work_dir.join(commit);
    match &options.path {
        Some(path) => checkout.join(path),
        None => checkout,
    }
}

/// Steps 3 to 5: writes the fetched commit out and points the manifests path at it.
pub async fn install(options: &SyncOptions, fetched: &Fetched) -> Result<Synced, SyncError> {
    let commit = fetched.commit.clone();
    if fetched.is_current(options) {
        return Ok(Synced::UpToDate { commit });
    }
    let checkout = options.work_dir.join(&commit);
    let target = target_of(options, &commit);
    if !checkout.is_dir() {
        write_checkout(&fetched.git, options, &commit, &checkout).await?;
    }
    // A link in the repository must not lead the manifests path out of the checkout (to
    // /etc, say): podctl reads the manifests as root.
    let inside = match (target.canonicalize(), checkout.canonicalize()) {
        (Ok(t), Ok(c)) => t.starts_with(c),
        _ => false,
    };
    if !target.is_dir() || !inside {
        return Err(SyncError::NoPath {
            commit,
            path: options.path.clone().unwrap_or_default(),
        });
    }
    if !target.join(SOURCE_FILE).is_file()
        && let Some(source) = source_of(&checkout)
    {
        state_file::write(&target.join(SOURCE_FILE), &source).map_err(SyncError::Source)?;
    }
    swap_link(&options.dest, &target)?;
    tracing::info!(commit = %commit, dest = %options.dest.display(), "manifests swapped to a new commit");
    prune_checkouts(&options.work_dir, &commit, options.keep);
    Ok(Synced::Swapped {
        commit,
        previous: fetched.current.clone(),
    })
}

/// The commit the link points at now (the checkout under `work_dir` it leads into); `None`
/// without a link. A directory is refused.
fn current_commit(dest: &Path, work_dir: &Path) -> Result<Option<String>, SyncError> {
    match std::fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SyncError::Io {
            what: "look at the manifests path",
            path: dest.to_owned(),
            source,
        }),
        Ok(meta) if !meta.file_type().is_symlink() => Err(SyncError::DestNotALink(dest.to_owned())),
        Ok(_) => Ok(std::fs::read_link(dest).ok().and_then(|t| {
            let inside = t.strip_prefix(work_dir).ok()?;
            let first = inside.components().next()?;
            Some(first.as_os_str().to_string_lossy().into_owned())
        })),
    }
}

/// The tree of `commit` and its source file, in a temporary directory renamed to
/// `checkout` once complete.
async fn write_checkout(
    git: &Git,
    options: &SyncOptions,
    commit: &str,
    checkout: &Path,
) -> Result<(), SyncError> {
    let tmp = options
        .work_dir
        .join(format!(".tmp-{commit}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    create_dir(&tmp)?;
    let result = async {
        git.write_tree(commit, &tmp)
            .await
            .map_err(|source| SyncError::Checkout {
                commit: commit.to_owned(),
                source,
            })?;
        let source = Source {
            version: SOURCE_VERSION,
            commit: commit.to_owned(),
            repository: redact(&options.url),
            reference: options.reference.clone(),
            synced_at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        state_file::write(&tmp.join(SOURCE_FILE), &source).map_err(SyncError::Source)?;
        std::fs::rename(&tmp, checkout).map_err(|source| SyncError::Io {
            what: "move the checkout into place",
            path: checkout.to_owned(),
            source,
        })
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Points `dest` at `target` in one step: a new link beside it, renamed over it.
fn swap_link(dest: &Path, target: &Path) -> Result<(), SyncError> {
    let parent = dest.parent().unwrap_or(Path::new("/"));
    create_dir(parent)?;
    let name = dest.file_name().map_or_else(
        || "manifests".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let io = |what, source| SyncError::Io {
        what,
        path: dest.to_owned(),
        source,
    };
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| io("make the new link", e))?;
    std::fs::rename(&tmp, dest).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("swap the link", e)
    })?;
    if let Ok(d) = std::fs::File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes all checkouts but `current` and the `keep` newest others. Best effort: a
/// checkout that cannot be removed costs disk, not correctness.
fn prune_checkouts(work_dir: &Path, current: &str, keep: usize) {
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return;
    };
    let mut others: Vec<(SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            is_commit(&name) && name != current
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    others.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, path) in others.into_iter().skip(keep) {
        if let Err(e) = std::fs::remove_dir_all(&path) {
            tracing::warn!(checkout = %path.display(), error = %e, "cannot remove an old checkout");
        }
    }
}

fn is_commit(name: &str) -> bool {
    matches!(name.len(), 40 | 64) && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn create_dir(path: &Path) -> Result<(), SyncError> {
    std::fs::create_dir_all(path).map_err(|source| SyncError::Io {
        what: "create a directory",
        path: path.to_owned(),
        source,
    })
}

/// The URL without a user or password (`https://user:token@host/…` → `https://host/…`),
/// as it may be printed and recorded.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if path.is_empty() && !rest.contains('/') {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_should_drop_credentials_from_urls() {
        assert_eq!(
            redact("https://bot:s3cret@git.example/ops/fleet.git"),
            "https://git.example/ops/fleet.git"
        );
        assert_eq!(redact("file:///srv/fleet.git"), "file:///srv/fleet.git");
        assert_eq!(redact("git@host:ops/fleet.git"), "git@host:ops/fleet.git");
    }

    #[test]
    fn a_directory_at_the_manifests_path_should_be_refused_and_a_missing_one_is_no_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            current_commit(dir.path(), dir.path()),
            Err(SyncError::DestNotALink(_))
        ));
        assert_eq!(
            current_commit(&dir.path().join("missing"), dir.path()).expect("ok"),
            None
        );
    }

    #[test]
    fn swap_should_repoint_the_link_and_prune_should_keep_the_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        for c in [&a, &b] {
            std::fs::create_dir(dir.path().join(c)).expect("mkdir");
        }
        let dest = dir.path().join("manifests");
        swap_link(&dest, &dir.path().join(&a)).expect("swap");
        assert_eq!(
            current_commit(&dest, dir.path()).expect("ok"),
            Some(a.clone())
        );
        swap_link(&dest, &dir.path().join(&b)).expect("swap");
        assert_eq!(
            current_commit(&dest, dir.path()).expect("ok"),
            Some(b.clone())
        );
        prune_checkouts(dir.path(), &b, 0);
        assert!(!dir.path().join(&a).exists());
        assert!(dir.path().join(&b).exists());
    }
}
