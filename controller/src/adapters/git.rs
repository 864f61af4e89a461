//! Git (the `git` CLI, Debian's package) as a library for `podctl sync`: a bare mirror of
//! one branch or tag, the commit it names, its signature, and its tree written out.
//!
//! Credentials never travel on argv (which every local user can read in `/proc`): a token
//! goes in as an `http.extraHeader` through `GIT_CONFIG_*` variables, an SSH key through
//! `GIT_SSH_COMMAND`, both only in git's environment. Errors keep the argv and git's stderr.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use super::podman::Argv;
use super::process::ProcessError;

/// git's failures are a process's: it did not start, or exited non-zero with its stderr.
pub type GitError = ProcessError;

pub type Result<T, E = GitError> = std::result::Result<T, E>;

/// How git reaches the remote.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// A private key for `ssh://` and `git@` URLs.
    pub ssh_key: Option<PathBuf>,
    /// The `known_hosts` file SSH checks the server against (default: root's).
    pub known_hosts: Option<PathBuf>,
    /// A token for `https://` URLs, sent as `Authorization: Bearer …`.
    pub token: Option<String>,
}

/// A bare repository under podctl's state directory.
#[derive(Debug, Clone)]
pub struct Git {
    program: PathBuf,
    git_dir: PathBuf,
}

impl Git {
    pub fn new(git_dir: &Path) -> Self {
        Self {
            program: PathBuf::from("git"),
            git_dir: git_dir.to_owned(),
        }
    }

    fn command(&self, args: &[&str], config: &[(&str, &str)]) -> (Argv, Command) {
        let mut argv = vec![self.program.to_string_lossy().into_owned()];
        argv.push(format!("--git-dir={}", self.git_dir.display()));
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let mut cmd = Command::new(&self.program);
        cmd.arg(format!("--git-dir={}", self.git_dir.display()))
            .args(args)
            // Never ask on a terminal; never read the invoking user's or the system's config
            // (hooks, credential helpers, url rewrites) into a root process.
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_COUNT", config.len().to_string())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (i, (key, value)) in config.iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), key)
                .env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        (Argv(argv), cmd)
    }

    async fn run(&self, args: &[&str], config: &[(&str, &str)]) -> Result<String> {
        let (argv, mut cmd) = self.command(args, config);
        tracing::debug!(argv = %argv, "git");
        let output = cmd
            .output()
            .await
            .map_err(|source| ProcessError::spawn(&argv, source))?;
        ProcessError::check(argv, &output)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `git init --bare` unless the repository is there.
    pub async fn init(&self) -> Result<()> {
        if self.git_dir.join("HEAD").is_file() {
            return Ok(());
        }
        self.run(&["init", "--quiet", "--bare"], &[])
            .await
            .map(drop)
    }

    /// Fetches `reference` (a branch or a tag) of `url` into `refs/podctl/sync`, replacing
    /// what was there (a force-pushed branch is followed); returns the commit it names.
    pub async fn fetch(
        &self,
        url: &str,
        reference: &str,
        credentials: &Credentials,
    ) -> Result<String> {
        let header = credentials
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}"));
        let ssh = credentials
            .ssh_key
            .as_ref()
            .map(|key| ssh_command(key, credentials));
        let mut config: Vec<(&str, &str)> = Vec::new();
        if let Some(h) = &header {
            config.push(("http.extraHeader", h));
        }
        if let Some(s) = &ssh {
            config.push(("core.sshCommand", s));
        }
        let refspec = format!("+{reference}:refs/podctl/sync");
        self.run(
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "--depth=1",
                "--",
                url,
                &refspec,
            ],
            &config,
        )
        .await?;
        self.commit_of("refs/podctl/sync").await
    }

    /// The commit `rev` names.
    pub async fn commit_of(&self, rev: &str) -> Result<String> {
        let out = self
            .run(
                &[
                    "rev-parse",
                    "--verify",
                    "--end-of-options",
                    &format!("{rev}^{{commit}}"),
                ],
                &[],
            )
            .await?;
        Ok(out.trim().to_owned())
    }

    /// `git verify-commit` against an SSH allowed-signers file: fails for an unsigned commit
    /// or one signed by a key the file does not allow.
    pub async fn verify_commit(&self, commit: &str, allowed_signers: &Path) -> Result<()> {
        let signers = allowed_signers.to_string_lossy();
        self.run(
            &["verify-commit", "--end-of-options", commit],
            &[("gpg.ssh.allowedSignersFile", &signers)],
        )
        .await
        .map(drop)
    }

    /// Writes the tree of `commit` into the empty directory `dest` (`git archive | tar -x`):
    /// files and symlinks, no `.git`.
    pub async fn write_tree(&self, commit: &str, dest: &Path) -> Result<()> {
        let (argv, mut archive) = self.command(
            &["archive", "--format=tar", "--end-of-options", commit],
            &[],
        );
        tracing::debug!(argv = %argv, dest = %dest.display(), "git archive");
        let mut archive = archive
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ProcessError::spawn(&argv, e))?;
        let tar_argv = Argv(vec![
            "tar".into(),
            "-x".into(),
            "--no-same-owner".into(),
            "-C".into(),
            dest.to_string_lossy().into_owned(),
        ]);
        let stdout: Stdio = archive
            .stdout
            .take()
            .and_then(|s| s.try_into().ok())
            .unwrap_or_else(Stdio::null);
        let tar = Command::new("tar")
            .args(&tar_argv.0[1..])
            .stdin(stdout)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let (archived, untarred) = tokio::join!(archive.wait_with_output(), tar);
        let archived = archived.map_err(|e| ProcessError::spawn(&argv, e))?;
        ProcessError::check(argv, &archived)?;
        let untarred = untarred.map_err(|e| ProcessError::spawn(&tar_argv, e))?;
        ProcessError::check(tar_argv, &untarred)?;
        Ok(())
    }
}

/// `ssh` with only this key, no prompts, and the given known hosts.
fn ssh_command(key: &Path, credentials: &Credentials) -> String {
    let quote = |p: &Path| format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"));
    let mut s = format!(
        "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes",
        quote(key)
    );
    if let Some(known) = &credentials.known_hosts {
        s.push_str(&format!(" -o UserKnownHostsFile={}", quote(known)));
    }
    s
}
