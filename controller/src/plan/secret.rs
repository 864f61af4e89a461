//! Planning Secrets: a podman secret labelled with the truncated content hash of its source;
//! a changed hash replaces it (podman 4.3 has no `secret create --replace`: remove, then
//! create). The consumers' restart comes from the hash in their units, not from here.

use std::collections::BTreeSet;

use podctl_api::{Kind, Name, ObjectRef, Revision, SecretSpec};

use super::{Action, Change, Step};
use crate::observe::Observed;
use crate::ownership::{mark_labels, owns};
use crate::render::labels;

pub(super) fn plan(object: &ObjectRef, spec: &SecretSpec, observed: &Observed) -> Step {
    let name = object.name.as_str();
    let error = |message: String| Step::new(object.clone(), Change::Error { message }, Vec::new());
    let Some(source) = spec.origin() else {
        return error(format!("secret {name} has no source"));
    };
    let hash = match observed.secret_hashes.get(name) {
        Some(Ok(hash)) => hash.clone(),
        Some(Err(message)) => return error(message.clone()),
        None => return error(format!("the {source} of secret {name} was not read")),
    };
    let create = Action::CreateSecret {
        name: name.to_string(),
        source,
        hash: hash.clone(),
        labels: mark_labels(Kind::Secret, name, &hash),
    };
    let Some(existing) = observed.secrets.get(name) else {
        return Step::new(object.clone(), Change::Create, vec![create]);
    };
    if !owns(&existing.labels, Kind::Secret) {
        return Step::new(
            object.clone(),
            Change::Conflict {
                message: format!(
                    "a podman secret named {name} exists that podctl does not manage; rename the object or remove that secret by hand"
                ),
            },
            Vec::new(),
        );
    }
    if existing.labels.get(labels::HASH) == Some(&hash) {
        return Step::new(object.clone(), Change::UpToDate, Vec::new());
    }
    Step::new(
        object.clone(),
        Change::Update {
            fields: vec!["content".into()],
        },
        vec![
            Action::RemoveSecret {
                name: name.to_string(),
            },
            create,
        ],
    )
}

/// Managed secrets no manifest declares any more.
pub(super) fn removals(revision: &Revision, observed: &Observed) -> Vec<Step> {
    let desired: BTreeSet<&str> = revision
        .of_kind(Kind::Secret)
        .map(|o| o.name().as_str())
        .collect();
    observed
        .secrets
        .iter()
        .filter(|(name, s)| !desired.contains(name.as_str()) && owns(&s.labels, Kind::Secret))
        .filter_map(|(name, _)| {
            let parsed = name.parse::<Name>().ok()?;
            Some(Step::new(
                ObjectRef::new(Kind::Secret, parsed),
                Change::Delete,
                vec![Action::RemoveSecret { name: name.clone() }],
            ))
        })
        .collect()
}
