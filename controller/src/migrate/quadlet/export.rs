//! `podctl export quadlet`: manifests as Quadlet files for one podman release, using only
//! the keys that release knows; what cannot be expressed is reported.

use std::collections::BTreeMap;

use podctl_api::{
    ContainerSpec, DependencyCondition, HealthCheck, HealthFailureAction, ImageSource, ImageSpec,
    Location, LogDriver, Name, NetworkMode, NetworkSpec, PullPolicy, ReclaimPolicy,
    ServiceHardening, Spec, UpdatePolicy, VolumeSpec,
};
use serde_json::json;

use super::ini::{escape_specifiers, join_words, quote_word};
use super::keys::{PodmanVersion, UnitType, knows, references};
use super::{HEALTH_WAIT_PREFIX, HEALTH_WAIT_SUFFIX, X_METADATA, X_SECRET, X_SPEC, go_duration};
use crate::migrate::manifest::Manifest;
use crate::migrate::{Finding, Report};

/// The files of an export, `(file name, text)`, and what could not be expressed.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    pub files: Vec<(String, String)>,
    pub report: Report,
}

/// A unit file being written: sections in the order systemd users expect.
#[derive(Default)]
struct Unit {
    unit: Vec<(String, String)>,
    body: Vec<(String, String)>,
    service: Vec<(String, String)>,
    install: Vec<(String, String)>,
}

impl Unit {
    fn render(&self, body: &str, source: Option<&Location>) -> String {
        let mut out = String::from("# Written by podctl export quadlet");
        if let Some(l) = source {
            out.push_str(&format!(" from {}", podctl_api::printable(&l.to_string())));
        }
        out.push('\n');
        for (name, entries) in [
            ("Unit", &self.unit),
            (body, &self.body),
            ("Service", &self.service),
            ("Install", &self.install),
        ] {
            if entries.is_empty() && name != body {
                continue;
            }
            out.push_str(&format!("\n[{name}]\n"));
            for (k, v) in entries {
                out.push_str(&format!("{k}={v}\n"));
            }
        }
        out
    }
}

struct Exporter<'a> {
    version: PodmanVersion,
    report: &'a mut Report,
    location: Location,
    object: String,
}

impl Exporter<'_> {
    /// Reported, and kept for the import in an `X-Podctl` key.
    fn not_expressible(&mut self, key: &str, reason: impl Into<String>) {
        self.report.findings.push(Finding::not_mapped(
            self.location.clone(),
            format!("{}: {key}", self.object),
            reason,
        ));
    }

    fn note(&mut self, key: &str, reason: impl Into<String>) {
        self.report.findings.push(Finding::note(
            self.location.clone(),
            format!("{}: {key}", self.object),
            reason,
        ));
    }

    fn knows(&self, unit: UnitType, key: &str) -> bool {
        knows(self.version, unit, key)
    }

    /// A podman flag: under its own key when the release has it, else in `PodmanArgs=`,
    /// else reported.
    fn flag(&mut self, u: &mut Unit, key: Option<(&str, String)>, flag: String, what: &str) {
        if let Some((k, v)) = key
            && self.knows(UnitType::Container, k)
        {
            u.body.push((k.into(), v));
        } else if self.knows(UnitType::Container, "PodmanArgs") {
            u.body
                .push(("PodmanArgs".into(), quote_word(&escape_specifiers(&flag))));
        } else {
            let version = self.version;
            self.not_expressible(
                what,
                format!("podman {version}'s Quadlet has no key for it, nor PodmanArgs="),
            );
        }
    }

    /// A podman flag with a key of its own in later releases: `KEY=VALUE`, else
    /// `PodmanArgs=FLAG=VALUE`.
    fn keyed_flag(&mut self, u: &mut Unit, key: &str, flag: &str, value: String, what: &str) {
        let word = format!("{flag}={value}");
        self.flag(u, Some((key, value)), word, what);
    }
}

/// The metadata Quadlet cannot hold, for `X-PodctlMetadata=`.
fn metadata_carrier(e: &mut Exporter<'_>, m: &Manifest, u: &mut Unit) {
    let mut meta = serde_json::Map::new();
    if !m.labels.is_empty() {
        meta.insert("labels".into(), json!(m.labels));
        e.not_expressible(
            "metadata.labels",
            "Quadlet files have no labels of their own; kept in X-PodctlMetadata=",
        );
    }
    if !m.annotations.is_empty() {
        meta.insert("annotations".into(), json!(m.annotations));
        e.not_expressible(
            "metadata.annotations",
            "Quadlet files have no annotations; kept in X-PodctlMetadata=",
        );
    }
    if let Some(hosts) = &m.hosts {
        meta.insert("hosts".into(), json!(hosts));
        e.not_expressible(
            "metadata.hosts",
            "a Quadlet file is for the host it is on; kept in X-PodctlMetadata=",
        );
    }
    if !meta.is_empty() {
        u.unit.push((
            X_METADATA.into(),
            serde_json::Value::Object(meta).to_string(),
        ));
    }
}

/// Exports every manifest that Quadlet has a file type for.
pub fn export(manifests: &[Manifest], version: PodmanVersion) -> Exported {
    let mut report = Report::default();
    let mut files = Vec::new();
    let images: BTreeMap<&Name, &ImageSpec> = manifests
        .iter()
        .filter_map(|m| match &m.spec {
            Spec::Image(i) => Some((&m.name, i)),
            _ => None,
        })
        .collect();
    let secrets: BTreeMap<&Name, &podctl_api::SecretSpec> = manifests
        .iter()
        .filter_map(|m| match &m.spec {
            Spec::Secret(s) => Some((&m.name, s)),
            _ => None,
        })
        .collect();
    for m in manifests {
        let mut e = Exporter {
            version,
            report: &mut report,
            location: m.source.clone().unwrap_or_else(|| {
                Location::new(
                    std::sync::Arc::from(std::path::Path::new("-")),
                    podctl_api::Mark::new(1, 1),
                )
            }),
            object: format!("{}/{}", m.kind().lowercase(), m.name),
        };
        let mut u = Unit::default();
        let unit_type = match &m.spec {
            Spec::Container(c) => {
                container(&mut e, m, c, &images, &secrets, &mut u);
                UnitType::Container
            }
            Spec::Volume(v) => {
                volume(&mut e, &m.name, v, &mut u);
                UnitType::Volume
            }
            Spec::Network(n) => {
                if version < UnitType::Network.since() {
                    e.not_expressible(
                        "kind: Network",
                        format!(
                            "podman {version} has no .network files; create the network with podman"
                        ),
                    );
                    continue;
                }
                network(&mut e, &m.name, n, &mut u);
                UnitType::Network
            }
            Spec::Image(i) => {
                if version < UnitType::Image.since() {
                    e.not_expressible("kind: Image", format!("podman {version} has no .image files; the containers name the reference"));
                    continue;
                }
                image(&mut e, i, &mut u);
                UnitType::Image
            }
            Spec::Secret(_) => {
                e.not_expressible("kind: Secret", "Quadlet has no secret files: create the podman secret before the containers start; kept in X-PodctlSecret= of the containers that use it");
                continue;
            }
            Spec::BackupRepository(_) | Spec::HostSettings(_) => {
                e.not_expressible(
                    &format!("kind: {}", m.kind()),
                    "Quadlet has no such unit; it is podctl's own",
                );
                continue;
            }
        };
        metadata_carrier(&mut e, m, &mut u);
        let name = format!("{}.{}", m.name, unit_type.extension());
        files.push((name, u.render(unit_type.section(), m.source.as_ref())));
    }
    report.sort();
    Exported { files, report }
}

/// A container as a `.container` file, section by section in the order they are written;
/// what Quadlet cannot hold is kept in `X-PodctlSpec=`.
fn container(
    e: &mut Exporter<'_>,
    m: &Manifest,
    c: &ContainerSpec,
    images: &BTreeMap<&Name, &ImageSpec>,
    secrets: &BTreeMap<&Name, &podctl_api::SecretSpec>,
    u: &mut Unit,
) {
    let mut carried = serde_json::Map::new();
    unit_section(c, secrets, u);

    // [Container]
    container_image(e, c, images, u);
    u.body.push(("ContainerName".into(), m.name.to_string()));
    process(e, c, u);
    networking(e, c, u);
    storage(e, c, u);
    if let Some(h) = &c.health_check {
        health_check(e, h, u);
    }
    security(c, u);
    logging(e, c, u);
    for (k, v) in &c.labels {
        u.body.push((
            "Label".into(),
            quote_word(&escape_specifiers(&format!("{k}={v}"))),
        ));
    }
    update_and_monitoring(e, c, u, &mut carried);

    // [Service]
    restart_and_stop(e, c, u);
    resources(e, &c.resources, u);
    if let Some(h) = &c.security.systemd {
        hardening(h, u);
    }

    install_section(e, c, u, &mut carried);
    if !carried.is_empty() {
        u.unit.push((
            X_SPEC.into(),
            serde_json::Value::Object(carried).to_string(),
        ));
    }
}

/// `[Unit]`: dependencies (with the wait for a healthy one), the start limit, and the
/// secrets the container uses, for the import to declare again.
fn unit_section(
    c: &ContainerSpec,
    secrets: &BTreeMap<&Name, &podctl_api::SecretSpec>,
    u: &mut Unit,
) {
    for d in &c.depends_on {
        u.unit
            .push(("Requires".into(), format!("{}.service", d.name)));
        u.unit.push(("After".into(), format!("{}.service", d.name)));
        if d.condition == DependencyCondition::Healthy {
            let script = format!("{HEALTH_WAIT_PREFIX}{}{HEALTH_WAIT_SUFFIX}", d.name);
            u.service.push((
                "ExecStartPre".into(),
                join_words(&["/bin/sh".to_string(), "-c".into(), script]),
            ));
        }
    }
    for unit in &c.requires {
        u.unit.push(("Requires".into(), unit.to_string()));
        u.unit.push(("After".into(), unit.to_string()));
    }
    for unit in &c.after {
        u.unit.push(("After".into(), unit.to_string()));
    }
    if let Some(b) = c.restart.burst {
        u.unit.push(("StartLimitBurst".into(), b.to_string()));
    }
    if let Some(i) = c.restart.interval {
        u.unit
            .push(("StartLimitIntervalSec".into(), go_duration(i)));
    }
    for s in &c.secrets {
        if let Some(spec) = secrets.get(&s.secret) {
            u.unit
                .push((X_SECRET.into(), format!("{} {}", s.secret, json!(spec))));
        }
    }
}

/// `Image=`: a reference, or an Image object as its `.image` file where the release has
/// them, else as the reference it pulls.
fn container_image(
    e: &mut Exporter<'_>,
    c: &ContainerSpec,
    images: &BTreeMap<&Name, &ImageSpec>,
    u: &mut Unit,
) {
    match &c.image {
        ImageSource::Reference(r) => u.body.push(("Image".into(), r.to_string())),
        ImageSource::Object(name) if references(e.version, UnitType::Image) => {
            u.body.push(("Image".into(), format!("{name}.image")));
        }
        ImageSource::Object(name) => match images.get(name) {
            Some(spec) => {
                u.body.push(("Image".into(), spec.reference.to_string()));
                e.not_expressible("image", format!("podman {} has no .image files: the container names {} directly (pull policy, TLS and auth file of Image `{name}` are not carried)", e.version, spec.reference));
            }
            None => e.not_expressible("image", format!("Image `{name}` is not in the manifests")),
        },
    }
}

/// What runs and how: entrypoint, arguments, environment, user and working directory.
fn process(e: &mut Exporter<'_>, c: &ContainerSpec, u: &mut Unit) {
    if !c.command.is_empty() {
        let json = serde_json::to_string(&c.command).unwrap_or_default();
        e.flag(
            u,
            Some(("Entrypoint", escape_specifiers(&json))),
            format!("--entrypoint={json}"),
            "command",
        );
    }
    if !c.args.is_empty() {
        let words: Vec<String> = c.args.iter().map(|a| escape_specifiers(a)).collect();
        u.body.push(("Exec".into(), join_words(&words)));
    }
    for (k, v) in &c.env {
        u.body.push((
            "Environment".into(),
            quote_word(&escape_specifiers(&format!("{k}={v}"))),
        ));
    }
    for f in &c.env_files {
        if e.knows(UnitType::Container, "EnvironmentFile") {
            u.body.push(("EnvironmentFile".into(), f.to_string()));
        } else {
            e.not_expressible(
                "envFiles",
                format!("podman {}'s Quadlet has no EnvironmentFile=", e.version),
            );
        }
    }
    if let Some(user) = &c.user {
        match user.split_once(':') {
            Some((uid, gid)) => {
                u.body.push(("User".into(), uid.to_string()));
                u.body.push(("Group".into(), gid.to_string()));
            }
            None => u.body.push(("User".into(), user.clone())),
        }
    }
    if let Some(w) = &c.working_dir {
        e.keyed_flag(u, "WorkingDir", "--workdir", w.to_string(), "workingDir");
    }
}

/// Published ports and the network: a Network object as its `.network` file where the
/// release has them, else by name.
fn networking(e: &mut Exporter<'_>, c: &ContainerSpec, u: &mut Unit) {
    for p in &c.ports {
        u.body.push(("PublishPort".into(), p.to_string()));
    }
    match &c.network {
        None => {}
        Some(NetworkMode::Host) => u.body.push(("Network".into(), "host".into())),
        Some(NetworkMode::None) => u.body.push(("Network".into(), "none".into())),
        Some(NetworkMode::Network(n)) if references(e.version, UnitType::Network) => {
            u.body.push(("Network".into(), format!("{n}.network")));
        }
        Some(NetworkMode::Network(n)) => {
            u.body.push(("Network".into(), n.to_string()));
            e.note(
                "network",
                format!(
                    "podman {} has no .network files: the network `{n}` must exist",
                    e.version
                ),
            );
        }
    }
}

/// Volume mounts (a Volume object as its `.volume` file where the release has them, else
/// by the name Quadlet gives its volume) and secrets.
fn storage(e: &mut Exporter<'_>, c: &ContainerSpec, u: &mut Unit) {
    for v in &c.volumes {
        let ro = if v.read_only { ":ro" } else { "" };
        match (&v.volume, &v.host_path) {
            (Some(name), _) if references(e.version, UnitType::Volume) => {
                u.body
                    .push(("Volume".into(), format!("{name}.volume:{}{ro}", v.path)));
            }
            (Some(name), _) => {
                u.body
                    .push(("Volume".into(), format!("systemd-{name}:{}{ro}", v.path)));
                e.note(
                    "volumes",
                    format!(
                        "podman {} names the volume of `{name}.volume` `systemd-{name}`",
                        e.version
                    ),
                );
            }
            (None, Some(host)) => u
                .body
                .push(("Volume".into(), format!("{host}:{}{ro}", v.path))),
            (None, None) => {}
        }
    }
    for s in &c.secrets {
        let target = match (&s.path, &s.env) {
            (Some(p), _) => format!("{},type=mount,target={p}", s.secret),
            (None, Some(env)) => format!("{},type=env,target={env}", s.secret),
            (None, None) => continue,
        };
        e.keyed_flag(u, "Secret", "--secret", target, "secrets");
    }
}

fn health_check(e: &mut Exporter<'_>, h: &HealthCheck, u: &mut Unit) {
    let json = serde_json::to_string(&h.command).unwrap_or_default();
    u.body.push(("HealthCmd".into(), escape_specifiers(&json)));
    let interval = go_duration(h.interval);
    e.keyed_flag(
        u,
        "HealthInterval",
        "--health-interval",
        interval,
        "healthCheck.interval",
    );
    let timeout = go_duration(h.timeout);
    e.keyed_flag(
        u,
        "HealthTimeout",
        "--health-timeout",
        timeout,
        "healthCheck.timeout",
    );
    let retries = h.retries.to_string();
    e.keyed_flag(
        u,
        "HealthRetries",
        "--health-retries",
        retries,
        "healthCheck.retries",
    );
    let start = go_duration(h.start_period);
    e.keyed_flag(
        u,
        "HealthStartPeriod",
        "--health-start-period",
        start,
        "healthCheck.startPeriod",
    );
    if h.on_failure != HealthFailureAction::None {
        let action = json!(h.on_failure).as_str().unwrap_or("none").to_string();
        e.keyed_flag(
            u,
            "HealthOnFailure",
            "--health-on-failure",
            action,
            "healthCheck.onFailure",
        );
    }
}

/// The root file system, privileges and capabilities.
fn security(c: &ContainerSpec, u: &mut Unit) {
    if c.security.read_only_root_filesystem {
        u.body.push(("ReadOnly".into(), "true".into()));
    }
    if c.security.no_new_privileges {
        u.body.push(("NoNewPrivileges".into(), "true".into()));
    }
    for cap in &c.security.cap_drop {
        u.body.push(("DropCapability".into(), cap.to_string()));
    }
    for cap in &c.security.cap_add {
        u.body.push(("AddCapability".into(), cap.to_string()));
    }
}

/// The log driver (journald, podman's default, is written only where the release has the
/// key) and the log tag.
fn logging(e: &mut Exporter<'_>, c: &ContainerSpec, u: &mut Unit) {
    let driver = c.logging.driver.as_podman();
    if c.logging.driver != LogDriver::Journald || e.knows(UnitType::Container, "LogDriver") {
        e.keyed_flag(
            u,
            "LogDriver",
            "--log-driver",
            driver.into(),
            "logging.driver",
        );
    }
    if let Some(tag) = &c.logging.tag {
        e.flag(u, None, format!("--log-opt=tag={tag}"), "logging.tag");
    }
}

/// The update policy as podman's auto-update; podctl's rollout and monitoring settings
/// have no Quadlet form and go to `carried`.
fn update_and_monitoring(
    e: &mut Exporter<'_>,
    c: &ContainerSpec,
    u: &mut Unit,
    carried: &mut serde_json::Map<String, serde_json::Value>,
) {
    match c.update.policy {
        UpdatePolicy::None => {}
        policy => {
            let word = json!(policy).as_str().unwrap_or("registry").to_string();
            if e.knows(UnitType::Container, "AutoUpdate") {
                u.body.push(("AutoUpdate".into(), word));
            } else {
                u.body
                    .push(("Label".into(), format!("io.containers.autoupdate={word}")));
            }
            e.note("update.policy", "podman auto-update (its timer) takes over the updates; it has no health gate of podctl's kind");
        }
    }
    let update_default = podctl_api::UpdateSpec::default();
    if c.update.strategy != update_default.strategy
        || c.update.health_gate.is_some()
        || c.update.backup_before
    {
        let mut update = serde_json::to_value(&c.update).unwrap_or_default();
        if let Some(map) = update.as_object_mut() {
            map.remove("policy");
        }
        carried.insert("update".into(), update);
        e.not_expressible("update", "podctl's rollout strategy, health gate and backup before an update have no Quadlet form; kept in X-PodctlSpec=");
    }
    if !c.monitoring.is_default() {
        carried.insert("monitoring".into(), json!(c.monitoring));
        e.not_expressible(
            "monitoring",
            "alert thresholds are podctl's own; kept in X-PodctlSpec=",
        );
    }
}

/// `[Service]` `Restart=` and `RestartSec=`, and the stop timeout (in whole seconds).
fn restart_and_stop(e: &mut Exporter<'_>, c: &ContainerSpec, u: &mut Unit) {
    u.service
        .push(("Restart".into(), c.restart.policy.as_systemd().into()));
    if let Some(d) = c.restart.delay {
        u.service.push(("RestartSec".into(), go_duration(d)));
    }
    if let Some(t) = c.stop_timeout {
        let ms = t.as_millis();
        let secs = ms.div_ceil(1000);
        if ms % 1000 != 0 {
            e.note(
                "stopTimeout",
                format!("podman stops in whole seconds: {secs}s"),
            );
        }
        e.keyed_flag(
            u,
            "StopTimeout",
            "--stop-timeout",
            secs.to_string(),
            "stopTimeout",
        );
    }
}

/// Resources: systemd's limits on the service, and podman's on the container where podctl
/// sets both.
fn resources(e: &mut Exporter<'_>, r: &podctl_api::Resources, u: &mut Unit) {
    if let Some(q) = r.cpu_quota {
        u.service
            .push(("CPUQuota".into(), escape_specifiers(&q.to_string())));
    }
    if let Some(w) = r.cpu_weight {
        u.service.push(("CPUWeight".into(), w.to_string()));
    }
    if let Some(s) = &r.cpuset {
        e.flag(u, None, format!("--cpuset-cpus={s}"), "resources.cpuset");
    }
    if let Some(mx) = r.memory_max {
        u.service.push(("MemoryMax".into(), mx.bytes().to_string()));
        e.flag(
            u,
            None,
            format!("--memory={}", mx.bytes()),
            "resources.memoryMax",
        );
    }
    if let Some(mr) = r.memory_reservation {
        e.flag(
            u,
            None,
            format!("--memory-reservation={}", mr.bytes()),
            "resources.memoryReservation",
        );
    }
    if let Some(t) = r.tasks_max {
        u.service.push(("TasksMax".into(), t.to_string()));
        e.flag(u, None, format!("--pids-limit={t}"), "resources.tasksMax");
    }
}

/// systemd's sandboxing of the service.
fn hardening(h: &ServiceHardening, u: &mut Unit) {
    if let Some(p) = h.protect_system {
        u.service
            .push(("ProtectSystem".into(), p.as_systemd().into()));
    }
    if let Some(p) = h.protect_home {
        u.service
            .push(("ProtectHome".into(), p.as_systemd().into()));
    }
    for p in &h.read_write_paths {
        u.service
            .push(("ReadWritePaths".into(), quote_word(p.as_str())));
    }
}

/// `[Install]`: an enabled container starts with its targets; a disabled one has no
/// section, and its targets go to `carried` unless they are the default.
fn install_section(
    e: &mut Exporter<'_>,
    c: &ContainerSpec,
    u: &mut Unit,
    carried: &mut serde_json::Map<String, serde_json::Value>,
) {
    if c.enabled {
        for t in &c.wanted_by {
            u.install.push(("WantedBy".into(), t.to_string()));
        }
    } else if c.wanted_by != vec![podctl_api::values::UnitName::multi_user_target()] {
        carried.insert("wantedBy".into(), json!(c.wanted_by));
        e.not_expressible(
            "wantedBy",
            "a disabled container has no [Install] section; kept in X-PodctlSpec=",
        );
    }
    if !c.enabled {
        carried.insert("enabled".into(), json!(false));
    }
}

fn volume(e: &mut Exporter<'_>, name: &Name, v: &VolumeSpec, u: &mut Unit) {
    let mut carried = serde_json::Map::new();
    if e.knows(UnitType::Volume, "VolumeName") {
        u.body.push(("VolumeName".into(), name.to_string()));
    } else {
        e.note(
            "metadata.name",
            format!("podman {} names the volume `systemd-{name}`", e.version),
        );
    }
    if v.driver != "local" {
        if e.knows(UnitType::Volume, "Driver") {
            u.body.push(("Driver".into(), v.driver.clone()));
        } else {
            carried.insert("driver".into(), json!(v.driver));
            e.not_expressible(
                "driver",
                format!(
                    "podman {}'s Quadlet has no Driver= for volumes; kept in X-PodctlSpec=",
                    e.version
                ),
            );
        }
    }
    let mut other_options = BTreeMap::new();
    for (k, val) in &v.options {
        let key = match k.as_str() {
            "device" => "Device",
            "type" => "Type",
            "o" => "Options",
            _ => {
                other_options.insert(k.clone(), val.clone());
                continue;
            }
        };
        if e.knows(UnitType::Volume, key) {
            u.body.push((key.into(), val.clone()));
        } else {
            other_options.insert(k.clone(), val.clone());
        }
    }
    if !other_options.is_empty() {
        carried.insert("options".into(), json!(other_options));
        e.not_expressible(
            "options",
            "Quadlet volumes take the device, type and o options only; kept in X-PodctlSpec=",
        );
    }
    for (k, val) in &v.labels {
        u.body.push((
            "Label".into(),
            quote_word(&escape_specifiers(&format!("{k}={val}"))),
        ));
    }
    if v.reclaim_policy == ReclaimPolicy::Delete {
        carried.insert("reclaimPolicy".into(), json!(v.reclaim_policy));
        e.not_expressible(
            "reclaimPolicy",
            "Quadlet never deletes a volume; kept in X-PodctlSpec=",
        );
    }
    if let Some(b) = &v.backup {
        carried.insert("backup".into(), json!(b));
        e.not_expressible("backup", "backups are podctl's own; kept in X-PodctlSpec=");
    }
    if !carried.is_empty() {
        u.unit.push((
            X_SPEC.into(),
            serde_json::Value::Object(carried).to_string(),
        ));
    }
}

fn network(e: &mut Exporter<'_>, name: &Name, n: &NetworkSpec, u: &mut Unit) {
    if e.knows(UnitType::Network, "NetworkName") {
        u.body.push(("NetworkName".into(), name.to_string()));
    } else {
        e.note(
            "metadata.name",
            format!("podman {} names the network `systemd-{name}`", e.version),
        );
    }
    if n.driver != podctl_api::NetworkDriver::Bridge {
        u.body.push(("Driver".into(), n.driver.as_str().into()));
    }
    if let Some(s) = &n.subnet {
        u.body.push(("Subnet".into(), s.to_string()));
    }
    if let Some(g) = &n.gateway {
        u.body.push(("Gateway".into(), g.to_string()));
    }
    if n.internal {
        u.body.push(("Internal".into(), "true".into()));
    }
    if n.ipv6 {
        u.body.push(("IPv6".into(), "true".into()));
    }
    for (k, v) in &n.labels {
        u.body.push((
            "Label".into(),
            quote_word(&escape_specifiers(&format!("{k}={v}"))),
        ));
    }
}

fn image(e: &mut Exporter<'_>, i: &ImageSpec, u: &mut Unit) {
    let mut carried = serde_json::Map::new();
    u.body.push(("Image".into(), i.reference.to_string()));
    if !i.tls_verify {
        u.body.push(("TLSVerify".into(), "false".into()));
    }
    if let Some(a) = &i.auth_file {
        u.body.push(("AuthFile".into(), a.to_string()));
    }
    if e.knows(UnitType::Image, "Policy") {
        let policy = match i.pull_policy {
            PullPolicy::IfNotPresent => "missing",
            PullPolicy::Always => "always",
            PullPolicy::Never => "never",
        };
        u.body.push(("Policy".into(), policy.into()));
    } else if i.pull_policy != PullPolicy::Always {
        carried.insert("pullPolicy".into(), json!(i.pull_policy));
        e.not_expressible("pullPolicy", format!("podman {}'s .image unit pulls every time it starts (Policy= came in 5.6); kept in X-PodctlSpec=", e.version));
    }
    if !carried.is_empty() {
        u.unit.push((
            X_SPEC.into(),
            serde_json::Value::Object(carried).to_string(),
        ));
    }
}
