//! The plan: a pure function from the desired revision and the observed host to the
//! actions that converge it, each with its reason. `diff` prints it, `apply` executes it.

mod explain;

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use podctl_api::{ContainerSpec, ImageSource, Kind, Name, ObjectRef, PullPolicy, Revision};

pub use explain::changed_fields;

use crate::observe::Observed;
use crate::render::{self, RenderContext, container_unit, unit_name};

/// One thing to do to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Pull an image that is not in local storage.
    PullImage {
        reference: String,
        tls_verify: Option<bool>,
        auth_file: Option<PathBuf>,
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
    StopUnit {
        unit: String,
    },
    RemoveUnitFile {
        unit: String,
        path: PathBuf,
    },
    /// Remove a managed container that no unit runs any more.
    RemoveContainer {
        name: String,
    },
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
            Action::StopUnit { .. } => "stop",
            Action::RemoveUnitFile { .. } => "remove-unit",
            Action::RemoveContainer { .. } => "remove-container",
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
            Action::StopUnit { unit } => write!(f, "stop {unit}"),
            Action::RemoveUnitFile { unit, .. } => write!(f, "remove {unit}"),
            Action::RemoveContainer { name } => write!(f, "remove container {name}"),
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
    Repair { reason: String },
    /// Left the revision: removed from the host.
    Delete,
    /// Cannot be done: a name clash with something podctl does not own.
    Conflict { message: String },
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
}

impl Step {
    pub fn is_noop(&self) -> bool {
        self.actions.is_empty() && !matches!(self.change, Change::Conflict { .. })
    }
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
}

/// Plans the convergence of `observed` to `revision`.
pub fn plan(revision: &Revision, observed: &Observed, ctx: &RenderContext) -> Plan {
    let mut steps = Vec::new();
    let mut desired_units = BTreeSet::new();
    for object_ref in revision.graph().order() {
        let Some(object) = revision.get(object_ref) else {
            continue;
        };
        if object.kind != Kind::Container {
            // Volumes, secrets, images and networks are planned by their own
            // reconcilers; until then podman creates what `podman run` needs.
            continue;
        }
        let Some(unit) = container_unit(object, revision, ctx) else {
            continue;
        };
        desired_units.insert(unit.name.clone());
        let spec = object.as_container();
        let enabled = spec.is_some_and(|s| s.enabled);
        let image = spec.and_then(|s| image_need(s, revision));
        steps.push(plan_container(object_ref, &unit, enabled, image, observed));
    }
    steps.extend(plan_removals(&desired_units, observed));
    Plan { steps }
}

/// The image a container needs and how to pull it.
struct ImageNeed {
    reference: String,
    pull: PullPolicy,
    tls_verify: Option<bool>,
    auth_file: Option<PathBuf>,
}

fn image_need(spec: &ContainerSpec, revision: &Revision) -> Option<ImageNeed> {
    match &spec.image {
        ImageSource::Reference(r) => Some(ImageNeed {
            reference: r.to_string(),
            pull: PullPolicy::IfNotPresent,
            tls_verify: None,
            auth_file: None,
        }),
        ImageSource::Object(name) => {
            let image = revision
                .get(&ObjectRef::new(Kind::Image, name.clone()))?
                .as_image()?;
            Some(ImageNeed {
                reference: image.reference.to_string(),
                pull: image.pull_policy,
                // Only a departure from podman's default is passed on, so that the
                // host's registries.conf keeps its say otherwise.
                tls_verify: (!image.tls_verify).then_some(false),
                auth_file: image.auth_file.as_ref().map(|p| p.as_path().to_path_buf()),
            })
        }
    }
}

/// Whether local storage has `reference`, the way podman would resolve it: a short name
/// (`busybox`) matches `docker.io/library/busybox:latest` or `localhost/busybox:latest`.
pub fn image_present(images: &BTreeSet<String>, reference: &str) -> bool {
    if images.contains(reference) {
        return true;
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let tagged = if last.contains(':') || last.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    };
    if images.contains(&tagged) {
        return true;
    }
    let first = reference.split('/').next().unwrap_or("");
    let qualified = reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if qualified {
        return false;
    }
    let mut candidates = vec![format!("localhost/{tagged}"), format!("docker.io/{tagged}")];
    if !reference.contains('/') {
        candidates.push(format!("docker.io/library/{tagged}"));
    }
    candidates.iter().any(|c| images.contains(c))
}

fn plan_container(
    object: &ObjectRef,
    unit: &render::UnitFile,
    enabled: bool,
    image: Option<ImageNeed>,
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
    };

    if let Some(message) = conflict(object, name, on_disk, status, observed) {
        step.change = Change::Conflict { message };
        step.unit_after = None;
        return step;
    }

    let file_changed = on_disk.is_none_or(|f| f.content != unit.content);
    let running = status.is_some_and(|s| s.is_running());
    if let Some(need) = image.filter(|i| !image_present(&observed.images, &i.reference)) {
        if need.pull == PullPolicy::Never {
            step.change = Change::Conflict {
                message: format!(
                    "image {} is not in local storage and its pullPolicy is Never",
                    need.reference
                ),
            };
            return step;
        }
        step.actions.push(Action::PullImage {
            reference: need.reference,
            tls_verify: need.tls_verify,
            auth_file: need.auth_file,
        });
    }
    if file_changed {
        step.actions.push(Action::WriteUnit {
            unit: name.clone(),
            content: unit.content.clone(),
        });
    }
    let is_enabled = status.is_some_and(|s| s.unit_file_state == "enabled");
    if enabled && (file_changed || !is_enabled) {
        step.actions.push(Action::EnableUnit { unit: name.clone() });
    }
    if !enabled && is_enabled {
        step.actions
            .push(Action::DisableUnit { unit: name.clone() });
    }
    match (running, file_changed) {
        (true, true) => step
            .actions
            .push(Action::RestartUnit { unit: name.clone() }),
        (false, _) => step.actions.push(Action::StartUnit { unit: name.clone() }),
        (true, false) => {}
    }

    step.change = match on_disk {
        None => Change::Create,
        Some(f) if file_changed => {
            let fields = changed_fields(&f.content, &unit.content);
            if crate::render::unit_hash(&f.content) == Some(unit.hash.as_str()) {
                // Same desired state, different text: someone edited the file.
                Change::Repair {
                    reason: "unit file edited outside podctl".into(),
                }
            } else {
                Change::Update { fields }
            }
        }
        Some(_) if !running => Change::Repair {
            reason: format!(
                "unit is {}",
                status.map_or("not loaded", |s| s.active_state.as_str())
            ),
        },
        Some(_) if enabled && !is_enabled => Change::Repair {
            reason: "unit is not enabled".into(),
        },
        Some(_) if !enabled && is_enabled => Change::Repair {
            reason: "unit is enabled but should not be".into(),
        },
        Some(_) => Change::UpToDate,
    };
    // An image that went missing alone is a repair too.
    if step.change == Change::UpToDate && !step.actions.is_empty() {
        step.change = Change::Repair {
            reason: "image missing".into(),
        };
    }
    step
}

/// Why podctl must not touch `unit`: it exists and is not podctl's.
fn conflict(
    object: &ObjectRef,
    unit: &str,
    on_disk: Option<&crate::observe::UnitFileOnDisk>,
    status: Option<&crate::observe::UnitStatus>,
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
        && status.is_some_and(|s| s.load_state != "not-found")
    {
        return Some(format!(
            "unit {unit} is already defined by {}; rename the object",
            path.display()
        ));
    }
    if let Some(c) = observed
        .containers
        .get(object.name.as_str())
        .filter(|c| !c.is_managed())
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
        if status.is_some_and(|s| s.is_running() || s.active_state == "failed") {
            actions.push(Action::StopUnit { unit: unit.clone() });
        }
        if status.is_some_and(|s| s.unit_file_state == "enabled") {
            actions.push(Action::DisableUnit { unit: unit.clone() });
        }
        actions.push(Action::RemoveUnitFile {
            unit: unit.clone(),
            path: file.path.clone(),
        });
        if observed
            .containers
            .get(name.as_str())
            .is_some_and(|c| c.is_managed())
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
        });
    }
    // Managed containers whose unit is gone (a unit removed by hand, a crash mid-prune).
    for (cname, c) in &observed.containers {
        let desired = desired_units.contains(&format!("{cname}.service"));
        let kind_is_container = c
            .labels
            .get(crate::render::labels::KIND)
            .map(String::as_str)
            == Some("container");
        if !c.is_managed() || !kind_is_container || desired || removed_names.contains(cname) {
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
        });
    }
    steps
}

/// The unit name a Container object runs as.
pub fn container_unit_name(name: &Name) -> String {
    unit_name(name)
}

#[cfg(test)]
mod tests;
