//! The plan: a pure function from the desired revision and the observed host to the
//! actions that converge it, each with its reason. `diff` prints it, `apply` executes it.

mod backup_timer;
pub mod bluegreen;
mod explain;
pub mod guard;
mod host_settings;
mod image;
pub(crate) use image::desired_references as image_references;
mod network;
mod reason;
pub mod rollout;
mod secret;
mod volume;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use podctl_api::{
    ContainerSpec, ImageSource, Kind, Name, NetworkSpec, ObjectRef, PullPolicy, Revision,
    SecretOrigin,
};

pub use explain::changed_fields;
pub use image::image_object_name;
pub use reason::RepairReason;

use crate::observe::{ActiveState, Observed, UnitStatus};
use crate::ownership::owns;
use crate::render::{self, RenderContext, container_unit, unit_name};

/// One thing to do to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Pull an image (not in local storage, or `pullPolicy: Always`).
    PullImage {
        reference: String,
        tls_verify: Option<bool>,
        auth_file: Option<PathBuf>,
        /// The image ID the reference had before the pull, if any: a pull that changes it
        /// restarts the running consumers.
        previous_id: Option<String>,
    },
    /// Remove an image podctl pulled and nothing desired uses any more.
    RemoveImage {
        reference: String,
    },
    /// `podman volume create` with podctl's labels (and `io.podctl.reclaim`).
    CreateVolume {
        name: String,
        driver: String,
        options: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    },
    /// Delete a volume and its data (`reclaimPolicy: Delete`, manifest removed).
    RemoveVolume {
        name: String,
    },
    /// Create a podman secret from `source`, read at execution time: a plan never holds a
    /// value. `hash` is the content hash observed while planning, for display.
    CreateSecret {
        name: String,
        source: SecretOrigin,
        hash: String,
        labels: BTreeMap<String, String>,
    },
    RemoveSecret {
        name: String,
    },
    /// `podman network create` with the manifest's settings and these labels (the manifest's
    /// and podctl's marks).
    CreateNetwork {
        name: String,
        spec: NetworkSpec,
        labels: BTreeMap<String, String>,
    },
    RemoveNetwork {
        name: String,
    },
    /// Write (create or replace) a unit file.
    WriteUnit {
        unit: String,
        content: String,
    },
    EnableUnit {
        unit: String,
    },
    DisableUnit {
        unit: String,
    },
    StartUnit {
        unit: String,
    },
    RestartUnit {
        unit: String,
    },
    /// Nothing for podctl to do: systemd restarts `unit` together with `with`, a unit it
    /// `Requires=` (a `dependsOn`), when that one is restarted. In the plan so that `diff`
    /// and `apply` say so, and so that the unit is not restarted twice.
    RestartedWith {
        unit: String,
        with: String,
    },
    StopUnit {
        unit: String,
    },
    RemoveUnitFile {
        unit: String,
        path: PathBuf,
    },
    /// Write a configuration file podctl owns outside the unit directory (a HostSettings'
    /// sysctl.d file or journald drop-in), atomically.
    WriteFile {
        path: PathBuf,
        content: String,
    },
    /// Remove such a file.
    RemoveFile {
        path: PathBuf,
    },
    /// Remove a managed container that no unit runs any more.
    RemoveContainer {
        name: String,
    },
    /// After a container's restart onto a new image: judge it by the health gate and keep
    /// it, or put the previous image back (see `rollout`). Boxed: it carries the unit text.
    Rollout(Box<crate::rollout::Rollout>),
    /// A blue-green container's switch from one colour to the other (see `bluegreen`).
    /// Boxed: it carries two unit texts.
    BlueGreen(Box<crate::bluegreen::Switch>),
}

impl Action {
    /// A short verb for tables: `write`, `start`, ...
    pub fn verb(&self) -> &'static str {
        match self {
            Action::PullImage { .. } => "pull",
            Action::WriteUnit { .. } => "write",
            Action::EnableUnit { .. } => "enable",
            Action::DisableUnit { .. } => "disable",
            Action::StartUnit { .. } => "start",
            Action::RestartUnit { .. } => "restart",
            Action::RestartedWith { .. } => "restarted-with",
            Action::StopUnit { .. } => "stop",
            Action::RemoveUnitFile { .. } => "remove-unit",
            Action::RemoveContainer { .. } => "remove-container",
            Action::RemoveImage { .. } => "remove-image",
            Action::CreateVolume { .. } => "create-volume",
            Action::RemoveVolume { .. } => "remove-volume",
            Action::CreateSecret { .. } => "create-secret",
            Action::RemoveSecret { .. } => "remove-secret",
            Action::CreateNetwork { .. } => "create-network",
            Action::RemoveNetwork { .. } => "remove-network",
            Action::Rollout(_) => "rollout",
            Action::WriteFile { .. } => "write-file",
            Action::RemoveFile { .. } => "remove-file",
            Action::BlueGreen(_) => "switch",
        }
    }

    /// Whether the action is about a systemd unit. A Volume's step carries some (its backup
    /// timer): the executor runs them after the unit files are written, with the containers.
    pub fn is_unit_action(&self) -> bool {
        match self {
            Action::WriteUnit { .. }
            | Action::EnableUnit { .. }
            | Action::DisableUnit { .. }
            | Action::StartUnit { .. }
            | Action::RestartUnit { .. }
            | Action::RestartedWith { .. }
            | Action::StopUnit { .. }
            | Action::RemoveUnitFile { .. }
            | Action::Rollout(_)
            | Action::BlueGreen(_) => true,
            Action::PullImage { .. }
            | Action::RemoveImage { .. }
            | Action::CreateVolume { .. }
            | Action::RemoveVolume { .. }
            | Action::CreateSecret { .. }
            | Action::RemoveSecret { .. }
            | Action::CreateNetwork { .. }
            | Action::RemoveNetwork { .. }
            | Action::RemoveContainer { .. }
            | Action::WriteFile { .. }
            | Action::RemoveFile { .. } => false,
        }
    }

    /// Whether the action changes unit files (and so needs a daemon-reload after it).
    pub fn touches_unit_files(&self) -> bool {
        matches!(
            self,
            Action::WriteUnit { .. } | Action::RemoveUnitFile { .. }
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::PullImage { reference, .. } => write!(f, "pull {reference}"),
            Action::WriteUnit { unit, .. } => write!(f, "write {unit}"),
            Action::EnableUnit { unit } => write!(f, "enable {unit}"),
            Action::DisableUnit { unit } => write!(f, "disable {unit}"),
            Action::StartUnit { unit } => write!(f, "start {unit}"),
            Action::RestartUnit { unit } => write!(f, "restart {unit}"),
            Action::RestartedWith { unit, with } => {
                write!(f, "{unit} is restarted by systemd with {with} (Requires=)")
            }
            Action::StopUnit { unit } => write!(f, "stop {unit}"),
            Action::RemoveUnitFile { unit, .. } => write!(f, "remove {unit}"),
            Action::RemoveContainer { name } => write!(f, "remove container {name}"),
            Action::RemoveImage { reference } => write!(f, "remove image {reference}"),
            Action::CreateVolume { name, .. } => write!(f, "create volume {name}"),
            Action::RemoveVolume { name } => write!(f, "remove volume {name} and its data"),
            Action::CreateSecret {
                name, source, hash, ..
            } => write!(f, "create secret {name} from {source} (sha256 {hash})"),
            Action::RemoveSecret { name } => write!(f, "remove secret {name}"),
            Action::CreateNetwork { name, .. } => write!(f, "create network {name}"),
            Action::RemoveNetwork { name } => write!(f, "remove network {name}"),
            Action::WriteFile { path, .. } => write!(f, "write {}", path.display()),
            Action::RemoveFile { path } => write!(f, "remove {}", path.display()),
            Action::Rollout(r) => match &r.from {
                Some(from) => write!(
                    f,
                    "roll {} out from {from} to {} (gate: {}s to start, {}s watch)",
                    r.unit,
                    r.to,
                    r.gate.timeout.as_secs(),
                    r.gate.watch.as_secs()
                ),
                None => write!(f, "pin {} to {}", r.unit, r.to),
            },
            Action::BlueGreen(s) => write!(f, "{s}"),
        }
    }
}

/// What happens to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing to do.
    UpToDate,
    /// Not on the host yet.
    Create,
    /// On the host, but different from the manifest (the fields that differ).
    Update { fields: Vec<String> },
    /// As declared, but not in the state it should be in (stopped, disabled, edited).
    Repair { reason: RepairReason },
    /// Left the revision: removed from the host.
    Delete,
    /// Cannot be done: a name clash with something podctl does not own.
    Conflict { message: String },
    /// Cannot be done as declared (an unreadable secret source, an immutable volume
    /// option changed, an image that may not be pulled): fails the object and blocks its
    /// dependents; the message says what to do.
    Error { message: String },
    /// Left the revision but kept on the host (a retained volume, or `--prune=false`).
    Orphaned { reason: String },
}

impl Change {
    /// The repair of a unit systemd gave up on (it failed, or exhausted its restarts).
    pub fn repairs_a_failed_unit(&self) -> bool {
        matches!(
            self,
            Change::Repair {
                reason: RepairReason::UnitFailed
            }
        )
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::UpToDate => f.write_str("up to date"),
            Change::Create => f.write_str("create"),
            Change::Update { fields } => write!(f, "update ({} changed)", fields.join(", ")),
            Change::Repair { reason } => write!(f, "repair ({reason})"),
            Change::Delete => f.write_str("delete"),
            Change::Conflict { message } => write!(f, "conflict: {message}"),
            Change::Error { message } => write!(f, "error: {message}"),
            Change::Orphaned { reason } => write!(f, "orphaned: {reason}"),
        }
    }
}

/// The plan for one object: what changes, and the actions, in the order they run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub object: ObjectRef,
    pub change: Change,
    pub actions: Vec<Action>,
    /// The unit file's text before and after, for `diff`.
    pub unit_before: Option<String>,
    pub unit_after: Option<String>,
    /// The unit `unit_before`/`unit_after` are of, when it is not `NAME.service` (a
    /// blue-green container's colour).
    pub unit: Option<String>,
    /// Drop-ins that change this container's unit behind the manifest (`systemctl edit`):
    /// drift podctl reports and never removes, since the files are the operator's.
    pub drop_ins: Vec<PathBuf>,
    /// A container's image decision, for the executor to decide again after a pull.
    pub rollout: Option<Box<rollout::RolloutBasis>>,
}

impl Step {
    /// Whether the step moves a running container to another image through the gate: a
    /// gated rollout, or a blue-green switch that starts the idle colour on one.
    pub fn is_gated_update(&self) -> bool {
        self.actions.iter().any(|a| match a {
            Action::Rollout(r) => r.is_gated(),
            Action::BlueGreen(s) => s.start && s.trigger.is_some() && s.from_pin.is_some(),
            _ => false,
        })
    }

    /// Nothing to do and nothing to report.
    pub fn is_noop(&self) -> bool {
        self.actions.is_empty()
            && self.drop_ins.is_empty()
            && !matches!(self.change, Change::Conflict { .. } | Change::Error { .. })
    }

    pub fn new(object: ObjectRef, change: Change, actions: Vec<Action>) -> Self {
        Self {
            object,
            change,
            actions,
            unit_before: None,
            unit_after: None,
            drop_ins: Vec::new(),
            rollout: None,
            unit: None,
        }
    }
}

/// The drop-ins among `paths` that target `unit` itself: `UNIT.d/` (also under
/// `/run/systemd/system.control`, where `systemctl set-property` writes) and prefix drop-ins
/// such as `web-.service.d/`. The type-wide `service.d/` applies to every service on the host
/// (distributions ship some) and is not drift of one object.
pub fn unit_drop_ins(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .and_then(|d| d.to_str())
                .is_some_and(|d| d != "service.d")
        })
        .cloned()
        .collect()
}

/// Every object's step: desired objects in dependency order, then removals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| !s.is_noop())
    }

    pub fn step(&self, object: &ObjectRef) -> Option<&Step> {
        self.steps.iter().find(|s| &s.object == object)
    }

    /// The first object `object` needs, directly or through others, that cannot be
    /// applied (a conflict or an error): `apply` leaves `object` as it is until that is
    /// fixed.
    pub fn blocker<'a>(&'a self, revision: &'a Revision, object: &ObjectRef) -> Option<&'a Step> {
        self.blocked_via(revision, object).map(|(_, step)| step)
    }

    /// [`Plan::blocker`], with the direct dependency of `object` it is reached through.
    pub fn blocked_via<'a>(
        &'a self,
        revision: &'a Revision,
        object: &ObjectRef,
    ) -> Option<(&'a ObjectRef, &'a Step)> {
        let mut queue: Vec<(&ObjectRef, &ObjectRef)> = revision
            .graph()
            .dependencies(object)
            .into_iter()
            .map(|d| (d, d))
            .collect();
        let mut seen = BTreeSet::new();
        while let Some((via, dep)) = queue.pop() {
            if !seen.insert(dep) {
                continue;
            }
            if let Some(step) = self
                .step(dep)
                .filter(|s| matches!(s.change, Change::Conflict { .. } | Change::Error { .. }))
            {
                return Some((via, step));
            }
            queue.extend(
                revision
                    .graph()
                    .dependencies(dep)
                    .into_iter()
                    .map(|d| (via, d)),
            );
        }
        None
    }

    /// Why `object` waits, for people: `blocked by volume/data: conflict: ...`, or through
    /// the dependency it waits on, `blocked by container/db, which waits for volume/data`.
    pub fn blocked_message(&self, revision: &Revision, object: &ObjectRef) -> Option<String> {
        let (via, root) = self.blocked_via(revision, object)?;
        Some(if *via == root.object {
            format!("blocked by {}: {}", root.object, root.change)
        } else {
            format!(
                "blocked by {via}, which waits for {}: {}",
                root.object, root.change
            )
        })
    }

    /// The plan of `apply --prune=false`: everything that left the revision is kept on
    /// the host and reported as orphaned instead of removed.
    pub fn without_pruning(mut self) -> Plan {
        for step in &mut self.steps {
            if step.change == Change::Delete {
                step.change = Change::Orphaned {
                    reason: "left the revision; kept (--prune=false)".into(),
                };
            }
            // A retained volume's step may carry the removal of its backup timer.
            if matches!(step.change, Change::Orphaned { .. }) {
                step.actions.clear();
            }
        }
        self
    }
}

/// A short hash of any serializable desired state (the `io.podctl.hash` label).
pub(crate) fn spec_hash<T: serde::Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    crate::observe::secret_source::content_hash(&bytes)
}

/// Plans the convergence of `observed` to `revision`.
///
/// The secrets' content hashes observed (never their values) go into the consumers'
/// units through the render context, so a changed secret restarts exactly those.
pub fn plan(revision: &Revision, observed: &Observed, ctx: &RenderContext) -> Plan {
    let mut ctx = ctx.clone();
    ctx.secret_hashes = secret_hashes(observed);
    let decisions = rollout::decisions(revision, observed);
    ctx.image_pins = decisions
        .iter()
        .filter_map(|(name, d)| Some((name.clone(), d.image_word()?.to_owned())))
        .collect();
    let ctx = &ctx;
    let mut steps = Vec::new();
    let mut desired_units = BTreeSet::new();
    // Containers stopped while their network is recreated, and by which network.
    let mut recreated_networks: BTreeMap<ObjectRef, Name> = BTreeMap::new();
    for object_ref in revision.graph().order() {
        let Some(object) = revision.get(object_ref) else {
            continue;
        };
        let spec = match &object.spec {
            podctl_api::Spec::Volume(v) => {
                let mut step = volume::plan(object_ref, v, observed);
                backup_timer::attach(&mut step, v, observed, ctx);
                steps.push(step);
                continue;
            }
            podctl_api::Spec::Secret(s) => {
                steps.push(secret::plan(object_ref, s, observed));
                continue;
            }
            podctl_api::Spec::Image(i) => {
                steps.push(image::plan(object_ref, i, observed));
                continue;
            }
            podctl_api::Spec::Network(n) => {
                let (step, stopped) = network::plan(object_ref, n, revision, observed);
                for c in stopped {
                    recreated_networks.insert(c, object_ref.name.clone());
                }
                steps.push(step);
                continue;
            }
            // Nothing on the host to converge: the repository is opened (and initialised
            // when missing) by `podctl backup run`, which needs its password only then.
            podctl_api::Spec::BackupRepository(_) => {
                steps.push(Step::new(object_ref.clone(), Change::UpToDate, Vec::new()));
                continue;
            }
            podctl_api::Spec::HostSettings(h) => {
                steps.push(host_settings::plan(object_ref, h, observed));
                continue;
            }
            podctl_api::Spec::Container(c) => c,
        };
        if podctl_api::bluegreen_checks::is_blue_green(spec) {
            let desired = bluegreen::Desired {
                object,
                spec,
                revision,
                decision: decisions.get(object_ref.name.as_str()),
            };
            desired_units.extend(crate::bluegreen::units(object.name().as_str()));
            let network = recreated_networks.get(object_ref);
            steps.extend(bluegreen::plan(&desired, observed, ctx, network));
            continue;
        }
        let Some(unit) = container_unit(object, revision, ctx) else {
            continue;
        };
        desired_units.insert(unit.name.clone());
        let image = image_need(spec);
        let decision = decisions.get(object_ref.name.as_str());
        let newer_image = rollout::pin_drift(object_ref, decision, observed);
        let mut step = plan_container(
            object_ref,
            &unit,
            spec.enabled,
            image,
            newer_image,
            observed,
        );
        if let Some(network) = recreated_networks.get(object_ref) {
            restart_for_network(&mut step, &unit.name, network);
        }
        rollout::attach(&mut step, decision, &unit, spec, revision, observed);
        steps.push(step);
    }
    follow_restarts(&mut steps, revision);
    steps.extend(plan_removals(&desired_units, observed));
    // Then the rest, in reverse dependency order: what containers used goes after them.
    steps.extend(secret::removals(revision, observed));
    steps.extend(network::removals(revision, observed));
    steps.extend(image::removals(revision, observed));
    steps.extend(volume::removals(revision, observed));
    backup_timer::removals(revision, observed, &mut steps);
    steps.extend(host_settings::removals(revision, observed));
    Plan { steps }
}

/// The content hash of each secret for its consumers' units. A source that cannot be read
/// leaves its consumers' units as they are: the hash the podman secret was made from stands
/// in, so no change is made up.
fn secret_hashes(observed: &Observed) -> BTreeMap<String, String> {
    observed
        .secret_hashes
        .iter()
        .filter_map(|(name, hash)| {
            let hash = hash.clone().ok().or_else(|| {
                observed
                    .secrets
                    .get(name)
                    .and_then(|s| s.labels.get(crate::render::labels::HASH))
                    .cloned()
            })?;
            Some((name.clone(), hash))
        })
        .collect()
}

/// systemd restarts a running unit with a unit it `Requires=` (`dependsOn`): a container
/// whose dependency restarts is restarted by systemd, not by podctl. The plan says so, and
/// its own restart (a changed unit, already loaded by then) is left to systemd.
fn follow_restarts(steps: &mut [Step], revision: &Revision) {
    let mut restarting: BTreeSet<ObjectRef> = BTreeSet::new();
    for step in steps.iter_mut() {
        if step.object.kind != Kind::Container
            || matches!(step.change, Change::Conflict { .. } | Change::Error { .. })
        {
            continue;
        }
        let restarts = |a: &Action| matches!(a, Action::RestartUnit { .. });
        let with = revision
            .graph()
            .dependencies(&step.object)
            .into_iter()
            .find(|d| restarting.contains(*d))
            .cloned();
        let starts = step
            .actions
            .iter()
            .any(|a| matches!(a, Action::StartUnit { .. }));
        match with {
            Some(with) if !starts => {
                let unit = unit_name(&step.object.name);
                step.actions.retain(|a| !restarts(a));
                step.actions.push(Action::RestartedWith {
                    unit,
                    with: unit_name(&with.name),
                });
                if step.change == Change::UpToDate {
                    step.change = Change::Repair {
                        reason: RepairReason::RestartedWith(with),
                    };
                }
                restarting.insert(step.object.clone());
            }
            _ if step.actions.iter().any(restarts) => {
                restarting.insert(step.object.clone());
            }
            _ => {}
        }
    }
}

/// A container the network step stops must be started again, not restarted.
fn restart_for_network(step: &mut Step, unit: &str, network: &Name) {
    if matches!(step.change, Change::Conflict { .. }) {
        return;
    }
    for action in &mut step.actions {
        if matches!(action, Action::RestartUnit { .. }) {
            *action = Action::StartUnit {
                unit: unit.to_string(),
            };
        }
    }
    if !step
        .actions
        .iter()
        .any(|a| matches!(a, Action::StartUnit { .. }))
    {
        step.actions.push(Action::StartUnit {
            unit: unit.to_string(),
        });
    }
    if matches!(step.change, Change::UpToDate) {
        step.change = Change::Repair {
            reason: RepairReason::NetworkRecreated(network.clone()),
        };
    }
}

/// The image a container needs and how to pull it.
struct ImageNeed {
    reference: String,
    pull: PullPolicy,
    tls_verify: Option<bool>,
    auth_file: Option<PathBuf>,
}

/// A plain `image:` reference is an implicit Image (`IfNotPresent`, podman's defaults),
/// pulled as part of its container's step; an Image object has its own step.
fn image_need(spec: &ContainerSpec) -> Option<ImageNeed> {
    match &spec.image {
        ImageSource::Reference(r) => Some(ImageNeed {
            reference: r.to_string(),
            pull: PullPolicy::IfNotPresent,
            tls_verify: None,
            auth_file: None,
        }),
        ImageSource::Object(_) => None,
    }
}

/// Whether local storage has `reference`, the way podman would resolve it: a short name
/// (`busybox`) matches `docker.io/library/busybox:latest` or `localhost/busybox:latest`.
pub fn image_present(images: &BTreeSet<String>, reference: &str) -> bool {
    image_candidates(reference)
        .iter()
        .any(|c| images.contains(c))
}

/// The names local storage may hold `reference` under, most specific first.
pub(crate) fn image_candidates(reference: &str) -> Vec<String> {
    let mut candidates = vec![reference.to_string()];
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let tagged = if last.contains(':') || last.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    };
    if tagged != reference {
        candidates.push(tagged.clone());
    }
    let first = reference.split('/').next().unwrap_or("");
    let qualified = reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if qualified {
        return candidates;
    }
    candidates.push(format!("localhost/{tagged}"));
    candidates.push(format!("docker.io/{tagged}"));
    if !reference.contains('/') {
        candidates.push(format!("docker.io/library/{tagged}"));
    }
    candidates
}

/// Why a running container must be restarted although its unit file is as desired: what
/// runs is not what the unit (or the image it names) says any more.
fn stale_reason(
    object: &ObjectRef,
    unit: &render::UnitFile,
    newer_image: Option<RepairReason>,
    observed: &Observed,
) -> Option<RepairReason> {
    let container = observed
        .containers
        .get(object.name.as_str())
        .filter(|c| owns(&c.labels, Kind::Container));
    let label = container.and_then(|c| c.labels.get(crate::render::labels::HASH));
    // An apply or a controller pass stopped between writing the unit and restarting it (a
    // kill, a crash, Ctrl-C): the unit file is right, the container is not.
    if let Some(label) = label.filter(|l| **l != unit.hash) {
        return Some(RepairReason::StaleDefinition {
            running: label.clone(),
            desired: unit.hash.clone(),
        });
    }
    newer_image
}

/// A container's step: conflict, pull, unit file, enablement, start or restart, and the
/// change that names why. Over 80 lines because it is the order of those decisions, read top
/// to bottom; each decision is its own function (`image_pull`, `enablement`,
/// `start_or_restart`, `unit_change`).
fn plan_container(
    object: &ObjectRef,
    unit: &render::UnitFile,
    enabled: bool,
    image: Option<ImageNeed>,
    newer_image: Option<RepairReason>,
    observed: &Observed,
) -> Step {
    let name = &unit.name;
    let on_disk = observed.unit_files.get(name);
    let status = observed.units.get(name);
    let mut step = Step {
        object: object.clone(),
        change: Change::UpToDate,
        actions: Vec::new(),
        unit_before: on_disk.filter(|f| f.managed).map(|f| f.content.clone()),
        unit_after: Some(unit.content.clone()),
        drop_ins: status.map_or_else(Vec::new, |s| unit_drop_ins(&s.drop_in_paths)),
        rollout: None,
        unit: None,
    };

    if let Some(message) = conflict(object, name, on_disk, status, observed) {
        // Nothing is written or removed: no unit diff to show.
        step.change = Change::Conflict { message };
        step.unit_before = None;
        step.unit_after = None;
        return step;
    }

    let file_changed = on_disk.is_none_or(|f| f.content != unit.content);
    let running = status.is_some_and(|s| s.is_running());
    // systemd still runs an older text of a file that is as desired: reload it.
    let reload_pending = !file_changed && status.is_some_and(|s| s.need_daemon_reload);
    let stale = running
        .then(|| stale_reason(object, unit, newer_image, observed))
        .flatten()
        .filter(|_| !file_changed);
    match image_pull(image, observed) {
        Ok(pull) => step.actions.extend(pull),
        Err(conflict) => {
            step.change = conflict;
            return step;
        }
    }
    if file_changed || reload_pending {
        // Written again when only the reload is missing: the executor reloads after writes.
        step.actions.push(Action::WriteUnit {
            unit: name.clone(),
            content: unit.content.clone(),
        });
    }
    let is_enabled = status.is_some_and(UnitStatus::is_enabled);
    step.actions
        .extend(enablement(name, enabled, is_enabled, file_changed));
    step.actions.extend(start_or_restart(
        object,
        unit,
        status,
        running,
        file_changed,
        stale.is_some(),
        observed,
    ));

    step.change = unit_change(
        Found {
            on_disk,
            status,
            container_is_ours: observed
                .containers
                .get(object.name.as_str())
                .is_some_and(|c| owns(&c.labels, Kind::Container)),
            running,
            file_changed,
            reload_pending,
            stale,
            enabled,
            is_enabled,
        },
        unit,
    );
    if step.change == Change::UpToDate && !step.drop_ins.is_empty() {
        step.change = Change::Repair {
            reason: RepairReason::OverriddenByDropIn {
                paths: step.drop_ins.clone(),
            },
        };
    }
    // An image that went missing alone is a repair too.
    if step.change == Change::UpToDate && !step.actions.is_empty() {
        step.change = Change::Repair {
            reason: RepairReason::ImageMissing,
        };
    }
    step
}

/// The pull a container's plain `image:` needs (absent from local storage), or the
/// conflict of an absent image that may not be pulled.
fn image_pull(image: Option<ImageNeed>, observed: &Observed) -> Result<Option<Action>, Change> {
    let Some(need) = image.filter(|i| !image_present(&observed.images, &i.reference)) else {
        return Ok(None);
    };
    if need.pull == PullPolicy::Never {
        return Err(Change::Conflict {
            message: format!(
                "image {} is not in local storage and its pullPolicy is Never",
                need.reference
            ),
        });
    }
    Ok(Some(Action::PullImage {
        reference: need.reference,
        tls_verify: need.tls_verify,
        auth_file: need.auth_file,
        previous_id: None,
    }))
}

/// The enablement a container's unit needs: enabled after every write (links follow the
/// file), disabled when the manifest says so.
fn enablement(unit: &str, enabled: bool, is_enabled: bool, file_changed: bool) -> Option<Action> {
    if enabled && (file_changed || !is_enabled) {
        Some(Action::EnableUnit {
            unit: unit.to_string(),
        })
    } else if !enabled && is_enabled {
        Some(Action::DisableUnit {
            unit: unit.to_string(),
        })
    } else {
        None
    }
}

/// The start or restart a container needs, if any: started when it does not run, restarted
/// when its unit changed or what runs is stale.
fn start_or_restart(
    object: &ObjectRef,
    unit: &render::UnitFile,
    status: Option<&UnitStatus>,
    running: bool,
    file_changed: bool,
    stale: bool,
    observed: &Observed,
) -> Option<Action> {
    let name = unit.name.clone();
    // A start now would cancel the stop job in flight (an operator's `systemctl stop`
    // would fail with "canceled"); once the unit is inactive, the next pass starts it.
    let stopping = status.is_some_and(|s| s.active_state == ActiveState::Deactivating);
    // A unit file deleted under a running unit, whose container carries the desired hash:
    // writing it back is enough.
    let only_file_missing = !observed.unit_files.contains_key(&unit.name)
        && observed
            .containers
            .get(object.name.as_str())
            .is_some_and(|c| {
                owns(&c.labels, Kind::Container)
                    && c.labels.get(crate::render::labels::HASH) == Some(&unit.hash)
            });
    match (running, file_changed) {
        (true, true) if only_file_missing => None,
        (true, true) => Some(Action::RestartUnit { unit: name }),
        (false, _) if stopping => None,
        (false, _) => Some(Action::StartUnit { unit: name }),
        (true, false) if stale => Some(Action::RestartUnit { unit: name }),
        (true, false) => None,
    }
}

/// What planning found about a container's unit that is not in conflict.
struct Found<'a> {
    on_disk: Option<&'a crate::observe::UnitFileOnDisk>,
    status: Option<&'a UnitStatus>,
    /// Its container exists and is podctl's.
    container_is_ours: bool,
    running: bool,
    file_changed: bool,
    reload_pending: bool,
    stale: Option<RepairReason>,
    enabled: bool,
    is_enabled: bool,
}

/// The change of a container's unit, before drop-ins and image pulls are counted in.
fn unit_change(found: Found<'_>, unit: &render::UnitFile) -> Change {
    match found.on_disk {
        // Its container is still there: the unit file was deleted behind podctl's back.
        None if found.container_is_ours => Change::Repair {
            reason: RepairReason::UnitFileRemoved,
        },
        None => Change::Create,
        Some(f) if found.file_changed => {
            let fields = changed_fields(&f.content, &unit.content);
            if crate::render::unit_hash(&f.content) == Some(unit.hash.as_str()) {
                // Same desired state, different text: someone edited the file.
                Change::Repair {
                    reason: RepairReason::UnitFileEdited,
                }
            } else {
                Change::Update { fields }
            }
        }
        Some(_) if !found.running => Change::Repair {
            reason: RepairReason::of_stopped_unit(found.status.map(|s| &s.active_state)),
        },
        Some(_) => match found.stale {
            Some(reason) => Change::Repair { reason },
            None if found.reload_pending => Change::Repair {
                reason: RepairReason::ReloadPending,
            },
            None if found.enabled && !found.is_enabled => Change::Repair {
                reason: RepairReason::NotEnabled,
            },
            None if !found.enabled && found.is_enabled => Change::Repair {
                reason: RepairReason::EnabledButShouldNot,
            },
            None => Change::UpToDate,
        },
    }
}

/// Why podctl must not touch `unit`: it exists and is not podctl's.
fn conflict(
    object: &ObjectRef,
    unit: &str,
    on_disk: Option<&crate::observe::UnitFileOnDisk>,
    status: Option<&UnitStatus>,
    observed: &Observed,
) -> Option<String> {
    if let Some(file) = on_disk.filter(|f| !f.managed) {
        return Some(format!(
            "{} exists and is not managed by podctl; rename the object or remove that unit by hand",
            file.path.display()
        ));
    }
    let ours = observed.unit_dir.join(unit);
    if let Some(path) = status
        .and_then(|s| s.fragment_path.as_ref())
        .filter(|p| **p != ours)
        && status.is_some_and(UnitStatus::is_loaded)
    {
        return Some(format!(
            "unit {unit} is already defined by {}; rename the object",
            path.display()
        ));
    }
    if let Some(c) = observed
        .containers
        .get(object.name.as_str())
        .filter(|c| !owns(&c.labels, Kind::Container))
    {
        return Some(format!(
            "a container named {} ({}) exists that podctl does not manage; rename the object or remove that container",
            c.name,
            short_id(&c.id)
        ));
    }
    None
}

fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Managed units and containers that no object of the revision wants any more.
fn plan_removals(desired_units: &BTreeSet<String>, observed: &Observed) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut removed_names = BTreeSet::new();
    for (unit, file) in observed
        .unit_files
        .iter()
        .filter(|(u, f)| f.managed && !desired_units.contains(*u))
    {
        let Some(name) = unit
            .strip_suffix(".service")
            .and_then(|n| n.parse::<Name>().ok())
        else {
            continue;
        };
        let mut actions = Vec::new();
        let status = observed.units.get(unit);
        if status.is_some_and(|s| s.is_running() || s.active_state == ActiveState::Failed) {
            actions.push(Action::StopUnit { unit: unit.clone() });
        }
        if status.is_some_and(UnitStatus::is_enabled) {
            actions.push(Action::DisableUnit { unit: unit.clone() });
        }
        actions.push(Action::RemoveUnitFile {
            unit: unit.clone(),
            path: file.path.clone(),
        });
        if observed
            .containers
            .get(name.as_str())
            .is_some_and(|c| owns(&c.labels, Kind::Container))
        {
            actions.push(Action::RemoveContainer {
                name: name.to_string(),
            });
        }
        removed_names.insert(name.to_string());
        steps.push(Step {
            object: ObjectRef::new(Kind::Container, name),
            change: Change::Delete,
            actions,
            unit_before: Some(file.content.clone()),
            unit_after: None,
            drop_ins: Vec::new(),
            rollout: None,
            unit: None,
        });
    }
    // Managed containers whose unit is gone (a unit removed by hand, a crash mid-prune).
    for (cname, c) in &observed.containers {
        let desired = desired_units.contains(&format!("{cname}.service"));
        if !owns(&c.labels, Kind::Container) || desired || removed_names.contains(cname) {
            continue;
        }
        let Ok(name) = cname.parse::<Name>() else {
            continue;
        };
        steps.push(Step {
            object: ObjectRef::new(Kind::Container, name),
            change: Change::Delete,
            actions: vec![Action::RemoveContainer {
                name: cname.clone(),
            }],
            unit_before: None,
            unit_after: None,
            drop_ins: Vec::new(),
            rollout: None,
            unit: None,
        });
    }
    steps
}

/// The unit name a Container object runs as.
pub fn container_unit_name(name: &Name) -> String {
    unit_name(name)
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_backup_timer;
#[cfg(test)]
mod tests_bluegreen;
#[cfg(test)]
mod tests_host_settings;
#[cfg(test)]
mod tests_resources;
