//! Planning Networks: created with driver, subnet, gateway, internal, ipv6 and labels; a
//! changed network is recreated, its containers stopped before (dependents first) and
//! started again after, in dependency order, by their own steps.

use std::collections::BTreeSet;

use podctl_api::{Kind, Name, NetworkSpec, ObjectRef, Revision};

use super::{Action, Change, Step, spec_hash};
use crate::observe::Observed;
use crate::ownership::{mark_labels, owns};
use crate::render::{labels, unit_name};

/// The network's step, and the containers it stops (which must be started again). Its cases
/// in order (absent, foreign, up to date, blocked by foreign users, recreated), each a return.
pub(super) fn plan(
    object: &ObjectRef,
    spec: &NetworkSpec,
    revision: &Revision,
    observed: &Observed,
) -> (Step, Vec<ObjectRef>) {
    let name = object.name.as_str();
    let hash = spec_hash(spec);
    let mut create_labels = spec.labels.clone();
    create_labels.extend(mark_labels(Kind::Network, name, &hash));
    let create = Action::CreateNetwork {
        name: name.to_string(),
        spec: spec.clone(),
        labels: create_labels,
    };
    let Some(existing) = observed.networks.get(name) else {
        return (
            Step::new(object.clone(), Change::Create, vec![create]),
            Vec::new(),
        );
    };
    if !owns(&existing.labels, Kind::Network) {
        let step = Step::new(
            object.clone(),
            Change::Conflict {
                message: format!(
                    "a podman network named {name} exists that podctl does not manage; rename the object or remove that network by hand"
                ),
            },
            Vec::new(),
        );
        return (step, Vec::new());
    }
    if existing.labels.get(labels::HASH) == Some(&hash) {
        return (
            Step::new(object.clone(), Change::UpToDate, Vec::new()),
            Vec::new(),
        );
    }
    // Every container on it, and the ones that need those (systemd stops them too through
    // Requires=): all start again after the new network exists.
    let containers: Vec<ObjectRef> = revision
        .graph()
        .transitive_dependents(object)
        .into_iter()
        .filter(|o| o.kind == Kind::Container)
        .cloned()
        .collect();
    let others = foreign_users(name, &containers, observed);
    if !others.is_empty() {
        let step = Step::new(
            object.clone(),
            Change::Error {
                message: format!(
                    "network {name} changed ({}) but cannot be recreated while container(s) {} outside its manifests use it; disconnect them (`podman network disconnect {name} CONTAINER`) or remove them",
                    changed_fields(spec, existing).join(", "),
                    others.join(", ")
                ),
            },
            Vec::new(),
        );
        return (step, Vec::new());
    }
    let mut actions: Vec<Action> = containers
        .iter()
        .rev()
        .flat_map(|c| {
            // A blue-green container runs as one of its colours.
            revision.get(c).map_or_else(
                || vec![unit_name(&c.name)],
                crate::bluegreen::container_units,
            )
        })
        .filter(|u| observed.units.get(u).is_some_and(|s| s.is_running()))
        .map(|unit| Action::StopUnit { unit })
        .collect();
    actions.push(Action::RemoveNetwork {
        name: name.to_string(),
    });
    actions.push(create);
    let step = Step::new(
        object.clone(),
        Change::Update {
            fields: changed_fields(spec, existing),
        },
        actions,
    );
    (step, containers)
}

/// The containers on network `name` that this revision does not stop (`stopped`): podman
/// refuses to remove a network a container is attached to, so with any of them the removal
/// would fail after the revision's own containers were stopped.
fn foreign_users<'a>(name: &str, stopped: &[ObjectRef], observed: &'a Observed) -> Vec<&'a str> {
    observed
        .containers
        .values()
        .filter(|c| c.networks.iter().any(|n| n == name))
        .filter(|c| !stopped.iter().any(|o| o.name.as_str() == c.name))
        .map(|c| c.name.as_str())
        .collect()
}

/// Which fields differ, as far as `podman network ls` shows them.
fn changed_fields(spec: &NetworkSpec, existing: &crate::observe::NetworkStatus) -> Vec<String> {
    let mut fields = Vec::new();
    if existing.driver != spec.driver.as_str() {
        fields.push("driver".to_string());
    }
    let desired_subnet = spec.subnet.as_ref().map(ToString::to_string);
    if desired_subnet.is_some()
        && !existing
            .subnets
            .iter()
            .any(|s| Some(s) == desired_subnet.as_ref())
    {
        fields.push("subnet".to_string());
    }
    if existing.internal != spec.internal {
        fields.push("internal".to_string());
    }
    if existing.ipv6 != spec.ipv6 {
        fields.push("ipv6".to_string());
    }
    let user_labels: std::collections::BTreeMap<String, String> = existing
        .labels
        .iter()
        .filter(|(k, _)| !k.starts_with(podctl_api::RESERVED_LABEL_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if user_labels != spec.labels {
        fields.push("labels".to_string());
    }
    if fields.is_empty() {
        fields.push("subnet/gateway".to_string());
    }
    fields
}

/// Managed networks no manifest declares any more.
pub(super) fn removals(revision: &Revision, observed: &Observed) -> Vec<Step> {
    let desired: BTreeSet<&str> = revision
        .of_kind(Kind::Network)
        .map(|o| o.name().as_str())
        .collect();
    observed
        .networks
        .iter()
        .filter(|(name, n)| !desired.contains(name.as_str()) && owns(&n.labels, Kind::Network))
        .filter_map(|(name, _)| {
            let parsed = name.parse::<Name>().ok()?;
            Some(Step::new(
                ObjectRef::new(Kind::Network, parsed),
                Change::Delete,
                vec![Action::RemoveNetwork { name: name.clone() }],
            ))
        })
        .collect()
}
