//! Watches the manifest directory (inotify through `notify`) and says "changed" once the
//! tree has been quiet for the debounce time and no file of it is still being written, so a
//! tree being written is not read half-way.
//!
//! "Being written": a file created or modified whose writer has not closed it yet
//! (`IN_CLOSE_WRITE`). While one is, the quiet time is [`WRITING_QUIET`] instead: a slow
//! writer (a copy over the network, a script that pauses) holds the load back, while the
//! common atomic swaps (an editor's rename, `git checkout`, `podctl sync`'s link swap) are
//! picked up after the short debounce alone.
//!
//! The directory may be a symlink that a sync tool swaps atomically (git-sync): the parent
//! directory is watched for the swap, and the link's target is watched recursively and
//! re-resolved after every swap.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The quiet time while a file of the tree is open for writing: longer than any pause of a
/// working writer, short enough that a writer that never closes (a crashed one) only
/// delays the load.
pub const WRITING_QUIET: Duration = Duration::from_secs(2);

/// The running watcher; dropping it stops watching.
pub struct ManifestWatch {
    task: JoinHandle<()>,
}

impl Drop for ManifestWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {path}: {source}")]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
}

/// Starts watching `dir`; the receiver gets `()` after every burst of changes, once the
/// tree has been quiet for `quiet`.
pub fn watch(
    dir: &Path,
    quiet: Duration,
) -> Result<(ManifestWatch, mpsc::Receiver<()>), WatchError> {
    let (raw_tx, raw_rx) = mpsc::unbounded_channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(move |event| {
        // The receiver is gone only when the watch is dropped.
        let _ = raw_tx.send(event);
    })
    .map_err(|source| WatchError::Watch {
        path: dir.to_path_buf(),
        source,
    })?;
    // The parent sees the directory (or its symlink) appear, vanish or be swapped.
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    watcher
        .watch(&parent, RecursiveMode::NonRecursive)
        .map_err(|source| WatchError::Watch {
            path: parent.clone(),
            source,
        })?;
    let mut targets = Targets {
        dir: dir.to_path_buf(),
        watched: None,
        links: vec![dir.to_path_buf()],
        link_parents: std::collections::BTreeSet::from([parent]),
    };
    targets.rewatch(&mut watcher);

    let (tx, rx) = mpsc::channel(1);
    let (relevant_tx, relevant_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let forward = async {
            let mut raw_rx = raw_rx;
            let mut writing = Writing::default();
            while let Some(event) = raw_rx.recv().await {
                match event {
                    Ok(event) if is_close_write(&event) => {
                        if !writing.closed(&event) {
                            continue;
                        }
                    }
                    Ok(event) if !targets.is_relevant(&event) => continue,
                    Ok(event) => {
                        tracing::trace!(?event, "manifest change");
                        writing.changed(&event);
                    }
                    Err(e) => tracing::warn!(error = %e, "manifest watch error; re-reading"),
                }
                targets.rewatch(&mut watcher);
                if relevant_tx.send(writing.any()).is_err() {
                    break;
                }
            }
        };
        tokio::join!(forward, debounce(relevant_rx, quiet, tx));
    });
    Ok((ManifestWatch { task }, rx))
}

fn is_close_write(event: &notify::Event) -> bool {
    matches!(
        event.kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// The files of the tree created or modified and not closed yet by their writer.
#[derive(Default)]
struct Writing(std::collections::BTreeSet<PathBuf>);

impl Writing {
    /// Takes note of a relevant change.
    fn changed(&mut self, event: &notify::Event) {
        match event.kind {
            EventKind::Create(CreateKind::File) | EventKind::Modify(ModifyKind::Data(_)) => {
                self.0.extend(event.paths.iter().cloned());
            }
            // Gone or renamed away: nothing more will be written under that name.
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)) => {
                for path in &event.paths {
                    self.0.remove(path);
                }
            }
            _ => {}
        }
    }

    /// A writer closed `event`'s file; `true` if that was one being written.
    fn closed(&mut self, event: &notify::Event) -> bool {
        let mut any = false;
        for path in &event.paths {
            any |= self.0.remove(path);
        }
        any
    }

    fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

/// The directory and the target currently watched recursively.
struct Targets {
    dir: PathBuf,
    watched: Option<PathBuf>,
    /// The directory and every symlink it resolves through (git-sync swaps its own link
    /// behind the one an operator made): a swap of any of them is a new tree.
    links: Vec<PathBuf>,
    /// The folders holding those links, watched non-recursively.
    link_parents: std::collections::BTreeSet<PathBuf>,
}

/// `dir`, then each path its symlinks lead to, hop by hop (at most 40, as the kernel).
fn symlink_chain(dir: &Path) -> Vec<PathBuf> {
    let mut chain = vec![dir.to_path_buf()];
    let mut at = dir.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&at) else {
            break;
        };
        let next = at.parent().unwrap_or(Path::new("/")).join(target);
        chain.push(next.clone());
        at = next;
    }
    chain
}

impl Targets {
    /// Resolves the directory again and moves the watches if its links or target changed.
    fn rewatch(&mut self, watcher: &mut notify::RecommendedWatcher) {
        let links = symlink_chain(&self.dir);
        let parents: std::collections::BTreeSet<PathBuf> = links
            .iter()
            .filter_map(|l| l.parent().map(Path::to_path_buf))
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        for gone in self.link_parents.difference(&parents) {
            let _ = watcher.unwatch(gone);
        }
        for new in parents.difference(&self.link_parents) {
            if let Err(e) = watcher.watch(new, RecursiveMode::NonRecursive) {
                tracing::warn!(error = %e, path = %new.display(), "cannot watch");
            }
        }
        self.link_parents = parents;
        self.links = links;
        let resolved = std::fs::canonicalize(&self.dir).ok();
        if resolved == self.watched {
            return;
        }
        if let Some(old) = self.watched.take() {
            let _ = watcher.unwatch(&old);
        }
        if let Some(new) = resolved {
            match watcher.watch(&new, RecursiveMode::Recursive) {
                Ok(()) => {
                    tracing::debug!(target = %new.display(), "watching manifests");
                    self.watched = Some(new);
                }
                Err(e) => tracing::warn!(error = %e, path = %new.display(), "cannot watch"),
            }
        }
    }

    /// Reads are not changes (our own reads would loop); in the parent only the entry of the
    /// directory itself matters; inside the tree, hidden paths (`.git`) are ignored.
    fn is_relevant(&self, event: &notify::Event) -> bool {
        if matches!(event.kind, EventKind::Access(_)) {
            return false;
        }
        event.paths.iter().any(|p| {
            if self
                .links
                .iter()
                .any(|l| p == l || p.file_name() == l.file_name() && p.parent() == l.parent())
            {
                return true;
            }
            match &self.watched {
                Some(root) => p
                    .strip_prefix(root)
                    .is_ok_and(|rel| !rel.components().any(is_hidden)),
                None => false,
            }
        })
    }
}

fn is_hidden(c: Component<'_>) -> bool {
    matches!(c, Component::Normal(n) if n.as_encoded_bytes().starts_with(b"."))
}

/// Sends one `()` on `out` after each burst of items on `input` followed by `quiet` without
/// any, or [`WRITING_QUIET`] when the last item said a file is still being written (`true`);
/// ends when `input` closes or `out` is dropped.
pub async fn debounce(
    mut input: mpsc::UnboundedReceiver<bool>,
    quiet: Duration,
    out: mpsc::Sender<()>,
) {
    let mut deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            item = input.recv() => match item {
                Some(writing) => {
                    let wait = if writing { quiet.max(WRITING_QUIET) } else { quiet };
                    deadline = Some(Instant::now() + wait);
                }
                None => break,
            },
            () = sleep_until_opt(deadline) => {
                deadline = None;
                // A full channel already holds a "changed": one is enough.
                if let Err(mpsc::error::TrySendError::Closed(())) = out.try_send(()) {
                    break;
                }
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn debounce_should_fire_once_after_a_quiet_period() {
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::channel(1);
        tokio::spawn(debounce(in_rx, Duration::from_millis(200), out_tx));
        for _ in 0..5 {
            in_tx.send(false).unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert!(out_rx.try_recv().is_err(), "fired during the burst");
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(out_rx.try_recv().is_ok(), "fired after 200 ms of quiet");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(out_rx.try_recv().is_err(), "fired only once");
    }

    #[tokio::test(start_paused = true)]
    async fn debounce_should_wait_longer_while_a_file_is_being_written() {
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::channel(1);
        tokio::spawn(debounce(in_rx, Duration::from_millis(50), out_tx));
        in_tx.send(true).unwrap();
        tokio::time::sleep(WRITING_QUIET - Duration::from_millis(10)).await;
        assert!(out_rx.try_recv().is_err(), "fired while a file was open");
        // The writer closes its file: the short quiet time again.
        in_tx.send(false).unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(out_rx.try_recv().is_ok(), "fired 50 ms after the close");
    }

    /// A writer that pauses longer than the debounce mid-file: the tree is read only after
    /// it closes the file.
    #[tokio::test]
    async fn watch_should_hold_a_file_being_written_until_its_writer_closes_it() {
        use std::io::Write as _;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("manifests");
        std::fs::create_dir_all(&dir).unwrap();
        let (_w, mut rx) = watch(&dir, Duration::from_millis(20)).unwrap();
        let mut file = std::fs::File::create(dir.join("x.yaml")).unwrap();
        file.write_all(b"apiVersion: podctl.io/v1\n").unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), rx.recv())
                .await
                .is_err(),
            "read while the file was still open for writing"
        );
        file.write_all(b"kind: Container\n").unwrap();
        drop(file);
        assert!(
            tokio::time::timeout(Duration::from_millis(500), rx.recv())
                .await
                .is_ok(),
            "read soon after the close"
        );
    }

    async fn wait(rx: &mut mpsc::Receiver<()>) -> bool {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn watch_should_report_a_write_and_a_symlink_swap() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("rev-a"), tmp.path().join("rev-b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let link = tmp.path().join("manifests");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let (_w, mut rx) = watch(&link, Duration::from_millis(20)).unwrap();

        std::fs::write(a.join("x.yaml"), "x").unwrap();
        assert!(wait(&mut rx).await, "write in the target");

        // git-sync style: a new link renamed over the old one.
        let tmp_link = tmp.path().join(".manifests.tmp");
        std::os::unix::fs::symlink(&b, &tmp_link).unwrap();
        std::fs::rename(&tmp_link, &link).unwrap();
        assert!(wait(&mut rx).await, "symlink swap");

        std::fs::write(b.join("y.yaml"), "y").unwrap();
        assert!(wait(&mut rx).await, "write in the new target");
        std::fs::write(a.join("z.yaml"), "z").unwrap();
        std::fs::create_dir_all(b.join(".git")).unwrap();
        std::fs::write(b.join(".git/HEAD"), "z").unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), rx.recv())
                .await
                .is_err(),
            "the old target and hidden paths are not watched"
        );
    }

    #[tokio::test]
    async fn watch_should_follow_a_link_swapped_behind_the_operators_link() {
        // /etc/podctl/manifests -> sync/current -> rev-a, and the sync tool swaps
        // sync/current to rev-b.
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("rev-a"), tmp.path().join("rev-b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let sync = tmp.path().join("sync");
        let etc = tmp.path().join("etc");
        std::fs::create_dir_all(&sync).unwrap();
        std::fs::create_dir_all(&etc).unwrap();
        let current = sync.join("current");
        std::os::unix::fs::symlink(&a, &current).unwrap();
        let link = etc.join("manifests");
        std::os::unix::fs::symlink(&current, &link).unwrap();
        let (_w, mut rx) = watch(&link, Duration::from_millis(20)).unwrap();

        let tmp_link = sync.join(".current.tmp");
        std::os::unix::fs::symlink(&b, &tmp_link).unwrap();
        std::fs::rename(&tmp_link, &current).unwrap();
        assert!(wait(&mut rx).await, "inner symlink swap");
        std::fs::write(b.join("y.yaml"), "y").unwrap();
        assert!(wait(&mut rx).await, "write in the new target");
    }
}
