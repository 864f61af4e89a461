//! Helpers for tests that run podctl itself: reading its per-object lines, resetting the
//! host to no managed objects, asking podman for a container's ID.

use anyhow::{Context, Result, ensure};

use crate::host::{ExecOutput, TestHost};

/// The line `podctl apply` printed for `object` (`container/NAME`), or "".
pub fn line_of<'a>(out: &'a ExecOutput, object: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(object))
        .unwrap_or("")
}

impl TestHost {
    /// Removes every object podctl manages on the test host, through podctl itself (an
    /// empty revision, applied with `--allow-empty`).
    pub async fn prune_all(&self) -> Result<()> {
        let empty = self.write_manifests(&[])?;
        let out = self
            .podctl(["apply", "--allow-empty", "-f", &empty.path_str()])
            .await?;
        ensure!(
            out.success(),
            "cleanup apply failed: {}{}",
            out.stdout,
            out.stderr
        );
        Ok(())
    }

    /// The ID of the container named `name`.
    pub async fn container_id(&self, name: &str) -> Result<String> {
        let v = self.podman_json(["container", "inspect", name]).await?;
        v[0]["Id"]
            .as_str()
            .map(str::to_owned)
            .context("no Id in podman inspect")
    }
}
