//! `kind: Container`: one podman container run as one systemd service, `NAME.service`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Kind, ObjectRef};
use crate::name::Name;
use crate::values::{
    AbsPath, ByteSize, Capability, CpuQuota, CpuSet, Duration, EnvName, ImageReference,
    PortMapping, UnitName,
};
use crate::yaml::message_with_hint;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerSpec {
    /// An image reference, or `{ref: NAME}` naming an Image object.
    pub image: ImageSource,
    /// Overrides the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Overrides the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<EnvName, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_files: Vec<AbsPath>,
    /// `UID[:GID]` or a user name known in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<AbsPath>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    /// A Network object's name, or `host` / `none`; podman's default network if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkMode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeMount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretMount>,
    /// Containers that must run first: `Requires=` and `After=` on their units; a name, or
    /// `{name, condition: healthy}` to wait until the dependency's health check passes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// Host units to start after (`After=` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<UnitName>,
    /// Host units this one needs (`Requires=` and `After=`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<UnitName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default)]
    pub restart: RestartSpec,
    /// How long `podman stop` waits before SIGKILL; `TimeoutStopSec=` is derived from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<Duration>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub logging: Logging,
    /// Podman labels on the container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub update: UpdateSpec,
    /// Alert thresholds of this container in the rules `podctl alerts` prints.
    #[serde(default, skip_serializing_if = "Monitoring::is_default")]
    pub monitoring: Monitoring,
    /// Start at boot (through `wantedBy`).
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_wanted_by")]
    pub wanted_by: Vec<UnitName>,
}

fn default_true() -> bool {
    true
}

fn default_wanted_by() -> Vec<UnitName> {
    vec![UnitName::multi_user_target()]
}

impl ContainerSpec {
    /// Every object this container refers to, in manifest order.
    pub fn references(&self) -> Vec<ObjectRef> {
        let mut refs = Vec::new();
        if let ImageSource::Object(name) = &self.image {
            refs.push(ObjectRef::new(Kind::Image, name.clone()));
        }
        if let Some(NetworkMode::Network(name)) = &self.network {
            refs.push(ObjectRef::new(Kind::Network, name.clone()));
        }
        for v in &self.volumes {
            if let Some(name) = &v.volume {
                refs.push(ObjectRef::new(Kind::Volume, name.clone()));
            }
        }
        for s in &self.secrets {
            refs.push(ObjectRef::new(Kind::Secret, s.secret.clone()));
        }
        for d in &self.depends_on {
            refs.push(ObjectRef::new(Kind::Container, d.name.clone()));
        }
        refs
    }
}

/// One `dependsOn` entry: `db`, or `{name: db, condition: healthy}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: Name,
    pub condition: DependencyCondition,
}

/// What a dependent waits for before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DependencyCondition {
    /// Its unit is active (the container started): systemd's `After=`.
    #[default]
    Started,
    /// Its health check passed (it must have a `healthCheck`).
    Healthy,
}

impl<'de> Deserialize<'de> for Dependency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Dependency;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Container name or `{name: NAME, condition: started|healthy}`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dependency, E> {
                let name = Name::deserialize(de::value::StrDeserializer::<E>::new(v))?;
                Ok(Dependency {
                    name,
                    condition: DependencyCondition::Started,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dependency, A::Error> {
                // Through a derived struct, so that an unknown key is reported at the key.
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Long {
                    name: Name,
                    #[serde(default)]
                    condition: DependencyCondition,
                }
                let long = Long::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Dependency {
                    name: long.name,
                    condition: long.condition,
                })
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for Dependency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.condition {
            DependencyCondition::Started => serializer.collect_str(&self.name),
            DependencyCondition::Healthy => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("name", &self.name)?;
                map.serialize_entry("condition", &self.condition)?;
                map.end()
            }
        }
    }
}

impl JsonSchema for Dependency {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Dependency")
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let name = generator.subschema_for::<Name>();
        let condition = generator.subschema_for::<DependencyCondition>();
        json_schema!({
            "description": "A Container name (it must be started first), or `{name, condition}`; `condition: healthy` waits until its health check passes.",
            "oneOf": [
                name,
                {"type": "object", "properties": {"name": name, "condition": condition}, "required": ["name"], "additionalProperties": false}
            ]
        })
    }
}

/// `image: REF` or `image: {ref: NAME}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    Reference(ImageReference),
    /// An Image object of the revision, by name.
    Object(Name),
}

impl<'de> Deserialize<'de> for ImageSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ImageSource;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an image reference or `{ref: NAME}`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ImageSource, E> {
                v.parse()
                    .map(ImageSource::Reference)
                    .map_err(|e: crate::values::ValueError| {
                        E::custom(message_with_hint(&e.message, e.hint.unwrap_or_default()))
                    })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ImageSource, A::Error> {
                // Through a derived struct, so that an unknown key is reported at the key.
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct ObjectRef {
                    #[serde(rename = "ref")]
                    name: Name,
                }
                ObjectRef::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|r| ImageSource::Object(r.name))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for ImageSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ImageSource::Reference(r) => serializer.collect_str(r),
            ImageSource::Object(name) => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("ref", name)?;
                map.end()
            }
        }
    }
}

impl JsonSchema for ImageSource {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("ImageSource")
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let reference = generator.subschema_for::<ImageReference>();
        let name = generator.subschema_for::<Name>();
        json_schema!({
            "description": "An image reference, or `{ref: NAME}` naming an Image object.",
            "oneOf": [
                reference,
                {"type": "object", "properties": {"ref": name}, "required": ["ref"], "additionalProperties": false}
            ]
        })
    }
}

/// `network:`: a Network object, or the host's network, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    Host,
    None,
    Network(Name),
}

impl NetworkMode {
    /// Whether the container gets a network namespace with podman's netns bind mounts,
    /// which mount-namespacing hardening of the service hides (see the spec).
    pub fn is_bridged(mode: Option<&NetworkMode>) -> bool {
        !matches!(mode, Some(NetworkMode::Host | NetworkMode::None))
    }
}

impl<'de> Deserialize<'de> for NetworkMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        match text.as_ref() {
            "host" => Ok(NetworkMode::Host),
            "none" => Ok(NetworkMode::None),
            other => {
                other
                    .parse()
                    .map(NetworkMode::Network)
                    .map_err(|e: crate::values::ValueError| {
                        de::Error::custom(message_with_hint(
                            &e.message,
                            "name a Network object, or write `host` or `none`",
                        ))
                    })
            }
        }
    }
}

impl Serialize for NetworkMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            NetworkMode::Host => "host",
            NetworkMode::None => "none",
            NetworkMode::Network(n) => n.as_str(),
        })
    }
}

impl JsonSchema for NetworkMode {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("NetworkMode")
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let name = generator.subschema_for::<Name>();
        json_schema!({
            "description": "A Network object's name, or `host` or `none`.",
            "anyOf": [{"enum": ["host", "none"]}, name]
        })
    }
}

/// A mount: a Volume object or a host path, at `path` in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeMount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<AbsPath>,
    pub path: AbsPath,
    #[serde(default)]
    pub read_only: bool,
}

/// A Secret given to the container as a file (`path`) or an environment variable (`env`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretMount {
    pub secret: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<AbsPath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvName>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheck {
    /// Run inside the container; exit 0 means healthy.
    pub command: Vec<String>,
    #[serde(default = "default_interval")]
    pub interval: Duration,
    #[serde(default = "default_interval")]
    pub timeout: Duration,
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default)]
    pub start_period: Duration,
    #[serde(default)]
    pub on_failure: HealthFailureAction,
}

/// Podman's defaults for `--health-interval` and `--health-timeout`.
fn default_interval() -> Duration {
    Duration::from_millis(30_000)
}

fn default_retries() -> u32 {
    3
}

/// What podman does when the container turns unhealthy (`--health-on-failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthFailureAction {
    #[default]
    None,
    Kill,
    Restart,
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RestartSpec {
    #[serde(default)]
    pub policy: RestartPolicy,
    /// `RestartSec=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// `StartLimitBurst=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// `StartLimitIntervalSec=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    Always,
    #[default]
    OnFailure,
    No,
}

impl RestartPolicy {
    /// The value of systemd's `Restart=`.
    pub fn as_systemd(self) -> &'static str {
        match self {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::No => "no",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<CpuQuota>,
    /// `CPUWeight=`, 1 to 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<CpuSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_max: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Security {
    #[serde(default)]
    pub read_only_root_filesystem: bool,
    #[serde(default)]
    pub no_new_privileges: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<Capability>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<Capability>,
    /// Hardening of the systemd service around podman.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<ServiceHardening>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceHardening {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect_system: Option<ProtectSystem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect_home: Option<ProtectHome>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_write_paths: Vec<AbsPath>,
}

impl ServiceHardening {
    /// Whether any setting gives the service a private mount namespace.
    pub fn namespaces_mounts(&self) -> bool {
        !matches!(self.protect_system, None | Some(ProtectSystem::No))
            || !matches!(self.protect_home, None | Some(ProtectHome::No))
            || !self.read_write_paths.is_empty()
    }
}

/// Gives an enum of systemd's "boolean or word" settings (`ProtectSystem=`,
/// `ProtectHome=`) serde and schema impls that take `true`, `false` or one of the words.
macro_rules! bool_or_word {
    ($ty:ident { $($word:literal => $variant:ident),* $(,)? }) => {
        impl $ty {
            /// The value systemd takes.
            pub fn as_systemd(self) -> &'static str {
                match self {
                    $ty::No => "no",
                    $ty::Yes => "yes",
                    $($ty::$variant => $word,)*
                }
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("true, false", $(", ", $word),*))
                    }
                    fn visit_bool<E: de::Error>(self, v: bool) -> Result<$ty, E> {
                        Ok(if v { $ty::Yes } else { $ty::No })
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        match v {
                            $($word => Ok($ty::$variant),)*
                            _ => Err(E::unknown_variant(v, &["true", "false", $($word),*])),
                        }
                    }
                }
                deserializer.deserialize_any(V)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $ty::No => serializer.serialize_bool(false),
                    $ty::Yes => serializer.serialize_bool(true),
                    $($ty::$variant => serializer.serialize_str($word),)*
                }
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({"anyOf": [{"type": "boolean"}, {"enum": [$($word),*]}]})
            }
        }
    };
}

/// systemd's `ProtectSystem=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectSystem {
    No,
    Yes,
    Full,
    Strict,
}

bool_or_word!(ProtectSystem { "full" => Full, "strict" => Strict });

/// systemd's `ProtectHome=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectHome {
    No,
    Yes,
    ReadOnly,
    Tmpfs,
}

bool_or_word!(ProtectHome { "read-only" => ReadOnly, "tmpfs" => Tmpfs });

/// Per-container alert thresholds, in percent of the container's limit; the defaults of the
/// shipped rules (90) where unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Monitoring {
    /// HighMemory fires above this share of `resources.memoryMax` (1 to 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_high_percent: Option<u8>,
    /// HighCPU fires above this share of `resources.cpuQuota` (1 to 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_high_percent: Option<u8>,
}

impl Monitoring {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Logging {
    #[serde(default)]
    pub driver: LogDriver,
    /// The journald tag (`SYSLOG_IDENTIFIER`); podman's Go template such as `{{.Name}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    #[default]
    Journald,
    K8sFile,
    None,
}

impl LogDriver {
    pub fn as_podman(self) -> &'static str {
        match self {
            LogDriver::Journald => "journald",
            LogDriver::K8sFile => "k8s-file",
            LogDriver::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateSpec {
    #[serde(default)]
    pub policy: UpdatePolicy,
    #[serde(default)]
    pub strategy: UpdateStrategy,
    /// How a new image is judged before it is kept: `60s` (the watch window) or
    /// `{timeout: 2m, watch: 60s}`; the defaults of [`HealthGate`] without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_gate: Option<HealthGate>,
    /// Back up the container's volumes that have a `backup` before it moves to another
    /// image (a gated rollout); a failed backup leaves it on its image.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backup_before: bool,
}

impl UpdateSpec {
    /// The gate every image change of this container passes: the manifest's, or the
    /// defaults.
    pub fn gate(&self) -> HealthGate {
        self.health_gate.unwrap_or_default()
    }
}

/// The gate of a rollout: the new container must be running (and healthy, when it has a
/// health check) within `timeout`, then stay so for `watch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthGate {
    pub timeout: Duration,
    pub watch: Duration,
}

impl HealthGate {
    /// Long enough for a service with podman's default health check (30s interval) to
    /// report healthy once, with room for a slow start.
    pub const DEFAULT_TIMEOUT_MS: u64 = 120_000;
    /// A crash loop or a health check that flips shows within a few intervals; longer
    /// windows are a per-service choice.
    pub const DEFAULT_WATCH_MS: u64 = 10_000;
}

impl Default for HealthGate {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(Self::DEFAULT_TIMEOUT_MS),
            watch: Duration::from_millis(Self::DEFAULT_WATCH_MS),
        }
    }
}

impl<'de> Deserialize<'de> for HealthGate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HealthGate;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration (the watch window) or `{timeout: DURATION, watch: DURATION}`",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<HealthGate, E> {
                let watch = Duration::deserialize(de::value::StrDeserializer::<E>::new(v))?;
                Ok(HealthGate {
                    watch,
                    ..HealthGate::default()
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HealthGate, A::Error> {
                // Through a derived struct, so that an unknown key is reported at the key.
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Long {
                    timeout: Option<Duration>,
                    watch: Option<Duration>,
                }
                let long = Long::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let default = HealthGate::default();
                Ok(HealthGate {
                    timeout: long.timeout.unwrap_or(default.timeout),
                    watch: long.watch.unwrap_or(default.watch),
                })
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl JsonSchema for HealthGate {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("HealthGate")
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let duration = generator.subschema_for::<Duration>();
        json_schema!({
            "description": "The watch window (`60s`), or `{timeout, watch}`: running (and healthy, with a health check) within `timeout` (default 2m), then so for `watch` (default 10s).",
            "oneOf": [
                duration,
                {"type": "object", "properties": {"timeout": duration, "watch": duration}, "additionalProperties": false}
            ]
        })
    }
}

/// podman auto-update's policies (`io.containers.autoupdate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpdatePolicy {
    #[default]
    None,
    Registry,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateStrategy {
    #[default]
    Recreate,
    BlueGreen,
}
