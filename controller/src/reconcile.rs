//! One reconcile pass over the whole host: observe, plan, execute. `apply` runs it once;
//! the controller runs it on every change.

use std::collections::BTreeSet;
use std::path::PathBuf;

use podctl_api::{Kind, Revision};

use crate::adapters::podman::Podman;
use crate::adapters::systemd::Systemd;
use crate::execute::{Executor, Outcome};
use crate::observe::{self, ContainerStatus, Observed, UnitStatus};
use crate::plan::{self, Plan};
use crate::render::{RenderContext, unit_name};

pub const DEFAULT_UNIT_DIR: &str = "/etc/systemd/system";

/// Where and how podctl works on this host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub unit_dir: PathBuf,
    pub concurrency: usize,
}

/// The host podctl reconciles: its systemd, its podman, its unit directory.
pub struct Host {
    pub systemd: Systemd,
    pub podman: Podman,
    pub config: HostConfig,
    pub render: RenderContext,
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
        Ok(Self {
            systemd,
            podman,
            config,
            render,
        })
    }

    /// Observes what planning `revision` needs, in a constant number of queries.
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
        let (units, containers, images) = tokio::join!(
            self.systemd.unit_states(&names),
            self.podman.containers(),
            self.podman.images(),
        );
        let units = units.context("cannot read unit states from systemd")?;
        let containers = containers.context("cannot list containers")?;
        let images = images.context("cannot list images")?;
        Ok(Observed {
            unit_dir: self.config.unit_dir.clone(),
            unit_files,
            units: units
                .into_iter()
                .map(|u| {
                    let status = UnitStatus {
                        load_state: u.load_state.as_str().to_string(),
                        active_state: u.active_state.as_str().to_string(),
                        sub_state: u.sub_state,
                        fragment_path: u.fragment_path,
                        unit_file_state: u.unit_file_state,
                        n_restarts: u.n_restarts,
                    };
                    (u.name, status)
                })
                .collect(),
            containers: containers
                .into_iter()
                .filter_map(|c| {
                    let name = c.names.first()?.clone();
                    Some((
                        name.clone(),
                        ContainerStatus {
                            id: c.id,
                            name,
                            state: c.state,
                            labels: c.labels,
                        },
                    ))
                })
                .collect(),
            images: images
                .into_iter()
                .flat_map(|i| i.names.into_iter().chain(std::iter::once(i.id)))
                .collect(),
        })
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
