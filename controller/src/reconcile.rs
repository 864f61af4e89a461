//! One reconcile pass over the whole host: observe, plan, refuse a plan that would empty
//! the host, execute. `apply` runs it once, the controller on every change: both call
//! [`Host::reconcile`], so what the one does the other does too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use podctl_api::{Kind, ObjectRef, Revision};
use tracing::info;

use crate::adapters::podman::{ApiSocket, Podman, PodmanError};
use crate::adapters::systemd::{ActiveState, Systemd, SystemdError};
use crate::execute::{Executor, Outcome, ProgressSink};
use crate::holds;
use crate::observe::{self, Observed, UnitDirError, secret_source};
use crate::plan::guard::WipesTheHost;
use crate::plan::{self, Plan};
use crate::render::{RenderContext, unit_name};

pub const DEFAULT_UNIT_DIR: &str = "/etc/systemd/system";

/// Where and how podctl works on this host. Built by the CLI from its flags and environment:
/// nothing below reads either.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub unit_dir: PathBuf,
    pub concurrency: usize,
    /// podctl's records on this host (pulled images, the secret hash key).
    pub state_dir: PathBuf,
    /// The podman podctl itself calls (`PODCTL_PODMAN`: a wrapper, as the tests use).
    pub podman: PathBuf,
    /// Whether the queries of an observation go through podman's API socket.
    pub podman_api: PodmanApi,
    /// The absolute path of the podman the units run (`Exec*=` lines need one).
    pub unit_podman: PathBuf,
    /// Tries of a pull that fails on the network within one execution. The controller makes
    /// it 1: its own backoff retries, and a pass must not wait on a registry that is down.
    pub pull_attempts: u32,
    /// Rollouts (restart onto a new image, then the gate) at once, host-wide.
    pub max_parallel_updates: usize,
    /// Where a HostSettings' files and values live (`/etc/sysctl.d`, `/proc/sys`, ...).
    pub host_paths: observe::host_settings::HostPaths,
}

/// When podctl reads the host through podman's REST API socket instead of `podman`
/// processes (about 1 ms per query against ~50 ms per process; `docs/performance.md`).
/// Whatever the choice, a query the API fails is asked of the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodmanApi {
    /// Never: the CLI only (`--podman-socket none`).
    Off,
    /// When podman's API service already runs (`podman.service` active): one-shot commands,
    /// for which a start through socket activation (~0.4 s) costs more than it saves.
    IfRunning(PathBuf),
    /// Whenever the socket exists, starting the service through it: the controller, whose
    /// event stream then keeps the service running.
    Always(PathBuf),
}

impl PodmanApi {
    /// The same socket, used whenever it exists.
    #[must_use]
    pub fn always(self) -> Self {
        match self {
            Self::IfRunning(path) | Self::Always(path) => Self::Always(path),
            Self::Off => Self::Off,
        }
    }

    /// The socket to use on this host now, if any.
    async fn socket(&self, systemd: &Systemd) -> Option<ApiSocket> {
        let (path, if_running) = match self {
            Self::Off => return None,
            Self::IfRunning(path) => (path, true),
            Self::Always(path) => (path, false),
        };
        if !path.exists() {
            return None;
        }
        if if_running {
            let states = systemd
                .unit_states(&[PODMAN_API_SERVICE.to_owned()])
                .await
                .ok()?;
            if states.first()?.active_state != ActiveState::Active {
                tracing::debug!("{PODMAN_API_SERVICE} not running: asking the podman CLI");
                return None;
            }
        }
        Some(ApiSocket::new(path))
    }
}

/// The unit of podman's root API service (podman's packages), started by its socket.
const PODMAN_API_SERVICE: &str = "podman.service";

/// Where podctl keeps its own records (the images it pulled), unless `PODCTL_STATE_DIR`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/podctl";

/// Why the host could not be observed: the pass stops before planning.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("cannot read the unit directory")]
    UnitDir(#[source] UnitDirError),
    #[error("cannot read unit states from systemd")]
    Units(#[source] SystemdError),
    #[error("cannot list {what}")]
    Podman {
        what: &'static str,
        #[source]
        source: PodmanError,
    },
}

/// Why a pass stopped before executing anything.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// The revision declares no container and the plan would remove every managed one.
    #[error(transparent)]
    Refused(WipesTheHost),
}

/// What a pass is asked to do beyond the revision.
#[derive(Debug, Default)]
pub struct PassOptions {
    /// The host as the previous pass left it, planned against instead of observing again
    /// (the controller's fast path for a manifest change or a host event).
    pub cached: Option<CachedHost>,
    /// Plan removals even when the revision declares no container (`--allow-empty`).
    pub allow_empty: bool,
    /// `false`: nothing is removed, removals are left out of the plan (`--prune=false`).
    pub prune: bool,
    /// Objects left out of this pass (the controller's backoff).
    pub deferred: BTreeSet<ObjectRef>,
    /// Observe the host again after executing a plan that changed it (the controller keeps
    /// it for the next pass; `apply` exits).
    pub observe_after: bool,
}

/// The controller's store of the host: the previous pass's observation, and the containers
/// host events named since (by name; each with its unit `NAME.service`), which a pass asks
/// for again before planning (`Host::refresh`). A pass then costs what changed, not what
/// the host holds: at 300 containers podman alone takes ~0.3 s to list them all.
#[derive(Debug, Clone)]
pub struct CachedHost {
    pub observed: Arc<Observed>,
    pub stale: BTreeSet<String>,
}

/// What one pass planned and did.
#[derive(Debug)]
pub struct Reconciled {
    pub plan: Plan,
    pub outcomes: Vec<Outcome>,
    /// The host after the pass: observed again if it changed, or as planned against if not;
    /// `None` unless [`PassOptions::observe_after`] (or that observation failed).
    pub observed_after: Option<Arc<Observed>>,
}

/// The host podctl reconciles: its systemd, its podman, its unit directory.
pub struct Host {
    pub systemd: Systemd,
    pub podman: Podman,
    pub config: HostConfig,
    pub render: RenderContext,
    /// Where pull progress goes (the CLI renders it on a terminal); none: only logged.
    pub progress: Option<ProgressSink>,
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
        let podman =
            Podman::with_program(&config.podman).with_api(config.podman_api.socket(&systemd).await);
        let mut render = RenderContext {
            podman: config.unit_podman.clone(),
            ..RenderContext::default()
        };
        // Backup timers run this very binary, with this state directory; the manifests'
        // directory is the caller's to set (`Host::manifests`).
        if let Ok(exe) = std::env::current_exe() {
            render.backup.podctl = exe;
        }
        render.backup.state_dir =
            std::path::absolute(&config.state_dir).unwrap_or_else(|_| config.state_dir.clone());
        let secret_key =
            secret_source::HashKey::load_or_create(&config.state_dir).with_context(|| {
                format!(
                    "cannot read or make the secret hash key {}",
                    config.state_dir.join(secret_source::KEY_FILE).display()
                )
            })?;
        Ok(Self {
            systemd,
            podman,
            config,
            render,
            secret_key,
            progress: None,
            interrupt: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// Observes what planning `revision` needs: one podman query per resource kind, one
    /// `ListUnitsByNames` and then one `GetAll` per existing unit (a bounded number in flight),
    /// so the cost grows with the number of units.
    pub async fn observe(&self, revision: &Revision) -> Result<Observed, ObserveError> {
        let unit_files =
            observe::read_unit_dir(&self.config.unit_dir).map_err(ObserveError::UnitDir)?;
        let mut names: BTreeSet<String> = revision
            .of_kind(Kind::Container)
            .flat_map(desired_unit_names)
            .collect();
        names.extend(
            unit_files
                .iter()
                .filter(|(_, f)| f.managed)
                .map(|(n, _)| n.clone()),
        );
        let names: Vec<String> = names.into_iter().collect();
        // The images planning looks at: those the revision names and those podctl pulled
        // (the candidates for pruning); any other image is never touched.
        let pulled_images = observe::pulled_images::read(&self.config.state_dir);
        let mut image_refs = plan::image_references(revision);
        image_refs.extend(pulled_images.iter().cloned());
        let (units, containers, images, volumes, secrets, networks) = tokio::join!(
            self.systemd.unit_states(&names),
            self.podman.containers(),
            self.podman.images_named(&image_refs),
            self.podman.volumes(),
            self.podman.secrets(),
            self.podman.networks(),
        );
        let units = units.map_err(ObserveError::Units)?;
        let podman = |what| move |source| ObserveError::Podman { what, source };
        let containers = containers.map_err(podman("containers"))?;
        let (images, all_images) = images.map_err(podman("images"))?;
        let volumes = volumes.map_err(podman("volumes"))?;
        let secrets = secrets.map_err(podman("secrets"))?;
        let networks = networks.map_err(podman("networks"))?;
        let image_ids = images
            .iter()
            .flat_map(|i| i.names.iter().map(|n| (n.clone(), i.id.clone())))
            .collect();
        Ok(Observed {
            image_ids,
            images_asked: (!all_images).then_some(image_refs),
            pulled_images,
            volumes: volumes.into_iter().map(observe::volume_status).collect(),
            secrets: secrets.into_iter().map(observe::secret_status).collect(),
            networks: networks.into_iter().map(observe::network_status).collect(),
            secret_hashes: self.secret_hashes(revision),
            rollouts: observe::rollouts::read_all(
                &self.config.state_dir,
                revision.of_kind(Kind::Container).map(|o| o.name().as_str()),
            ),
            bluegreen: observe::bluegreen::read_all(&self.config.state_dir, revision),
            unit_dir: self.config.unit_dir.clone(),
            host_settings: observe::host_settings::observe(
                &self.config.host_paths,
                revision
                    .of_kind(Kind::HostSettings)
                    .filter_map(|o| o.as_host_settings())
                    .flat_map(|h| h.sysctl.keys()),
            ),
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

    /// `observed` brought up to date where events said the host changed: the containers
    /// named in `stale` and their units asked again (a container gone is dropped), and the
    /// unit directory read again (cheap, and files have no events). Images, volumes,
    /// networks and secrets are kept: what changes them behind podctl is not evented here,
    /// and the controller's resync observes everything.
    pub async fn refresh(
        &self,
        mut observed: Observed,
        stale: &BTreeSet<String>,
    ) -> Result<Observed, ObserveError> {
        observed.unit_files =
            observe::read_unit_dir(&self.config.unit_dir).map_err(ObserveError::UnitDir)?;
        if stale.is_empty() {
            return Ok(observed);
        }
        let names: Vec<String> = stale.iter().cloned().collect();
        let units: Vec<String> = names.iter().map(|n| format!("{n}.service")).collect();
        tracing::debug!(
            containers = names.len(),
            "asking again what host events named"
        );
        let (units, containers) = tokio::join!(
            self.systemd.unit_states(&units),
            self.podman.containers_named(&names),
        );
        let units = units.map_err(ObserveError::Units)?;
        let containers = containers.map_err(|source| ObserveError::Podman {
            what: "containers",
            source,
        })?;
        for name in &names {
            observed.containers.remove(name);
        }
        observed
            .containers
            .extend(containers.into_iter().filter_map(observe::container_status));
        observed
            .units
            .extend(units.into_iter().map(observe::unit_status));
        Ok(observed)
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

    /// One pass: observe (or take the cached observation), plan, refuse a plan that would
    /// empty the host, execute, and observe again if asked to.
    pub async fn reconcile(
        &self,
        revision: &Revision,
        options: PassOptions,
    ) -> Result<Reconciled, PassError> {
        let observed = match options.cached {
            // Observed for another revision, it may not know this one's images.
            Some(c) if c.observed.knows_images_of(revision) => {
                self.refresh(Arc::unwrap_or_clone(c.observed), &c.stale)
                    .await?
            }
            _ => self.observe(revision).await?,
        };
        let mut plan = self.plan(revision, &observed);
        if !options.prune {
            plan = plan.without_pruning();
        }
        if let Some(refused) = WipesTheHost::check(revision, &plan, options.allow_empty) {
            return Err(PassError::Refused(refused));
        }
        leave_held_alone(&mut plan, &holds::live(&self.config.state_dir));
        if !options.deferred.is_empty() {
            tracing::debug!(
                deferred = options.deferred.len(),
                "objects backing off are left out"
            );
            plan.steps.retain(|s| !options.deferred.contains(&s.object));
        }
        if plan.has_changes() {
            info!(
                steps = plan.steps.iter().filter(|s| !s.is_noop()).count(),
                "applying"
            );
        }
        let outcomes = self.execute(&plan, revision).await;
        // What the pass changed makes its observation stale: look again for the next change.
        let observed_after = match (options.observe_after, plan.has_changes()) {
            (false, _) => None,
            (true, true) => self.observe(revision).await.ok().map(Arc::new),
            (true, false) => Some(Arc::new(observed)),
        };
        Ok(Reconciled {
            plan,
            outcomes,
            observed_after,
        })
    }

    pub async fn execute(&self, plan: &Plan, revision: &Revision) -> Vec<Outcome> {
        Executor {
            systemd: &self.systemd,
            podman: &self.podman,
            unit_dir: self.config.unit_dir.clone(),
            concurrency: self.config.concurrency,
            state_dir: self.config.state_dir.clone(),
            progress: self.progress.clone(),
            pull_attempts: self.config.pull_attempts,
            interrupt: self.interrupt.clone(),
            secret_key: &self.secret_key,
            updates: crate::execute::UpdateSlots::new(self.config.max_parallel_updates),
        }
        .execute(plan, revision)
        .await
    }
}

/// The units a Container object runs as: `NAME.service`, or a blue-green container's
/// colours and proxy.
fn desired_unit_names(object: &podctl_api::Object) -> Vec<String> {
    match object.as_container() {
        Some(c) if podctl_api::bluegreen_checks::is_blue_green(c) => {
            crate::bluegreen::units(object.name().as_str())
        }
        _ => vec![unit_name(object.name())],
    }
}

/// Leaves out of `plan` the containers whose unit another podctl process holds stopped (a
/// backup or restore, `holds.rs`), read after the observation: a unit seen stopped by
/// that observation was held before it was stopped. They are planned again once the hold
/// is gone.
fn leave_held_alone(plan: &mut Plan, held: &BTreeMap<String, String>) {
    if held.is_empty() {
        return;
    }
    plan.steps.retain(|s| {
        // A blue-green container's step names the colour it plans (`Step::unit`).
        let unit = s.unit.clone().unwrap_or_else(|| unit_name(&s.object.name));
        let holder = (s.object.kind == Kind::Container && !s.is_noop())
            .then(|| held.get(&unit))
            .flatten();
        if let Some(reason) = holder {
            tracing::warn!(object = %s.object, change = %s.change, held_by = %reason, "left alone while held");
        }
        holder.is_none()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::systemd::ActiveState;
    use crate::plan::{Action, Change, RepairReason, Step};

    fn container(name: &str) -> ObjectRef {
        ObjectRef::new(Kind::Container, name.parse().expect("name"))
    }

    #[test]
    fn a_held_container_should_be_left_out_and_the_others_kept() {
        let repair = |name: &str| {
            Step::new(
                container(name),
                Change::Repair {
                    reason: RepairReason::UnitInactive(ActiveState::Inactive),
                },
                vec![Action::StartUnit {
                    unit: format!("{name}.service"),
                }],
            )
        };
        let mut plan = Plan {
            steps: vec![repair("db"), repair("app")],
        };
        let held = BTreeMap::from([("db.service".to_owned(), "backup of volume data".to_owned())]);
        leave_held_alone(&mut plan, &held);
        let left: Vec<String> = plan.steps.iter().map(|s| s.object.to_string()).collect();
        assert_eq!(left, ["container/app"]);
    }
}
