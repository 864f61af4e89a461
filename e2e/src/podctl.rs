//! Helpers for tests that run podctl itself: reading its per-object lines, resetting the
//! host to no managed objects, asking podman for a container's ID.

use anyhow::{Context, Result, ensure};

use crate::host::{ExecOutput, ManifestDir, TestHost};

/// The line `podctl apply` printed for `object` (`container/NAME`), or "".
pub fn line_of<'a>(out: &'a ExecOutput, object: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(object))
        .unwrap_or("")
}

impl TestHost {
    /// Runs `podctl ARGS...` and prints what it said, so a failing test shows it.
    pub async fn podctl_logged(&self, args: &[&str]) -> Result<ExecOutput> {
        let out = self.podctl(args).await?;
        eprintln!(
            "podctl {}: {}\n{}{}",
            args.join(" "),
            out.status,
            out.stdout,
            out.stderr
        );
        Ok(out)
    }

    /// `podctl apply -f DIR` with a failpoint (debug builds): podctl kills itself with
    /// SIGKILL when it reaches `point` (`NAME[:N]`, see controller/src/failpoint.rs).
    pub async fn apply_killed_at(&self, dir: &ManifestDir, point: &str) -> Result<ExecOutput> {
        let bin = self.podctl_bin()?;
        let out = self
            .exec([
                "env",
                &format!("PODCTL_FAILPOINT={point}"),
                &bin.to_string_lossy(),
                "apply",
                "-f",
                &dir.path_str(),
            ])
            .await?;
        eprintln!(
            "podctl apply killed at {point}: {}\n{}{}",
            out.status, out.stdout, out.stderr
        );
        Ok(out)
    }

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
