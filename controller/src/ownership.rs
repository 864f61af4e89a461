//! podctl's mark of ownership, written and read in this one place: the labels it puts on
//! every podman object it creates (containers, volumes, secrets, networks), the marker line
//! of its unit files, and the checks that read them back.
//!
//! A podman object is podctl's when it carries `io.podctl.managed=true` *and*
//! `io.podctl.kind=` the kind it is planned as. podctl has written both on everything it
//! created since its first release, so the kind is required: an object that someone
//! labelled `managed` by hand, or one of another kind under the same name, is not podctl's
//! to change or delete.

use std::collections::BTreeMap;

use podctl_api::Kind;

/// The label keys podctl reads and writes on podman objects.
pub mod labels {
    pub const MANAGED: &str = "io.podctl.managed";
    pub const KIND: &str = "io.podctl.kind";
    pub const NAME: &str = "io.podctl.name";
    pub const HASH: &str = "io.podctl.hash";
    pub const AUTOUPDATE: &str = "io.containers.autoupdate";
    /// On volumes: the manifest's `reclaimPolicy` at creation, so pruning can decide
    /// without the manifest.
    pub const RECLAIM: &str = "io.podctl.reclaim";
    /// On containers, `io.podctl.secret.NAME=HASH`: the content hash of each secret it
    /// uses, so a changed secret changes the unit and restarts exactly its consumers.
    pub const SECRET_PREFIX: &str = "io.podctl.secret.";
}

/// The first line of every unit file podctl writes: its mark of ownership.
pub const UNIT_FILE_MARKER: &str = "# Managed by podctl. Changes will be overwritten.";

/// The ownership labels of an object podctl creates, in the order a container's unit
/// passes them to `podman run` (the unit's text, and so whether it changed, depends on it).
pub fn mark(kind: Kind, name: &str, hash: &str) -> [(&'static str, String); 4] {
    [
        (labels::MANAGED, "true".to_owned()),
        (labels::KIND, kind.lowercase().to_owned()),
        (labels::NAME, name.to_owned()),
        (labels::HASH, hash.to_owned()),
    ]
}

/// [`mark`] as a label map, for podman objects created with a map of labels.
pub fn mark_labels(kind: Kind, name: &str, hash: &str) -> BTreeMap<String, String> {
    mark(kind, name, hash)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Whether a podman object with these labels is podctl's, as an object of `kind`.
pub fn owns(labels: &BTreeMap<String, String>, kind: Kind) -> bool {
    labels.get(labels::MANAGED).map(String::as_str) == Some("true")
        && labels.get(labels::KIND).map(String::as_str) == Some(kind.lowercase())
}

/// Whether a unit file's text carries podctl's mark.
pub fn owns_unit_file(content: &str) -> bool {
    content
        .lines()
        .next()
        .is_some_and(|l| l.trim_end() == UNIT_FILE_MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn owns_should_need_both_the_managed_mark_and_the_kind() {
        let ours = mark_labels(Kind::Volume, "data", "abc");
        assert!(owns(&ours, Kind::Volume));
        assert!(!owns(&ours, Kind::Container), "another kind's object");
        assert!(!owns(&with(&[(labels::MANAGED, "true")]), Kind::Volume));
        assert!(!owns(
            &with(&[(labels::MANAGED, "false"), (labels::KIND, "volume")]),
            Kind::Volume
        ));
        assert!(!owns(&BTreeMap::new(), Kind::Secret));
    }

    #[test]
    fn mark_should_keep_the_order_units_render_it_in() {
        let keys: Vec<&str> = mark(Kind::Container, "app", "h").map(|(k, _)| k).to_vec();
        assert_eq!(
            keys,
            [labels::MANAGED, labels::KIND, labels::NAME, labels::HASH]
        );
        assert_eq!(mark(Kind::Network, "n", "h")[1].1, "network");
    }

    #[test]
    fn only_a_unit_file_starting_with_the_marker_is_owned() {
        assert!(owns_unit_file(&format!("{UNIT_FILE_MARKER}\n[Unit]\n")));
        assert!(!owns_unit_file(&format!("[Unit]\n{UNIT_FILE_MARKER}\n")));
        assert!(!owns_unit_file(""));
    }
}
