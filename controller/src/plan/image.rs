//! Planning Images: pulled by pull policy (`IfNotPresent`, `Always`, `Never`) with their
//! TLS and auth settings; images podctl pulled and nothing desired uses any more are
//! removed. A Container's plain `image:` is planned with the container (see `image_need`).

use std::collections::BTreeSet;

use podctl_api::{ImageSource, ImageSpec, Kind, Name, ObjectRef, PullPolicy, Revision};

use super::{Action, Change, RepairReason, Step, image_present};
use crate::observe::Observed;

pub(super) fn plan(object: &ObjectRef, spec: &ImageSpec, observed: &Observed) -> Step {
    let reference = spec.reference.to_string();
    let present = image_present(&observed.images, &reference);
    let pull = Action::PullImage {
        reference: reference.clone(),
        // Only a departure from podman's default is passed on, so that the host's
        // registries.conf keeps its say otherwise.
        tls_verify: (!spec.tls_verify).then_some(false),
        auth_file: spec.auth_file.as_ref().map(|p| p.as_path().to_path_buf()),
        previous_id: observed.image_ids.get(&reference).cloned(),
    };
    let (change, actions) = match (spec.pull_policy, present) {
        (PullPolicy::Never, false) => (
            Change::Error {
                message: format!(
                    "image {reference} is not in local storage and its pullPolicy is Never; load it (`podman load`, `podman pull`) or change pullPolicy"
                ),
            },
            Vec::new(),
        ),
        (PullPolicy::Always, true) => (
            Change::Repair {
                reason: RepairReason::AlwaysPulled,
            },
            vec![pull],
        ),
        (_, false) => (Change::Create, vec![pull]),
        (_, true) => (Change::UpToDate, Vec::new()),
    };
    Step::new(object.clone(), change, actions)
}

/// Every image reference the revision uses: Image objects' and plain `image:` strings.
/// Every image reference the revision names (Image objects, containers' `image:`).
pub(crate) fn desired_references(revision: &Revision) -> BTreeSet<String> {
    let mut refs: BTreeSet<String> = revision
        .of_kind(Kind::Image)
        .filter_map(|o| o.as_image())
        .map(|i| i.reference.to_string())
        .collect();
    refs.extend(
        revision
            .of_kind(Kind::Container)
            .filter_map(|o| o.as_container())
            .filter_map(|c| match &c.image {
                ImageSource::Reference(r) => Some(r.to_string()),
                ImageSource::Object(_) => None,
            }),
    );
    refs
}

/// The object name a pruned image is shown under: its reference made a DNS label
/// (`127.0.0.1:5000/bb:v1` -> `127-0-0-1-5000-bb-v1`), since a removed Image's manifest
/// name is no longer known.
pub fn image_object_name(reference: &str) -> Option<Name> {
    let mut label: String = reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while label.contains("--") {
        label = label.replace("--", "-");
    }
    let label: String = label.chars().take(63).collect();
    label.trim_matches('-').parse().ok()
}

/// Images podctl pulled (its record) that no desired object uses: removed after the
/// containers that used them. Images podctl did not pull are never touched.
pub(super) fn removals(revision: &Revision, observed: &Observed) -> Vec<Step> {
    let desired = desired_references(revision);
    // A container's current image and its rollback target stay, whatever names them.
    let kept: BTreeSet<&str> = revision
        .of_kind(Kind::Container)
        .filter_map(|o| observed.rollouts.get(o.name().as_str()))
        .flat_map(|r| r.kept_ids())
        .collect();
    let is_kept = |reference: &str| {
        observed
            .image_ids
            .get(reference)
            .is_some_and(|id| kept.iter().any(|k| crate::rollout::same_id(k, id.as_str())))
    };
    observed
        .pulled_images
        .iter()
        .filter(|r| !desired.contains(*r) && image_present(&observed.images, r) && !is_kept(r))
        .filter_map(|reference| {
            Some(Step::new(
                ObjectRef::new(Kind::Image, image_object_name(reference)?),
                Change::Delete,
                vec![Action::RemoveImage {
                    reference: reference.clone(),
                }],
            ))
        })
        .collect()
}
