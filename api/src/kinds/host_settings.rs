//! `kind: HostSettings`: settings of the host itself that its containers rely on, owned by
//! podctl like any object: kernel parameters (`sysctl`) and the journal's retention
//! (`journald`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::values::{ByteSize, Duration};

/// `spec` of a HostSettings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostSettingsSpec {
    /// Kernel parameters by their `sysctl` name (`net.core.somaxconn: "4096"`), written to
    /// podctl's file in `/etc/sysctl.d` and applied through systemd-sysctl.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    /// The journal's retention, as a drop-in of journald.conf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journald: Option<JournaldSettings>,
}

/// `journald`: journald.conf's `SystemMaxUse=`, `SystemKeepFree=` and `MaxRetentionSec=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JournaldSettings {
    /// The most disk the persistent journal may use (`1G`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_max_use: Option<ByteSize>,
    /// Disk space the journal leaves free for others (`1G`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_keep_free: Option<ByteSize>,
    /// Entries older than this are removed (`7d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retention: Option<Duration>,
}

impl JournaldSettings {
    pub fn is_empty(&self) -> bool {
        self.system_max_use.is_none()
            && self.system_keep_free.is_none()
            && self.max_retention.is_none()
    }
}
