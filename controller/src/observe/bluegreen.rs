//! Reading the blue-green states of the desired blue-green containers (the files are
//! `bluegreen::state`'s); one that cannot be read is logged and left out, so the container
//! is planned as having none (blue serves, and what runs is looked at).

use std::collections::BTreeMap;
use std::path::Path;

use podctl_api::{Kind, Revision};
use tracing::warn;

use crate::bluegreen::{State, state};

pub fn read_all(state_dir: &Path, revision: &Revision) -> BTreeMap<String, State> {
    revision
        .of_kind(Kind::Container)
        .filter(|o| {
            o.as_container()
                .is_some_and(podctl_api::bluegreen_checks::is_blue_green)
        })
        .filter_map(|o| match state::read(state_dir, o.name().as_str()) {
            Ok(s) => Some((o.name().to_string(), s?)),
            Err(e) => {
                warn!(container = %o.name(), error = %e, kind = e.kind(), "blue-green state unreadable: planned as having none");
                None
            }
        })
        .collect()
}
