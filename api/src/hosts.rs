//! Which hosts an object is for: `metadata.hosts: {names: [...], selector: {role: db}}`, and
//! the identity of the host a revision is evaluated for (`/etc/podctl/host.yaml`).
//!
//! An object without `hosts` is for every host. With it, the object is for a host whose name
//! is in `names`, or whose labels hold every `key: value` of `selector` (either way chooses
//! it). A revision evaluated for a host holds only that host's objects, and is validated as
//! such: a reference from one of them to an object meant for other hosts only is an error on
//! that host.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `metadata.hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostSelection {
    /// Hosts chosen by name (`host.yaml`'s `name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Hosts chosen by labels: every `key: value` here must be among the host's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
}

impl HostSelection {
    /// Whether the object is for `host`.
    pub fn selects(&self, host: &HostIdentity) -> bool {
        self.names.contains(&host.name)
            || (!self.selector.is_empty()
                && self
                    .selector
                    .iter()
                    .all(|(k, v)| host.labels.get(k) == Some(v)))
    }

    /// Neither names nor a selector: it would choose no host at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.selector.is_empty()
    }
}

/// A host's name and labels (`/etc/podctl/host.yaml`: `{name: web-1, labels: {role: web}}`),
/// and its place in fleet rollouts (`wave: 0`, `group: web`; see docs/fleet.md).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostIdentity {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The fleet rollout wave: 0 for canaries; a host takes a new commit after every host of
    /// the lower waves runs it converged and healthy for the soak time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
    /// The group whose hosts share the fleet's slots for updating at once (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// The group of a host without `group`.
pub const DEFAULT_GROUP: &str = "default";

impl HostIdentity {
    /// The host's fleet wave: `wave`, else a numeric label `wave` (the labels that choose a
    /// canary variant of an object, `labels: {wave: "0"}`, then count too); `None` if neither.
    pub fn fleet_wave(&self) -> Result<Option<u32>, String> {
        let label = self.labels.get("wave");
        let from_label = match label {
            Some(v) => Some(v.parse::<u32>().map_err(|_| {
                format!("the label `wave: {v}` is not a wave number (0 for canaries, 1, 2, ...)")
            })?),
            None => None,
        };
        match (self.wave, from_label) {
            (Some(w), Some(l)) if w != l => Err(format!(
                "`wave: {w}` and the label `wave: \"{l}\"` disagree; keep one, or make them equal"
            )),
            (Some(w), _) | (None, Some(w)) => Ok(Some(w)),
            (None, None) => Ok(None),
        }
    }

    /// The host's fleet group (`group`, else `default`).
    pub fn fleet_group(&self) -> &str {
        self.group.as_deref().unwrap_or(DEFAULT_GROUP)
    }
}

/// The objects of `revision` (read for every host) that none of `hosts` gets: a selection
/// with a typo, or a host file missing from the set. `set` names the set in the message.
pub fn chosen_by_none(
    revision: &crate::Revision,
    hosts: &[HostIdentity],
    set: &str,
) -> crate::Diagnostics {
    let mut out = crate::Diagnostics::default();
    for object in revision.objects() {
        let Some(selection) = &object.metadata.hosts else {
            continue;
        };
        if hosts.iter().any(|h| selection.selects(h)) {
            continue;
        }
        out.push(
            crate::Diagnostic::new(
                object.origin.at_key(&[crate::yaml::PathStep::Key("metadata")], "hosts"),
                format!(
                    "{} is for no host of {set}: no name in `names` and no host whose labels hold `selector`",
                    object.object_ref()
                ),
            )
            .with_hint("check the names and labels against the host files, or add the missing host file"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, labels: &[(&str, &str)]) -> HostIdentity {
        HostIdentity {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_wave_should_come_from_the_field_or_a_numeric_label_and_never_from_two_that_disagree() {
        let mut h = host("web-1", &[]);
        assert_eq!(h.fleet_wave(), Ok(None));
        h.wave = Some(2);
        assert_eq!(h.fleet_wave(), Ok(Some(2)));
        h.labels.insert("wave".into(), "2".into());
        assert_eq!(h.fleet_wave(), Ok(Some(2)));
        h.labels.insert("wave".into(), "0".into());
        assert!(h.fleet_wave().unwrap_err().contains("disagree"));
        h.wave = None;
        assert_eq!(h.fleet_wave(), Ok(Some(0)));
        h.labels.insert("wave".into(), "canary".into());
        assert!(h.fleet_wave().unwrap_err().contains("not a wave number"));
        assert_eq!(h.fleet_group(), "default");
    }

    #[test]
    fn names_or_a_whole_selector_should_choose_a_host() {
        let db = HostSelection {
            names: vec!["web-9".into()],
            selector: [("role".to_owned(), "db".to_owned())].into(),
        };
        assert!(db.selects(&host("db-1", &[("role", "db"), ("wave", "0")])));
        assert!(db.selects(&host("web-9", &[("role", "web")])));
        assert!(!db.selects(&host("web-1", &[("role", "web")])));
        let by_name = HostSelection {
            names: vec!["a".into()],
            ..HostSelection::default()
        };
        assert!(!by_name.selects(&host("b", &[])));
        assert!(HostSelection::default().is_empty());
    }
}
