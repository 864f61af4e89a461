//! A revision: every object of one read of the manifest directory, valid as a whole, with
//! its dependency graph and a content hash that identifies it across hosts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::graph::DependencyGraph;
use crate::kinds::{Kind, Object, ObjectRef};

/// How much was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: usize,
    pub documents: usize,
}

#[derive(Debug, Clone)]
pub struct Revision {
    dir: PathBuf,
    resolved_dir: PathBuf,
    /// Sorted by kind (dependencies' kinds first), then name.
    objects: Vec<Object>,
    index: HashMap<ObjectRef, usize>,
    graph: DependencyGraph,
    hash: String,
    stats: Stats,
}

impl Revision {
    pub(crate) fn new(
        dir: PathBuf,
        resolved_dir: PathBuf,
        mut objects: Vec<Object>,
        stats: Stats,
    ) -> Result<Self, Diagnostics> {
        objects.sort_by(|a, b| (a.kind, a.name()).cmp(&(b.kind, b.name())));
        let graph = DependencyGraph::build(&objects).map_err(|cycle| {
            let mut d = Diagnostics::default();
            if let Some(first) = cycle
                .0
                .first()
                .and_then(|r| objects.iter().find(|o| o.object_ref() == *r))
            {
                d.push(Diagnostic::new(first.origin.location(), cycle.to_string()));
            }
            d
        })?;
        let index = objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.object_ref(), i))
            .collect();
        let hash = revision_hash(&objects);
        Ok(Self {
            dir,
            resolved_dir,
            objects,
            index,
            graph,
            hash,
            stats,
        })
    }

    /// The directory as given (`/etc/podctl/manifests`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory it resolved to when read (a sync tool's symlink target).
    pub fn resolved_dir(&self) -> &Path {
        &self.resolved_dir
    }

    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// Drops the YAML tree of every document, keeping where each starts. The trees serve
    /// the checks of loading, which point at the exact line of a field; a process that
    /// keeps a revision for hours (the controller) needs none of them, and at 300 small
    /// manifests they were 40% of its heap. Afterwards `Origin::at` names the document.
    pub fn forget_documents(&mut self) {
        for object in &mut self.objects {
            object.origin.forget_document();
        }
    }

    pub fn get(&self, object: &ObjectRef) -> Option<&Object> {
        self.index.get(object).map(|&i| &self.objects[i])
    }

    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Object> {
        self.objects.iter().filter(move |o| o.kind == kind)
    }

    pub fn graph(&self) -> &DependencyGraph {
        &self.graph
    }

    /// A SHA-256 of the objects' content, in hex: the same manifests give the same hash
    /// whatever their file layout, formatting, comments or order.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The first 12 hex digits of the hash, for humans.
    pub fn short_hash(&self) -> &str {
        &self.hash[..12]
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// The hash of one object's declared content (kind, metadata and spec).
pub fn object_hash(object: &Object) -> String {
    let mut hasher = Sha256::new();
    feed(&mut hasher, object);
    hex(&hasher.finalize())
}

fn revision_hash(objects: &[Object]) -> String {
    let mut hasher = Sha256::new();
    for object in objects {
        feed(&mut hasher, object);
        hasher.update([0u8]);
    }
    hex(&hasher.finalize())
}

fn feed(hasher: &mut Sha256, object: &Object) {
    // serde_json of BTreeMap-backed types is canonical: keys sorted, no whitespace.
    match serde_json::to_vec(object) {
        Ok(bytes) => hasher.update(&bytes),
        Err(_) => hasher.update(object.object_ref().to_string().as_bytes()),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
