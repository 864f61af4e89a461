//! `podctl import quadlet`: `.container`, `.volume`, `.network` and `.image` files (with
//! their drop-ins) as manifests; every key without a podctl field is reported.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use podctl_api::values::{
    AbsPath, ByteSize, Capability, CpuQuota, CpuSet, Duration, EnvName, ImageReference,
    PortMapping, UnitName,
};
use podctl_api::{
    Dependency, DependencyCondition, Diagnostic, HealthCheck, HealthFailureAction, ImageSource,
    Kind, Location, LogDriver, Name, NetworkDriver, NetworkMode, ProtectHome, ProtectSystem,
    PullPolicy, RestartPolicy, SecretMount, SecretSpec, ServiceHardening, Spec, UpdatePolicy,
    VolumeMount,
};

use super::ini::{Entry, parse, split_words, unescape_specifiers};
use super::keys::UnitType;
use super::{HEALTH_WAIT_PREFIX, HEALTH_WAIT_SUFFIX, UnitFile, X_METADATA, X_SECRET, X_SPEC};
use crate::migrate::manifest::{Manifest, container_spec, image_spec, network_spec, volume_spec};
use crate::migrate::names::to_name;
use crate::migrate::{Finding, Report};

/// The manifests of a directory of Quadlet files, and what did not map.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub manifests: Vec<Manifest>,
    pub report: Report,
}

struct Importer {
    report: Report,
}

impl Importer {
    fn not_mapped(&mut self, e: &Entry, reason: impl Into<String>) {
        self.report.findings.push(Finding::not_mapped(
            e.location.clone(),
            format!("[{}] {}", e.section, e.key),
            reason,
        ));
    }

    fn note(&mut self, e: &Entry, reason: impl Into<String>) {
        self.report.findings.push(Finding::note(
            e.location.clone(),
            format!("[{}] {}", e.section, e.key),
            reason,
        ));
    }

    fn error(&mut self, location: &Location, message: impl Into<String>) {
        self.report
            .errors
            .push(Diagnostic::new(location.clone(), message));
    }

    /// `value` as `T`, or an error at the entry.
    fn parse<T: FromStr<Err = podctl_api::values::ValueError>>(
        &mut self,
        e: &Entry,
        value: &str,
    ) -> Option<T> {
        match value.parse() {
            Ok(v) => Some(v),
            Err(err) => {
                let err: podctl_api::values::ValueError = err;
                let mut d =
                    Diagnostic::new(e.location.clone(), format!("{}: {}", e.key, err.message));
                if let Some(h) = err.hint {
                    d = d.with_hint(h);
                }
                self.report.errors.push(d);
                None
            }
        }
    }

    /// The value as one of the words `word` knows, or an error that names the key.
    fn known<T>(&mut self, e: &Entry, word: fn(&str) -> Option<T>) -> Option<T> {
        let found = word(&e.value);
        if found.is_none() {
            self.error(&e.location, format!("unknown {} `{}`", e.key, e.value));
        }
        found
    }

    fn duration(&mut self, e: &Entry) -> Option<Duration> {
        match crate::migrate::compose::values::duration(&e.value) {
            Ok(d) => Some(d),
            Err(_) => self.parse(e, &e.value),
        }
    }

    fn bool_of(&mut self, e: &Entry) -> Option<bool> {
        match e.value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Some(true),
            "false" | "no" | "0" | "off" => Some(false),
            _ => {
                self.error(
                    &e.location,
                    format!("{}: `{}` is not a boolean", e.key, e.value),
                );
                None
            }
        }
    }
}

/// The file a unit refers to (`db.volume`) as the object it becomes.
fn referenced(value: &str, ext: &str) -> Option<Name> {
    value.strip_suffix(&format!(".{ext}")).and_then(to_name)
}

/// Imports the files of one directory.
pub fn import(files: &[UnitFile]) -> Imported {
    let mut im = Importer {
        report: Report::default(),
    };
    let mut manifests = Vec::new();
    let containers: BTreeSet<String> = files
        .iter()
        .filter(|f| f.unit_type == Some(UnitType::Container))
        .map(|f| f.stem.clone())
        .collect();
    let mut secrets: BTreeMap<Name, (SecretSpec, Location)> = BTreeMap::new();
    for file in files {
        if let Some(m) = unit_file(&mut im, file, &containers, &mut secrets) {
            manifests.push(m);
        }
    }
    for (name, (spec, location)) in secrets {
        manifests.push(Manifest::new(name, Spec::Secret(spec), Some(location)));
    }
    im.report.sort();
    Imported {
        manifests,
        report: im.report,
    }
}

/// One file (with its drop-ins) as a manifest; `None` when it has no podctl counterpart,
/// or an error.
fn unit_file(
    im: &mut Importer,
    file: &UnitFile,
    containers: &BTreeSet<String>,
    secrets: &mut BTreeMap<Name, (SecretSpec, Location)>,
) -> Option<Manifest> {
    let entries = unit_entries(im, file);
    let location = Location::new(file.path.clone(), podctl_api::Mark::new(1, 1));
    let (unit_type, name) = unit_name(im, file, &location)?;
    let carried = carried(im, entries, secrets);
    let rest = &carried.rest;
    let spec = match unit_type {
        UnitType::Container => {
            container(im, &name, rest, containers).map(|c| Spec::Container(Box::new(c)))
        }
        UnitType::Volume => Some(Spec::Volume(volume(im, &name, rest))),
        UnitType::Network => Some(Spec::Network(network(im, &name, rest))),
        UnitType::Image => image(im, rest, &location).map(Spec::Image),
    }?;
    let spec = match overlay(spec, carried.spec) {
        Ok(s) => s,
        Err(why) => {
            im.error(
                &location,
                format!(
                    "{X_SPEC}= does not fit the {}: {why}",
                    unit_type.extension()
                ),
            );
            return None;
        }
    };
    let mut m = Manifest::new(name, spec, Some(location.clone()));
    metadata(im, &mut m, carried.metadata, &location);
    Some(m)
}

/// The entries of the file, then of its drop-ins, in the order systemd reads them.
fn unit_entries(im: &mut Importer, file: &UnitFile) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (path, text) in
        std::iter::once((&file.path, &file.text)).chain(file.dropins.iter().map(|(p, t)| (p, t)))
    {
        let (mut e, errors) = parse(path, text);
        for err in errors {
            im.error(&err.location, err.message);
        }
        entries.append(&mut e);
    }
    entries
}

/// The file's type and the podctl name of its object, or why it has none.
fn unit_name(im: &mut Importer, file: &UnitFile, location: &Location) -> Option<(UnitType, Name)> {
    let Some(unit_type) = file.unit_type else {
        im.report.findings.push(Finding::not_mapped(
            location.clone(),
            format!("{}.{}", file.stem, file.extension),
            format!("podctl has no counterpart of `.{}` files", file.extension),
        ));
        return None;
    };
    let Some(name) = to_name(&file.stem) else {
        im.error(
            location,
            format!(
                "`{}` has no letter or digit to make a podctl name of",
                file.stem
            ),
        );
        return None;
    };
    if name.as_str() != file.stem {
        im.report.findings.push(Finding::note(
            location.clone(),
            file.stem.clone(),
            format!("named `{name}` (podctl names are lowercase DNS labels)"),
        ));
    }
    Some((unit_type, name))
}

/// What podctl's export kept in `[Unit]` (`X-Podctl…=` keys), and the entries left for
/// the unit type's own mapping.
struct Carried {
    spec: serde_json::Map<String, serde_json::Value>,
    metadata: serde_json::Map<String, serde_json::Value>,
    rest: Vec<Entry>,
}

/// Takes the `X-Podctl…=` keys (and the documentation, which podctl keeps none of) out of
/// the entries; a secret is declared once, by the first file that carries it.
fn carried(
    im: &mut Importer,
    entries: Vec<Entry>,
    secrets: &mut BTreeMap<Name, (SecretSpec, Location)>,
) -> Carried {
    let mut carried = Carried {
        spec: serde_json::Map::new(),
        metadata: serde_json::Map::new(),
        rest: Vec::new(),
    };
    for e in entries {
        match (e.section.as_str(), e.key.as_str()) {
            ("Unit", k) if k == X_SPEC => json_object(im, &e, X_SPEC, &mut carried.spec),
            ("Unit", k) if k == X_METADATA => {
                json_object(im, &e, X_METADATA, &mut carried.metadata)
            }
            ("Unit", k) if k == X_SECRET => carried_secret(im, &e, secrets),
            ("Unit", "Description" | "Documentation") => {
                im.note(&e, "documentation for people; podctl keeps none");
            }
            _ => carried.rest.push(e),
        }
    }
    carried
}

/// `KEY={...}`: the fields of the object are added to `into`.
fn json_object(
    im: &mut Importer,
    e: &Entry,
    key: &str,
    into: &mut serde_json::Map<String, serde_json::Value>,
) {
    match serde_json::from_str::<serde_json::Value>(&e.value) {
        Ok(serde_json::Value::Object(map)) => into.extend(map),
        _ => im.error(&e.location, format!("{key}= is not a JSON object")),
    }
}

/// `X-PodctlSecret=NAME {source}`.
fn carried_secret(
    im: &mut Importer,
    e: &Entry,
    secrets: &mut BTreeMap<Name, (SecretSpec, Location)>,
) {
    let parsed = e
        .value
        .split_once(' ')
        .and_then(|(n, j)| Some((to_name(n)?, serde_json::from_str::<SecretSpec>(j).ok()?)));
    match parsed {
        Some((n, spec)) => {
            secrets.entry(n).or_insert((spec, e.location.clone()));
        }
        None => im.error(&e.location, format!("{X_SECRET}= is not `NAME {{source}}`")),
    }
}

/// The labels, annotations and hosts an `X-PodctlMetadata=` carried.
fn metadata(
    im: &mut Importer,
    m: &mut Manifest,
    metadata: serde_json::Map<String, serde_json::Value>,
    location: &Location,
) {
    let meta: Result<MetadataCarrier, _> =
        serde_json::from_value(serde_json::Value::Object(metadata));
    match meta {
        Ok(meta) => {
            m.labels = meta.labels;
            m.annotations = meta.annotations;
            m.hosts = meta.hosts;
        }
        Err(why) => im.error(
            location,
            format!("{X_METADATA}= is not podctl metadata: {why}"),
        ),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MetadataCarrier {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    hosts: Option<podctl_api::HostSelection>,
}

/// The spec with the fields an `X-PodctlSpec=` carried laid over it.
fn overlay(
    spec: Spec,
    carried: serde_json::Map<String, serde_json::Value>,
) -> Result<Spec, String> {
    if carried.is_empty() {
        return Ok(spec);
    }
    fn merge(base: &mut serde_json::Value, extra: serde_json::Value) {
        match (base, extra) {
            (serde_json::Value::Object(b), serde_json::Value::Object(x)) => {
                for (k, v) in x {
                    match b.get_mut(&k) {
                        Some(slot) => merge(slot, v),
                        None => {
                            b.insert(k, v);
                        }
                    }
                }
            }
            (slot, v) => *slot = v,
        }
    }
    let mut value = serde_json::to_value(&spec).map_err(|e| e.to_string())?;
    merge(&mut value, serde_json::Value::Object(carried));
    let kind = spec.kind();
    Ok(match kind {
        Kind::Container => Spec::Container(Box::new(
            serde_json::from_value(value).map_err(|e| e.to_string())?,
        )),
        Kind::Volume => Spec::Volume(serde_json::from_value(value).map_err(|e| e.to_string())?),
        Kind::Network => Spec::Network(serde_json::from_value(value).map_err(|e| e.to_string())?),
        Kind::Image => Spec::Image(serde_json::from_value(value).map_err(|e| e.to_string())?),
        Kind::Secret | Kind::BackupRepository | Kind::HostSettings => spec,
    })
}

/// `--flag=value` or `--flag value` words of `PodmanArgs=`.
fn podman_args(words: &[String]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        match w.split_once('=') {
            Some((f, v)) => out.push((f.to_string(), Some(v.to_string()))),
            None if i + 1 < words.len() && !words[i + 1].starts_with('-') => {
                out.push((w.clone(), Some(words[i + 1].clone())));
                i += 1;
            }
            None => out.push((w.clone(), None)),
        }
        i += 1;
    }
    out
}

/// The image of a `.container` file: its last `Image=`, a `.image` beside it or a reference.
fn container_image<'e>(
    im: &mut Importer,
    name: &Name,
    entries: &'e [Entry],
) -> Option<(&'e Entry, ImageSource)> {
    let image_entry = entries
        .iter()
        .rev()
        .find(|e| e.section == "Container" && e.key == "Image");
    let Some(image_entry) = image_entry else {
        let location = entries.first().map_or_else(
            || {
                Location::new(
                    std::sync::Arc::from(std::path::Path::new("-")),
                    podctl_api::Mark::new(1, 1),
                )
            },
            |e| e.location.clone(),
        );
        im.error(&location, format!("container `{name}` has no Image="));
        return None;
    };
    let image = if let Some(n) = referenced(&image_entry.value, "image") {
        ImageSource::Object(n)
    } else if image_entry.value.ends_with(".build") {
        im.not_mapped(image_entry, "podctl runs images only, not `.build` units");
        return None;
    } else {
        ImageSource::Reference(im.parse::<ImageReference>(image_entry, &image_entry.value)?)
    };
    Some((image_entry, image))
}

fn container(
    im: &mut Importer,
    name: &Name,
    entries: &[Entry],
    containers: &BTreeSet<String>,
) -> Option<podctl_api::ContainerSpec> {
    let (image_entry, image) = container_image(im, name, entries)?;
    let mut c = container_spec(image);
    // Quadlet (systemd) restarts nothing unless told.
    c.restart.policy = RestartPolicy::No;
    let mut import = ContainerImport {
        im,
        name,
        c,
        requires: Vec::new(),
        after: Vec::new(),
        healthy: BTreeSet::new(),
        user: None,
        group: None,
        install: false,
        wanted_by: Vec::new(),
        memory_flag: None,
        pids_flag: None,
    };
    for e in entries {
        import.entry(e);
    }
    Some(import.finish(image_entry, containers))
}

/// The health check timings, set alike from `Health*=` keys and from podman's flags.
#[derive(Clone, Copy)]
enum HealthTiming {
    Interval,
    Timeout,
    StartPeriod,
}

/// A `.container` file read key by key, in order (a later key wins over an earlier one),
/// with what can only be settled once every key is seen: dependencies, user and group,
/// and the podman flags that `MemoryMax=` and `TasksMax=` win over.
struct ContainerImport<'i, 'e> {
    im: &'i mut Importer,
    name: &'e Name,
    c: podctl_api::ContainerSpec,
    requires: Vec<(String, &'e Entry)>,
    after: Vec<(String, &'e Entry)>,
    /// The containers an `ExecStartPre=` waits to be healthy.
    healthy: BTreeSet<String>,
    user: Option<String>,
    group: Option<String>,
    install: bool,
    wanted_by: Vec<UnitName>,
    memory_flag: Option<(String, &'e Entry)>,
    pids_flag: Option<(String, &'e Entry)>,
}

impl<'e> ContainerImport<'_, 'e> {
    fn entry(&mut self, e: &'e Entry) {
        match e.section.as_str() {
            "Unit" => self.unit_key(e),
            "Container" => self.container_key(e),
            "Service" => self.service_key(e),
            "Install" => self.install_key(e),
            _ => self.no_field(e),
        }
    }

    fn no_field(&mut self, e: &Entry) {
        self.im.not_mapped(
            e,
            format!("podctl has no field for `{}=` in [{}]", e.key, e.section),
        );
    }

    /// `[Unit]`: ordering and the start limit.
    fn unit_key(&mut self, e: &'e Entry) {
        let v = e.value.as_str();
        match e.key.as_str() {
            "Requires" => self
                .requires
                .extend(v.split_whitespace().map(|u| (u.to_string(), e))),
            "After" => self
                .after
                .extend(v.split_whitespace().map(|u| (u.to_string(), e))),
            "StartLimitBurst" => match v.parse::<u32>() {
                Ok(n) if n >= 1 => self.c.restart.burst = Some(n),
                _ => self.im.error(
                    &e.location,
                    "StartLimitBurst= must be a whole number of at least 1",
                ),
            },
            "StartLimitIntervalSec" => self.c.restart.interval = self.im.duration(e),
            _ => self.no_field(e),
        }
    }

    /// `[Container]`: one arm a key; the keys with more to them have a method each.
    fn container_key(&mut self, e: &'e Entry) {
        let v = e.value.as_str();
        match e.key.as_str() {
            // Read before the others, by `container_image`.
            "Image" => {}
            "ContainerName" => self.container_name(e),
            "Exec" => self.exec(e),
            "Entrypoint" => self.c.command = entrypoint(self.im, e, &unescape_specifiers(v)),
            "Environment" => self.environment(e),
            "EnvironmentFile" => {
                if let Some(p) = self.im.parse::<AbsPath>(e, v) {
                    self.c.env_files.push(p);
                }
            }
            "User" => self.user = Some(v.to_string()),
            "Group" => self.group = Some(v.to_string()),
            "WorkingDir" => self.c.working_dir = self.im.parse(e, v),
            "PublishPort" => {
                if let Some(p) = self.im.parse::<PortMapping>(e, v) {
                    self.c.ports.push(p);
                }
            }
            "Network" => self.network(e),
            "Volume" => volume_mount(self.im, e, &mut self.c.volumes),
            "Secret" => secret_use(self.im, e, &mut self.c.secrets),
            "HealthCmd" => self.health_cmd(e),
            "HealthInterval" => self.health_timing(e, HealthTiming::Interval),
            "HealthTimeout" => self.health_timing(e, HealthTiming::Timeout),
            "HealthStartPeriod" => self.health_timing(e, HealthTiming::StartPeriod),
            "HealthRetries" => self.health_retries(e, v, "HealthRetries="),
            "HealthOnFailure" => self.health_on_failure(e, v, "HealthOnFailure"),
            "ReadOnly" => {
                self.c.security.read_only_root_filesystem = self.im.bool_of(e).unwrap_or(false)
            }
            "NoNewPrivileges" => {
                self.c.security.no_new_privileges = self.im.bool_of(e).unwrap_or(false)
            }
            "DropCapability" | "AddCapability" => self.capabilities(e),
            "LogDriver" => self.log_driver(e, v),
            "Label" => self.labels(e),
            "AutoUpdate" => {
                if let Some(p) = self.im.known(e, update_policy) {
                    self.c.update.policy = p;
                }
            }
            "PidsLimit" => self.pids_flag = Some((v.to_string(), e)),
            "StopTimeout" => self.stop_timeout(e, v, "StopTimeout="),
            "PodmanArgs" => self.podman_args(e),
            _ => self.no_field(e),
        }
    }

    fn container_name(&mut self, e: &Entry) {
        if e.value != self.name.as_str() {
            let name = self.name;
            self.im.not_mapped(
                e,
                format!("podctl names the container after the file: `{name}`"),
            );
        }
    }

    fn exec(&mut self, e: &Entry) {
        match split_words(&e.value) {
            Ok(words) => self.c.args = words.iter().map(|w| unescape_specifiers(w)).collect(),
            Err(why) => self.im.error(&e.location, why),
        }
    }

    /// `Environment=K=V ...`; a name alone would take its value from the host.
    fn environment(&mut self, e: &Entry) {
        let words = match split_words(&e.value) {
            Ok(words) => words,
            Err(why) => return self.im.error(&e.location, why),
        };
        for w in words {
            let w = unescape_specifiers(&w);
            match w.split_once('=') {
                Some((k, val)) => {
                    if let Some(k) = self.im.parse::<EnvName>(e, k) {
                        self.c.env.insert(k, val.to_string());
                    }
                }
                None => self.im.not_mapped(
                    e,
                    format!("`{w}` without a value takes it from the host; podctl needs the value"),
                ),
            }
        }
    }

    fn network(&mut self, e: &Entry) {
        self.c.network = match e.value.as_str() {
            "host" => Some(NetworkMode::Host),
            "none" => Some(NetworkMode::None),
            other => match referenced(other, "network") {
                Some(n) => Some(NetworkMode::Network(n)),
                None => {
                    self.im.not_mapped(e, "podctl connects to a Network declared beside it (`NAME.network`), `host` or `none`");
                    None
                }
            },
        };
    }

    /// `HealthCmd=`: a JSON list of words, or a shell command.
    fn health_cmd(&mut self, e: &Entry) {
        let text = unescape_specifiers(&e.value);
        let command = if text.starts_with('[') {
            serde_json::from_str::<Vec<String>>(&text).ok()
        } else {
            Some(vec!["/bin/sh".to_string(), "-c".into(), text])
        };
        match command {
            Some(cmd) => health(&mut self.c).command = cmd,
            None => self
                .im
                .error(&e.location, "HealthCmd= is not a JSON list of words"),
        }
    }

    /// A health check timing; the check is made only when the duration is valid.
    fn health_timing(&mut self, e: &Entry, timing: HealthTiming) {
        if let Some(d) = self.im.duration(e) {
            let h = health(&mut self.c);
            match timing {
                HealthTiming::Interval => h.interval = d,
                HealthTiming::Timeout => h.timeout = d,
                HealthTiming::StartPeriod => h.start_period = d,
            }
        }
    }

    /// `HealthRetries=` or `--health-retries`, which `what` names in the error.
    fn health_retries(&mut self, e: &Entry, value: &str, what: &str) {
        match value.parse::<u32>() {
            Ok(n) if n >= 1 => health(&mut self.c).retries = n,
            _ => self.im.error(
                &e.location,
                format!("{what} must be a whole number of at least 1"),
            ),
        }
    }

    /// `HealthOnFailure=` or `--health-on-failure`, which `what` names in the error.
    fn health_on_failure(&mut self, e: &Entry, value: &str, what: &str) {
        match on_failure(value) {
            Some(a) => health(&mut self.c).on_failure = a,
            None => self
                .im
                .error(&e.location, format!("unknown {what} `{value}`")),
        }
    }

    fn capabilities(&mut self, e: &Entry) {
        for cap in e.value.split_whitespace() {
            if let Some(cap) = self.im.parse::<Capability>(e, cap) {
                if e.key == "DropCapability" {
                    self.c.security.cap_drop.push(cap);
                } else {
                    self.c.security.cap_add.push(cap);
                }
            }
        }
    }

    /// `LogDriver=` or `--log-driver`.
    fn log_driver(&mut self, e: &Entry, value: &str) {
        match value {
            "journald" => self.c.logging.driver = LogDriver::Journald,
            "k8s-file" => self.c.logging.driver = LogDriver::K8sFile,
            "none" => self.c.logging.driver = LogDriver::None,
            other => self.im.not_mapped(
                e,
                format!("podctl logs to journald, k8s-file or none, not `{other}`"),
            ),
        }
    }

    /// `Label=`: podman's auto-update label is the update policy; reserved prefixes are not
    /// podctl labels.
    fn labels(&mut self, e: &Entry) {
        let words = match split_words(&e.value) {
            Ok(words) => words,
            Err(why) => return self.im.error(&e.location, why),
        };
        for w in words {
            let w = unescape_specifiers(&w);
            let (k, val) = w.split_once('=').unwrap_or((&w, ""));
            if k == "io.containers.autoupdate" {
                self.c.update.policy = update_policy(val).unwrap_or_default();
            } else if k.starts_with(podctl_api::RESERVED_LABEL_PREFIX)
                || k.starts_with(podctl_api::PODMAN_LABEL_PREFIX)
            {
                self.im
                    .not_mapped(e, format!("the label `{k}` is reserved in podctl"));
            } else {
                self.c.labels.insert(k.to_string(), val.to_string());
            }
        }
    }

    /// `StopTimeout=` or `--stop-timeout`, which `what` names in the error.
    fn stop_timeout(&mut self, e: &Entry, value: &str, what: &str) {
        match value.parse::<u64>() {
            Ok(s) => self.c.stop_timeout = Some(Duration::from_millis(s * 1000)),
            Err(_) => self
                .im
                .error(&e.location, format!("{what} is a whole number of seconds")),
        }
    }

    fn podman_args(&mut self, e: &'e Entry) {
        let words = match split_words(&e.value) {
            Ok(words) => words,
            Err(why) => return self.im.error(&e.location, why),
        };
        let words: Vec<String> = words.iter().map(|w| unescape_specifiers(w)).collect();
        for (flag, value) in podman_args(&words) {
            self.podman_arg(e, &flag, value.unwrap_or_default());
        }
    }

    /// One flag of `PodmanArgs=`: the flags with a podctl field map to it.
    fn podman_arg(&mut self, e: &'e Entry, flag: &str, val: String) {
        match flag {
            "--entrypoint" => self.c.command = entrypoint(self.im, e, &val),
            "--workdir" | "-w" => self.c.working_dir = self.im.parse(e, &val),
            "--stop-timeout" => self.stop_timeout(e, &val, "--stop-timeout"),
            "--cpuset-cpus" => self.c.resources.cpuset = self.im.parse::<CpuSet>(e, &val),
            "--memory" | "-m" => self.memory_flag = Some((val, e)),
            "--memory-reservation" => {
                self.c.resources.memory_reservation = self.im.parse::<ByteSize>(e, &val)
            }
            "--pids-limit" => self.pids_flag = Some((val, e)),
            "--log-opt" if val.starts_with("tag=") => {
                self.c.logging.tag = Some(val["tag=".len()..].to_string());
            }
            "--log-driver" => self.log_driver(e, &val),
            "--secret" => secret_use(self.im, &with_value(e, &val), &mut self.c.secrets),
            "--health-interval" => self.health_timing(&with_value(e, &val), HealthTiming::Interval),
            "--health-timeout" => self.health_timing(&with_value(e, &val), HealthTiming::Timeout),
            "--health-start-period" => {
                self.health_timing(&with_value(e, &val), HealthTiming::StartPeriod)
            }
            "--health-retries" => self.health_retries(e, &val, "--health-retries"),
            "--health-on-failure" => self.health_on_failure(e, &val, "--health-on-failure"),
            other => self.im.not_mapped(
                e,
                format!("the podman option `{other}` has no podctl field"),
            ),
        }
    }

    /// `[Service]`: restarts, resources and hardening, and the health wait podctl writes.
    fn service_key(&mut self, e: &Entry) {
        let v = e.value.as_str();
        match e.key.as_str() {
            "Restart" => match v {
                "always" => self.c.restart.policy = RestartPolicy::Always,
                "on-failure" => self.c.restart.policy = RestartPolicy::OnFailure,
                "no" => self.c.restart.policy = RestartPolicy::No,
                other => self.im.not_mapped(
                    e,
                    format!("podctl restarts always, on-failure or no, not `{other}`"),
                ),
            },
            "RestartSec" => self.c.restart.delay = self.im.duration(e),
            "CPUQuota" => {
                self.c.resources.cpu_quota = self.im.parse::<CpuQuota>(e, &unescape_specifiers(v))
            }
            "CPUWeight" => match v.parse::<u16>() {
                Ok(w) => self.c.resources.cpu_weight = Some(w),
                Err(_) => self
                    .im
                    .error(&e.location, "CPUWeight= must be a number from 1 to 10000"),
            },
            "MemoryMax" => self.c.resources.memory_max = self.im.parse::<ByteSize>(e, v),
            "TasksMax" => match v.parse::<u32>() {
                Ok(n) => self.c.resources.tasks_max = Some(n),
                Err(_) => self.im.not_mapped(e, "podctl's tasksMax is a number"),
            },
            "ProtectSystem" => {
                hardening(&mut self.c).protect_system = self.im.known(e, protect_system)
            }
            "ProtectHome" => hardening(&mut self.c).protect_home = self.im.known(e, protect_home),
            "ReadWritePaths" => self.read_write_paths(e),
            "ExecStartPre" => self.health_wait(e),
            _ => self.no_field(e),
        }
    }

    fn read_write_paths(&mut self, e: &Entry) {
        match split_words(&e.value) {
            Ok(words) => {
                for w in words {
                    if let Some(p) = self.im.parse::<AbsPath>(e, &w) {
                        hardening(&mut self.c).read_write_paths.push(p);
                    }
                }
            }
            Err(why) => self.im.error(&e.location, why),
        }
    }

    /// `ExecStartPre=`: only the wait for a dependency's health that the export writes.
    fn health_wait(&mut self, e: &Entry) {
        let waited = split_words(&e.value).ok().and_then(|w| match w.as_slice() {
            [sh, c, script] if sh == "/bin/sh" && c == "-c" => script
                .strip_prefix(HEALTH_WAIT_PREFIX)
                .and_then(|s| s.strip_suffix(HEALTH_WAIT_SUFFIX))
                .map(str::to_string),
            _ => None,
        });
        match waited {
            Some(dep) => {
                self.healthy.insert(dep);
            }
            None => self
                .im
                .not_mapped(e, "podctl runs no commands of its own before a container"),
        }
    }

    /// `[Install]`: the targets that start the container.
    fn install_key(&mut self, e: &Entry) {
        match e.key.as_str() {
            "WantedBy" => {
                self.install = true;
                for t in e.value.split_whitespace() {
                    if let Some(t) = self.im.parse::<UnitName>(e, t) {
                        self.wanted_by.push(t);
                    }
                }
            }
            _ => self.no_field(e),
        }
    }

    /// The spec once every key is read: what depends on more than one key.
    fn finish(
        mut self,
        image_entry: &Entry,
        containers: &BTreeSet<String>,
    ) -> podctl_api::ContainerSpec {
        self.memory_flag();
        self.pids_flag();
        self.user_and_group(image_entry);
        self.dependencies(containers);
        for dep in std::mem::take(&mut self.healthy) {
            self.im.report.findings.push(Finding::not_mapped(
                image_entry.location.clone(),
                "[Service] ExecStartPre",
                format!("waits for `{dep}`'s health check, but does not require `{dep}.service`"),
            ));
        }
        if self
            .c
            .health_check
            .as_ref()
            .is_some_and(|h| h.command.is_empty())
        {
            self.im.report.findings.push(Finding::not_mapped(
                image_entry.location.clone(),
                "[Container] Health*",
                "health check settings without HealthCmd= (the image's own check) have no podctl form",
            ));
            self.c.health_check = None;
        }
        self.c.enabled = self.install;
        if self.install {
            self.c.wanted_by = self.wanted_by;
        }
        self.c
    }

    /// podman's `--memory`: podctl sets it from memoryMax, so `MemoryMax=` wins.
    fn memory_flag(&mut self) {
        let Some((val, e)) = self.memory_flag.take() else {
            return;
        };
        let r = &mut self.c.resources;
        let same = r.memory_max.is_some_and(|m| m.bytes().to_string() == val);
        if !same {
            match self.im.parse::<ByteSize>(e, &val) {
                Some(b) if r.memory_max.is_none() => r.memory_max = Some(b),
                Some(_) => self.im.not_mapped(e, "podman's --memory differs from MemoryMax=; podctl sets both from memoryMax (MemoryMax= is kept)"),
                None => {}
            }
        }
    }

    /// podman's `--pids-limit`: podctl sets it from tasksMax, so `TasksMax=` wins.
    fn pids_flag(&mut self) {
        let Some((val, e)) = self.pids_flag.take() else {
            return;
        };
        let r = &mut self.c.resources;
        let same = r.tasks_max.is_some_and(|t| t.to_string() == val);
        if !same {
            match val.parse::<u32>() {
                Ok(n) if r.tasks_max.is_none() => r.tasks_max = Some(n),
                Ok(_) => self.im.not_mapped(e, "podman's --pids-limit differs from TasksMax=; podctl sets both from tasksMax (TasksMax= is kept)"),
                Err(_) => self.im.error(&e.location, "--pids-limit must be a whole number"),
            }
        }
    }

    fn user_and_group(&mut self, image_entry: &Entry) {
        self.c.user = match (self.user.take(), self.group.take()) {
            (Some(u), Some(g)) => Some(format!("{u}:{g}")),
            (Some(u), None) => Some(u),
            (None, Some(g)) => {
                self.im.report.findings.push(Finding::not_mapped(
                    image_entry.location.clone(),
                    "[Container] Group",
                    format!(
                        "podctl sets a group only with a user (`UID:GID`); group `{g}` is not set"
                    ),
                ));
                None
            }
            (None, None) => None,
        };
    }

    /// Requires= on a container beside it is a dependsOn; on any other unit, `requires`.
    /// After= of a required unit is implied by the requirement.
    fn dependencies(&mut self, containers: &BTreeSet<String>) {
        let requires = std::mem::take(&mut self.requires);
        let required: BTreeSet<&str> = requires.iter().map(|(u, _)| u.as_str()).collect();
        for (unit, e) in &requires {
            let stem = unit
                .strip_suffix(".service")
                .or_else(|| unit.strip_suffix(".container"));
            match stem {
                Some(s) if containers.contains(s) => match to_name(s) {
                    Some(dep) => {
                        let condition = if self.healthy.remove(s) {
                            DependencyCondition::Healthy
                        } else {
                            DependencyCondition::Started
                        };
                        self.c.depends_on.push(Dependency {
                            name: dep,
                            condition,
                        });
                    }
                    None => self
                        .im
                        .error(&e.location, format!("`{s}` is not a podctl name")),
                },
                _ => {
                    if let Some(u) = self.im.parse::<UnitName>(e, unit) {
                        self.c.requires.push(u);
                    }
                }
            }
        }
        for (unit, e) in std::mem::take(&mut self.after) {
            if required.contains(unit.as_str()) {
                continue;
            }
            if let Some(u) = self.im.parse::<UnitName>(e, &unit) {
                self.c.after.push(u);
            }
        }
    }
}

/// The entry with another value: a podman flag's value, read as the key's would be.
fn with_value(e: &Entry, value: &str) -> Entry {
    Entry {
        value: value.to_string(),
        ..e.clone()
    }
}

fn entrypoint(im: &mut Importer, e: &Entry, value: &str) -> Vec<String> {
    if value.starts_with('[') {
        match serde_json::from_str::<Vec<String>>(value) {
            Ok(words) => words,
            Err(_) => {
                im.error(&e.location, "the entrypoint is not a JSON list of words");
                Vec::new()
            }
        }
    } else {
        vec![value.to_string()]
    }
}

fn health(c: &mut podctl_api::ContainerSpec) -> &mut HealthCheck {
    c.health_check.get_or_insert_with(|| HealthCheck {
        command: Vec::new(),
        interval: Duration::from_millis(30_000),
        timeout: Duration::from_millis(30_000),
        retries: 3,
        start_period: Duration::from_millis(0),
        on_failure: HealthFailureAction::None,
    })
}

fn hardening(c: &mut podctl_api::ContainerSpec) -> &mut ServiceHardening {
    c.security
        .systemd
        .get_or_insert_with(ServiceHardening::default)
}

fn on_failure(v: &str) -> Option<HealthFailureAction> {
    Some(match v {
        "none" => HealthFailureAction::None,
        "kill" => HealthFailureAction::Kill,
        "restart" => HealthFailureAction::Restart,
        "stop" => HealthFailureAction::Stop,
        _ => return None,
    })
}

fn protect_system(v: &str) -> Option<ProtectSystem> {
    Some(match v {
        "true" | "yes" => ProtectSystem::Yes,
        "false" | "no" => ProtectSystem::No,
        "full" => ProtectSystem::Full,
        "strict" => ProtectSystem::Strict,
        _ => return None,
    })
}

fn protect_home(v: &str) -> Option<ProtectHome> {
    Some(match v {
        "true" | "yes" => ProtectHome::Yes,
        "false" | "no" => ProtectHome::No,
        "read-only" => ProtectHome::ReadOnly,
        "tmpfs" => ProtectHome::Tmpfs,
        _ => return None,
    })
}

fn update_policy(v: &str) -> Option<UpdatePolicy> {
    Some(match v {
        "registry" | "image" => UpdatePolicy::Registry,
        "local" => UpdatePolicy::Local,
        "disabled" | "false" => UpdatePolicy::None,
        _ => return None,
    })
}

/// `Volume=SOURCE:TARGET[:OPTIONS]`.
fn volume_mount(im: &mut Importer, e: &Entry, mounts: &mut Vec<VolumeMount>) {
    let parts: Vec<&str> = e.value.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => {
            im.not_mapped(
                e,
                "podctl mounts `SOURCE:TARGET[:ro]`; an anonymous volume has no podctl form",
            );
            return;
        }
    };
    let mut read_only = false;
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => {}
            other => im.not_mapped(e, format!("the mount option `{other}` has no podctl field")),
        }
    }
    let Some(path) = im.parse::<AbsPath>(e, target) else {
        return;
    };
    let (volume, host_path) = if source.starts_with('/') {
        (None, im.parse::<AbsPath>(e, source))
    } else if let Some(n) = referenced(source, "volume") {
        (Some(n), None)
    } else {
        im.not_mapped(e, format!("the volume `{source}` is not a `.volume` file beside it; podctl mounts the Volumes it declares"));
        return;
    };
    if volume.is_none() && host_path.is_none() {
        return;
    }
    mounts.push(VolumeMount {
        volume,
        host_path,
        path,
        read_only,
    });
}

/// `Secret=NAME[,type=mount|env][,target=T]`.
fn secret_use(im: &mut Importer, e: &Entry, secrets: &mut Vec<SecretMount>) {
    let mut parts = e.value.split(',');
    let Some(secret) = parts.next().and_then(to_name) else {
        im.error(&e.location, "Secret= needs a secret name");
        return;
    };
    let mut kind = "mount";
    let mut target = None;
    for p in parts {
        match p.split_once('=') {
            Some(("type", t)) => kind = if t == "env" { "env" } else { "mount" },
            Some(("target", t)) => target = Some(t.to_string()),
            _ => im.not_mapped(e, format!("the secret option `{p}` has no podctl field")),
        }
    }
    let (path, env) = if kind == "env" {
        let var = target.unwrap_or_else(|| secret.to_string());
        (None, im.parse::<EnvName>(e, &var))
    } else {
        let file = match target {
            Some(t) if t.starts_with('/') => t,
            Some(t) => format!("/run/secrets/{t}"),
            None => format!("/run/secrets/{secret}"),
        };
        (im.parse::<AbsPath>(e, &file), None)
    };
    if path.is_none() && env.is_none() {
        return;
    }
    secrets.push(SecretMount { secret, path, env });
}

fn volume(im: &mut Importer, name: &Name, entries: &[Entry]) -> podctl_api::VolumeSpec {
    let mut v = volume_spec();
    for e in entries {
        let val = e.value.clone();
        match (e.section.as_str(), e.key.as_str()) {
            ("Volume", "VolumeName") => {
                if val != name.as_str() {
                    im.not_mapped(
                        e,
                        format!("podctl names the volume after the file: `{name}`"),
                    );
                }
            }
            ("Volume", "Driver") => v.driver = val,
            ("Volume", "Device") => {
                v.options.insert("device".into(), val);
            }
            ("Volume", "Type") => {
                v.options.insert("type".into(), val);
            }
            ("Volume", "Options") => {
                v.options.insert("o".into(), val);
            }
            ("Volume", "Label") => labels(im, e, &mut v.labels),
            (section, key) => im.not_mapped(
                e,
                format!("podctl Volumes have no field for `{key}=` in [{section}]"),
            ),
        }
    }
    v
}

fn network(im: &mut Importer, name: &Name, entries: &[Entry]) -> podctl_api::NetworkSpec {
    let mut n = network_spec();
    for e in entries {
        let val = e.value.as_str();
        match (e.section.as_str(), e.key.as_str()) {
            ("Network", "NetworkName") => {
                if val != name.as_str() {
                    im.not_mapped(
                        e,
                        format!("podctl names the network after the file: `{name}`"),
                    );
                }
            }
            ("Network", "Driver") => match val {
                "bridge" => n.driver = NetworkDriver::Bridge,
                "macvlan" => n.driver = NetworkDriver::Macvlan,
                "ipvlan" => n.driver = NetworkDriver::Ipvlan,
                other => im.not_mapped(
                    e,
                    format!("podctl networks are bridge, macvlan or ipvlan, not `{other}`"),
                ),
            },
            ("Network", "Subnet") => {
                if n.subnet.is_some() {
                    im.not_mapped(e, "a podctl Network has one subnet; the first is kept");
                } else {
                    n.subnet = im.parse(e, val);
                }
            }
            ("Network", "Gateway") => n.gateway = im.parse(e, val),
            ("Network", "Internal") => n.internal = im.bool_of(e).unwrap_or(false),
            ("Network", "IPv6") => n.ipv6 = im.bool_of(e).unwrap_or(false),
            ("Network", "Label") => labels(im, e, &mut n.labels),
            (section, key) => im.not_mapped(
                e,
                format!("podctl Networks have no field for `{key}=` in [{section}]"),
            ),
        }
    }
    n
}

fn image(
    im: &mut Importer,
    entries: &[Entry],
    location: &Location,
) -> Option<podctl_api::ImageSpec> {
    let reference = entries
        .iter()
        .rev()
        .find(|e| e.section == "Image" && e.key == "Image");
    let Some(reference) = reference else {
        im.error(location, "the .image file has no Image=");
        return None;
    };
    let mut i = image_spec(im.parse(reference, &reference.value)?);
    // A .image unit pulls every time it starts, unless Policy= says otherwise.
    i.pull_policy = PullPolicy::Always;
    for e in entries {
        match (e.section.as_str(), e.key.as_str()) {
            ("Image", "Image") => {}
            ("Image", "TLSVerify") => i.tls_verify = im.bool_of(e).unwrap_or(true),
            ("Image", "AuthFile") => i.auth_file = im.parse(e, &e.value),
            ("Image", "Policy") => match e.value.as_str() {
                "missing" => i.pull_policy = PullPolicy::IfNotPresent,
                "always" => i.pull_policy = PullPolicy::Always,
                "never" => i.pull_policy = PullPolicy::Never,
                other => im.not_mapped(
                    e,
                    format!("podctl pulls IfNotPresent, Always or Never, not `{other}`"),
                ),
            },
            (section, key) => im.not_mapped(
                e,
                format!("podctl Images have no field for `{key}=` in [{section}]"),
            ),
        }
    }
    Some(i)
}

fn labels(im: &mut Importer, e: &Entry, out: &mut BTreeMap<String, String>) {
    match split_words(&e.value) {
        Ok(words) => {
            for w in words {
                let w = unescape_specifiers(&w);
                let (k, v) = w.split_once('=').unwrap_or((&w, ""));
                out.insert(k.to_string(), v.to_string());
            }
        }
        Err(why) => im.error(&e.location, why),
    }
}
