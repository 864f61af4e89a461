//! `kind: BackupRepository` and a Volume's `backup`: where restic keeps a volume's snapshots,
//! the password that encrypts them, and how many of them are kept.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::name::Name;
use crate::values::Duration;

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
    /// A systemd calendar expression (`daily`, `*-*-* 03:00`): podctl renders and owns a
    /// timer (`podctl-backup@VOLUME.timer`, `Persistent=true`) that runs `podctl backup run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The timer's `RandomizedDelaySec=`: spreads the backups of a fleet (and of a host's
    /// volumes) over this span after the scheduled time. Only with `schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomized_delay: Option<Duration>,
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

/// How a backup makes the volume's content consistent while it is exported: `stop`, `none`,
/// or `{container: NAME, command: [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Consistency {
    /// Stop the containers that use the volume (dependents first), export, start them again
    /// in dependency order.
    #[default]
    Stop,
    /// Export while the containers run: for data that is consistent on disk at any time.
    None,
    /// Run a command inside a running container first (a database dump into the volume),
    /// then export while everything runs; a command that fails fails the backup.
    Command(ConsistencyCommand),
}

/// `consistency: {container: db, command: [pg_dumpall, -f, /var/lib/postgresql/data/dump.sql]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyCommand {
    /// A Container of this revision that mounts the volume; it must be running.
    pub container: Name,
    /// The program and its arguments, run with `podman exec` (no shell).
    pub command: Vec<String>,
    /// How long the command may run before the backup fails (default 10m).
    #[serde(default = "default_command_timeout")]
    pub timeout: Duration,
}

/// Long enough for a dump of a mid-sized database; a hung command must not hold a backup
/// (and a timer's service) forever.
fn default_command_timeout() -> Duration {
    Duration::from_millis(10 * 60 * 1000)
}

impl<'de> Deserialize<'de> for Consistency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Consistency;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`stop`, `none` or `{container: NAME, command: [...]}`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Consistency, E> {
                match v {
                    "stop" => Ok(Consistency::Stop),
                    "none" => Ok(Consistency::None),
                    other => Err(E::unknown_variant(other, &["stop", "none"])),
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Consistency, A::Error> {
                // Through the derived struct, so that an unknown key is reported at the key.
                ConsistencyCommand::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Consistency::Command)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for Consistency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Stop => serializer.serialize_str("stop"),
            Self::None => serializer.serialize_str("none"),
            Self::Command(c) => c.serialize(serializer),
        }
    }
}

impl JsonSchema for Consistency {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Consistency")
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let command = generator.subschema_for::<ConsistencyCommand>();
        json_schema!({
            "description": "`stop` (stop the volume's containers during the export), `none`, or `{container, command}` (run a command in a running container first, e.g. a database dump into the volume).",
            "oneOf": [
                {"type": "string", "enum": ["stop", "none"]},
                command
            ]
        })
    }
}
