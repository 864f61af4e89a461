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

/// A host's name and labels (`/etc/podctl/host.yaml`: `{name: web-1, labels: {role: web}}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostIdentity {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
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
        }
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
