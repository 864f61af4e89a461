//! The restic CLI as a library: open (or initialise) a repository, back up a file as one
//! snapshot, list, dump and forget snapshots.
//!
//! The password only ever travels as `RESTIC_PASSWORD_FILE`, a path to a 0600 file the
//! caller owns: never on argv, never in an error. Errors keep the argv and restic's stderr.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};

use serde::Deserialize;
use tokio::process::Command;

use super::podman::Argv;

/// restic's exit status for "snapshot created, but some source could not be read": an
/// incomplete snapshot, an error for podctl.
const EXIT_INCOMPLETE: i32 = 3;

/// What restic prints on stderr when the repository has no config yet (restic 0.14; from
/// 0.17 on it also exits 10). Matched only to decide whether to `init`.
const NO_REPOSITORY: &str = "Is there a repository at the following location?";

#[derive(Debug, thiserror::Error)]
pub enum ResticError {
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
    #[error("`{argv}` stored an incomplete snapshot (exit 3, some input could not be read): {}", stderr.trim_end())]
    Incomplete { argv: Argv, stderr: String },
    #[error("`{argv}` printed output podctl cannot parse: {message}")]
    Parse { argv: Argv, message: String },
}

impl ResticError {
    pub fn kind(&self) -> &'static str {
        match self {
            ResticError::Spawn { .. } => "spawn",
            ResticError::Failed { .. } => "failed",
            ResticError::Incomplete { .. } => "incomplete",
            ResticError::Parse { .. } => "parse",
        }
    }
}

pub type Result<T, E = ResticError> = std::result::Result<T, E>;

/// One snapshot as `restic snapshots --json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub short_id: String,
    /// RFC 3339.
    pub time: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Snapshot {
    /// The value of the tag `KEY=VALUE` with this key.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
    }
}

/// A repository and the password file that opens it.
#[derive(Debug, Clone)]
pub struct Restic {
    program: PathBuf,
    repository: String,
    password_file: PathBuf,
}

impl Restic {
    pub fn new(repository: &str, password_file: &Path) -> Self {
        Self {
            program: PathBuf::from("restic"),
            repository: repository.to_owned(),
            password_file: password_file.to_owned(),
        }
    }

    fn argv(&self, args: &[String]) -> Argv {
        let mut argv = vec![self.program.to_string_lossy().into_owned()];
        argv.extend(args.iter().cloned());
        Argv(argv)
    }

    /// Runs restic with `stdin` (a file) or nothing on its standard input.
    async fn output(&self, args: &[String], stdin: Option<&Path>) -> Result<(Argv, Output)> {
        let argv = self.argv(args);
        tracing::debug!(argv = %argv, "restic");
        let spawn = |source| ResticError::Spawn {
            argv: argv.clone(),
            source,
        };
        let input = match stdin {
            Some(path) => Stdio::from(std::fs::File::open(path).map_err(spawn)?),
            None => Stdio::null(),
        };
        let output = Command::new(&self.program)
            .args(args)
            .env("RESTIC_REPOSITORY", &self.repository)
            .env("RESTIC_PASSWORD_FILE", &self.password_file)
            // Only the file given here may open the repository.
            .env_remove("RESTIC_PASSWORD")
            .env_remove("RESTIC_PASSWORD_COMMAND")
            .stdin(input)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(spawn)?;
        Ok((argv, output))
    }

    async fn run(&self, args: &[String], stdin: Option<&Path>) -> Result<String> {
        let (argv, output) = self.output(args, stdin).await?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        match output.status.code() {
            Some(0) => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
            Some(EXIT_INCOMPLETE) => Err(ResticError::Incomplete { argv, stderr }),
            _ => Err(ResticError::Failed {
                argv,
                status: output.status,
                stderr,
            }),
        }
    }

    /// Opens the repository, initialising it when there is none; returns whether it was
    /// initialised. A wrong password or an unreachable repository is an error.
    pub async fn open_or_init(&self) -> Result<bool> {
        match self.run(&strings(&["cat", "config"]), None).await {
            Ok(_) => Ok(false),
            Err(ResticError::Failed { stderr, .. }) if stderr.contains(NO_REPOSITORY) => {
                self.run(&strings(&["init"]), None).await?;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// `restic backup --stdin` of the file `input`, stored as `/FILENAME`; returns the new
    /// snapshot's ID.
    pub async fn backup_file(
        &self,
        input: &Path,
        filename: &str,
        host: &str,
        tags: &[String],
    ) -> Result<String> {
        let mut args = strings(&["backup", "--json", "--stdin", "--stdin-filename", filename]);
        args.extend(["--host".to_owned(), host.to_owned()]);
        for tag in tags {
            args.extend(["--tag".to_owned(), tag.clone()]);
        }
        let stdout = self.run(&args, Some(input)).await?;
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<BackupLine>(l).ok())
            .find_map(|l| {
                (l.message_type == "summary")
                    .then_some(l.snapshot_id)
                    .flatten()
            })
            .ok_or_else(|| ResticError::Parse {
                argv: self.argv(&args),
                message: "no summary with a snapshot_id".to_owned(),
            })
    }

    /// Snapshots carrying every tag of `tags`, oldest first.
    pub async fn snapshots(&self, tags: &[String]) -> Result<Vec<Snapshot>> {
        let mut args = strings(&["snapshots", "--json"]);
        if !tags.is_empty() {
            args.extend(["--tag".to_owned(), tags.join(",")]);
        }
        let stdout = self.run(&args, None).await?;
        let mut list: Vec<Snapshot> = if stdout.trim().is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(&stdout).map_err(|e| ResticError::Parse {
                argv: self.argv(&args),
                message: e.to_string(),
            })?
        };
        list.sort_by(|a, b| a.time.cmp(&b.time));
        Ok(list)
    }

    /// `restic dump SNAPSHOT /FILENAME` into the file `out`.
    pub async fn dump_to(&self, snapshot: &str, filename: &str, out: &Path) -> Result<()> {
        let args = vec![
            "dump".to_owned(),
            snapshot.to_owned(),
            format!("/{filename}"),
        ];
        let argv = self.argv(&args);
        let file = std::fs::File::create(out).map_err(|source| ResticError::Spawn {
            argv: argv.clone(),
            source,
        })?;
        tracing::debug!(argv = %argv, "restic");
        let output = Command::new(&self.program)
            .args(&args)
            .env("RESTIC_REPOSITORY", &self.repository)
            .env("RESTIC_PASSWORD_FILE", &self.password_file)
            .env_remove("RESTIC_PASSWORD")
            .env_remove("RESTIC_PASSWORD_COMMAND")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // `spawn` + `wait_with_output`: tokio's `output()` would replace stdout (the
            // file) with a pipe.
            .spawn()
            .map_err(|source| ResticError::Spawn {
                argv: argv.clone(),
                source,
            })?
            .wait_with_output()
            .await
            .map_err(|source| ResticError::Spawn {
                argv: argv.clone(),
                source,
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(ResticError::Failed {
                argv,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    /// `restic forget --prune` of the snapshots with `tags` made on `host`, keeping what
    /// `rules` (`--keep-*` flags and counts) say.
    pub async fn forget(&self, tags: &[String], host: &str, rules: &[(&str, u32)]) -> Result<()> {
        let mut args = strings(&["forget", "--prune", "--host", host]);
        args.extend(["--tag".to_owned(), tags.join(",")]);
        for (flag, n) in rules {
            args.extend([(*flag).to_owned(), n.to_string()]);
        }
        self.run(&args, None).await.map(drop)
    }
}

#[derive(Deserialize)]
struct BackupLine {
    message_type: String,
    #[serde(default)]
    snapshot_id: Option<String>,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|&a| a.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_tag_should_return_the_value_of_its_key_only() {
        let s = Snapshot {
            id: "a".into(),
            short_id: "a".into(),
            time: String::new(),
            hostname: String::new(),
            paths: Vec::new(),
            tags: vec!["podctl-volume=data".into(), "podctl-size=12".into()],
        };
        assert_eq!(s.tag("podctl-size"), Some("12"));
        assert_eq!(s.tag("podctl-volume"), Some("data"));
        assert_eq!(s.tag("podctl"), None);
    }
}
