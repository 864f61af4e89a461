//! `kind: Network`: a podman network for containers to share.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::values::{IpAddress, Subnet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkSpec {
    #[serde(default)]
    pub driver: NetworkDriver,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<Subnet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddress>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub ipv6: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkDriver {
    #[default]
    Bridge,
    Macvlan,
    Ipvlan,
}

impl NetworkDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkDriver::Bridge => "bridge",
            NetworkDriver::Macvlan => "macvlan",
            NetworkDriver::Ipvlan => "ipvlan",
        }
    }
}

/// Network names that mean something else in `spec.network` or to podman itself.
pub const RESERVED_NETWORK_NAMES: &[&str] = &[
    "host",
    "none",
    "bridge",
    "podman",
    "private",
    "slirp4netns",
    "pasta",
];
