//! Asks a registry which manifest a reference names, through skopeo: `skopeo inspect --raw
//! docker://REF` prints the manifest exactly as the registry serves it, and its sha256 is
//! the digest podman records in an image's `RepoDigests` (for a manifest list, the list's
//! digest, which podman records too). One request per reference, no image config fetched.
//!
//! TLS and credentials come from the host's containers configuration (registries.conf,
//! `auth.json`), as for `podman pull`: the tests' registry on 127.0.0.1:5000 is marked
//! insecure in the sandbox's registries.conf.d, nowhere in podctl.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest as _, Sha256};
use tokio::process::Command;

use super::podman::Argv;
use super::process::ProcessError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("`{argv}` printed no manifest")]
    Empty { argv: Argv },
}

impl RegistryError {
    /// A short name for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            RegistryError::Process(e) => e.kind(),
            RegistryError::Empty { .. } => "empty",
        }
    }
}

/// The skopeo CLI.
#[derive(Debug, Clone)]
pub struct Skopeo {
    program: PathBuf,
}

impl Default for Skopeo {
    fn default() -> Self {
        Self {
            program: PathBuf::from("skopeo"),
        }
    }
}

impl Skopeo {
    pub fn with_program(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
        }
    }

    /// The digest (`sha256:…`) of the manifest `reference` names in its registry now.
    /// `tls_verify` and `auth_file` as for `podman pull` (an Image object's settings);
    /// `None` keeps the host's configuration.
    pub async fn manifest_digest(
        &self,
        reference: &str,
        tls_verify: Option<bool>,
        auth_file: Option<&Path>,
    ) -> Result<String, RegistryError> {
        let mut args = vec!["inspect".to_owned(), "--raw".to_owned()];
        if let Some(verify) = tls_verify {
            args.push(format!("--tls-verify={verify}"));
        }
        if let Some(file) = auth_file {
            args.extend(["--authfile".to_owned(), file.to_string_lossy().into_owned()]);
        }
        args.push(format!("docker://{reference}"));
        let argv = Argv(
            std::iter::once(self.program.to_string_lossy().into_owned())
                .chain(args.iter().cloned())
                .collect(),
        );
        tracing::debug!(argv = %argv, "skopeo");
        let output = Command::new(&self.program)
            .args(&args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| ProcessError::spawn(&argv, source))?;
        ProcessError::check(argv.clone(), &output)?;
        if output.stdout.is_empty() {
            return Err(RegistryError::Empty { argv });
        }
        Ok(manifest_digest(&output.stdout))
    }
}

/// The digest of a manifest as registries and podman name it: sha256 of its exact bytes.
pub fn manifest_digest(raw: &[u8]) -> String {
    let hash = Sha256::digest(raw);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_should_be_the_sha256_of_the_exact_bytes() {
        assert_eq!(
            manifest_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(manifest_digest(b"{}"), manifest_digest(b"{} "));
    }

    #[tokio::test]
    async fn a_missing_program_should_be_a_spawn_error_with_its_argv() {
        let e = Skopeo::with_program("/nonexistent/skopeo")
            .manifest_digest("127.0.0.1:5000/web:v1", None, None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "spawn");
        assert!(
            e.to_string().contains("docker://127.0.0.1:5000/web:v1"),
            "{e}"
        );
    }
}
