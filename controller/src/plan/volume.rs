//! Planning Volumes: created once with their driver, options and labels, never recreated
//! or deleted while they may hold data; retained volumes of removed manifests are orphaned.

use std::collections::BTreeSet;

use podctl_api::{Kind, Name, ObjectRef, ReclaimPolicy, Revision, VolumeSpec};

use super::{Action, Change, Step, spec_hash};
use crate::observe::{Observed, VolumeStatus};
use crate::ownership::{mark_labels, owns};
use crate::render::labels;

fn reclaim_label(policy: ReclaimPolicy) -> &'static str {
    match policy {
        ReclaimPolicy::Retain => "Retain",
        ReclaimPolicy::Delete => "Delete",
    }
}

pub(super) fn plan(object: &ObjectRef, spec: &VolumeSpec, observed: &Observed) -> Step {
    let name = object.name.as_str();
    let Some(existing) = observed.volumes.get(name) else {
        let mut labels = spec.labels.clone();
        labels.extend(mark_labels(
            Kind::Volume,
            name,
            &spec_hash(&(&spec.driver, &spec.options)),
        ));
        labels.insert(
            labels::RECLAIM.to_string(),
            reclaim_label(spec.reclaim_policy).to_string(),
        );
        return Step::new(
            object.clone(),
            Change::Create,
            vec![Action::CreateVolume {
                name: name.to_string(),
                driver: spec.driver.clone(),
                options: spec.options.clone(),
                labels,
            }],
        );
    };
    if !owns(&existing.labels, Kind::Volume) {
        return Step::new(
            object.clone(),
            Change::Conflict {
                message: format!(
                    "a podman volume named {name} exists that podctl does not manage; rename the object, or remove that volume by hand if its data is not needed"
                ),
            },
            Vec::new(),
        );
    }
    match immutable_change(name, spec, existing) {
        Some(message) => Step::new(object.clone(), Change::Error { message }, Vec::new()),
        None => Step::new(object.clone(), Change::UpToDate, Vec::new()),
    }
}

/// What differs between the manifest and the volume that podman cannot change in place,
/// with how to migrate. User labels are not compared: podman cannot relabel a volume and
/// a label is no reason to block the containers using it.
fn immutable_change(name: &str, spec: &VolumeSpec, existing: &VolumeStatus) -> Option<String> {
    let mut changed = Vec::new();
    if !existing.driver.is_empty() && existing.driver != spec.driver {
        changed.push(format!("driver {} -> {}", existing.driver, spec.driver));
    }
    if existing.options != spec.options {
        changed.push(format!(
            "options {} -> {}",
            show(&existing.options),
            show(&spec.options)
        ));
    }
    let recorded = existing
        .labels
        .get(labels::RECLAIM)
        .map_or("Retain", String::as_str);
    let wanted = reclaim_label(spec.reclaim_policy);
    if recorded != wanted {
        changed.push(format!("reclaimPolicy {recorded} -> {wanted}"));
    }
    if changed.is_empty() {
        return None;
    }
    Some(format!(
        "volume {name} was created with different settings ({}), which podman cannot change in place, and podctl never recreates a volume that may hold data. \
         To migrate: declare a new Volume (another name) with the new settings, copy the data (`podman volume export {name} | podman volume import NEW -`), point the containers to it, then remove this manifest; \
         or, if the data is not needed, stop its containers, `podman volume rm {name}` and apply again",
        changed.join(", ")
    ))
}

fn show(map: &std::collections::BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// Managed volumes no manifest declares: deleted with `reclaimPolicy: Delete` (recorded on
/// the volume at creation), else kept and reported as orphaned.
pub(super) fn removals(revision: &Revision, observed: &Observed) -> Vec<Step> {
    let desired: BTreeSet<&str> = revision
        .of_kind(Kind::Volume)
        .map(|o| o.name().as_str())
        .collect();
    let mut steps = Vec::new();
    for (name, volume) in &observed.volumes {
        if desired.contains(name.as_str()) || !owns(&volume.labels, Kind::Volume) {
            continue;
        }
        let Ok(parsed) = name.parse::<Name>() else {
            continue;
        };
        let object = ObjectRef::new(Kind::Volume, parsed);
        let step = if volume.labels.get(labels::RECLAIM).map(String::as_str) == Some("Delete") {
            Step::new(
                object,
                Change::Delete,
                vec![Action::RemoveVolume { name: name.clone() }],
            )
        } else {
            Step::new(
                object,
                Change::Orphaned {
                    reason: format!(
                        "retained (reclaimPolicy Retain); its data stays until `podman volume rm {name}`"
                    ),
                },
                Vec::new(),
            )
        };
        steps.push(step);
    }
    steps
}
