//! `kind: Secret`: a podman secret whose value comes from a host file or the controller's
//! environment and never appears in any output.

use std::fmt;
use std::path::PathBuf;

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

/// Where a secret's value comes from, resolved from [`SecretSource`]: the one type the planner
/// puts in its actions and the executor reads from, so neither needs the other's module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOrigin {
    File(PathBuf),
    Env(String),
}

impl SecretSpec {
    /// The source to read; `None` if neither `file` nor `env` is set (validation rules that
    /// out, so only an unvalidated spec gives `None`).
    pub fn origin(&self) -> Option<SecretOrigin> {
        match (&self.source.file, &self.source.env) {
            (Some(path), _) => Some(SecretOrigin::File(path.as_path().to_path_buf())),
            (None, Some(env)) => Some(SecretOrigin::Env(env.to_string())),
            (None, None) => None,
        }
    }
}

impl fmt::Display for SecretOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretOrigin::File(path) => write!(f, "file {}", path.display()),
            SecretOrigin::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}
