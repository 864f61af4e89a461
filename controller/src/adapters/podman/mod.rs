//! The podman CLI as a library: batched JSON queries and single-object commands.
//!
//! One process per kind of query per pass (never one per object); every error carries the
//! argv and podman's stderr. Secret values only ever travel through podman's stdin, so they
//! never show up in argv, logs or errors.

pub mod api;
pub mod health_log;
mod types;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};

use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

pub use api::{ApiError, ApiSocket};
pub use types::{
    Container, ContainerState, Health, Image, Labels, Network, PodmanVersion, Secret, Subnet,
    VersionInfo, Volume,
};

pub type Result<T, E = PodmanError> = std::result::Result<T, E>;

/// A podman command line, printed shell-style in errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argv(pub Vec<String>);

impl fmt::Display for Argv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%{}".contains(c));
            if plain {
                f.write_str(arg)?;
            } else {
                write!(f, "'{}'", arg.replace('\'', r"'\''"))?;
            }
        }
        Ok(())
    }
}

/// Why a podman command failed.
#[derive(Debug, thiserror::Error)]
pub enum PodmanError {
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
    #[error("`{argv}` printed output podctl cannot parse: {source}")]
    Parse {
        argv: Argv,
        #[source]
        source: serde_json::Error,
    },
}

impl PodmanError {
    /// The object named in the command does not exist (podman's "no such ..." errors), which
    /// a caller removing things may treat as done.
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::Failed { stderr, .. } => {
                let stderr = stderr.to_ascii_lowercase();
                stderr.contains("no such") || stderr.contains("not found")
            }
            _ => false,
        }
    }

    pub fn stderr(&self) -> Option<&str> {
        match self {
            Self::Failed { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

/// What `podman network create` gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkCreate {
    pub name: String,
    /// `bridge` when empty.
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub ipv6: bool,
    pub labels: Labels,
}

/// The podman CLI, and podman's API socket for the queries when it is in use.
#[derive(Debug, Clone)]
pub struct Podman {
    program: PathBuf,
    api: Option<ApiSocket>,
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}

impl Podman {
    /// `podman` from `PATH`, or the program named by `PODCTL_PODMAN` (e.g. a wrapper that runs
    /// podman elsewhere, as the e2e tests do).
    pub fn new() -> Self {
        let program = std::env::var_os("PODCTL_PODMAN")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| OsString::from("podman"));
        Self::with_program(program)
    }

    pub fn with_program(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            api: None,
        }
    }

    /// The same podman, its list queries asked through `api` first (the CLI answers when
    /// the API fails).
    #[must_use]
    pub fn with_api(self, api: Option<ApiSocket>) -> Self {
        Self { api, ..self }
    }

    /// The API socket the queries use, if any.
    pub fn api(&self) -> Option<&ApiSocket> {
        self.api.as_ref()
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    fn argv(&self, args: &[String]) -> Argv {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(self.program.to_string_lossy().into_owned());
        argv.extend(args.iter().cloned());
        Argv(argv)
    }

    /// Runs podman; `stdin` is written to its standard input (secrets), else stdin is null.
    /// Returns the output whatever the exit status.
    async fn output(&self, args: &[String], stdin: Option<&[u8]>) -> Result<(Argv, Output)> {
        let argv = self.argv(args);
        tracing::debug!(argv = %argv, "podman");
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A caller that gives up (timeout, shutdown) must not leave podman running.
            .kill_on_drop(true);
        let spawn_error = |argv: &Argv, source| PodmanError::Spawn {
            argv: argv.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(|e| spawn_error(&argv, e))?;
        let output = match (stdin, child.stdin.take()) {
            (Some(data), Some(mut pipe)) => {
                // Write while podman runs: reading its output only afterwards could deadlock
                // on a full pipe.
                let write = async move {
                    let result = pipe.write_all(data).await;
                    drop(pipe);
                    result
                };
                let (written, output) = tokio::join!(write, child.wait_with_output());
                let output = output.map_err(|e| spawn_error(&argv, e))?;
                // A write error with a failed podman is podman's error (it closed stdin
                // early); with a successful one it is ours.
                if let Err(e) = written
                    && output.status.success()
                {
                    return Err(spawn_error(&argv, e));
                }
                output
            }
            _ => child
                .wait_with_output()
                .await
                .map_err(|e| spawn_error(&argv, e))?,
        };
        Ok((argv, output))
    }

    /// Runs podman and fails unless it exits 0; returns stdout.
    async fn run(&self, args: &[String], stdin: Option<&[u8]>) -> Result<String> {
        let (argv, output) = self.output(args, stdin).await?;
        if !output.status.success() {
            return Err(failed(argv, &output));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    async fn query<T: DeserializeOwned>(&self, args: &[&str]) -> Result<Vec<T>> {
        let args = strings(args);
        let stdout = self.run(&args, None).await?;
        parse_list(&stdout).map_err(|source| PodmanError::Parse {
            argv: self.argv(&args),
            source,
        })
    }

    /// `podman version --format json`.
    pub async fn version(&self) -> Result<PodmanVersion> {
        let args = strings(&["version", "--format", "json"]);
        let stdout = self.run(&args, None).await?;
        serde_json::from_str(&stdout).map_err(|source| PodmanError::Parse {
            argv: self.argv(&args),
            source,
        })
    }

    /// Where the store keeps the containers' run directories (`Store.RunRoot` of
    /// `podman info`): podman's health-check logs are there.
    pub async fn run_root(&self) -> Result<PathBuf> {
        let args = strings(&["info", "--format", "{{.Store.RunRoot}}"]);
        let stdout = self.run(&args, None).await?;
        Ok(PathBuf::from(stdout.trim()))
    }

    /// Every container, podctl's or not (a foreign one with a managed name is a clash the
    /// caller must see).
    pub async fn containers(&self) -> Result<Vec<Container>> {
        if let Some(api) = &self.api
            && let Some(found) = api_answer("containers", api.containers().await)
        {
            return Ok(found);
        }
        self.query(&["ps", "--all", "--format", "json"]).await
    }

    /// The containers named exactly one of `names` (podctl's or not, as `containers`): what
    /// the controller asks again of the containers its events named.
    pub async fn containers_named(&self, names: &[String]) -> Result<Vec<Container>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(api) = &self.api
            && let Some(found) = api_answer("containers", api.containers_named(names).await)
        {
            return Ok(found);
        }
        let mut args = vec!["ps".to_owned(), "--all".to_owned()];
        for name in names {
            args.push("--filter".to_owned());
            args.push(format!("name={}", api::exact_name(name)));
        }
        args.extend(["--format".to_owned(), "json".to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.query(&args).await
    }

    pub async fn volumes(&self) -> Result<Vec<Volume>> {
        if let Some(api) = &self.api
            && let Some(found) = api_answer("volumes", api.volumes().await)
        {
            return Ok(found);
        }
        self.query(&["volume", "ls", "--format", "json"]).await
    }

    pub async fn networks(&self) -> Result<Vec<Network>> {
        if let Some(api) = &self.api
            && let Some(found) = api_answer("networks", api.networks().await)
        {
            return Ok(found);
        }
        self.query(&["network", "ls", "--format", "json"]).await
    }

    /// Local images, one entry per image ID.
    pub async fn images(&self) -> Result<Vec<Image>> {
        let from_api = match &self.api {
            Some(api) => api_answer("images", api.images().await),
            None => None,
        };
        let images = match from_api {
            Some(found) => found,
            None => self.query(&["images", "--format", "json"]).await?,
        };
        Ok(dedup_images(images))
    }

    /// The local images among `references` (with every name they have), through the API:
    /// one inspect per reference instead of the whole list, which podman 4.3's API takes
    /// ~70 ms to compute; through the CLI: all local images (one process either way). The
    /// second value says which: `true` for all of them.
    pub async fn images_named(
        &self,
        references: &std::collections::BTreeSet<String>,
    ) -> Result<(Vec<Image>, bool)> {
        if let Some(api) = &self.api
            && let Some(found) = api_answer("images", api.images_named(references).await)
        {
            return Ok((dedup_images(found), false));
        }
        Ok((self.images().await?, true))
    }

    /// Every secret's metadata (never its value).
    pub async fn secrets(&self) -> Result<Vec<Secret>> {
        if let Some(api) = &self.api
            && let Some(found) = api_answer("secrets", api.secrets().await)
        {
            return Ok(found);
        }
        self.cli_secrets().await
    }

    /// `secret ls` for the IDs, then one `secret inspect` of all of them, since podman 4.3's
    /// `secret ls` has neither JSON output nor labels.
    async fn cli_secrets(&self) -> Result<Vec<Secret>> {
        let ids = self
            .run(&strings(&["secret", "ls", "--format", "{{.ID}}"]), None)
            .await?;
        let mut args = strings(&["secret", "inspect"]);
        args.extend(
            ids.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
        if args.len() == 2 {
            return Ok(Vec::new());
        }
        let (argv, output) = self.output(&args, None).await?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // A secret removed between `ls` and `inspect` fails the command, but podman still
        // prints the others: that is a consistent enough snapshot.
        let vanished = stderr.contains("no such secret") && !stdout.trim().is_empty();
        if !output.status.success() && !vanished {
            return Err(failed(argv, &output));
        }
        let parsed: Vec<types::SecretInspect> =
            parse_list(&stdout).map_err(|source| PodmanError::Parse { argv, source })?;
        Ok(parsed.into_iter().map(Secret::from).collect())
    }

    /// `podman volume create`.
    pub async fn create_volume(
        &self,
        name: &str,
        driver: &str,
        options: &BTreeMap<String, String>,
        labels: &Labels,
    ) -> Result<()> {
        let mut args = strings(&["volume", "create"]);
        if !driver.is_empty() {
            args.extend(["--driver".to_owned(), driver.to_owned()]);
        }
        push_pairs(&mut args, "--opt", options);
        push_pairs(&mut args, "--label", labels);
        args.push(name.to_owned());
        self.run(&args, None).await.map(drop)
    }

    /// `podman volume rm NAME`; without `--force`, which would remove containers using it.
    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        self.run(&strings(&["volume", "rm", name]), None)
            .await
            .map(drop)
    }

    /// `podman volume export --output PATH NAME`: the volume's content as a tar file.
    pub async fn export_volume(&self, name: &str, path: &Path) -> Result<()> {
        let out = path.to_string_lossy().into_owned();
        self.run(
            &strings(&["volume", "export", "--output", &out, name]),
            None,
        )
        .await
        .map(drop)
    }

    /// `podman exec CONTAINER COMMAND…` (no shell; podman takes every argument after the
    /// container's name as the command's). Its standard output is discarded, not collected:
    /// a dump written to stdout by mistake must not fill podctl's memory; stderr is kept for
    /// the error.
    pub async fn exec(&self, container: &str, command: &[String]) -> Result<()> {
        let mut args = strings(&["exec", container]);
        args.extend(command.iter().cloned());
        let argv = self.argv(&args);
        tracing::debug!(argv = %argv, "podman");
        let output = Command::new(&self.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| PodmanError::Spawn {
                argv: argv.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(failed(argv, &output));
        }
        Ok(())
    }

    /// `podman volume import NAME PATH`: unpacks a tar file into the volume, over what it
    /// holds (podman merges: empty the volume first for an exact restore).
    pub async fn import_volume(&self, name: &str, path: &Path) -> Result<()> {
        let from = path.to_string_lossy().into_owned();
        self.run(&strings(&["volume", "import", name, &from]), None)
            .await
            .map(drop)
    }

    /// Where a `local` volume's data lives on the host.
    pub async fn volume_mountpoint(&self, name: &str) -> Result<PathBuf> {
        let out = self
            .run(
                &strings(&["volume", "inspect", "--format", "{{.Mountpoint}}", name]),
                None,
            )
            .await?;
        Ok(PathBuf::from(out.trim_end_matches('\n')))
    }

    /// `podman volume exists NAME`.
    pub async fn volume_exists(&self, name: &str) -> Result<bool> {
        let (_, output) = self
            .output(&strings(&["volume", "exists", name]), None)
            .await?;
        Ok(output.status.success())
    }

    /// The volume's driver (`local`, ...).
    pub async fn volume_driver(&self, name: &str) -> Result<String> {
        let out = self
            .run(
                &strings(&["volume", "inspect", "--format", "{{.Driver}}", name]),
                None,
            )
            .await?;
        Ok(out.trim().to_owned())
    }

    /// The containers (running or not) that mount the volume `name`.
    pub async fn containers_using(&self, name: &str) -> Result<Vec<Container>> {
        let filter = format!("volume={name}");
        self.query(&["ps", "--all", "--filter", &filter, "--format", "json"])
            .await
    }

    /// `podman secret create NAME -` with the value on stdin; returns the secret's ID.
    /// podman 4.3 has no `--replace`: to change a value, remove and create.
    pub async fn create_secret(&self, name: &str, value: &[u8], labels: &Labels) -> Result<String> {
        let mut args = strings(&["secret", "create"]);
        push_pairs(&mut args, "--label", labels);
        args.extend([name.to_owned(), "-".to_owned()]);
        let stdout = self.run(&args, Some(value)).await?;
        Ok(stdout.trim().to_owned())
    }

    pub async fn remove_secret(&self, name: &str) -> Result<()> {
        self.run(&strings(&["secret", "rm", name]), None)
            .await
            .map(drop)
    }

    /// `podman network create`.
    pub async fn create_network(&self, network: &NetworkCreate) -> Result<()> {
        let mut args = strings(&["network", "create"]);
        if !network.driver.is_empty() {
            args.extend(["--driver".to_owned(), network.driver.clone()]);
        }
        if let Some(subnet) = &network.subnet {
            args.extend(["--subnet".to_owned(), subnet.clone()]);
        }
        if let Some(gateway) = &network.gateway {
            args.extend(["--gateway".to_owned(), gateway.clone()]);
        }
        if network.internal {
            args.push("--internal".to_owned());
        }
        if network.ipv6 {
            args.push("--ipv6".to_owned());
        }
        push_pairs(&mut args, "--label", &network.labels);
        args.push(network.name.clone());
        self.run(&args, None).await.map(drop)
    }

    /// `podman network rm NAME`; without `--force`, which would remove containers using it.
    pub async fn remove_network(&self, name: &str) -> Result<()> {
        self.run(&strings(&["network", "rm", name]), None)
            .await
            .map(drop)
    }

    /// `podman pull --quiet`. `tls_verify: None` keeps podman's default (and registries.conf);
    /// [`images`](Self::images) tells the ID and digest afterwards.
    pub async fn pull(
        &self,
        reference: &str,
        tls_verify: Option<bool>,
        auth_file: Option<&Path>,
    ) -> Result<()> {
        let mut args = strings(&["pull", "--quiet"]);
        if let Some(verify) = tls_verify {
            args.push(format!("--tls-verify={verify}"));
        }
        if let Some(file) = auth_file {
            args.extend(["--authfile".to_owned(), file.to_string_lossy().into_owned()]);
        }
        args.push(reference.to_owned());
        self.run(&args, None).await.map(drop)
    }

    /// `podman image exists REF`: exit 0 yes, 1 no, anything else an error.
    pub async fn image_exists(&self, reference: &str) -> Result<bool> {
        let (argv, output) = self
            .output(&strings(&["image", "exists", reference]), None)
            .await?;
        match output.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(failed(argv, &output)),
        }
    }

    /// `podman rmi REF`; without `--force`, so an image a container still uses stays (and
    /// a reference that is one of several names of an image only loses that name).
    pub async fn remove_image(&self, reference: &str) -> Result<()> {
        self.run(&strings(&["rmi", reference]), None)
            .await
            .map(drop)
    }

    /// `podman rm [--force] NAME_OR_ID`; `force` stops a running container first.
    pub async fn remove_container(&self, name_or_id: &str, force: bool) -> Result<()> {
        let mut args = strings(&["rm"]);
        if force {
            args.push("--force".to_owned());
        }
        args.push(name_or_id.to_owned());
        self.run(&args, None).await.map(drop)
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|&a| a.to_owned()).collect()
}

/// `--flag k=v` for each pair, in key order so the command line is deterministic.
fn push_pairs(args: &mut Vec<String>, flag: &str, pairs: &BTreeMap<String, String>) {
    for (k, v) in pairs {
        args.push(flag.to_owned());
        args.push(format!("{k}={v}"));
    }
}

fn failed(argv: Argv, output: &Output) -> PodmanError {
    PodmanError::Failed {
        argv,
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A JSON array; podman prints nothing at all instead of `[]` in some versions and commands.
fn parse_list<T: DeserializeOwned>(stdout: &str) -> Result<Vec<T>, serde_json::Error> {
    if stdout.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(stdout)
}

/// The API's answer, or `None` (and a warning) if it failed: the caller asks the CLI then.
fn api_answer<T>(what: &str, answer: Result<T, ApiError>) -> Option<T> {
    answer
        .inspect_err(|e| {
            tracing::warn!(error = %e, kind = e.kind(), "podman API query of {what} failed; asking the podman CLI");
        })
        .ok()
}

/// podman 4.3 lists an image once per name it has; keep one entry per ID, names merged.
fn dedup_images(images: Vec<Image>) -> Vec<Image> {
    let mut out: Vec<Image> = Vec::with_capacity(images.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    for image in images {
        match index.get(&image.id) {
            Some(&i) => {
                let kept = &mut out[i];
                for name in image.names {
                    if !kept.names.contains(&name) {
                        kept.names.push(name);
                    }
                }
            }
            None => {
                index.insert(image.id.clone(), out.len());
                out.push(image);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
