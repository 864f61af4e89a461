//! One reconcile pass over the whole host: observe, plan, execute. `apply` runs it once;
//! the controller runs it on every change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use podctl_api::{Kind, Revision};

use crate::adapters::podman::Podman;
use crate::adapters::systemd::Systemd;
use crate::execute::{Executor, Outcome};
use crate::observe::{self, Observed, secret_source};
use crate::plan::{self, Plan};
use crate::render::{RenderContext, unit_name};

pub const DEFAULT_UNIT_DIR: &str = "/etc/systemd/system";

/// Where and how podctl works on this host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub unit_dir: PathBuf,
    pub concurrency: usize,
}

/// Where podctl keeps its own records (the images it pulled), unless `PODCTL_STATE_DIR`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/podctl";

/// The host podctl reconciles: its systemd, its podman, its unit directory.
pub struct Host {
    pub systemd: Systemd,
    pub podman: Podman,
    pub config: HostConfig,
    pub render: RenderContext,
    /// podctl's records on this host (`PODCTL_STATE_DIR`, default /var/lib/podctl).
    pub state_dir: PathBuf,
    /// Show pull progress on stderr (set when stderr is a terminal).
    pub progress: bool,
    /// Tries of a pull that fails on the network within one apply. The controller makes it
    /// 1: its own backoff retries, and a pass must not wait on a registry that is down.
    pub pull_attempts: u32,
    /// The host-local key secret hashes are made with.
    pub secret_key: secret_source::HashKey,
    /// Cancelled to stop an execution at its next safe point (apply's Ctrl-C).
    pub interrupt: tokio_util::sync::CancellationToken,
}

impl Host {
    pub async fn connect(config: HostConfig) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let systemd = Systemd::connect()
            .await
            .context("cannot reach systemd on the D-Bus system bus (is this a systemd host, and are you root?)")?;
        let podman = Podman::new();
        let render = RenderContext {
            podman: podman_path(),
            ..RenderContext::default()
        };
        let state_dir = std::env::var_os("PODCTL_STATE_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from);
        let secret_key = secret_source::HashKey::load_or_create(&state_dir).with_context(|| {
            format!(
                "cannot read or make the secret hash key {}",
                state_dir.join(secret_source::KEY_FILE).display()
            )
        })?;
        Ok(Self {
            systemd,
            podman,
            config,
            render,
            state_dir,
            secret_key,
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            pull_attempts: crate::execute::PULL_ATTEMPTS,
            interrupt: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// Observes what planning `revision` needs: one podman query per resource kind, one
    /// `ListUnitsByNames` and then one `GetAll` per existing unit (a bounded number in flight),
    /// so the cost grows with the number of units.
    pub async fn observe(&self, revision: &Revision) -> anyhow::Result<Observed> {
        use anyhow::Context as _;
        let unit_files = observe::read_unit_dir(&self.config.unit_dir)?;
        let mut names: BTreeSet<String> = revision
            .of_kind(Kind::Container)
            .map(|o| unit_name(o.name()))
            .collect();
        names.extend(
            unit_files
                .iter()
                .filter(|(_, f)| f.managed)
                .map(|(n, _)| n.clone()),
        );
        let names: Vec<String> = names.into_iter().collect();
        let (units, containers, images, volumes, secrets, networks) = tokio::join!(
            self.systemd.unit_states(&names),
            self.podman.containers(),
            self.podman.images(),
            self.podman.volumes(),
            self.podman.secrets(),
            self.podman.networks(),
        );
        let units = units.context("cannot read unit states from systemd")?;
        let containers = containers.context("cannot list containers")?;
        let images = images.context("cannot list images")?;
        let volumes = volumes.context("cannot list volumes")?;
        let secrets = secrets.context("cannot list secrets")?;
        let networks = networks.context("cannot list networks")?;
        let image_ids = images
            .iter()
            .flat_map(|i| i.names.iter().map(|n| (n.clone(), i.id.clone())))
            .collect();
        Ok(Observed {
            image_ids,
            pulled_images: observe::pulled_images::read(&self.state_dir),
            volumes: volumes.into_iter().map(observe::volume_status).collect(),
            secrets: secrets.into_iter().map(observe::secret_status).collect(),
            networks: networks.into_iter().map(observe::network_status).collect(),
            secret_hashes: self.secret_hashes(revision),
            unit_dir: self.config.unit_dir.clone(),
            unit_files,
            units: units.into_iter().map(observe::unit_status).collect(),
            containers: containers
                .into_iter()
                .filter_map(observe::container_status)
                .collect(),
            images: images
                .into_iter()
                .flat_map(|i| i.names.into_iter().chain(std::iter::once(i.id)))
                .collect(),
        })
    }

    /// Each desired secret's source, read, hashed with the host key, and dropped at once;
    /// or why it cannot be read. Never the value.
    fn secret_hashes(&self, revision: &Revision) -> BTreeMap<String, Result<String, String>> {
        revision
            .of_kind(Kind::Secret)
            .filter_map(|o| Some((o.name().to_string(), o.as_secret()?)))
            .map(|(name, spec)| {
                let hash = spec
                    .origin()
                    .ok_or_else(|| format!("secret {name} has no source"))
                    .and_then(|source| secret_source::read(&source))
                    .map(|value| value.hash(&self.secret_key));
                (name, hash)
            })
            .collect()
    }

    pub fn plan(&self, revision: &Revision, observed: &Observed) -> Plan {
        plan::plan(revision, observed, &self.render)
    }

    pub async fn execute(&self, plan: &Plan, revision: &Revision) -> Vec<Outcome> {
        Executor {
            systemd: &self.systemd,
            podman: &self.podman,
            unit_dir: self.config.unit_dir.clone(),
            concurrency: self.config.concurrency,
            state_dir: self.state_dir.clone(),
            progress: self.progress,
            pull_attempts: self.pull_attempts,
            interrupt: self.interrupt.clone(),
            secret_key: &self.secret_key,
        }
        .execute(plan, revision)
        .await
    }
}

/// The absolute path of `podman` for `Exec*=` lines: systemd needs one, and the binary
/// found on PATH is the one the operator uses. `PODCTL_PODMAN` (a wrapper for podctl's own
/// calls) deliberately does not change what the units run.
fn podman_path() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("podman"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/podman"))
}
