//! Manifests made by an import: typed objects, written as YAML without the fields that
//! only repeat a default, and checked by the api's own loader before anything is written.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use podctl_api::{
    ContainerSpec, Diagnostics, ImageSpec, Kind, LoadError, Location, Name, NetworkSpec, Revision,
    SourceFile, Spec, VolumeSpec,
};
use serde_norway::{Mapping, Value};

/// One object of an import, with the place in the source it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub name: Name,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub hosts: Option<podctl_api::HostSelection>,
    pub spec: Spec,
    pub source: Option<Location>,
}

impl Manifest {
    pub fn new(name: Name, spec: Spec, source: Option<Location>) -> Self {
        Self {
            name,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            hosts: None,
            spec,
            source,
        }
    }

    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }

    /// `web.container.yaml`: one file per object, named like a Quadlet file, so that two
    /// objects of different kinds with one name never share a file.
    pub fn file_name(&self) -> String {
        format!("{}.{}.yaml", self.name, self.kind().lowercase())
    }

    pub fn as_container(&self) -> Option<&ContainerSpec> {
        match &self.spec {
            Spec::Container(c) => Some(c),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error("cannot write {object} as YAML: {source}")]
    Yaml {
        object: String,
        #[source]
        source: serde_norway::Error,
    },
}

/// A container spec with every default and `image`, the base an import fills in.
pub fn container_spec(image: podctl_api::ImageSource) -> ContainerSpec {
    ContainerSpec {
        image,
        command: Vec::new(),
        args: Vec::new(),
        env: BTreeMap::new(),
        env_files: Vec::new(),
        user: None,
        working_dir: None,
        ports: Vec::new(),
        network: None,
        volumes: Vec::new(),
        secrets: Vec::new(),
        depends_on: Vec::new(),
        after: Vec::new(),
        requires: Vec::new(),
        health_check: None,
        restart: Default::default(),
        stop_timeout: None,
        resources: Default::default(),
        security: Default::default(),
        logging: Default::default(),
        labels: BTreeMap::new(),
        update: Default::default(),
        monitoring: Default::default(),
        enabled: true,
        wanted_by: vec![podctl_api::values::UnitName::multi_user_target()],
    }
}

pub fn volume_spec() -> VolumeSpec {
    VolumeSpec {
        driver: "local".into(),
        options: BTreeMap::new(),
        labels: BTreeMap::new(),
        reclaim_policy: Default::default(),
        backup: None,
    }
}

pub fn network_spec() -> NetworkSpec {
    NetworkSpec {
        driver: Default::default(),
        subnet: None,
        gateway: None,
        internal: false,
        ipv6: false,
        labels: BTreeMap::new(),
    }
}

pub fn image_spec(reference: podctl_api::values::ImageReference) -> ImageSpec {
    ImageSpec {
        reference,
        pull_policy: Default::default(),
        tls_verify: true,
        auth_file: None,
    }
}

/// The spec of `kind` with nothing set, to leave out what only repeats a default.
fn default_of(spec: &Spec) -> Option<Spec> {
    Some(match spec {
        Spec::Container(c) => Spec::Container(Box::new(container_spec(c.image.clone()))),
        Spec::Volume(_) => Spec::Volume(volume_spec()),
        Spec::Network(_) => Spec::Network(network_spec()),
        Spec::Image(i) => Spec::Image(image_spec(i.reference.clone())),
        Spec::Secret(_) | Spec::BackupRepository(_) | Spec::HostSettings(_) => return None,
    })
}

/// Removes from `value` every entry equal to the one in `default` (recursively; a mapping
/// left empty goes too).
fn prune(value: &mut Value, default: &Value) {
    if let (Value::Mapping(map), Value::Mapping(defaults)) = (value, default) {
        prune_mapping(map, defaults);
    }
}

fn prune_mapping(map: &mut Mapping, defaults: &Mapping) {
    let keys: Vec<Value> = map.keys().cloned().collect();
    for key in keys {
        let Some(d) = defaults.get(&key) else {
            continue;
        };
        let remove = match map.get_mut(&key) {
            Some(v @ Value::Mapping(_)) if matches!(d, Value::Mapping(_)) => {
                prune(v, d);
                matches!(v, Value::Mapping(m) if m.is_empty())
            }
            Some(v) => v == d,
            None => false,
        };
        if remove {
            map.remove(&key);
        }
    }
}

fn to_value<T: serde::Serialize>(object: &str, v: &T) -> Result<Value, EmitError> {
    serde_norway::to_value(v).map_err(|source| EmitError::Yaml {
        object: object.to_string(),
        source,
    })
}

/// The manifest as one YAML document (no `---`), defaults left out.
pub fn to_yaml(m: &Manifest) -> Result<String, EmitError> {
    let object = format!("{}/{}", m.kind().lowercase(), m.name);
    let mut spec = to_value(&object, &m.spec)?;
    if let Some(default) = default_of(&m.spec) {
        let default = to_value(&object, &default)?;
        // The required field stays even when it equals the base's.
        if let (Value::Mapping(map), Value::Mapping(mut defaults)) = (&mut spec, default) {
            for k in ["image", "ref"] {
                defaults.remove(k);
            }
            prune_mapping(map, &defaults);
        }
    }
    let mut metadata = Mapping::new();
    metadata.insert("name".into(), Value::String(m.name.to_string()));
    if !m.labels.is_empty() {
        metadata.insert("labels".into(), to_value(&object, &m.labels)?);
    }
    if !m.annotations.is_empty() {
        metadata.insert("annotations".into(), to_value(&object, &m.annotations)?);
    }
    if let Some(hosts) = &m.hosts {
        metadata.insert("hosts".into(), to_value(&object, hosts)?);
    }
    let mut doc = Mapping::new();
    doc.insert("apiVersion".into(), podctl_api::API_VERSION.into());
    doc.insert("kind".into(), m.kind().as_str().into());
    doc.insert("metadata".into(), Value::Mapping(metadata));
    if matches!(&spec, Value::Mapping(map) if map.is_empty()) {
        // `spec: {}`: required even when every field has its default.
        spec = Value::Mapping(Mapping::new());
    }
    doc.insert("spec".into(), spec);
    serde_norway::to_string(&Value::Mapping(doc))
        .map_err(|source| EmitError::Yaml { object, source })
}

/// A comment line naming where the object came from, for the reader of the output.
pub fn provenance(m: &Manifest) -> String {
    match &m.source {
        Some(location) => format!(
            "# imported from {}\n",
            podctl_api::printable(&location.to_string())
        ),
        None => String::new(),
    }
}

/// Every manifest as its file: `(file name, text)`.
pub fn files(manifests: &[Manifest]) -> Result<Vec<(String, String)>, EmitError> {
    manifests
        .iter()
        .map(|m| {
            let mut text = format!("{}{}", provenance(m), to_yaml(m)?);
            if !text.ends_with('\n') {
                text.push('\n');
            }
            Ok((m.file_name(), text))
        })
        .collect()
}

/// All manifests as one YAML stream (what `import` prints without `-o`).
pub fn stream(manifests: &[Manifest]) -> Result<String, EmitError> {
    let mut out = String::new();
    for (i, (_, text)) in files(manifests)?.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&text);
    }
    Ok(out)
}

/// The revision the files make, read by the api's loader exactly as `podctl validate`
/// would read them from `dir`.
pub fn validate(dir: &Path, files: &[(String, String)]) -> Result<Revision, LoadError> {
    let sources = files
        .iter()
        .map(|(name, text)| SourceFile {
            path: Arc::from(dir.join(name)),
            text: text.clone(),
        })
        .collect();
    podctl_api::from_sources(dir, dir, sources, Diagnostics::default())
}

/// The manifests of a revision as an import produces them (for round trips and export).
pub fn from_revision(revision: &Revision) -> Vec<Manifest> {
    revision
        .objects()
        .iter()
        .map(|o| Manifest {
            name: o.metadata.name.clone(),
            labels: o.metadata.labels.clone(),
            annotations: o.metadata.annotations.clone(),
            hosts: o.metadata.hosts.clone(),
            spec: o.spec.clone(),
            source: Some(o.origin.location()),
        })
        .collect()
}
