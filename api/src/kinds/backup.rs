//! `kind: BackupRepository` and a Volume's `backup`: where restic keeps a volume's snapshots,
//! the password that encrypts them, and how many of them are kept.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::name::Name;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackupRepositorySpec {
    /// Any restic repository string: a local path (`/srv/backups/restic`), `sftp:host:/path`,
    /// `s3:host/bucket/path`, `rest:http://host:8000/`. Initialised by podctl when missing.
    pub repository: String,
    /// The `Secret` of this revision whose value is the repository's password.
    pub password_secret: Name,
}

/// `spec.backup` of a Volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeBackup {
    /// The `BackupRepository` of this revision the snapshots go to.
    pub repository: Name,
    /// A systemd calendar expression (`daily`, `*-*-* 03:00`). Not supported yet: podctl
    /// rejects it, run `podctl backup run` from a timer of your own meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Which snapshots `restic forget --prune` keeps after each successful backup; none:
    /// every snapshot is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// What is done so that the archive is consistent.
    #[serde(default)]
    pub consistency: Consistency,
}

/// restic's `--keep-*` policy. The newest snapshot is always kept whatever the numbers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Retention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
}

impl Retention {
    /// `(restic flag, count)` of every rule set, in restic's order.
    pub fn rules(&self) -> Vec<(&'static str, u32)> {
        [
            ("--keep-last", self.keep_last),
            ("--keep-daily", self.keep_daily),
            ("--keep-weekly", self.keep_weekly),
            ("--keep-monthly", self.keep_monthly),
        ]
        .into_iter()
        .filter_map(|(flag, n)| n.map(|n| (flag, n)))
        .collect()
    }
}

/// How a backup makes the volume's content consistent while it is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Stop the containers that use the volume (dependents first), export, start them again
    /// in dependency order.
    #[default]
    Stop,
    /// Export while the containers run: for data that is consistent on disk at any time.
    None,
}
