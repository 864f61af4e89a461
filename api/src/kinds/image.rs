//! `kind: Image`: an image and how to pull it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::values::{AbsPath, ImageReference};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageSpec {
    #[serde(rename = "ref")]
    pub reference: ImageReference,
    #[serde(default)]
    pub pull_policy: PullPolicy,
    #[serde(default = "default_true")]
    pub tls_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_file: Option<AbsPath>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    /// Pull only when the image is not in local storage.
    #[default]
    IfNotPresent,
    /// Pull on every apply (a changed image restarts its containers).
    Always,
    /// Never pull: the image must be in local storage.
    Never,
}
