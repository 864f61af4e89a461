//! `kind: Secret`: a podman secret whose value comes from a host file or the controller's
//! environment and never appears in any output.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::values::{AbsPath, EnvName};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretSpec {
    pub source: SecretSource,
}

/// Where the value comes from: exactly one of `file` and `env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretSource {
    /// A file on the host, read at apply time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<AbsPath>,
    /// A variable of the controller's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvName>,
}
