//! A Container to its systemd service: the unit file around a `podman run` line in the
//! style of `podman generate systemd --new`, with every manifest field rendered.

use std::fmt::Write as _;
use std::path::PathBuf;

use podctl_api::values::{Duration, ImageReference};
use podctl_api::{
    ContainerSpec, DependencyCondition, HealthFailureAction, ImageSource, Kind, Name, NetworkMode,
    Object, Revision,
};
use sha2::{Digest, Sha256};

use super::quote::{exec_word, path_value, value};
use super::{HASH_KEY, MANAGED_MARKER, RenderContext, labels};
use crate::rollout::{IMAGE_PLACEHOLDER, with_image};

/// Stand-in for the hash while the text that the hash covers is rendered.
const HASH_PLACEHOLDER: &str = "@@PODCTL_HASH@@";

/// Where podman records the container ID; the specifiers are for systemd to expand, so
/// this word is written as is, unlike every word that comes from a manifest.
const CIDFILE_ARG: &str = "--cidfile=%t/%n.ctr-id";

/// Extra time systemd gives `ExecStop` beyond podman's own stop timeout, as
/// `podman generate systemd` does (it writes `TimeoutStopSec=` = timeout + 60).
const STOP_MARGIN_SECS: u64 = 60;

/// Podman's default `--stop-timeout`.
const DEFAULT_STOP_SECS: u64 = 10;

/// A rendered unit: its file name, its text and the hash of the desired state in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    pub name: String,
    pub content: String,
    pub hash: String,
    /// `content` with [`IMAGE_PLACEHOLDER`] as the image word of `podman run`: what a
    /// rollout pins (or a rollback puts back) another image ID into.
    pub template: String,
}

/// `NAME.service`, the Quadlet convention.
pub fn unit_name(name: &Name) -> String {
    format!("{name}.service")
}

/// The image a container runs: its own reference or its Image object's.
pub fn image_reference<'a>(
    spec: &'a ContainerSpec,
    revision: &'a Revision,
) -> Option<&'a ImageReference> {
    match &spec.image {
        ImageSource::Reference(r) => Some(r),
        ImageSource::Object(name) => revision
            .of_kind(podctl_api::Kind::Image)
            .find(|o| o.name() == name)
            .and_then(Object::as_image)
            .map(|i| &i.reference),
    }
}

/// Renders the unit of a Container object. `None` when the object is not a Container or
/// its image does not resolve (validation rules both out for a valid revision).
pub fn container_unit(
    object: &Object,
    revision: &Revision,
    ctx: &RenderContext,
) -> Option<UnitFile> {
    let spec = object.as_container()?;
    let image = image_reference(spec, revision)?;
    let pinned = ctx
        .image_pins
        .get(object.name().as_str())
        .map(String::as_str);
    Some(unit_of(object.name(), spec, image, pinned, ctx))
}

/// The unit that runs `spec` as the container `name`, with `pinned` (an image ID) as its
/// image word, or the reference without one.
pub fn unit_of(
    name: &Name,
    spec: &ContainerSpec,
    image: &ImageReference,
    pinned: Option<&str>,
    ctx: &RenderContext,
) -> UnitFile {
    let template = render(name, spec, image, ctx);
    // The hash covers the manifest's reference, not the pinned ID: the definition is the
    // same whichever image a rollout pins, and a rollback does not change it.
    let hash = {
        let digest = Sha256::digest(with_image(&template, &image.to_string()).as_bytes());
        digest
            .iter()
            .take(10)
            .fold(String::with_capacity(20), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    };
    let template = template.replace(HASH_PLACEHOLDER, &hash);
    UnitFile {
        name: unit_name(name),
        content: with_image(&template, pinned.unwrap_or(&image.to_string())),
        hash,
        template,
    }
}

/// Go's duration syntax for podman flags (it has no `d` unit).
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// systemd's time span syntax.
fn timespan(d: Duration) -> String {
    go_duration(d)
}

fn stop_secs(spec: &ContainerSpec) -> u64 {
    spec.stop_timeout.map_or(DEFAULT_STOP_SECS, |d| {
        d.as_std().as_secs_f64().ceil() as u64
    })
}

/// The arguments after `podman` that start this container.
pub fn podman_run_args(name: &Name, spec: &ContainerSpec, image: &ImageReference) -> Vec<String> {
    podman_run_args_with_hash(
        name,
        spec,
        &image.to_string(),
        HASH_PLACEHOLDER,
        &RenderContext::default(),
    )
}

/// `image` is the image word: the reference, or the placeholder a pinned ID replaces.
fn podman_run_args_with_hash(
    name: &Name,
    spec: &ContainerSpec,
    image: &str,
    hash: &str,
    ctx: &RenderContext,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "run",
        &format!("--name={name}"),
        CIDFILE_ARG,
        "--cgroups=no-conmon",
        "--rm",
        "--sdnotify=conmon",
        "--replace",
        "--detach",
        // podctl pulls images itself, so a missing image fails fast and clearly
        // instead of a pull hidden inside the unit's start timeout.
        "--pull=never",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    // One option per line of the unit, in this order: a changed field is a one-line diff,
    // and the order is part of the unit's hash.
    label_args(&mut a, name, spec, hash, ctx);
    environment_args(&mut a, spec);
    network_args(&mut a, spec);
    mount_args(&mut a, spec);
    health_args(&mut a, spec);
    a.push(format!("--stop-timeout={}", stop_secs(spec)));
    resource_args(&mut a, spec);
    security_args(&mut a, spec);
    logging_and_entrypoint_args(&mut a, spec);
    a.push(image.to_owned());
    a.extend(spec.args.iter().cloned());
    a
}

/// podctl's labels (ownership, definition hash, secret hashes), then the manifest's.
fn label_args(
    a: &mut Vec<String>,
    name: &Name,
    spec: &ContainerSpec,
    hash: &str,
    ctx: &RenderContext,
) {
    let mut label = |k: &str, v: &str| a.push(format!("--label={k}={v}"));
    for (k, v) in crate::ownership::mark(Kind::Container, name.as_str(), hash) {
        label(k, &v);
    }
    // No `io.containers.autoupdate`: podctl rolls images out itself (docs/updates.md), and
    // `podman auto-update` would fight the unit's pin by image ID.
    // One label per secret, even when it is mounted as a file and set as env too.
    let used: std::collections::BTreeSet<&str> =
        spec.secrets.iter().map(|s| s.secret.as_str()).collect();
    for secret in used {
        if let Some(h) = ctx.secret_hashes.get(secret) {
            label(&format!("{}{secret}", labels::SECRET_PREFIX), h);
        }
    }
    for (k, v) in &spec.labels {
        a.push(format!("--label={k}={v}"));
    }
}

/// Environment, env files, user and working directory.
fn environment_args(a: &mut Vec<String>, spec: &ContainerSpec) {
    for (k, v) in &spec.env {
        a.push(format!("--env={k}={v}"));
    }
    for f in &spec.env_files {
        a.push(format!("--env-file={f}"));
    }
    if let Some(user) = &spec.user {
        a.push(format!("--user={user}"));
    }
    if let Some(dir) = &spec.working_dir {
        a.push(format!("--workdir={dir}"));
    }
}

/// The network, and ports where they mean something.
fn network_args(a: &mut Vec<String>, spec: &ContainerSpec) {
    match &spec.network {
        None => {}
        Some(NetworkMode::Host) => a.push("--network=host".into()),
        Some(NetworkMode::None) => a.push("--network=none".into()),
        Some(NetworkMode::Network(n)) => a.push(format!("--network={n}")),
    }
    // Ports mean nothing in the host's or no network namespace: podman would only warn.
    if NetworkMode::is_bridged(spec.network.as_ref()) {
        for p in &spec.ports {
            a.push(format!("--publish={p}"));
        }
    }
}

/// Volumes, host paths and secrets, and the tmpfs a read-only root needs for them.
fn mount_args(a: &mut Vec<String>, spec: &ContainerSpec) {
    for v in &spec.volumes {
        let source = match (&v.volume, &v.host_path) {
            (Some(volume), _) => volume.to_string(),
            (None, Some(path)) => path.to_string(),
            (None, None) => continue,
        };
        let ro = if v.read_only { ":ro" } else { "" };
        a.push(format!("--volume={source}:{}{ro}", v.path));
    }
    for s in &spec.secrets {
        match (&s.path, &s.env) {
            (Some(path), _) => a.push(format!("--secret={},type=mount,target={path}", s.secret)),
            (None, Some(env)) => a.push(format!("--secret={},type=env,target={env}", s.secret)),
            (None, None) => {}
        }
    }
    // On a read-only root, runc cannot create a secret's mount point (podman 4.3 mounts it
    // before its tmpfs on /run): a tmpfs on the secret's directory gives it one. Only under
    // /run, which is a tmpfs anyway, so no file of the image is hidden.
    if spec.security.read_only_root_filesystem {
        let mut dirs: Vec<&str> = spec
            .secrets
            .iter()
            .filter_map(|s| s.path.as_ref())
            .filter_map(|p| p.as_str().rsplit_once('/').map(|(dir, _)| dir))
            .filter(|dir| dir.starts_with("/run/"))
            .collect();
        dirs.sort_unstable();
        dirs.dedup();
        for dir in dirs {
            a.push(format!("--tmpfs={dir}"));
        }
    }
}

/// The health check, run by podman's systemd timers.
fn health_args(a: &mut Vec<String>, spec: &ContainerSpec) {
    if let Some(hc) = &spec.health_check {
        // A JSON array is podman's exec form: no shell is added around the command.
        let cmd = serde_json::to_string(&hc.command).unwrap_or_default();
        a.push(format!("--health-cmd={cmd}"));
        a.push(format!("--health-interval={}", go_duration(hc.interval)));
        a.push(format!("--health-timeout={}", go_duration(hc.timeout)));
        a.push(format!("--health-retries={}", hc.retries));
        a.push(format!(
            "--health-start-period={}",
            go_duration(hc.start_period)
        ));
        let action = match hc.on_failure {
            HealthFailureAction::None => None,
            HealthFailureAction::Kill => Some("kill"),
            HealthFailureAction::Restart => Some("restart"),
            HealthFailureAction::Stop => Some("stop"),
        };
        if let Some(action) = action {
            a.push(format!("--health-on-failure={action}"));
        }
    }
}

/// Resource limits, given to podman too.
fn resource_args(a: &mut Vec<String>, spec: &ContainerSpec) {
    // With --cgroups=no-conmon the container runs in its own scope, outside the service's
    // cgroup: limits must be given to podman too, not only to systemd.
    let r = &spec.resources;
    if let Some(q) = r.cpu_quota {
        a.push(format!("--cpus={}", format_cpus(q.percent())));
    }
    if let Some(w) = r.cpu_weight {
        // cgroup v1 shares for CPUWeight's scale (100 = 1024 shares); podman maps them to
        // weights on cgroup v2.
        a.push(format!("--cpu-shares={}", u32::from(w) * 1024 / 100));
    }
    if let Some(set) = &r.cpuset {
        a.push(format!("--cpuset-cpus={set}"));
    }
    if let Some(m) = r.memory_max {
        a.push(format!("--memory={}", m.bytes()));
    }
    if let Some(m) = r.memory_reservation {
        a.push(format!("--memory-reservation={}", m.bytes()));
    }
    if let Some(t) = r.tasks_max {
        a.push(format!("--pids-limit={t}"));
    }
}

/// Root filesystem, privileges and capabilities.
fn security_args(a: &mut Vec<String>, spec: &ContainerSpec) {
    let s = &spec.security;
    if s.read_only_root_filesystem {
        a.push("--read-only".into());
    }
    if s.no_new_privileges {
        a.push("--security-opt=no-new-privileges".into());
    }
    for c in &s.cap_drop {
        a.push(format!("--cap-drop={c}"));
    }
    for c in &s.cap_add {
        a.push(format!("--cap-add={c}"));
    }
}

/// The log driver and tag, and the entrypoint.
fn logging_and_entrypoint_args(a: &mut Vec<String>, spec: &ContainerSpec) {
    a.push(format!("--log-driver={}", spec.logging.driver.as_podman()));
    if let Some(tag) = &spec.logging.tag {
        a.push(format!("--log-opt=tag={tag}"));
    }

    if !spec.command.is_empty() {
        let entrypoint = serde_json::to_string(&spec.command).unwrap_or_default();
        a.push(format!("--entrypoint={entrypoint}"));
    }
}

fn format_cpus(percent: u32) -> String {
    let whole = percent / 100;
    let frac = percent % 100;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:02}")
    }
}

fn render(
    name: &Name,
    spec: &ContainerSpec,
    image: &ImageReference,
    ctx: &RenderContext,
) -> String {
    let mut u = String::with_capacity(2048);
    let mut line = |s: &str| {
        u.push_str(s);
        u.push('\n');
    };
    line(MANAGED_MARKER);
    unit_section(&mut line, name, spec, image);
    line("");
    service_section(&mut line, name, spec, ctx);
    line("");
    line("[Install]");
    if !spec.wanted_by.is_empty() {
        let targets: Vec<&str> = spec.wanted_by.iter().map(|u| u.as_str()).collect();
        line(&format!("WantedBy={}", targets.join(" ")));
    }
    u
}

/// `[Unit]`: what it is, its hash, and its ordering and start limits.
fn unit_section(
    line: &mut impl FnMut(&str),
    name: &Name,
    spec: &ContainerSpec,
    image: &ImageReference,
) {
    line("[Unit]");
    line(&format!(
        "Description={}",
        value(&format!("podctl container {name} ({image})"))
    ));
    line(&format!("{HASH_KEY}={HASH_PLACEHOLDER}"));
    line("Wants=network-online.target");
    line("RequiresMountsFor=%t/containers");
    let mut requires: Vec<String> = spec.depends_on.iter().map(|d| unit_name(&d.name)).collect();
    requires.extend(spec.requires.iter().map(ToString::to_string));
    let mut after: Vec<String> = vec!["network-online.target".to_string()];
    after.extend(requires.iter().cloned());
    after.extend(spec.after.iter().map(ToString::to_string));
    dedup_keep_order(&mut requires);
    dedup_keep_order(&mut after);
    for unit in &requires {
        line(&format!("Requires={unit}"));
    }
    for unit in &after {
        line(&format!("After={unit}"));
    }
    if let Some(burst) = spec.restart.burst {
        line(&format!("StartLimitBurst={burst}"));
    }
    if let Some(interval) = spec.restart.interval {
        line(&format!("StartLimitIntervalSec={}", timespan(interval)));
    }
}

/// `[Service]`: how podman runs, stops and restarts it.
fn service_section(
    line: &mut impl FnMut(&str),
    name: &Name,
    spec: &ContainerSpec,
    ctx: &RenderContext,
) {
    let podman = ctx.podman.display().to_string();
    line("[Service]");
    line("Type=notify");
    line("NotifyAccess=all");
    line("Environment=PODMAN_SYSTEMD_UNIT=%n");
    line(&format!("Restart={}", spec.restart.policy.as_systemd()));
    if let Some(delay) = spec.restart.delay {
        line(&format!("RestartSec={}", timespan(delay)));
    }
    let stop = stop_secs(spec);
    line(&format!("TimeoutStopSec={}", stop + STOP_MARGIN_SECS));
    // A restart after a crash finds the old cidfile; podman refuses to overwrite it.
    line("ExecStartPre=/bin/rm -f %t/%n.ctr-id");
    // `condition: healthy`: systemd's After= waits only for the dependency to be active.
    // podman 4.3 has no `--sdnotify=healthy`, so the dependent waits here, within its
    // start timeout, until the dependency's health check passes.
    for dep in spec
        .depends_on
        .iter()
        .filter(|d| d.condition == DependencyCondition::Healthy)
    {
        let script = format!(
            "until {} healthcheck run {} >/dev/null 2>&1; do sleep 1; done",
            podman, dep.name
        );
        line(&format!("ExecStartPre=/bin/sh -c {}", exec_word(&script)));
    }
    let run: Vec<String> = std::iter::once(exec_word(&podman))
        .chain(
            podman_run_args_with_hash(name, spec, IMAGE_PLACEHOLDER, HASH_PLACEHOLDER, ctx)
                .iter()
                .map(|w| {
                    if w == CIDFILE_ARG {
                        w.clone()
                    } else {
                        exec_word(w)
                    }
                }),
        )
        .collect();
    // One option per line, as `podman generate systemd` writes it: readable, and a change
    // shows as a one-line diff. systemd joins lines that end in a backslash.
    line(&format!("ExecStart={}", run.join(" \\\n\t")));
    line(&format!(
        "ExecStop={} stop --ignore -t {stop} --cidfile=%t/%n.ctr-id",
        exec_word(&podman)
    ));
    line(&format!(
        "ExecStopPost={} rm -f --ignore -t {stop} --cidfile=%t/%n.ctr-id",
        exec_word(&podman)
    ));
    service_limits(line, spec, ctx);
}

/// The service's own resource limits and hardening.
fn service_limits(line: &mut impl FnMut(&str), spec: &ContainerSpec, ctx: &RenderContext) {
    let r = &spec.resources;
    if let Some(q) = r.cpu_quota {
        line(&format!("CPUQuota={q}"));
    }
    if let Some(w) = r.cpu_weight {
        line(&format!("CPUWeight={w}"));
    }
    if let Some(m) = r.memory_max {
        line(&format!("MemoryMax={m}"));
    }
    if let Some(t) = r.tasks_max {
        line(&format!("TasksMax={t}"));
    }
    if spec.security.no_new_privileges {
        line("NoNewPrivileges=yes");
    }
    if let Some(h) = &spec.security.systemd {
        if let Some(ps) = h.protect_system {
            line(&format!("ProtectSystem={}", ps.as_systemd()));
        }
        if let Some(ph) = h.protect_home {
            line(&format!("ProtectHome={}", ph.as_systemd()));
        }
        if h.namespaces_mounts() {
            for path in podman_writable_paths(ctx) {
                line(&format!("ReadWritePaths=-{}", path.display()));
            }
            for path in &h.read_write_paths {
                line(&format!("ReadWritePaths={}", path_value(path.as_str())));
            }
        }
    }
}

fn dedup_keep_order(items: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(i.clone()));
}

/// What podman itself writes while running a container; with `ProtectSystem=strict` these
/// must stay writable or podman fails (bolt_state.db, netavark.lock, conmon's files).
fn podman_writable_paths(ctx: &RenderContext) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = vec![PathBuf::from("/var/lib/containers")];
    paths.extend(ctx.storage_paths.iter().cloned());
    paths.extend(["/run", "/var/tmp", "/tmp", "/etc/containers/networks"].map(PathBuf::from));
    // Parents first, so a path under one already listed is dropped.
    paths.sort_by_key(|p| p.components().count());
    let mut seen = Vec::new();
    paths.retain(|p| {
        let covered = seen.iter().any(|s: &PathBuf| p.starts_with(s));
        if !covered {
            seen.push(p.clone());
        }
        !covered
    });
    paths
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use podctl_api::{Kind, load_dir};

    use super::*;

    fn production() -> Revision {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples/production");
        load_dir(&dir).expect("the production example is valid")
    }

    fn unit_of(revision: &Revision, name: &str) -> UnitFile {
        let object = revision
            .of_kind(Kind::Container)
            .find(|o| o.name().as_str() == name)
            .expect("container in example");
        container_unit(object, revision, &RenderContext::default()).expect("renders")
    }

    #[test]
    fn production_units_render_every_field() {
        let revision = production();
        insta::assert_snapshot!("myapp.service", unit_of(&revision, "myapp").content);
        insta::assert_snapshot!(
            "postgresql.service",
            unit_of(&revision, "postgresql").content
        );
    }

    #[test]
    fn hash_is_stable_and_written_twice() {
        let revision = production();
        let a = unit_of(&revision, "myapp");
        let b = unit_of(&revision, "myapp");
        assert_eq!(a, b);
        assert_eq!(super::super::unit_hash(&a.content), Some(a.hash.as_str()));
        assert!(
            a.content
                .contains(&format!("--label=io.podctl.hash={}", a.hash))
        );
        assert!(crate::ownership::owns_unit_file(&a.content));
    }

    #[test]
    fn a_secret_used_twice_is_labelled_once() {
        let text = "apiVersion: podctl.io/v1\nkind: Secret\nmetadata: {name: pw}\nspec: {source: {file: /etc/pw}}\n---\napiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: app}\nspec:\n  image: localhost/bb:v1\n  secrets:\n    - {secret: pw, path: /run/secrets/pw}\n    - {secret: pw, env: PW}\n";
        let revision = crate::plan::tests::revision(&[("a.yaml", text)]);
        let object = revision.of_kind(Kind::Container).next().expect("container");
        let mut ctx = RenderContext::default();
        ctx.secret_hashes.insert("pw".into(), "abcd".into());
        let unit = container_unit(object, &revision, &ctx).expect("renders");
        assert_eq!(
            unit.content
                .matches("--label=io.podctl.secret.pw=abcd")
                .count(),
            1,
            "{}",
            unit.content
        );
    }

    #[test]
    fn a_healthy_dependency_is_waited_for_before_the_start() {
        let db = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: db}\nspec:\n  image: localhost/bb:v1\n  healthCheck: {command: [\"true\"]}\n";
        let app = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: app}\nspec:\n  image: localhost/bb:v1\n  dependsOn: [{name: db, condition: healthy}]\n";
        let revision = crate::plan::tests::revision(&[("d.yaml", db), ("a.yaml", app)]);
        let unit = unit_of(&revision, "app");
        assert!(
            unit.content.contains(
                "ExecStartPre=/bin/sh -c \"until /usr/bin/podman healthcheck run db >/dev/null 2>&1; do sleep 1; done\"\n"
            ),
            "{}",
            unit.content
        );
        assert!(unit.content.contains("Requires=db.service\n"));
        assert!(!unit_of(&revision, "db").content.contains("healthcheck run"));
    }

    #[test]
    fn go_durations_have_no_days() {
        assert_eq!(go_duration(Duration::from_millis(86_400_000)), "86400s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn cpus_keep_fractions() {
        assert_eq!(format_cpus(200), "2");
        assert_eq!(format_cpus(50), "0.50");
        assert_eq!(format_cpus(125), "1.25");
    }
}
