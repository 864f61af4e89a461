//! `podctl import compose`: a Compose file (the Compose specification's services, volumes,
//! networks, secrets and configs) as podctl manifests. Every key is either mapped, or
//! reported with its `FILE:LINE:COL` and the reason; none is dropped silently.

pub mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use podctl_api::values::{AbsPath, Capability, CpuQuota, CpuSet, EnvName, ImageReference};
use podctl_api::yaml::{Node, Resolved, Scalar, Value, parse_documents};
use podctl_api::{
    Dependency, DependencyCondition, Diagnostic, HealthCheck, ImageSource, Location, LogDriver,
    Name, NetworkDriver, NetworkMode, PullPolicy, RestartPolicy, SecretMount, SecretSource,
    SecretSpec, Spec, VolumeMount,
};

use super::interpolate::{Variables, interpolate};
use super::manifest::{Manifest, container_spec, image_spec, network_spec, volume_spec};
use super::names::to_name;
use super::{Finding, Report};

/// One Compose file to import.
#[derive(Debug, Clone)]
pub struct ComposeSource<'a> {
    /// The file as the user named it: findings point there.
    pub path: Arc<Path>,
    /// The absolute directory relative paths (bind mounts, `env_file`, secrets) start from.
    pub base_dir: &'a Path,
    pub text: &'a str,
    /// The variables for interpolation: `.env` beside the file, then the environment.
    pub vars: &'a Variables,
    /// `--project-name`; else the file's `name:`, else the directory's name.
    pub project: Option<&'a str>,
}

/// The manifests of one Compose file, and what did not map.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub manifests: Vec<Manifest>,
    pub report: Report,
}

/// Imports one Compose file.
pub fn import(source: &ComposeSource<'_>) -> Imported {
    let mut importer = Importer {
        file: source.path.clone(),
        base: source.base_dir,
        home: source.vars.get("HOME").cloned(),
        report: Report::default(),
    };
    let parsed = parse_documents(source.text);
    for (mark, message, hint) in parsed.errors {
        importer.report.errors.push(Diagnostic {
            location: Location::new(source.path.clone(), mark),
            message,
            hint,
        });
    }
    let mut manifests = Vec::new();
    let mut documents = parsed.documents.into_iter();
    if let Some(mut doc) = documents.next() {
        merge_keys(&mut doc);
        importer.interpolate(&mut doc, source.vars);
        if importer.report.errors.is_empty() {
            manifests = importer.file(&doc, source);
        }
    } else if importer.report.errors.is_empty() {
        importer.report.errors.push(Diagnostic::new(
            Location::new(source.path.clone(), podctl_api::Mark::new(1, 1)),
            "the Compose file is empty",
        ));
    }
    for extra in documents {
        importer.not_mapped(
            &extra,
            "---",
            "a Compose file is one YAML document; the documents after the first were not read",
        );
    }
    importer.report.sort();
    Imported {
        manifests,
        report: importer.report,
    }
}

/// YAML merge keys (`<<: *defaults`), which Compose files use with `x-` anchors: the
/// mapping's own keys win over merged ones.
fn merge_keys(node: &mut Node) {
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(merge_keys),
        Value::Map(entries) => {
            for (_, v) in entries.iter_mut() {
                merge_keys(v);
            }
            let mut merged: Vec<(Node, Node)> = Vec::new();
            let mut own: Vec<(Node, Node)> = Vec::new();
            for (k, v) in entries.drain(..) {
                if k.as_str() == Some("<<") {
                    let sources = match v.value {
                        Value::Seq(items) => items,
                        _ => vec![v],
                    };
                    for source in sources {
                        if let Value::Map(from) = source.value {
                            for (fk, fv) in from {
                                let taken = merged.iter().any(|(m, _)| m.value == fk.value);
                                if !taken {
                                    merged.push((fk, fv));
                                }
                            }
                        }
                    }
                } else {
                    own.push((k, v));
                }
            }
            for (k, v) in merged {
                if !own.iter().any(|(o, _)| o.value == k.value) {
                    own.push((k, v));
                }
            }
            *entries = own;
        }
        Value::Scalar(_) | Value::Removed => {}
    }
}

/// A scalar's text: strings as written, numbers and booleans as written too.
fn text(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Scalar(Scalar { resolved, text }) if *resolved != Resolved::Null => Some(text),
        _ => None,
    }
}

fn entries(node: &Node) -> &[(Node, Node)] {
    match &node.value {
        Value::Map(e) => e,
        _ => &[],
    }
}

fn items(node: &Node) -> &[Node] {
    match &node.value {
        Value::Seq(i) => i,
        _ => &[],
    }
}

fn key_text(key: &Node) -> String {
    text(key).unwrap_or("?").to_string()
}

/// Service-level keys podctl has no field for, and why.
fn unsupported_service_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "build" => "podctl runs images only; build and push the image, then name it in `image`",
        "container_name" => "podctl names the container after the service",
        "hostname" | "domainname" => "podctl has no field for the container's host name",
        "expose" => {
            "podctl has no field for exposed ports; containers on one network reach every port of each other"
        }
        "links" | "external_links" => {
            "podctl has no links; containers on one network find each other by name"
        }
        "extra_hosts" | "dns" | "dns_search" | "dns_opt" => {
            "podctl has no field for the container's name resolution"
        }
        "privileged" => {
            "podctl runs no privileged containers; add the capabilities needed with `cap_add`"
        }
        "devices" | "device_cgroup_rules" | "gpus" => "podctl has no field for devices",
        "sysctls" => "podctl has no per-container sysctls (HostSettings sets the host's)",
        "ulimits" => "podctl has no field for ulimits",
        "tmpfs" => "podctl has no tmpfs mounts",
        "shm_size" => "podctl has no field for /dev/shm's size",
        "stop_signal" => "podctl has no field for the stop signal",
        "init" => "podctl has no field for an init process",
        "pid" | "ipc" | "uts" | "userns_mode" | "cgroup" | "cgroup_parent" => {
            "podctl has no field for namespace or cgroup modes"
        }
        "group_add" => "podctl has no field for supplementary groups",
        "tty" | "stdin_open" | "attach" => {
            "a podctl container runs as a service without a terminal"
        }
        "platform" => "podctl pulls the host's platform",
        "profiles" => "podctl has no profiles: every manifest in the directory is applied",
        "scale" => "podctl runs one container per manifest",
        "mac_address" => "podctl has no field for a MAC address",
        "oom_score_adj" | "oom_kill_disable" => "podctl has no field for the OOM killer",
        "mem_swappiness" | "memswap_limit" => "podctl has no field for swap",
        "cpu_shares" | "cpu_count" | "cpu_percent" | "cpu_period" | "cpu_quota"
        | "cpu_rt_runtime" | "cpu_rt_period" => {
            "podctl sets CPU with `cpus` (cpuQuota) and `cpuset`; this form has no field"
        }
        "blkio_config" => "podctl has no field for block I/O",
        "runtime" | "isolation" | "storage_opt" | "credential_spec" => {
            "podctl has no field for this runtime setting"
        }
        "annotations" => "podctl has no field for OCI annotations",
        "volumes_from" => "podctl has no volumes_from; mount the same volumes in both services",
        "extends" => "resolve `extends` first (`docker compose config` prints the result)",
        "develop" => "podctl has no development mode",
        "post_start" | "pre_stop" => "podctl has no lifecycle hooks",
        "use_api_socket" => "podctl gives no container the engine's socket",
        "models" | "provider" => "podctl has no field for this Compose extension",
        _ => return None,
    })
}

/// The project's podctl name: the given one, else the directory's name.
fn project_name(project: Option<String>, source: &ComposeSource<'_>) -> Name {
    let project_raw = project.unwrap_or_else(|| {
        source
            .base_dir
            .file_name()
            .map_or_else(|| "default".into(), |n| n.to_string_lossy().into_owned())
    });
    to_name(&project_raw).unwrap_or_else(|| {
        // A name with no usable character; "default" is a valid name.
        "default".parse().expect("`default` is a valid name")
    })
}

/// What the whole file declares, for the services to refer to.
#[derive(Default)]
struct Declared {
    /// Compose volume key → the Volume's name.
    volumes: BTreeMap<String, Name>,
    /// Compose network key → the Network's name.
    networks: BTreeMap<String, Name>,
    /// Compose secret key → the Secret's name, `None` when it could not be mapped.
    secrets: BTreeMap<String, Option<Name>>,
    /// Compose config key → the host file it holds, `None` when it is not a file.
    configs: BTreeMap<String, Option<AbsPath>>,
    /// Compose service key → the Container's name and whether it has a health check here.
    services: BTreeMap<String, (Name, bool)>,
    /// The network services join when they name none (Compose's `default`).
    default_network: Option<Name>,
    default_used: bool,
}

/// A service being read key by key: its container, and whether `restart` and a network
/// were given (Compose's defaults for them differ from podctl's).
struct Service {
    svc: String,
    name: Name,
    reference: ImageReference,
    c: podctl_api::ContainerSpec,
    restart_set: bool,
    network_set: bool,
}

impl Service {
    /// The key's path in findings: `services.SVC.KEY`.
    fn path(&self, key: &str) -> String {
        format!("services.{}.{key}", self.svc)
    }
}

/// A mount as written, in the long or the short syntax.
struct MountSyntax<'n> {
    /// Compose's `type`: `volume`, `bind`, or one podctl has no field for.
    kind: String,
    source: Option<(String, &'n Node)>,
    target: Option<(String, &'n Node)>,
    read_only: bool,
}

struct Importer<'a> {
    file: Arc<Path>,
    base: &'a Path,
    /// `~` in host paths: `HOME` of the variables (the CLI passes the environment).
    home: Option<String>,
    report: Report,
}

impl Importer<'_> {
    fn loc(&self, node: &Node) -> Location {
        Location::new(self.file.clone(), node.mark)
    }

    fn not_mapped(&mut self, at: &Node, key: &str, reason: impl Into<String>) {
        let location = self.loc(at);
        self.report
            .findings
            .push(Finding::not_mapped(location, key, reason));
    }

    fn note(&mut self, at: &Node, key: &str, reason: impl Into<String>) {
        let location = self.loc(at);
        self.report
            .findings
            .push(Finding::note(location, key, reason));
    }

    fn error(&mut self, at: &Node, message: impl Into<String>, hint: Option<&str>) {
        let mut d = Diagnostic::new(self.loc(at), message);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.report.errors.push(d);
    }

    /// Interpolates every scalar value (keys are not, as in Compose).
    fn interpolate(&mut self, node: &mut Node, vars: &Variables) {
        match &mut node.value {
            Value::Scalar(s) if s.text.contains('$') => match interpolate(&s.text, vars) {
                Ok(out) => {
                    for name in out.unset {
                        let location = Location::new(self.file.clone(), node.mark);
                        self.report.findings.push(Finding::not_mapped(
                            location,
                            format!("${{{name}}}"),
                            format!("variable `{name}` is not set; an empty string was used, as Compose does"),
                        ));
                    }
                    if s.resolved == Resolved::Null {
                        s.resolved = Resolved::Str;
                    }
                    s.text = out.text;
                }
                Err(e) => {
                    let hint = e.hint();
                    self.error(&node.clone(), e.to_string(), Some(hint));
                }
            },
            Value::Scalar(_) | Value::Removed => {}
            Value::Seq(items) => {
                for item in items {
                    self.interpolate(item, vars);
                }
            }
            Value::Map(entries) => {
                for (_, v) in entries {
                    self.interpolate(v, vars);
                }
            }
        }
    }

    fn name_of(&mut self, key: &Node, what: &str) -> Option<Name> {
        let raw = key_text(key);
        match to_name(&raw) {
            Some(name) => {
                if name.as_str() != raw {
                    self.note(
                        key,
                        &raw,
                        format!("{what} `{raw}` is named `{name}` (podctl names are lowercase DNS labels)"),
                    );
                }
                Some(name)
            }
            None => {
                self.error(
                    key,
                    format!("{what} `{raw}` has no letter or digit to make a podctl name of"),
                    Some("rename it"),
                );
                None
            }
        }
    }

    /// A host path of the Compose file: absolute, `~`, or relative to the file's directory,
    /// normalised as podctl paths are.
    fn host_path(&mut self, at: &Node, raw: &str) -> Option<AbsPath> {
        let path = if let Some(rest) = raw.strip_prefix("~/") {
            match &self.home {
                Some(home) => PathBuf::from(home).join(rest),
                None => {
                    self.error(
                        at,
                        format!("`{raw}` starts with `~` but HOME is not set"),
                        None,
                    );
                    return None;
                }
            }
        } else {
            self.base.join(raw)
        };
        let mut normal = PathBuf::from("/");
        for component in path.components() {
            match component {
                Component::Normal(c) => normal.push(c),
                Component::ParentDir => {
                    normal.pop();
                }
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        let shown = normal.to_string_lossy().into_owned();
        match shown.parse::<AbsPath>() {
            Ok(p) => {
                if !raw.starts_with('/') {
                    self.note(
                        at,
                        raw,
                        format!("the relative path is `{p}` on this machine"),
                    );
                }
                Some(p)
            }
            Err(e) => {
                self.error(at, e.message, e.hint.as_deref());
                None
            }
        }
    }

    fn container_path(&mut self, at: &Node, raw: &str) -> Option<AbsPath> {
        match raw.parse::<AbsPath>() {
            Ok(p) => Some(p),
            Err(e) => {
                self.error(at, e.message, e.hint.as_deref());
                None
            }
        }
    }

    fn bool_of(&mut self, node: &Node) -> Option<bool> {
        match text(node) {
            Some("true" | "True" | "TRUE") => Some(true),
            Some("false" | "False" | "FALSE") => Some(false),
            _ => {
                self.error(
                    node,
                    format!("expected true or false, found {}", node.kind_name()),
                    None,
                );
                None
            }
        }
    }

    fn file(&mut self, doc: &Node, source: &ComposeSource<'_>) -> Vec<Manifest> {
        if !matches!(doc.value, Value::Map(_)) {
            self.error(doc, "a Compose file is a mapping with `services`", None);
            return Vec::new();
        }
        let mut declared = Declared::default();
        let mut manifests = Vec::new();
        let project = self.top_level_keys(doc, source);
        let project = project_name(project, source);
        if let Some(volumes) = doc.get("volumes") {
            self.volumes(volumes, &mut declared, &mut manifests);
        }
        if let Some(networks) = doc.get("networks") {
            self.networks(networks, &project, &mut declared, &mut manifests);
        }
        if let Some(secrets) = doc.get("secrets") {
            self.secrets(secrets, &mut declared, &mut manifests);
        }
        if let Some(configs) = doc.get("configs") {
            self.configs(configs, &mut declared);
        }
        if declared.default_network.is_none() {
            declared.default_network = to_name(&format!("{project}-default"));
        }
        let Some(services) = doc.get("services") else {
            self.error(doc, "the Compose file has no `services`", None);
            return manifests;
        };
        self.declare_services(services, &mut declared);
        let mut taken: BTreeSet<Name> = BTreeSet::new();
        for (k, v) in entries(services) {
            let Some((name, _)) = declared.services.get(&key_text(k)).cloned() else {
                continue;
            };
            if !taken.insert(name.clone()) {
                self.error(
                    k,
                    format!("two services are both named `{name}` in podctl"),
                    Some("rename one of them"),
                );
                continue;
            }
            self.service(k, v, name, &mut declared, &mut manifests);
        }
        self.default_network(services, &declared, &mut manifests);
        manifests
    }

    /// The keys beside the objects; returns the project's name: the command line's, else
    /// the file's `name`.
    fn top_level_keys(&mut self, doc: &Node, source: &ComposeSource<'_>) -> Option<String> {
        let mut project = source.project.map(str::to_string);
        for (k, v) in entries(doc) {
            match key_text(k).as_str() {
                "name" if project.is_none() => project = text(v).map(str::to_string),
                "name" => self.note(
                    k,
                    "name",
                    "the project name given on the command line is used",
                ),
                "version" => self.note(
                    k,
                    "version",
                    "obsolete in the Compose specification; ignored, as Compose does",
                ),
                "services" | "volumes" | "networks" | "secrets" | "configs" => {}
                "include" => self.not_mapped(k, "include", "import each included file on its own"),
                x if x.starts_with("x-") => {
                    self.note(k, x, "extension field: ignored, as Compose ignores it");
                }
                other => self.not_mapped(k, other, "not a key of the Compose specification"),
            }
        }
        project
    }

    /// Every service's podctl name, and whether it has a health check here, for the
    /// `depends_on` of the others.
    fn declare_services(&mut self, services: &Node, declared: &mut Declared) {
        for (k, v) in entries(services) {
            if let Some(name) = self.name_of(k, "service") {
                let healthy = v.get("healthcheck").is_some_and(|h| {
                    h.get("disable").is_none_or(|d| text(d) != Some("true"))
                        && h.get("test")
                            .is_none_or(|t| items(t).first().and_then(text) != Some("NONE"))
                });
                declared.services.insert(key_text(k), (name, healthy));
            }
        }
    }

    /// Compose's implicit `default` network, declared when a service joins it and the file
    /// does not declare it.
    fn default_network(
        &mut self,
        services: &Node,
        declared: &Declared,
        manifests: &mut Vec<Manifest>,
    ) {
        if declared.default_used
            && let Some(name) = declared.default_network.clone()
            && !manifests
                .iter()
                .any(|m| m.kind() == podctl_api::Kind::Network && m.name == name)
        {
            // Compose's implicit `default` network: services find each other by name on it
            // (podman's own default network has no DNS).
            self.note(
                services,
                "services",
                format!("services that name no network join the network `{name}` (Compose's default network of the project)"),
            );
            manifests.push(Manifest::new(
                name,
                Spec::Network(network_spec()),
                Some(self.loc(services)),
            ));
        }
    }

    fn labels(&mut self, node: &Node, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut add = |me: &mut Self, at: &Node, k: String, v: String| {
            if k.starts_with(podctl_api::RESERVED_LABEL_PREFIX)
                || k.starts_with(podctl_api::PODMAN_LABEL_PREFIX)
            {
                me.not_mapped(at, &format!("{path}.{k}"), "label keys starting with `io.podctl.` or `io.containers.` are reserved in podctl");
            } else {
                out.insert(k, v);
            }
        };
        match &node.value {
            Value::Map(e) => {
                for (k, v) in e {
                    add(self, k, key_text(k), text(v).unwrap_or("").to_string());
                }
            }
            Value::Seq(list) => {
                for item in list {
                    let t = text(item).unwrap_or("");
                    let (k, v) = t.split_once('=').unwrap_or((t, ""));
                    add(self, item, k.to_string(), v.to_string());
                }
            }
            _ => {}
        }
        out
    }

    fn volumes(&mut self, node: &Node, declared: &mut Declared, out: &mut Vec<Manifest>) {
        for (k, v) in entries(node) {
            let key = key_text(k);
            let name_node = v.get("name").unwrap_or(k);
            let Some(name) = self.name_of(name_node, "volume") else {
                continue;
            };
            let mut spec = volume_spec();
            for (fk, fv) in entries(v) {
                match key_text(fk).as_str() {
                    "name" => {}
                    "driver" => spec.driver = text(fv).unwrap_or("local").to_string(),
                    "driver_opts" => {
                        for (ok, ov) in entries(fv) {
                            spec.options.insert(key_text(ok), text(ov).unwrap_or("").to_string());
                        }
                    }
                    "labels" => spec.labels = self.labels(fv, &format!("volumes.{key}.labels")),
                    "external" if text(fv) == Some("false") => {}
                    "external" => self.not_mapped(
                        fk,
                        &format!("volumes.{key}.external"),
                        "podctl manages the volumes it mounts: a volume of this name made outside podctl is a conflict; it is declared as a podctl Volume (import its data, or remove it from podman first)",
                    ),
                    x if x.starts_with("x-") => self.note(fk, x, "extension field: ignored"),
                    other => self.not_mapped(fk, &format!("volumes.{key}.{other}"), "podctl Volumes have driver, options (driver_opts) and labels only"),
                }
            }
            declared.volumes.insert(key, name.clone());
            out.push(Manifest::new(name, Spec::Volume(spec), Some(self.loc(k))));
        }
    }

    fn networks(
        &mut self,
        node: &Node,
        project: &Name,
        declared: &mut Declared,
        out: &mut Vec<Manifest>,
    ) {
        for (k, v) in entries(node) {
            let key = key_text(k);
            let name = match v.get("name") {
                Some(n) => self.name_of(n, "network"),
                None if key == "default" => to_name(&format!("{project}-default")),
                None => self.name_of(k, "network"),
            };
            let Some(name) = name else { continue };
            if podctl_api::RESERVED_NETWORK_NAMES.contains(&name.as_str()) {
                self.error(
                    k,
                    format!("network `{name}` has a name podman reserves"),
                    Some("rename the network"),
                );
                continue;
            }
            let mut spec = network_spec();
            for (fk, fv) in entries(v) {
                let path = format!("networks.{key}.{}", key_text(fk));
                match key_text(fk).as_str() {
                    "name" => {}
                    "driver" => match text(fv).unwrap_or("bridge") {
                        "bridge" => spec.driver = NetworkDriver::Bridge,
                        "macvlan" => spec.driver = NetworkDriver::Macvlan,
                        "ipvlan" => spec.driver = NetworkDriver::Ipvlan,
                        other => self.not_mapped(fv, &path, format!("podctl networks are bridge, macvlan or ipvlan, not `{other}`; a bridge network is declared")),
                    },
                    "internal" => spec.internal = self.bool_of(fv).unwrap_or(false),
                    "enable_ipv6" => spec.ipv6 = self.bool_of(fv).unwrap_or(false),
                    "labels" => spec.labels = self.labels(fv, &path),
                    "ipam" => self.ipam(fv, &path, &mut spec),
                    "external" if text(fv) == Some("false") => {}
                    "external" => self.not_mapped(fk, &path, "podctl manages its networks: a network of this name made outside podctl is a conflict; it is declared as a podctl Network"),
                    "driver_opts" => self.not_mapped(fk, &path, "podctl Networks have no driver options"),
                    "attachable" => self.not_mapped(fk, &path, "a Swarm setting; podman networks are always attachable"),
                    "enable_ipv4" => {
                        if self.bool_of(fv) == Some(false) {
                            self.not_mapped(fk, &path, "podctl networks always have IPv4");
                        }
                    }
                    x if x.starts_with("x-") => self.note(fk, x, "extension field: ignored"),
                    _ => self.not_mapped(fk, &path, "podctl Networks have no such field"),
                }
            }
            if key == "default" {
                declared.default_network = Some(name.clone());
            }
            declared.networks.insert(key, name.clone());
            out.push(Manifest::new(name, Spec::Network(spec), Some(self.loc(k))));
        }
    }

    fn ipam(&mut self, node: &Node, path: &str, spec: &mut podctl_api::NetworkSpec) {
        for (k, v) in entries(node) {
            match key_text(k).as_str() {
                "driver" if text(v) == Some("default") => {}
                "config" => {
                    for (i, pool) in items(v).iter().enumerate() {
                        if i > 0 {
                            self.not_mapped(
                                pool,
                                &format!("{path}.config[{i}]"),
                                "a podctl Network has one subnet; the first is used",
                            );
                            continue;
                        }
                        for (pk, pv) in entries(pool) {
                            let t = text(pv).unwrap_or("");
                            match key_text(pk).as_str() {
                                "subnet" => match t.parse() {
                                    Ok(s) => spec.subnet = Some(s),
                                    Err(e) => {
                                        let e: podctl_api::values::ValueError = e;
                                        self.error(pv, e.message, e.hint.as_deref());
                                    }
                                },
                                "gateway" => match t.parse() {
                                    Ok(g) => spec.gateway = Some(g),
                                    Err(e) => {
                                        let e: podctl_api::values::ValueError = e;
                                        self.error(pv, e.message, e.hint.as_deref());
                                    }
                                },
                                other => self.not_mapped(
                                    pk,
                                    &format!("{path}.config[0].{other}"),
                                    "a podctl Network has a subnet and a gateway only",
                                ),
                            }
                        }
                    }
                }
                other => self.not_mapped(
                    k,
                    &format!("{path}.{other}"),
                    "podctl Networks use podman's IPAM; only `config` (subnet, gateway) maps",
                ),
            }
        }
    }

    fn secrets(&mut self, node: &Node, declared: &mut Declared, out: &mut Vec<Manifest>) {
        for (k, v) in entries(node) {
            let key = key_text(k);
            let Some(name) = self.name_of(k, "secret") else {
                declared.secrets.insert(key, None);
                continue;
            };
            let mut source = SecretSource {
                file: None,
                env: None,
            };
            for (fk, fv) in entries(v) {
                let path = format!("secrets.{key}.{}", key_text(fk));
                match key_text(fk).as_str() {
                    "file" => source.file = text(fv).and_then(|t| self.host_path(fv, t)),
                    "environment" => match text(fv).unwrap_or("").parse::<EnvName>() {
                        Ok(e) => source.env = Some(e),
                        Err(e) => self.error(fv, e.message, e.hint.as_deref()),
                    },
                    "external" if text(fv) == Some("false") => {}
                    "external" => self.not_mapped(fk, &path, "podctl creates its secrets from a file or an environment variable; give the secret a `file` or `environment`"),
                    "content" => self.not_mapped(fk, &path, "podctl never keeps a secret's value in a manifest; put it in a file and use `file`"),
                    "name" => self.not_mapped(fk, &path, "the podman secret is named after the podctl Secret"),
                    "labels" | "driver" | "driver_opts" | "template_driver" => {
                        self.not_mapped(fk, &path, "podctl Secrets have a source only")
                    }
                    x if x.starts_with("x-") => self.note(fk, x, "extension field: ignored"),
                    _ => self.not_mapped(fk, &path, "podctl Secrets have no such field"),
                }
            }
            if source.file.is_none() && source.env.is_none() {
                self.not_mapped(k, &format!("secrets.{key}"), "the secret has no `file` or `environment`, so no podctl Secret is declared; its uses are left out");
                declared.secrets.insert(key, None);
                continue;
            }
            declared.secrets.insert(key, Some(name.clone()));
            out.push(Manifest::new(
                name,
                Spec::Secret(SecretSpec { source }),
                Some(self.loc(k)),
            ));
        }
    }

    fn configs(&mut self, node: &Node, declared: &mut Declared) {
        for (k, v) in entries(node) {
            let key = key_text(k);
            let mut file = None;
            for (fk, fv) in entries(v) {
                let path = format!("configs.{key}.{}", key_text(fk));
                match key_text(fk).as_str() {
                    "file" => file = text(fv).and_then(|t| self.host_path(fv, t)),
                    x if x.starts_with("x-") => self.note(fk, x, "extension field: ignored"),
                    _ => self.not_mapped(fk, &path, "podctl mounts configs as read-only files (`file` only); this config and its uses are left out"),
                }
            }
            declared.configs.insert(key, file);
        }
    }

    fn image(&mut self, node: &Node) -> Option<ImageReference> {
        let raw = text(node)?;
        let full = values::qualify_image(raw);
        match full.parse::<ImageReference>() {
            Ok(r) => {
                if full != raw {
                    self.note(node, raw, format!("the image is `{full}`, the registry Compose means, spelled out for podman"));
                }
                Some(r)
            }
            Err(e) => {
                self.error(node, e.message, e.hint.as_deref());
                None
            }
        }
    }

    /// `command` and `entrypoint`: a list, or a string split into words as Compose does.
    fn words(&mut self, node: &Node) -> Vec<String> {
        match &node.value {
            Value::Seq(list) => list
                .iter()
                .map(|i| text(i).unwrap_or("").to_string())
                .collect(),
            _ => match text(node).map(values::shell_words) {
                Some(Ok(words)) => words,
                Some(Err(e)) => {
                    self.error(node, e, None);
                    Vec::new()
                }
                None => Vec::new(),
            },
        }
    }

    fn duration(&mut self, node: &Node) -> Option<podctl_api::values::Duration> {
        let t = text(node)?;
        match values::duration(t) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    node,
                    e,
                    Some("write a Go duration such as `30s` or `1m30s`"),
                );
                None
            }
        }
    }

    fn size(&mut self, node: &Node) -> Option<podctl_api::values::ByteSize> {
        let t = text(node)?;
        match values::bytes(t).and_then(values::size) {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(node, e, None);
                None
            }
        }
    }

    fn cpus(&mut self, node: &Node, path: &str) -> Option<CpuQuota> {
        let t = text(node)?;
        match values::cpu_percent(t) {
            Ok((percent, rounded)) => {
                if rounded {
                    self.note(
                        node,
                        path,
                        format!(
                            "{t} CPUs is rounded to {percent}% (podctl quotas are whole percents)"
                        ),
                    );
                }
                format!("{percent}%").parse().ok()
            }
            Err(e) => {
                self.error(node, e, None);
                None
            }
        }
    }

    fn service(
        &mut self,
        key: &Node,
        node: &Node,
        name: Name,
        declared: &mut Declared,
        out: &mut Vec<Manifest>,
    ) {
        let svc = key_text(key);
        let Some(image_node) = node.get("image") else {
            self.error(
                key,
                format!("service `{svc}` has no `image`"),
                Some("podctl runs images only: build and push the image, then name it in `image`"),
            );
            return;
        };
        let Some(reference) = self.image(image_node) else {
            return;
        };
        let mut c = container_spec(ImageSource::Reference(reference.clone()));
        // Compose restarts nothing unless told (`restart: no` is its default).
        c.restart.policy = RestartPolicy::No;
        let mut s = Service {
            svc,
            name,
            reference,
            c,
            restart_set: false,
            network_set: false,
        };
        for (k, v) in entries(node) {
            self.service_key(&mut s, k, v, declared, out);
        }
        if !s.restart_set {
            self.note(key, &s.path("restart"), "no `restart`: Compose's default `no` is kept (podctl's own default would be `on-failure`)");
        }
        if !s.network_set {
            declared.default_used = true;
            s.c.network = declared.default_network.clone().map(NetworkMode::Network);
        }
        out.push(Manifest::new(
            s.name,
            Spec::Container(Box::new(s.c)),
            Some(self.loc(key)),
        ));
    }

    /// One key of a service: one arm a key; the keys with more to them have a method each.
    fn service_key(
        &mut self,
        s: &mut Service,
        k: &Node,
        v: &Node,
        declared: &mut Declared,
        out: &mut Vec<Manifest>,
    ) {
        let field = key_text(k);
        let path = s.path(&field);
        let c = &mut s.c;
        match field.as_str() {
            "image" => {}
            "command" => c.args = self.words(v),
            "entrypoint" => c.command = self.words(v),
            "environment" => self.environment(v, &path, &mut c.env),
            "env_file" => self.env_files(v, &path, &mut c.env_files),
            "ports" => items(v)
                .iter()
                .for_each(|i| self.port(i, &path, &mut c.ports)),
            "volumes" => items(v)
                .iter()
                .for_each(|i| self.mount(i, &path, declared, &mut c.volumes)),
            "secrets" => items(v)
                .iter()
                .for_each(|i| self.secret_use(i, &path, declared, &mut c.secrets)),
            "configs" => items(v)
                .iter()
                .for_each(|i| self.config_use(i, &path, declared, &mut c.volumes)),
            "depends_on" => self.depends_on(v, &path, declared, &mut c.depends_on),
            "healthcheck" => c.health_check = self.healthcheck(v, &path),
            "restart" => {
                s.restart_set = true;
                self.restart(v, &path, &mut c.restart.policy);
            }
            "user" => c.user = text(v).map(str::to_string),
            "working_dir" => c.working_dir = text(v).and_then(|t| self.container_path(v, t)),
            "read_only" => c.security.read_only_root_filesystem = self.bool_of(v).unwrap_or(false),
            "cap_add" | "cap_drop" => self.capabilities(v, field == "cap_add", &mut c.security),
            "security_opt" => self.security_opt(v, &path, &mut c.security),
            "labels" => c.labels = self.labels(v, &path),
            "logging" => self.logging(v, &path, &mut c.logging),
            "stop_grace_period" => c.stop_timeout = self.duration(v),
            "network_mode" => {
                s.network_set = true;
                self.network_mode(v, &path, &mut c.network);
            }
            "networks" => {
                s.network_set = true;
                self.service_networks(v, &path, declared, &mut c.network);
            }
            "mem_limit" => c.resources.memory_max = self.size(v),
            "mem_reservation" => c.resources.memory_reservation = self.size(v),
            "cpus" => c.resources.cpu_quota = self.cpus(v, &path),
            "cpuset" => match text(v).unwrap_or("").parse::<CpuSet>() {
                Ok(set) => c.resources.cpuset = Some(set),
                Err(e) => self.error(v, e.message, e.hint.as_deref()),
            },
            "pids_limit" => self.pids_limit(v, &path, &mut c.resources),
            "deploy" => s.restart_set |= self.deploy(v, &path, c, s.restart_set),
            "pull_policy" => self.pull_policy(v, &path, s, out),
            x if x.starts_with("x-") => self.note(k, x, "extension field: ignored"),
            other => {
                let reason = unsupported_service_key(other)
                    .unwrap_or("not a service key of the Compose specification");
                self.not_mapped(k, &path, reason);
            }
        }
    }

    /// `env_file`: a path, or a list of paths or `{path, required, format}`.
    fn env_files(&mut self, node: &Node, path: &str, env_files: &mut Vec<AbsPath>) {
        let list: Vec<&Node> = match &node.value {
            Value::Seq(i) => i.iter().collect(),
            _ => vec![node],
        };
        for item in list {
            let path_node = item.get("path").unwrap_or(item);
            if let Some(r) = item.get("required")
                && text(r) == Some("false")
            {
                self.not_mapped(
                    r,
                    &format!("{path}.required"),
                    "podman needs every env file to exist; the file is required",
                );
            }
            if let Some(f) = item.get("format") {
                self.not_mapped(
                    f,
                    &format!("{path}.format"),
                    "podman reads env files of KEY=VALUE lines",
                );
            }
            if let Some(t) = text(path_node)
                && let Some(file) = self.host_path(path_node, t)
            {
                env_files.push(file);
            }
        }
    }

    fn restart(&mut self, v: &Node, path: &str, policy: &mut RestartPolicy) {
        match text(v).unwrap_or("") {
            "no" => *policy = RestartPolicy::No,
            "always" => *policy = RestartPolicy::Always,
            "unless-stopped" => {
                *policy = RestartPolicy::Always;
                self.note(v, path, "`unless-stopped` is `always`: systemd restarts the service unless it was stopped, and starts it again at boot");
            }
            "on-failure" => *policy = RestartPolicy::OnFailure,
            t if t.starts_with("on-failure:") => {
                *policy = RestartPolicy::OnFailure;
                self.not_mapped(
                    v,
                    path,
                    "podctl has no retry count; `on-failure` restarts until systemd's start limit",
                );
            }
            t => self.error(
                v,
                format!("unknown restart policy `{t}`"),
                Some("no, always, on-failure or unless-stopped"),
            ),
        }
    }

    /// `cap_add` (`add`) or `cap_drop`.
    fn capabilities(&mut self, v: &Node, add: bool, security: &mut podctl_api::Security) {
        for item in items(v) {
            match text(item).unwrap_or("").parse::<Capability>() {
                Ok(cap) if add => security.cap_add.push(cap),
                Ok(cap) => security.cap_drop.push(cap),
                Err(e) => self.error(item, e.message, e.hint.as_deref()),
            }
        }
    }

    fn security_opt(&mut self, v: &Node, path: &str, security: &mut podctl_api::Security) {
        for item in items(v) {
            match text(item).unwrap_or("") {
                "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {
                    security.no_new_privileges = true;
                }
                other => self.not_mapped(
                    item,
                    path,
                    format!("podctl has `no-new-privileges` only, not `{other}`"),
                ),
            }
        }
    }

    fn network_mode(&mut self, v: &Node, path: &str, network: &mut Option<NetworkMode>) {
        match text(v).unwrap_or("") {
            "host" => *network = Some(NetworkMode::Host),
            "none" => *network = Some(NetworkMode::None),
            "bridge" => self.note(v, path, "the container joins podman's default network"),
            other => self.not_mapped(
                v,
                path,
                format!(
                    "podctl containers have a network of their own, `host` or `none`, not `{other}`"
                ),
            ),
        }
    }

    fn pids_limit(&mut self, v: &Node, path: &str, resources: &mut podctl_api::Resources) {
        match text(v).and_then(|t| t.parse::<i64>().ok()) {
            Some(n) if n > 0 => resources.tasks_max = u32::try_from(n).ok(),
            Some(_) => self.note(v, path, "0 or -1 means no limit, podctl's default"),
            None => self.error(v, "pids_limit must be a whole number", None),
        }
    }

    /// `pull_policy`: podctl's containers pull if not present; another policy is an Image
    /// of the service's name that carries it.
    fn pull_policy(&mut self, v: &Node, path: &str, s: &mut Service, out: &mut Vec<Manifest>) {
        match text(v).unwrap_or("") {
            "missing" | "if_not_present" => {}
            policy @ ("always" | "never") => {
                let name = &s.name;
                let mut spec = image_spec(s.reference.clone());
                spec.pull_policy = if policy == "always" {
                    PullPolicy::Always
                } else {
                    PullPolicy::Never
                };
                self.note(
                    v,
                    path,
                    format!("an Image `{name}` carries the pull policy; the container uses it"),
                );
                s.c.image = ImageSource::Object(name.clone());
                out.push(Manifest::new(
                    name.clone(),
                    Spec::Image(spec),
                    Some(self.loc(v)),
                ));
            }
            other => self.not_mapped(
                v,
                path,
                format!("podctl pulls IfNotPresent, Always or Never, not `{other}`"),
            ),
        }
    }

    fn environment(&mut self, node: &Node, path: &str, env: &mut BTreeMap<EnvName, String>) {
        let pairs: Vec<(&Node, String, Option<String>)> = match &node.value {
            Value::Map(e) => e
                .iter()
                .map(|(k, v)| (k, key_text(k), text(v).map(str::to_string)))
                .collect(),
            Value::Seq(list) => list
                .iter()
                .map(|i| {
                    let t = text(i).unwrap_or("");
                    match t.split_once('=') {
                        Some((k, v)) => (i, k.to_string(), Some(v.to_string())),
                        None => (i, t.to_string(), None),
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        for (at, key, value) in pairs {
            let Some(value) = value else {
                // `KEY` alone: Compose passes the variable from its own environment.
                self.not_mapped(at, &format!("{path}.{key}"), "a variable without a value is passed from the environment of `docker compose up`; podctl units have no such environment: give it a value or use a Secret with `env`");
                continue;
            };
            match key.parse::<EnvName>() {
                Ok(name) => {
                    env.insert(name, value);
                }
                Err(e) => self.error(at, e.message, e.hint.as_deref()),
            }
        }
    }

    fn port(&mut self, item: &Node, path: &str, ports: &mut Vec<podctl_api::values::PortMapping>) {
        use values::PortProblem;
        let result = match &item.value {
            Value::Map(_) => {
                let mut ip = None;
                let mut proto = podctl_api::values::Protocol::Tcp;
                let mut published = None;
                let mut target = None;
                for (k, v) in entries(item) {
                    let t = text(v).unwrap_or("");
                    match key_text(k).as_str() {
                        "target" => target = Some(t.to_string()),
                        "published" => published = Some(t.to_string()),
                        "host_ip" => match t.parse() {
                            Ok(a) => ip = Some(a),
                            Err(_) => self.error(v, format!("`{t}` is not an IP address"), None),
                        },
                        "protocol" => match values::parse_protocol(t) {
                            Ok(pr) => proto = pr,
                            Err(e) => self.error(v, e, None),
                        },
                        "mode" if t == "host" => {}
                        "mode" => self.not_mapped(v, &format!("{path}.mode"), "Swarm's ingress mode; podman publishes on this host"),
                        other => self.not_mapped(k, &format!("{path}.{other}"), "a podctl port is an address, a host port, a container port and a protocol"),
                    }
                }
                match (published, target) {
                    (Some(h), Some(c)) if !h.is_empty() => values::mappings(ip, &h, &c, proto),
                    (_, Some(_)) => Err(PortProblem::NoHostPort),
                    (_, None) => Err(PortProblem::Invalid("a port needs `target`".into())),
                }
            }
            _ => values::short_port(text(item).unwrap_or("")),
        };
        match result {
            Ok(mut m) => ports.append(&mut m),
            Err(PortProblem::NoHostPort) => self.not_mapped(item, path, "no host port: Compose lets the engine pick one, podctl publishes fixed host ports only; write `HOST:CONTAINER`"),
            Err(PortProblem::Unmappable(why)) => self.not_mapped(item, path, why),
            Err(PortProblem::Invalid(why)) => self.error(item, why, None),
        }
    }

    fn mount(
        &mut self,
        item: &Node,
        path: &str,
        declared: &Declared,
        mounts: &mut Vec<VolumeMount>,
    ) {
        let syntax = match &item.value {
            Value::Map(_) => self.long_mount(item, path),
            _ => match self.short_mount(item, path) {
                Some(syntax) => syntax,
                None => return,
            },
        };
        let MountSyntax {
            kind,
            source,
            target,
            read_only,
        } = syntax;
        let Some((target, target_node)) = target else {
            self.error(item, "a mount needs a target path", None);
            return;
        };
        let Some(path_in) = self.container_path(target_node, &target) else {
            return;
        };
        match (kind.as_str(), source) {
            ("volume", None) => self.not_mapped(item, path, "an anonymous volume: podctl mounts named volumes only; name it and declare it under the top-level `volumes`"),
            ("volume", Some((s, at))) => match declared.volumes.get(&s) {
                Some(volume) => mounts.push(VolumeMount {
                    volume: Some(volume.clone()),
                    host_path: None,
                    path: path_in,
                    read_only,
                }),
                None => self.error(at, format!("volume `{s}` is not declared under the top-level `volumes`"), Some("declare it, as Compose requires")),
            },
            ("bind", Some((s, at))) => {
                if let Some(host) = self.host_path(at, &s) {
                    mounts.push(VolumeMount {
                        volume: None,
                        host_path: Some(host),
                        path: path_in,
                        read_only,
                    });
                }
            }
            (other, _) => self.not_mapped(item, path, format!("`{other}` mounts have no podctl field; only volumes and bind mounts")),
        }
    }

    /// The long syntax of a mount: `{type, source, target, read_only, ...}`.
    fn long_mount<'n>(&mut self, item: &'n Node, path: &str) -> MountSyntax<'n> {
        let mut kind = "volume".to_string();
        let mut source = None;
        let mut target = None;
        let mut read_only = false;
        for (k, v) in entries(item) {
            let t = text(v).unwrap_or("").to_string();
            match key_text(k).as_str() {
                "type" => kind = t,
                "source" => source = Some((t, v)),
                "target" => target = Some((t, v)),
                "read_only" => read_only = self.bool_of(v).unwrap_or(false),
                "bind" => {
                    for (bk, bv) in entries(v) {
                        match key_text(bk).as_str() {
                            "create_host_path" => {}
                            other => self.not_mapped(
                                bk,
                                &format!("{path}.bind.{other}"),
                                "podctl bind mounts have no propagation or SELinux options",
                            ),
                        }
                        let _ = bv;
                    }
                }
                "consistency" => self.note(
                    k,
                    &format!("{path}.consistency"),
                    "no effect on Linux; ignored",
                ),
                other => self.not_mapped(
                    k,
                    &format!("{path}.{other}"),
                    "a podctl mount is a volume or host path, a path and readOnly",
                ),
            }
        }
        MountSyntax {
            kind,
            source,
            target,
            read_only,
        }
    }

    /// The short syntax of a mount: `[SOURCE:]TARGET[:MODE]`; a source that is a path is a
    /// bind mount.
    fn short_mount<'n>(&mut self, item: &'n Node, path: &str) -> Option<MountSyntax<'n>> {
        let t = text(item).unwrap_or("");
        let parts: Vec<&str> = t.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [target] => (None, *target, ""),
            [s, target] => (Some(*s), *target, ""),
            [s, target, mode] => (Some(*s), *target, *mode),
            _ => {
                self.error(item, format!("`{t}` is not `SOURCE:TARGET[:MODE]`"), None);
                return None;
            }
        };
        let mut read_only = false;
        for opt in mode.split(',').filter(|o| !o.is_empty()) {
            match opt {
                "ro" => read_only = true,
                "rw" => {}
                "cached" | "delegated" | "consistent" => {
                    self.note(item, path, format!("`{opt}` has no effect on Linux; ignored"));
                }
                other => self.not_mapped(item, path, format!("the mount option `{other}` has no podctl field (no SELinux relabel, propagation or nocopy)")),
            }
        }
        let kind = match source {
            Some(s) if s.starts_with(['/', '.', '~']) => "bind",
            _ => "volume",
        };
        Some(MountSyntax {
            kind: kind.to_string(),
            source: source.map(|s| (s.to_string(), item)),
            target: Some((target.to_string(), item)),
            read_only,
        })
    }

    fn secret_use(
        &mut self,
        item: &Node,
        path: &str,
        declared: &Declared,
        secrets: &mut Vec<SecretMount>,
    ) {
        let (source, target) = match &item.value {
            Value::Map(_) => {
                let mut source = None;
                let mut target = None;
                for (k, v) in entries(item) {
                    match key_text(k).as_str() {
                        "source" => source = text(v).map(str::to_string),
                        "target" => target = text(v).map(|t| (t.to_string(), v)),
                        other => self.not_mapped(k, &format!("{path}.{other}"), "podman mounts a secret with fixed owner and mode; podctl has no field for them"),
                    }
                }
                (source, target)
            }
            _ => (text(item).map(str::to_string), None),
        };
        let Some(source) = source else {
            self.error(item, "a secret needs `source`", None);
            return;
        };
        let secret = match declared.secrets.get(&source) {
            Some(Some(s)) => s.clone(),
            Some(None) => {
                self.not_mapped(
                    item,
                    path,
                    format!("secret `{source}` was not mapped, so neither is this use"),
                );
                return;
            }
            None => {
                self.error(
                    item,
                    format!("secret `{source}` is not declared under the top-level `secrets`"),
                    None,
                );
                return;
            }
        };
        let file = match target {
            Some((t, _)) if t.starts_with('/') => t,
            Some((t, _)) => format!("/run/secrets/{t}"),
            None => format!("/run/secrets/{source}"),
        };
        if let Some(p) = self.container_path(item, &file) {
            secrets.push(SecretMount {
                secret,
                path: Some(p),
                env: None,
            });
        }
    }

    fn config_use(
        &mut self,
        item: &Node,
        path: &str,
        declared: &Declared,
        mounts: &mut Vec<VolumeMount>,
    ) {
        let (source, target) = match &item.value {
            Value::Map(_) => {
                let mut source = None;
                let mut target = None;
                for (k, v) in entries(item) {
                    match key_text(k).as_str() {
                        "source" => source = text(v).map(str::to_string),
                        "target" => target = text(v).map(str::to_string),
                        other => self.not_mapped(k, &format!("{path}.{other}"), "a config is mounted as a read-only file; podctl has no field for its owner or mode"),
                    }
                }
                (source, target)
            }
            _ => (text(item).map(str::to_string), None),
        };
        let Some(source) = source else {
            self.error(item, "a config needs `source`", None);
            return;
        };
        match declared.configs.get(&source) {
            Some(Some(file)) => {
                let target = target.unwrap_or_else(|| format!("/{source}"));
                if let Some(p) = self.container_path(item, &target) {
                    self.note(
                        item,
                        path,
                        format!("config `{source}` is mounted read-only from {file}"),
                    );
                    mounts.push(VolumeMount {
                        volume: None,
                        host_path: Some(file.clone()),
                        path: p,
                        read_only: true,
                    });
                }
            }
            Some(None) => self.not_mapped(
                item,
                path,
                format!("config `{source}` is not a file, so this use was not mapped"),
            ),
            None => self.error(
                item,
                format!("config `{source}` is not declared under the top-level `configs`"),
                None,
            ),
        }
    }

    fn depends_on(
        &mut self,
        node: &Node,
        path: &str,
        declared: &Declared,
        deps: &mut Vec<Dependency>,
    ) {
        let list: Vec<(&Node, String, Option<&Node>)> = match &node.value {
            Value::Seq(i) => i
                .iter()
                .map(|n| (n, text(n).unwrap_or("").to_string(), None))
                .collect(),
            Value::Map(e) => e.iter().map(|(k, v)| (k, key_text(k), Some(v))).collect(),
            _ => Vec::new(),
        };
        for (at, dep, long) in list {
            let Some((name, healthy)) = declared.services.get(&dep).cloned() else {
                self.error(at, format!("service `{dep}` is not defined"), None);
                continue;
            };
            let mut condition = DependencyCondition::Started;
            if let Some(long) = long {
                for (k, v) in entries(long) {
                    let field = format!("{path}.{dep}.{}", key_text(k));
                    match (key_text(k).as_str(), text(v).unwrap_or("")) {
                        ("condition", "service_started") => {}
                        ("condition", "service_healthy") if healthy => {
                            condition = DependencyCondition::Healthy;
                        }
                        ("condition", "service_healthy") => self.not_mapped(v, &field, format!("`{dep}` has no healthcheck in this file (podctl cannot see an image's own HEALTHCHECK); it waits until `{dep}` started")),
                        ("condition", "service_completed_successfully") => self.not_mapped(v, &field, format!("podctl has no one-shot containers; it waits until `{dep}` started")),
                        ("condition", other) => self.error(v, format!("unknown condition `{other}`"), None),
                        ("restart", "true") => {}
                        ("restart", _) => self.not_mapped(v, &field, "podctl dependencies are `Requires=`: a restart of the dependency restarts this container"),
                        ("required", "true") => {}
                        ("required", _) => self.not_mapped(v, &field, "podctl dependencies are always required"),
                        (other, _) => self.not_mapped(k, &format!("{path}.{dep}.{other}"), "not a key of depends_on"),
                    }
                }
            }
            deps.push(Dependency { name, condition });
        }
    }

    fn healthcheck(&mut self, node: &Node, path: &str) -> Option<HealthCheck> {
        let mut command = None;
        let mut check = HealthCheck {
            command: Vec::new(),
            interval: podctl_api::values::Duration::from_millis(30_000),
            timeout: podctl_api::values::Duration::from_millis(30_000),
            retries: 3,
            start_period: podctl_api::values::Duration::from_millis(0),
            on_failure: Default::default(),
        };
        let mut disabled = false;
        for (k, v) in entries(node) {
            match key_text(k).as_str() {
                "test" => command = self.health_test(v, &mut disabled),
                "interval" => check.interval = self.duration(v).unwrap_or(check.interval),
                "timeout" => check.timeout = self.duration(v).unwrap_or(check.timeout),
                "start_period" => {
                    check.start_period = self.duration(v).unwrap_or(check.start_period)
                }
                "retries" => match text(v).and_then(|t| t.parse::<u32>().ok()) {
                    Some(n) if n >= 1 => check.retries = n,
                    _ => self.error(v, "retries must be a whole number of at least 1", None),
                },
                "disable" => disabled = self.bool_of(v).unwrap_or(false),
                "start_interval" => self.not_mapped(
                    k,
                    &format!("{path}.start_interval"),
                    "podctl health checks run at one interval",
                ),
                other => self.not_mapped(
                    k,
                    &format!("{path}.{other}"),
                    "not a healthcheck key podctl has",
                ),
            }
        }
        if disabled {
            self.not_mapped(
                node,
                path,
                "podctl cannot turn off an image's own HEALTHCHECK; no health check is declared",
            );
            return None;
        }
        match command {
            Some(cmd) if !cmd.is_empty() => {
                check.command = cmd;
                Some(check)
            }
            _ => {
                self.not_mapped(node, path, "a healthcheck without `test` uses the image's HEALTHCHECK, which podctl does not see; no health check is declared");
                None
            }
        }
    }

    /// A healthcheck's `test`: `[CMD, ...]`, `[CMD-SHELL, "..."]`, `[NONE]` (which turns
    /// the check off) or a shell command.
    fn health_test(&mut self, v: &Node, disabled: &mut bool) -> Option<Vec<String>> {
        match &v.value {
            Value::Seq(list) => {
                let words: Vec<String> = list
                    .iter()
                    .map(|i| text(i).unwrap_or("").to_string())
                    .collect();
                match words.first().map(String::as_str) {
                    Some("NONE") => {
                        *disabled = true;
                        None
                    }
                    Some("CMD") => Some(words[1..].to_vec()),
                    Some("CMD-SHELL") => {
                        Some(vec!["/bin/sh".into(), "-c".into(), words[1..].join(" ")])
                    }
                    _ => {
                        self.error(
                            v,
                            "a healthcheck test list starts with CMD, CMD-SHELL or NONE",
                            None,
                        );
                        None
                    }
                }
            }
            _ => text(v).map(|t| vec!["/bin/sh".to_string(), "-c".into(), t.to_string()]),
        }
    }

    fn logging(&mut self, node: &Node, path: &str, logging: &mut podctl_api::Logging) {
        for (k, v) in entries(node) {
            match key_text(k).as_str() {
                "driver" => match text(v).unwrap_or("") {
                    "journald" => logging.driver = LogDriver::Journald,
                    "none" => logging.driver = LogDriver::None,
                    "json-file" | "local" | "k8s-file" => {
                        logging.driver = LogDriver::K8sFile;
                        self.note(v, &format!("{path}.driver"), "podman's file log driver is `k8s-file`");
                    }
                    other => self.not_mapped(v, &format!("{path}.driver"), format!("podctl logs to journald, k8s-file or none, not `{other}`; journald is kept")),
                },
                "options" => {
                    for (ok, ov) in entries(v) {
                        match key_text(ok).as_str() {
                            "tag" => logging.tag = text(ov).map(str::to_string),
                            other => self.not_mapped(ok, &format!("{path}.options.{other}"), "podctl has the log `tag` only"),
                        }
                    }
                }
                other => self.not_mapped(k, &format!("{path}.{other}"), "not a logging key"),
            }
        }
    }

    fn service_networks(
        &mut self,
        node: &Node,
        path: &str,
        declared: &mut Declared,
        network: &mut Option<NetworkMode>,
    ) {
        let list: Vec<(&Node, String, Option<&Node>)> = match &node.value {
            Value::Seq(i) => i
                .iter()
                .map(|n| (n, text(n).unwrap_or("").to_string(), None))
                .collect(),
            Value::Map(e) => e.iter().map(|(k, v)| (k, key_text(k), Some(v))).collect(),
            _ => Vec::new(),
        };
        for (i, (at, key, long)) in list.into_iter().enumerate() {
            if i > 0 {
                self.not_mapped(
                    at,
                    &format!("{path}.{key}"),
                    "a podctl container joins one network; the first is used",
                );
                continue;
            }
            let name = if key == "default" && !declared.networks.contains_key("default") {
                declared.default_used = true;
                declared.default_network.clone()
            } else {
                declared.networks.get(&key).cloned()
            };
            match name {
                Some(n) => *network = Some(NetworkMode::Network(n)),
                None => self.error(
                    at,
                    format!("network `{key}` is not declared under the top-level `networks`"),
                    None,
                ),
            }
            if let Some(long) = long {
                for (k, _) in entries(long) {
                    self.not_mapped(k, &format!("{path}.{key}.{}", key_text(k)), "podctl has no aliases, fixed addresses or priorities on a network; the container is found by its name");
                }
            }
        }
    }

    /// `deploy`; returns whether it set the restart policy.
    fn deploy(
        &mut self,
        node: &Node,
        path: &str,
        c: &mut podctl_api::ContainerSpec,
        restart_set: bool,
    ) -> bool {
        let mut set_restart = false;
        for (k, v) in entries(node) {
            let field = format!("{path}.{}", key_text(k));
            match key_text(k).as_str() {
                "resources" => {
                    for (rk, rv) in entries(v) {
                        let rfield = format!("{field}.{}", key_text(rk));
                        let limits = key_text(rk) == "limits";
                        if !limits && key_text(rk) != "reservations" {
                            self.not_mapped(
                                rk,
                                &rfield,
                                "podctl has limits and a memory reservation",
                            );
                            continue;
                        }
                        for (lk, lv) in entries(rv) {
                            let lfield = format!("{rfield}.{}", key_text(lk));
                            match (limits, key_text(lk).as_str()) {
                                (true, "cpus") => c.resources.cpu_quota = self.cpus(lv, &lfield),
                                (true, "memory") => c.resources.memory_max = self.size(lv),
                                (true, "pids") => match text(lv).and_then(|t| t.parse::<u32>().ok()) {
                                    Some(n) if n > 0 => c.resources.tasks_max = Some(n),
                                    _ => self.error(lv, "pids must be a whole number of at least 1", None),
                                },
                                (false, "memory") => c.resources.memory_reservation = self.size(lv),
                                (false, "cpus") => self.not_mapped(lk, &lfield, "podctl reserves no CPU (cpuWeight is relative, not a reservation)"),
                                _ => self.not_mapped(lk, &lfield, "podctl has no field for this resource"),
                            }
                        }
                    }
                }
                "restart_policy" => {
                    if restart_set {
                        self.note(k, &field, "`restart` is set too and wins");
                        continue;
                    }
                    set_restart = true;
                    c.restart.policy = RestartPolicy::Always;
                    for (rk, rv) in entries(v) {
                        let rfield = format!("{field}.{}", key_text(rk));
                        match key_text(rk).as_str() {
                            "condition" => match text(rv).unwrap_or("") {
                                "none" => c.restart.policy = RestartPolicy::No,
                                "on-failure" => c.restart.policy = RestartPolicy::OnFailure,
                                "any" => c.restart.policy = RestartPolicy::Always,
                                other => self.error(rv, format!("unknown restart condition `{other}`"), Some("none, on-failure or any")),
                            },
                            "delay" => c.restart.delay = self.duration(rv),
                            _ => self.not_mapped(rk, &rfield, "podctl has no retry count or window; systemd's start limit applies"),
                        }
                    }
                }
                "replicas" if text(v) == Some("1") => {}
                "replicas" => self.not_mapped(v, &field, "podctl runs one container per manifest"),
                _ => self.not_mapped(
                    k,
                    &field,
                    "a Swarm deployment setting; podctl runs on one host",
                ),
            }
        }
        set_restart
    }
}

#[cfg(test)]
mod tests;
