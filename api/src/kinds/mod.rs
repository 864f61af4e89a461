//! The manifest kinds of `podctl.io/v1` and what every object shares (metadata, identity).

mod backup;
mod container;
mod host_settings;
mod image;
mod network;
mod secret;
mod volume;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use backup::*;
pub use container::*;
pub use host_settings::*;
pub use image::*;
pub use network::*;
pub use secret::*;
pub use volume::*;

use crate::diagnostic::{Location, Mark};
use crate::name::Name;
use crate::yaml::{Node, PathStep};

pub const API_VERSION: &str = "podctl.io/v1";

/// The kinds, in the order objects of a revision are listed and hashed: what others
/// depend on comes first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Kind {
    Volume,
    Secret,
    Image,
    Network,
    Container,
    /// Last so that adding it changed no existing order; the graph orders it before the
    /// volumes that use it.
    BackupRepository,
    /// Kernel parameters and journal retention of the host.
    HostSettings,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Volume,
        Kind::Secret,
        Kind::Image,
        Kind::Network,
        Kind::Container,
        Kind::BackupRepository,
        Kind::HostSettings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Volume => "Volume",
            Kind::Secret => "Secret",
            Kind::Image => "Image",
            Kind::Network => "Network",
            Kind::Container => "Container",
            Kind::BackupRepository => "BackupRepository",
            Kind::HostSettings => "HostSettings",
        }
    }

    /// Lowercase, as in `container/myapp`.
    pub fn lowercase(self) -> &'static str {
        match self {
            Kind::Volume => "volume",
            Kind::Secret => "secret",
            Kind::Image => "image",
            Kind::Network => "network",
            Kind::Container => "container",
            Kind::BackupRepository => "backuprepository",
            Kind::HostSettings => "hostsettings",
        }
    }

    /// Parses `Container`, `container` or `containers`, as `podctl get KIND` takes it.
    pub fn parse_loose(s: &str) -> Option<Kind> {
        let lower = s.to_ascii_lowercase();
        let singular = match lower.strip_suffix("ies") {
            Some(stem) => format!("{stem}y"),
            None => lower.strip_suffix('s').unwrap_or(&lower).to_string(),
        };
        Kind::ALL.into_iter().find(|k| k.lowercase() == singular)
    }

    pub fn parse_exact(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity of an object: its kind and name (unique in a revision).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: Kind,
    pub name: Name,
}

impl ObjectRef {
    pub fn new(kind: Kind, name: Name) -> Self {
        Self { kind, name }
    }
}

impl fmt::Display for ObjectRef {
    /// `container/myapp`, the form logs, `get` and `graph` use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.lowercase(), self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: Name,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The hosts this object is for (`names`, or a label `selector`); every host without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<crate::hosts::HostSelection>,
}

/// The spec of an object, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Spec {
    Volume(VolumeSpec),
    Secret(SecretSpec),
    Image(ImageSpec),
    Network(NetworkSpec),
    Container(Box<ContainerSpec>),
    BackupRepository(BackupRepositorySpec),
    HostSettings(HostSettingsSpec),
}

impl Spec {
    pub fn kind(&self) -> Kind {
        match self {
            Spec::Volume(_) => Kind::Volume,
            Spec::Secret(_) => Kind::Secret,
            Spec::Image(_) => Kind::Image,
            Spec::Network(_) => Kind::Network,
            Spec::Container(_) => Kind::Container,
            Spec::BackupRepository(_) => Kind::BackupRepository,
            Spec::HostSettings(_) => Kind::HostSettings,
        }
    }
}

/// Where an object was declared: its file, its document's position, and the document's
/// tree, kept so that checks made after typing can still point at the exact line.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: Arc<Path>,
    pub document: Arc<Node>,
}

impl Origin {
    pub fn location(&self) -> Location {
        Location::new(self.file.clone(), self.document.mark)
    }

    /// The location of the node at `path` in this object's document.
    pub fn at(&self, path: &[PathStep<'_>]) -> Location {
        Location::new(self.file.clone(), self.document.locate(path))
    }

    /// The location of `key` in the mapping at `path` (the key itself, not its value).
    pub fn at_key(&self, path: &[PathStep<'_>], key: &str) -> Location {
        Location::new(self.file.clone(), self.document.locate_key(path, key))
    }

    pub fn mark(&self) -> Mark {
        self.document.mark
    }

    /// Drops the document's tree and keeps where it starts: locations asked afterwards
    /// point at the document (`Revision::forget_documents`).
    pub fn forget_document(&mut self) {
        let mark = self.document.mark;
        self.document = Arc::new(Node {
            value: crate::yaml::Value::Removed,
            mark,
        });
    }
}

/// One manifest object of a revision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    pub api_version: &'static str,
    pub kind: Kind,
    pub metadata: ObjectMeta,
    pub spec: Spec,
    #[serde(skip)]
    pub origin: Origin,
}

impl Object {
    pub fn name(&self) -> &Name {
        &self.metadata.name
    }

    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(self.kind, self.metadata.name.clone())
    }

    pub fn as_container(&self) -> Option<&ContainerSpec> {
        match &self.spec {
            Spec::Container(c) => Some(c),
            _ => None,
        }
    }

    pub fn as_volume(&self) -> Option<&VolumeSpec> {
        match &self.spec {
            Spec::Volume(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_secret(&self) -> Option<&SecretSpec> {
        match &self.spec {
            Spec::Secret(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_image(&self) -> Option<&ImageSpec> {
        match &self.spec {
            Spec::Image(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_network(&self) -> Option<&NetworkSpec> {
        match &self.spec {
            Spec::Network(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_host_settings(&self) -> Option<&HostSettingsSpec> {
        match &self.spec {
            Spec::HostSettings(h) => Some(h),
            _ => None,
        }
    }

    pub fn as_backup_repository(&self) -> Option<&BackupRepositorySpec> {
        match &self.spec {
            Spec::BackupRepository(r) => Some(r),
            _ => None,
        }
    }

    /// The objects this one needs before it can run, as declared: a volume its backup
    /// repository, a repository its password secret.
    pub fn dependencies(&self) -> Vec<ObjectRef> {
        match &self.spec {
            Spec::Container(c) => c.references(),
            Spec::Volume(v) => v
                .backup
                .iter()
                .map(|b| ObjectRef::new(Kind::BackupRepository, b.repository.clone()))
                .collect(),
            Spec::BackupRepository(r) => {
                vec![ObjectRef::new(Kind::Secret, r.password_secret.clone())]
            }
            Spec::Secret(_) | Spec::Image(_) | Spec::Network(_) | Spec::HostSettings(_) => {
                Vec::new()
            }
        }
    }
}

/// Label keys podctl writes itself; manifests may not set them.
pub const RESERVED_LABEL_PREFIX: &str = "io.podctl.";

/// Label keys podman itself acts on (`io.containers.autoupdate`, ...): podctl sets them
/// from typed fields (`update.policy`), so a plain label must not bypass those rules.
pub const PODMAN_LABEL_PREFIX: &str = "io.containers.";
