//! Reads a manifest directory as one revision: the files (recursive, sorted, `.yaml` and
//! `.yml`, hidden paths skipped), their documents, then validation and the graph.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics, Location, Mark};
use crate::document::{Parsed, parse_object};
use crate::revision::Revision;
use crate::validate::validate;
use crate::yaml::parse_documents;

/// Larger manifest files are rejected: a controller reading unattended must not be made
/// to allocate without bound by a bad commit.
pub const MAX_FILE_SIZE: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read manifest directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a directory; pass the directory that holds the manifests")]
    NotADirectory { path: PathBuf },
    #[error("revision rejected: {} in {}", plural(.0.len(), "error"), plural(.0.file_count(), "file"))]
    Invalid(Diagnostics),
}

/// `1 error`, `2 errors`: counts as people write them (also in podctl's other output).
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl LoadError {
    fn io(path: &Path, source: io::Error) -> Self {
        LoadError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The diagnostics of an invalid revision, if that is what this is.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            LoadError::Invalid(d) => Some(d),
            _ => None,
        }
    }
}

/// One manifest file as read: the path users see and its text.
#[derive(Debug)]
pub struct SourceFile {
    pub path: Arc<Path>,
    pub text: String,
}

/// How a manifest tree is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Directories outside the manifest tree that links in it may point into (a shared
    /// folder of common manifests). A link out of the tree elsewhere is an error: podctl
    /// reads as root, and a link to `/etc/shadow` committed to the repository must not be
    /// followed.
    pub link_roots: Vec<PathBuf>,
    /// The host to evaluate the revision for: only its objects are kept (`metadata.hosts`),
    /// and validated as that host's revision. `None`: every object, whatever its hosts.
    pub host: Option<crate::hosts::HostIdentity>,
}

/// Loads and validates the revision in `dir`, following links only inside it.
pub fn load_dir(dir: &Path) -> Result<Revision, LoadError> {
    load_dir_with(dir, &LoadOptions::default())
}

/// Loads and validates the revision in `dir`.
///
/// `dir` may be a symlink that a sync tool swaps atomically: it is resolved once, and every
/// file is read below the resolved target, so one revision never mixes two trees. Paths in
/// diagnostics keep the form the caller gave (`/etc/podctl/manifests/app.yaml`).
pub fn load_dir_with(dir: &Path, options: &LoadOptions) -> Result<Revision, LoadError> {
    let resolved = fs::canonicalize(dir).map_err(|e| LoadError::io(dir, e))?;
    let meta = fs::metadata(&resolved).map_err(|e| LoadError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(LoadError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mut relative = Vec::new();
    let mut seen = HashSet::new();
    let mut diagnostics = Diagnostics::default();
    // A link root that does not exist allows nothing; it is not an error of the revision.
    let mut allowed = vec![resolved.clone()];
    allowed.extend(
        options
            .link_roots
            .iter()
            .filter_map(|r| fs::canonicalize(r).ok()),
    );
    let mut walk = Walk {
        root: &resolved,
        allowed: &allowed,
        shown: dir,
        files: &mut relative,
        seen: &mut seen,
        diagnostics: &mut diagnostics,
    };
    walk.dir(Path::new(""))?;
    relative.sort();

    let mut files = Vec::with_capacity(relative.len());
    for rel in relative {
        let shown: Arc<Path> = Arc::from(dir.join(&rel));
        match read_text(&resolved.join(&rel), &shown) {
            Ok(text) => files.push(SourceFile { path: shown, text }),
            Err(d) => diagnostics.push(d),
        }
    }
    let revision = from_sources_for(dir, &resolved, files, diagnostics, options.host.as_ref())?;
    Ok(revision)
}

/// Builds a revision from files already read (used by `load_dir`, tests and benchmarks).
pub fn from_sources(
    dir: &Path,
    resolved: &Path,
    files: Vec<SourceFile>,
    diagnostics: Diagnostics,
) -> Result<Revision, LoadError> {
    from_sources_for(dir, resolved, files, diagnostics, None)
}

/// [`from_sources`] evaluated for `host`: the objects whose `metadata.hosts` do not choose it
/// are left out before validation.
pub fn from_sources_for(
    dir: &Path,
    resolved: &Path,
    files: Vec<SourceFile>,
    mut diagnostics: Diagnostics,
    host: Option<&crate::hosts::HostIdentity>,
) -> Result<Revision, LoadError> {
    let mut objects = Vec::new();
    let mut invalid = Vec::new();
    // Partially typed objects are checked with the others; their errors already make the
    // revision invalid, so none of them can end up in one.
    let mut tainted: HashSet<(Arc<Path>, Mark)> = HashSet::new();
    let mut documents = 0;
    for file in &files {
        let parsed = parse_documents(&file.text);
        for (mark, message, hint) in parsed.errors {
            diagnostics.push(Diagnostic {
                location: Location::new(file.path.clone(), mark),
                message,
                hint,
            });
        }
        documents += parsed.documents.len();
        for document in parsed.documents {
            match parse_object(&file.path, document, &mut diagnostics) {
                Parsed::Object(object) => objects.push(object),
                Parsed::Partial {
                    object,
                    tainted: marks,
                } => {
                    tainted.extend(marks.into_iter().map(|m| (file.path.clone(), m)));
                    objects.push(object);
                }
                Parsed::Invalid(declared) => invalid.push(declared),
                Parsed::Unidentified => {}
            }
        }
    }
    if let Some(host) = host {
        objects.retain(|o| o.metadata.hosts.as_ref().is_none_or(|h| h.selects(host)));
    }
    let mut checks = Diagnostics::default();
    validate(&objects, &invalid, host.is_some(), &mut checks);
    // A check that looks at a value taken out of a partial object would report the gap
    // (a mount with neither `volume` nor `hostPath` after a bad `hostPath`), not the file.
    diagnostics.extend(
        checks
            .into_vec()
            .into_iter()
            .filter(|d| !tainted.contains(&(d.location.file.clone(), d.location.mark))),
    );
    if !diagnostics.is_empty() {
        diagnostics.sort();
        return Err(LoadError::Invalid(diagnostics));
    }
    if host.is_none() {
        // Read for every host, variants of one object for different hosts are one node of
        // the graph: the first declared stands for them (each host's revision has its own).
        let mut seen = HashSet::new();
        objects.retain(|o| seen.insert(o.object_ref()));
    }
    let stats = crate::revision::Stats {
        files: files.len(),
        documents,
    };
    Revision::new(dir.to_path_buf(), resolved.to_path_buf(), objects, stats)
        .map_err(LoadError::Invalid)
}

/// The walk of one manifest tree: the manifest files found, and the entries that make
/// the revision invalid because podctl cannot tell what they hold.
struct Walk<'a> {
    root: &'a Path,
    /// Where links may lead: the tree itself and the allowed link roots (canonical).
    allowed: &'a [PathBuf],
    /// The directory as the caller gave it, for paths in diagnostics.
    shown: &'a Path,
    files: &'a mut Vec<PathBuf>,
    seen: &'a mut HashSet<PathBuf>,
    diagnostics: &'a mut Diagnostics,
}

impl Walk<'_> {
    fn dir(&mut self, rel: &Path) -> Result<(), LoadError> {
        let dir = self.root.join(rel);
        // Symlinked directories are followed once: a link back up the tree is not a loop.
        let canonical = fs::canonicalize(&dir).map_err(|e| LoadError::io(&dir, e))?;
        if !self.seen.insert(canonical) {
            return Ok(());
        }
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            // The top directory itself: nothing was read, say so as an I/O error.
            Err(e) if rel.as_os_str().is_empty() => return Err(LoadError::io(&dir, e)),
            Err(e) => {
                self.unreadable(rel, &format!("cannot read directory: {e}"));
                return Ok(());
            }
        };
        for entry in entries {
            let entry = entry.map_err(|e| LoadError::io(&dir, e))?;
            let name = entry.file_name();
            let child = rel.join(&name);
            let Some(name_str) = name.to_str() else {
                self.unreadable(
                    &child,
                    "the name is not UTF-8, so podctl cannot tell whether it holds manifests",
                );
                continue;
            };
            if name_str.starts_with('.') {
                continue;
            }
            if let Some(outside) = self.link_out_of_bounds(&dir.join(&name)) {
                self.report(
                    &child,
                    &format!(
                        "symlink to {}, outside the manifest directory: not followed",
                        outside.display()
                    ),
                    "podctl runs as root and follows links only inside the manifest directory; \
                     move the manifests in, or allow that directory with --allow-links-to DIR",
                );
                continue;
            }
            // Follows symlinks within bounds: a manifest may be a link into a shared folder.
            let meta = match fs::metadata(dir.join(&name)) {
                Ok(m) => m,
                // A link whose target is missing (a shared folder not mounted yet, a
                // half-done checkout) hides manifests: reading the tree without them would
                // remove their objects, volumes' data included. The revision is invalid.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let target = fs::read_link(dir.join(&name))
                        .map(|t| format!(" -> {}", t.display()))
                        .unwrap_or_default();
                    self.unreadable(
                        &child,
                        &format!("dangling symlink{target}: its target does not exist"),
                    );
                    continue;
                }
                Err(e) => {
                    self.unreadable(&child, &format!("cannot read: {e}"));
                    continue;
                }
            };
            if meta.is_dir() {
                self.dir(&child)?;
            } else if meta.is_file() && (name_str.ends_with(".yaml") || name_str.ends_with(".yml"))
            {
                self.files.push(child);
            }
        }
        Ok(())
    }

    /// Where the link at `path` leads when that is outside the tree and the allowed link
    /// roots; `None` for what is not a link, stays inside, or dangles (reported apart).
    fn link_out_of_bounds(&self, path: &Path) -> Option<PathBuf> {
        let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            return None;
        }
        let target = fs::canonicalize(path).ok()?;
        let inside = self.allowed.iter().any(|root| target.starts_with(root));
        (!inside).then_some(target)
    }

    /// An entry that may hold manifests but cannot be read: the revision is incomplete.
    fn unreadable(&mut self, rel: &Path, message: &str) {
        self.report(
            rel,
            message,
            "podctl reads the whole tree or nothing: restore it (or remove the entry, \
             or rename it to start with `.` to have it skipped)",
        );
    }

    fn report(&mut self, rel: &Path, message: &str, hint: &str) {
        let shown: Arc<Path> = Arc::from(self.shown.join(rel));
        self.diagnostics
            .push(Diagnostic::new(Location::new(shown, Mark::new(1, 1)), message).with_hint(hint));
    }
}

/// Reads a manifest as UTF-8 text, or says where it stops being text.
fn read_text(path: &Path, shown: &Arc<Path>) -> Result<String, Diagnostic> {
    let at_start = || Location::new(shown.clone(), Mark::new(1, 1));
    let meta = fs::metadata(path)
        .map_err(|e| Diagnostic::new(at_start(), format!("cannot read file: {e}")))?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(Diagnostic::new(
            at_start(),
            format!(
                "file is {} bytes, larger than the limit of {MAX_FILE_SIZE}",
                meta.len()
            ),
        )
        .with_hint("split it into several files"));
    }
    let bytes = fs::read(path).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::PermissionDenied {
            "podctl must be able to read every manifest; fix the file's owner or mode"
        } else {
            "check the file"
        };
        Diagnostic::new(at_start(), format!("cannot read file: {e}")).with_hint(hint)
    })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            return Err(Diagnostic::new(
                Location::new(shown.clone(), mark_at_end(valid)),
                format!(
                    "not UTF-8 text (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            )
            .with_hint(
                "manifests are UTF-8 YAML; is this a binary file in the manifest directory?",
            ));
        }
    };
    if let Some(offset) = text.find('\0') {
        return Err(Diagnostic::new(
            Location::new(shown.clone(), mark_at_end(&bytes[..offset])),
            format!("binary content (a NUL byte at offset {offset})"),
        )
        .with_hint("manifests are UTF-8 YAML; is this a binary file in the manifest directory?"));
    }
    Ok(text.to_string())
}

/// The line and column just after `prefix`, which is valid UTF-8.
fn mark_at_end(prefix: &[u8]) -> Mark {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Mark::new(line, col)
}
