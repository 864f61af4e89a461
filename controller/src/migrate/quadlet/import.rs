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
        let mut entries = Vec::new();
        for (path, text) in std::iter::once((&file.path, &file.text))
            .chain(file.dropins.iter().map(|(p, t)| (p, t)))
        {
            let (mut e, errors) = parse(path, text);
            for err in errors {
                im.error(&err.location, err.message);
            }
            entries.append(&mut e);
        }
        let location = Location::new(file.path.clone(), podctl_api::Mark::new(1, 1));
        let Some(unit_type) = file.unit_type else {
            im.report.findings.push(Finding::not_mapped(
                location,
                format!("{}.{}", file.stem, file.extension),
                format!("podctl has no counterpart of `.{}` files", file.extension),
            ));
            continue;
        };
        let Some(name) = to_name(&file.stem) else {
            im.error(
                &location,
                format!(
                    "`{}` has no letter or digit to make a podctl name of",
                    file.stem
                ),
            );
            continue;
        };
        if name.as_str() != file.stem {
            im.report.findings.push(Finding::note(
                location.clone(),
                file.stem.clone(),
                format!("named `{name}` (podctl names are lowercase DNS labels)"),
            ));
        }
        let mut carried_spec = serde_json::Map::new();
        let mut metadata = serde_json::Map::new();
        let mut rest = Vec::new();
        for e in entries {
            match (e.section.as_str(), e.key.as_str()) {
                ("Unit", k) if k == X_SPEC => {
                    match serde_json::from_str::<serde_json::Value>(&e.value) {
                        Ok(serde_json::Value::Object(map)) => carried_spec.extend(map),
                        _ => im.error(&e.location, format!("{X_SPEC}= is not a JSON object")),
                    }
                }
                ("Unit", k) if k == X_METADATA => {
                    match serde_json::from_str::<serde_json::Value>(&e.value) {
                        Ok(serde_json::Value::Object(map)) => metadata.extend(map),
                        _ => im.error(&e.location, format!("{X_METADATA}= is not a JSON object")),
                    }
                }
                ("Unit", k) if k == X_SECRET => {
                    let parsed = e.value.split_once(' ').and_then(|(n, j)| {
                        Some((to_name(n)?, serde_json::from_str::<SecretSpec>(j).ok()?))
                    });
                    match parsed {
                        Some((n, spec)) => {
                            secrets.entry(n).or_insert((spec, e.location.clone()));
                        }
                        None => {
                            im.error(&e.location, format!("{X_SECRET}= is not `NAME {{source}}`"))
                        }
                    }
                }
                ("Unit", "Description" | "Documentation") => {
                    im.note(&e, "documentation for people; podctl keeps none");
                }
                _ => rest.push(e),
            }
        }
        let spec = match unit_type {
            UnitType::Container => {
                container(&mut im, &name, &rest, &containers).map(|c| Spec::Container(Box::new(c)))
            }
            UnitType::Volume => Some(Spec::Volume(volume(&mut im, &name, &rest))),
            UnitType::Network => Some(Spec::Network(network(&mut im, &name, &rest))),
            UnitType::Image => image(&mut im, &rest, &location).map(Spec::Image),
        };
        let Some(spec) = spec else { continue };
        let spec = match overlay(spec, carried_spec) {
            Ok(s) => s,
            Err(why) => {
                im.error(
                    &location,
                    format!(
                        "{X_SPEC}= does not fit the {}: {why}",
                        unit_type.extension()
                    ),
                );
                continue;
            }
        };
        let mut m = Manifest::new(name, spec, Some(location.clone()));
        let meta: Result<MetadataCarrier, _> =
            serde_json::from_value(serde_json::Value::Object(metadata));
        match meta {
            Ok(meta) => {
                m.labels = meta.labels;
                m.annotations = meta.annotations;
                m.hosts = meta.hosts;
            }
            Err(why) => im.error(
                &location,
                format!("{X_METADATA}= is not podctl metadata: {why}"),
            ),
        }
        manifests.push(m);
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

#[allow(clippy::too_many_lines)]
fn container(
    im: &mut Importer,
    name: &Name,
    entries: &[Entry],
    containers: &BTreeSet<String>,
) -> Option<podctl_api::ContainerSpec> {
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
    let mut c = container_spec(image);
    // Quadlet (systemd) restarts nothing unless told.
    c.restart.policy = RestartPolicy::No;
    let mut requires: Vec<(String, &Entry)> = Vec::new();
    let mut after: Vec<(String, &Entry)> = Vec::new();
    let mut healthy: BTreeSet<String> = BTreeSet::new();
    let mut user: Option<String> = None;
    let mut group: Option<String> = None;
    let mut install = false;
    let mut wanted_by = Vec::new();
    let mut memory_flag: Option<(String, &Entry)> = None;
    let mut pids_flag: Option<(String, &Entry)> = None;
    for e in entries {
        let v = e.value.as_str();
        match (e.section.as_str(), e.key.as_str()) {
            ("Unit", "Requires") => {
                requires.extend(v.split_whitespace().map(|u| (u.to_string(), e)))
            }
            ("Unit", "After") => after.extend(v.split_whitespace().map(|u| (u.to_string(), e))),
            ("Unit", "StartLimitBurst") => match v.parse::<u32>() {
                Ok(n) if n >= 1 => c.restart.burst = Some(n),
                _ => im.error(
                    &e.location,
                    "StartLimitBurst= must be a whole number of at least 1",
                ),
            },
            ("Unit", "StartLimitIntervalSec") => c.restart.interval = im.duration(e),
            ("Container", "Image") => {}
            ("Container", "ContainerName") => {
                if v != name.as_str() {
                    im.not_mapped(
                        e,
                        format!("podctl names the container after the file: `{name}`"),
                    );
                }
            }
            ("Container", "Exec") => match split_words(v) {
                Ok(words) => c.args = words.iter().map(|w| unescape_specifiers(w)).collect(),
                Err(why) => im.error(&e.location, why),
            },
            ("Container", "Entrypoint") => c.command = entrypoint(im, e, &unescape_specifiers(v)),
            ("Container", "Environment") => match split_words(v) {
                Ok(words) => {
                    for w in words {
                        let w = unescape_specifiers(&w);
                        match w.split_once('=') {
                            Some((k, val)) => {
                                if let Some(k) = im.parse::<EnvName>(e, k) {
                                    c.env.insert(k, val.to_string());
                                }
                            }
                            None => im.not_mapped(e, format!("`{w}` without a value takes it from the host; podctl needs the value")),
                        }
                    }
                }
                Err(why) => im.error(&e.location, why),
            },
            ("Container", "EnvironmentFile") => {
                if let Some(p) = im.parse::<AbsPath>(e, v) {
                    c.env_files.push(p);
                }
            }
            ("Container", "User") => user = Some(v.to_string()),
            ("Container", "Group") => group = Some(v.to_string()),
            ("Container", "WorkingDir") => c.working_dir = im.parse(e, v),
            ("Container", "PublishPort") => {
                if let Some(p) = im.parse::<PortMapping>(e, v) {
                    c.ports.push(p);
                }
            }
            ("Container", "Network") => {
                c.network = match v {
                    "host" => Some(NetworkMode::Host),
                    "none" => Some(NetworkMode::None),
                    other => match referenced(other, "network") {
                        Some(n) => Some(NetworkMode::Network(n)),
                        None => {
                            im.not_mapped(e, "podctl connects to a Network declared beside it (`NAME.network`), `host` or `none`");
                            None
                        }
                    },
                };
            }
            ("Container", "Volume") => volume_mount(im, e, &mut c.volumes),
            ("Container", "Secret") => secret_use(im, e, &mut c.secrets),
            ("Container", "HealthCmd") => {
                let text = unescape_specifiers(v);
                let command = if text.starts_with('[') {
                    serde_json::from_str::<Vec<String>>(&text).ok()
                } else {
                    Some(vec!["/bin/sh".to_string(), "-c".into(), text])
                };
                match command {
                    Some(cmd) => health(&mut c).command = cmd,
                    None => im.error(&e.location, "HealthCmd= is not a JSON list of words"),
                }
            }
            ("Container", "HealthInterval") => {
                if let Some(d) = im.duration(e) {
                    health(&mut c).interval = d;
                }
            }
            ("Container", "HealthTimeout") => {
                if let Some(d) = im.duration(e) {
                    health(&mut c).timeout = d;
                }
            }
            ("Container", "HealthStartPeriod") => {
                if let Some(d) = im.duration(e) {
                    health(&mut c).start_period = d;
                }
            }
            ("Container", "HealthRetries") => match v.parse::<u32>() {
                Ok(n) if n >= 1 => health(&mut c).retries = n,
                _ => im.error(
                    &e.location,
                    "HealthRetries= must be a whole number of at least 1",
                ),
            },
            ("Container", "HealthOnFailure") => match on_failure(v) {
                Some(a) => health(&mut c).on_failure = a,
                None => im.error(&e.location, format!("unknown HealthOnFailure `{v}`")),
            },
            ("Container", "ReadOnly") => {
                c.security.read_only_root_filesystem = im.bool_of(e).unwrap_or(false)
            }
            ("Container", "NoNewPrivileges") => {
                c.security.no_new_privileges = im.bool_of(e).unwrap_or(false)
            }
            ("Container", "DropCapability" | "AddCapability") => {
                for cap in v.split_whitespace() {
                    if let Some(cap) = im.parse::<Capability>(e, cap) {
                        if e.key == "DropCapability" {
                            c.security.cap_drop.push(cap);
                        } else {
                            c.security.cap_add.push(cap);
                        }
                    }
                }
            }
            ("Container", "LogDriver") => match v {
                "journald" => c.logging.driver = LogDriver::Journald,
                "k8s-file" => c.logging.driver = LogDriver::K8sFile,
                "none" => c.logging.driver = LogDriver::None,
                other => im.not_mapped(
                    e,
                    format!("podctl logs to journald, k8s-file or none, not `{other}`"),
                ),
            },
            ("Container", "Label") => match split_words(v) {
                Ok(words) => {
                    for w in words {
                        let w = unescape_specifiers(&w);
                        let (k, val) = w.split_once('=').unwrap_or((&w, ""));
                        if k == "io.containers.autoupdate" {
                            c.update.policy = update_policy(val).unwrap_or_default();
                        } else if k.starts_with(podctl_api::RESERVED_LABEL_PREFIX)
                            || k.starts_with(podctl_api::PODMAN_LABEL_PREFIX)
                        {
                            im.not_mapped(e, format!("the label `{k}` is reserved in podctl"));
                        } else {
                            c.labels.insert(k.to_string(), val.to_string());
                        }
                    }
                }
                Err(why) => im.error(&e.location, why),
            },
            ("Container", "AutoUpdate") => match update_policy(v) {
                Some(p) => c.update.policy = p,
                None => im.error(&e.location, format!("unknown AutoUpdate `{v}`")),
            },
            ("Container", "PidsLimit") => pids_flag = Some((v.to_string(), e)),
            ("Container", "StopTimeout") => match v.parse::<u64>() {
                Ok(s) => c.stop_timeout = Some(Duration::from_millis(s * 1000)),
                Err(_) => im.error(&e.location, "StopTimeout= is a whole number of seconds"),
            },
            ("Container", "PodmanArgs") => {
                match split_words(v) {
                    Ok(words) => {
                        let words: Vec<String> =
                            words.iter().map(|w| unescape_specifiers(w)).collect();
                        for (flag, value) in podman_args(&words) {
                            let val = value.clone().unwrap_or_default();
                            match flag.as_str() {
                            "--entrypoint" => c.command = entrypoint(im, e, &val),
                            "--workdir" | "-w" => c.working_dir = im.parse(e, &val),
                            "--stop-timeout" => match val.parse::<u64>() {
                                Ok(s) => c.stop_timeout = Some(Duration::from_millis(s * 1000)),
                                Err(_) => im.error(
                                    &e.location,
                                    "--stop-timeout is a whole number of seconds",
                                ),
                            },
                            "--cpuset-cpus" => c.resources.cpuset = im.parse::<CpuSet>(e, &val),
                            "--memory" | "-m" => memory_flag = Some((val, e)),
                            "--memory-reservation" => {
                                c.resources.memory_reservation = im.parse::<ByteSize>(e, &val)
                            }
                            "--pids-limit" => pids_flag = Some((val, e)),
                            "--log-opt" if val.starts_with("tag=") => {
                                c.logging.tag = Some(val["tag=".len()..].to_string());
                            }
                            "--log-driver" => match val.as_str() {
                                "journald" => c.logging.driver = LogDriver::Journald,
                                "k8s-file" => c.logging.driver = LogDriver::K8sFile,
                                "none" => c.logging.driver = LogDriver::None,
                                other => im.not_mapped(e, format!("podctl logs to journald, k8s-file or none, not `{other}`")),
                            },
                            "--secret" => {
                                let as_key = Entry { value: val.clone(), ..e.clone() };
                                secret_use(im, &as_key, &mut c.secrets);
                            }
                            "--health-interval" | "--health-timeout" | "--health-start-period" => {
                                let as_key = Entry { value: val.clone(), ..e.clone() };
                                if let Some(d) = im.duration(&as_key) {
                                    let h = health(&mut c);
                                    match flag.as_str() {
                                        "--health-interval" => h.interval = d,
                                        "--health-timeout" => h.timeout = d,
                                        _ => h.start_period = d,
                                    }
                                }
                            }
                            "--health-retries" => match val.parse::<u32>() {
                                Ok(n) if n >= 1 => health(&mut c).retries = n,
                                _ => im.error(&e.location, "--health-retries must be a whole number of at least 1"),
                            },
                            "--health-on-failure" => match on_failure(&val) {
                                Some(a) => health(&mut c).on_failure = a,
                                None => im.error(&e.location, format!("unknown --health-on-failure `{val}`")),
                            },
                            other => im.not_mapped(
                                e,
                                format!("the podman option `{other}` has no podctl field"),
                            ),
                        }
                        }
                    }
                    Err(why) => im.error(&e.location, why),
                }
            }
            ("Service", "Restart") => match v {
                "always" => c.restart.policy = RestartPolicy::Always,
                "on-failure" => c.restart.policy = RestartPolicy::OnFailure,
                "no" => c.restart.policy = RestartPolicy::No,
                other => im.not_mapped(
                    e,
                    format!("podctl restarts always, on-failure or no, not `{other}`"),
                ),
            },
            ("Service", "RestartSec") => c.restart.delay = im.duration(e),
            ("Service", "CPUQuota") => {
                c.resources.cpu_quota = im.parse::<CpuQuota>(e, &unescape_specifiers(v))
            }
            ("Service", "CPUWeight") => match v.parse::<u16>() {
                Ok(w) => c.resources.cpu_weight = Some(w),
                Err(_) => im.error(&e.location, "CPUWeight= must be a number from 1 to 10000"),
            },
            ("Service", "MemoryMax") => c.resources.memory_max = im.parse::<ByteSize>(e, v),
            ("Service", "TasksMax") => match v.parse::<u32>() {
                Ok(n) => c.resources.tasks_max = Some(n),
                Err(_) => im.not_mapped(e, "podctl's tasksMax is a number"),
            },
            ("Service", "ProtectSystem") => {
                hardening(&mut c).protect_system = match v {
                    "true" | "yes" => Some(ProtectSystem::Yes),
                    "false" | "no" => Some(ProtectSystem::No),
                    "full" => Some(ProtectSystem::Full),
                    "strict" => Some(ProtectSystem::Strict),
                    _ => {
                        im.error(&e.location, format!("unknown ProtectSystem `{v}`"));
                        None
                    }
                };
            }
            ("Service", "ProtectHome") => {
                hardening(&mut c).protect_home = match v {
                    "true" | "yes" => Some(ProtectHome::Yes),
                    "false" | "no" => Some(ProtectHome::No),
                    "read-only" => Some(ProtectHome::ReadOnly),
                    "tmpfs" => Some(ProtectHome::Tmpfs),
                    _ => {
                        im.error(&e.location, format!("unknown ProtectHome `{v}`"));
                        None
                    }
                };
            }
            ("Service", "ReadWritePaths") => match split_words(v) {
                Ok(words) => {
                    for w in words {
                        if let Some(p) = im.parse::<AbsPath>(e, &w) {
                            hardening(&mut c).read_write_paths.push(p);
                        }
                    }
                }
                Err(why) => im.error(&e.location, why),
            },
            ("Service", "ExecStartPre") => {
                let waited = split_words(v).ok().and_then(|w| match w.as_slice() {
                    [sh, c, script] if sh == "/bin/sh" && c == "-c" => script
                        .strip_prefix(HEALTH_WAIT_PREFIX)
                        .and_then(|s| s.strip_suffix(HEALTH_WAIT_SUFFIX))
                        .map(str::to_string),
                    _ => None,
                });
                match waited {
                    Some(dep) => {
                        healthy.insert(dep);
                    }
                    None => {
                        im.not_mapped(e, "podctl runs no commands of its own before a container")
                    }
                }
            }
            ("Install", "WantedBy") => {
                install = true;
                for t in v.split_whitespace() {
                    if let Some(t) = im.parse::<UnitName>(e, t) {
                        wanted_by.push(t);
                    }
                }
            }
            (section, key) => im.not_mapped(
                e,
                format!("podctl has no field for `{key}=` in [{section}]"),
            ),
        }
    }
    if let Some((val, e)) = memory_flag {
        let same = c
            .resources
            .memory_max
            .is_some_and(|m| m.bytes().to_string() == val);
        if !same {
            match im.parse::<ByteSize>(e, &val) {
                Some(b) if c.resources.memory_max.is_none() => c.resources.memory_max = Some(b),
                Some(_) => im.not_mapped(e, "podman's --memory differs from MemoryMax=; podctl sets both from memoryMax (MemoryMax= is kept)"),
                None => {}
            }
        }
    }
    if let Some((val, e)) = pids_flag {
        let same = c.resources.tasks_max.is_some_and(|t| t.to_string() == val);
        if !same {
            match val.parse::<u32>() {
                Ok(n) if c.resources.tasks_max.is_none() => c.resources.tasks_max = Some(n),
                Ok(_) => im.not_mapped(e, "podman's --pids-limit differs from TasksMax=; podctl sets both from tasksMax (TasksMax= is kept)"),
                Err(_) => im.error(&e.location, "--pids-limit must be a whole number"),
            }
        }
    }
    c.user = match (user, group) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u),
        (None, Some(g)) => {
            im.report.findings.push(Finding::not_mapped(
                image_entry.location.clone(),
                "[Container] Group",
                format!("podctl sets a group only with a user (`UID:GID`); group `{g}` is not set"),
            ));
            None
        }
        (None, None) => None,
    };
    // Requires= on a container beside it is a dependsOn; on any other unit, `requires`.
    let required: BTreeSet<&str> = requires.iter().map(|(u, _)| u.as_str()).collect();
    for (unit, e) in &requires {
        let stem = unit
            .strip_suffix(".service")
            .or_else(|| unit.strip_suffix(".container"));
        match stem {
            Some(s) if containers.contains(s) => match to_name(s) {
                Some(dep) => {
                    let condition = if healthy.remove(s) {
                        DependencyCondition::Healthy
                    } else {
                        DependencyCondition::Started
                    };
                    c.depends_on.push(Dependency {
                        name: dep,
                        condition,
                    });
                }
                None => im.error(&e.location, format!("`{s}` is not a podctl name")),
            },
            _ => {
                if let Some(u) = im.parse::<UnitName>(e, unit) {
                    c.requires.push(u);
                }
            }
        }
    }
    for (unit, e) in &after {
        if required.contains(unit.as_str()) {
            continue;
        }
        if let Some(u) = im.parse::<UnitName>(e, unit) {
            c.after.push(u);
        }
    }
    for dep in healthy {
        im.report.findings.push(Finding::not_mapped(
            image_entry.location.clone(),
            "[Service] ExecStartPre",
            format!("waits for `{dep}`'s health check, but does not require `{dep}.service`"),
        ));
    }
    if c.health_check
        .as_ref()
        .is_some_and(|h| h.command.is_empty())
    {
        im.report.findings.push(Finding::not_mapped(
            image_entry.location.clone(),
            "[Container] Health*",
            "health check settings without HealthCmd= (the image's own check) have no podctl form",
        ));
        c.health_check = None;
    }
    c.enabled = install;
    if install {
        c.wanted_by = wanted_by;
    }
    Some(c)
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
