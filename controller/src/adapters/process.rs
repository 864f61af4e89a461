//! How a CLI that an adapter runs failed: it could not be started, or it exited non-zero.
//! One type for the adapters that need nothing more (git, skopeo), with the argv and the
//! program's stderr in the message.

use std::process::{ExitStatus, Output};

use super::podman::Argv;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot run `{argv}`: {source}")]
    Spawn {
        argv: Argv,
        #[source]
        source: std::io::Error,
    },
    #[error("`{argv}` failed ({status}): {}", stderr.trim_end())]
    Failed {
        argv: Argv,
        status: ExitStatus,
        stderr: String,
    },
}

impl ProcessError {
    pub fn spawn(argv: &Argv, source: std::io::Error) -> Self {
        Self::Spawn {
            argv: argv.clone(),
            source,
        }
    }

    /// `Ok` when `output` exited 0; else the failure with its stderr.
    pub fn check(argv: Argv, output: &Output) -> Result<(), Self> {
        if output.status.success() {
            return Ok(());
        }
        Err(Self::Failed {
            argv,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    pub fn stderr(&self) -> &str {
        match self {
            Self::Spawn { .. } => "",
            Self::Failed { stderr, .. } => stderr,
        }
    }

    /// A short name for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Spawn { .. } => "spawn",
            Self::Failed { .. } => "failed",
        }
    }
}
