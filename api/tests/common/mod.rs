//! Shared helpers for the integration tests: a manifest directory written into a tempdir
//! from inline fixtures, and its diagnostics shown with paths relative to that directory
//! so that assertions and snapshots never hold a tempdir's absolute path.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use podctl_api::{Diagnostic, LoadError, Revision, load_dir};
use tempfile::TempDir;

/// A manifest directory in a tempdir, removed when dropped.
pub struct Fixture {
    dir: TempDir,
}

impl Fixture {
    /// Writes each `(relative path, content)`; parent directories are created.
    pub fn new(files: &[(&str, &str)]) -> Self {
        let fixture = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for (path, text) in files {
            fixture.write(path, text.as_bytes());
        }
        fixture
    }

    pub fn write(&self, path: &str, bytes: &[u8]) {
        let full = self.dir.path().join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(full, bytes).expect("write fixture");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn load(&self) -> Result<Revision, LoadError> {
        load_dir(self.dir.path())
    }

    pub fn revision(&self) -> Revision {
        match self.load() {
            Ok(r) => r,
            Err(e) => panic!("expected a valid revision, got: {e}\n{}", report(&e)),
        }
    }

    /// Every diagnostic as `REL:LINE:COL: message`, in report order.
    pub fn errors(&self) -> Vec<String> {
        self.diagnostics()
            .iter()
            .map(|d| relative(self.path(), &d.to_string_without_hint()))
            .collect()
    }

    /// Every diagnostic's hint, in report order (`None` where there is none).
    pub fn hints(&self) -> Vec<Option<String>> {
        self.diagnostics().into_iter().map(|d| d.hint).collect()
    }

    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self.load() {
            Ok(r) => panic!(
                "expected an invalid revision, got {} valid objects",
                r.len()
            ),
            Err(LoadError::Invalid(d)) => d.into_vec(),
            Err(e) => panic!("expected diagnostics, got: {e}"),
        }
    }

    /// The full report as `podctl validate` prints it, with `manifests/` for the tempdir.
    pub fn report(&self) -> String {
        match self.load() {
            Ok(_) => panic!("expected an invalid revision"),
            Err(e) => relative(self.path(), &report(&e)).replace(
                &format!("{}{}", self.path().display(), std::path::MAIN_SEPARATOR),
                "manifests/",
            ),
        }
    }
}

fn report(e: &LoadError) -> String {
    match e.diagnostics() {
        Some(d) => format!("{d}error: {e}\n"),
        None => format!("error: {e}\n"),
    }
}

/// Strips the tempdir prefix from a path shown in a message.
fn relative(dir: &Path, text: &str) -> String {
    text.replace(&format!("{}/", dir.display()), "")
}

trait WithoutHint {
    fn to_string_without_hint(&self) -> String;
}

impl WithoutHint for Diagnostic {
    fn to_string_without_hint(&self) -> String {
        format!("{}: {}", self.location, self.message)
    }
}

/// The manifest examples shipped in the repository.
pub fn examples(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests/examples")
        .join(name)
}

/// A small valid revision used by several tests: a volume, a secret, a database and an
/// application that depends on it.
pub const APP: &str = "\
apiVersion: podctl.io/v1
kind: Volume
metadata: {name: data}
spec: {}
---
apiVersion: podctl.io/v1
kind: Secret
metadata: {name: token}
spec:
  source: {env: TOKEN}
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: db}
spec:
  image: docker.io/library/postgres:16
  volumes:
    - {volume: data, path: /var/lib/postgresql/data}
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: docker.io/library/nginx:1.27
  secrets:
    - {secret: token, env: TOKEN}
  dependsOn: [db]
";
