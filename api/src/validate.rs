//! Checks a revision's objects beyond their types: unique names, references that resolve,
//! no dependency cycles, and the rules one field imposes on another.

use std::collections::{BTreeMap, HashMap};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::document::Declared;
use crate::graph::find_cycles;
use crate::kinds::{
    ContainerSpec, Dependency, DependencyCondition, ImageSource, Kind, NetworkMode, NetworkSpec,
    Object, ObjectRef, Origin, PODMAN_LABEL_PREFIX, RESERVED_LABEL_PREFIX, RESERVED_NETWORK_NAMES,
    SecretSpec, Spec, UpdatePolicy,
};
use crate::name::Name;
use crate::values::PortMapping;
use crate::yaml::PathStep::{Index, Key};

/// The origin of every declared object, valid or not, by identity.
pub(crate) type Declarations<'a> = HashMap<ObjectRef, &'a Origin>;

pub(crate) fn validate(
    objects: &[Object],
    invalid: &[Declared],
    for_host: bool,
    out: &mut Diagnostics,
) {
    let declared = check_duplicates(objects, invalid, for_host, out);
    let index: HashMap<ObjectRef, &Object> = objects.iter().map(|o| (o.object_ref(), o)).collect();
    for object in objects {
        check_labels(object, out);
        check_hosts(object, out);
        match &object.spec {
            Spec::Container(c) => {
                check_container(object, c, &index, &declared, out);
                check_container_values(object, c, out);
            }
            Spec::Secret(s) => check_secret(object, s, out),
            Spec::Network(n) => check_network(object, n, out),
            Spec::Volume(v) => {
                crate::backup_checks::check_volume(object, v, &index, &declared, out);
            }
            Spec::BackupRepository(r) => {
                crate::backup_checks::check_repository(object, r, &declared, out);
            }
            Spec::HostSettings(h) => crate::host_settings_checks::check(object, h, out),
            Spec::Image(_) => {}
        }
    }
    crate::host_settings_checks::check_one_per_host(objects, for_host, out);
    // Read for every host, objects meant for some hosts only may well clash with each other
    // (a variant per host): the checks across objects see only those for every host. Each
    // host's own revision (`--host`, `validate --hosts`, and every apply) checks them all.
    let for_every_host: Vec<Object>;
    let objects = if for_host || objects.iter().all(|o| o.metadata.hosts.is_none()) {
        objects
    } else {
        for_every_host = objects
            .iter()
            .filter(|o| o.metadata.hosts.is_none())
            .cloned()
            .collect();
        &for_every_host
    };
    check_host_ports(objects, out);
    crate::bluegreen_checks::check(objects, out);
    check_subnets(objects, out);
    check_cycles(objects, &index, out);
}

/// `(kind, name)` is unique across the directory; a duplicate names both places.
/// Read for every host (`!for_host`), two declarations that both have `metadata.hosts` are
/// variants of one object for different hosts, not duplicates: a host that gets both finds
/// them duplicated in its own revision.
fn check_duplicates<'a>(
    objects: &'a [Object],
    invalid: &'a [Declared],
    for_host: bool,
    out: &mut Diagnostics,
) -> Declarations<'a> {
    let mut all: Vec<(ObjectRef, &Origin, bool)> = objects
        .iter()
        .map(|o| (o.object_ref(), &o.origin, o.metadata.hosts.is_some()))
        .chain(invalid.iter().map(|d| (d.object.clone(), &d.origin, false)))
        .collect();
    // Report the later declaration (in file order) as the duplicate of the earlier one.
    all.sort_by(|a, b| (&a.1.file, a.1.mark()).cmp(&(&b.1.file, b.1.mark())));
    let mut declared: Declarations<'a> = HashMap::with_capacity(all.len());
    let mut variants: std::collections::HashSet<ObjectRef> = std::collections::HashSet::new();
    for (key, origin, has_hosts) in all {
        if !for_host && has_hosts && !variants.insert(key.clone()) && declared.contains_key(&key) {
            continue;
        }
        if let Some(first) = declared.get(&key) {
            let first_at = first.at(&[Key("metadata"), Key("name")]);
            out.push(
                Diagnostic::new(
                    origin.at(&[Key("metadata"), Key("name")]),
                    format!("duplicate {} `{}`: also defined at {first_at}", key.kind, key.name),
                )
                .with_hint("names are unique per kind across the whole manifest directory; rename or remove one"),
            );
        } else {
            declared.insert(key, origin);
        }
    }
    declared
}

/// `metadata.hosts` chooses some host: names, or a selector.
fn check_hosts(object: &Object, out: &mut Diagnostics) {
    if object.metadata.hosts.as_ref().is_some_and(|h| h.is_empty()) {
        out.push(
            Diagnostic::new(
                object.origin.at_key(&[Key("metadata")], "hosts"),
                "`metadata.hosts` names no host and has no selector: the object would be on no host",
            )
            .with_hint("give `names: [web-1]` or `selector: {role: web}`, or remove `hosts` for every host"),
        );
    }
}

fn check_labels(object: &Object, out: &mut Diagnostics) {
    let spec_labels = match &object.spec {
        Spec::Container(c) => Some(&c.labels),
        Spec::Volume(v) => Some(&v.labels),
        Spec::Network(n) => Some(&n.labels),
        Spec::Secret(_) | Spec::Image(_) | Spec::BackupRepository(_) | Spec::HostSettings(_) => {
            None
        }
    };
    for key in spec_labels.into_iter().flat_map(BTreeMap::keys) {
        let at = || object.origin.at_key(&[Key("spec"), Key("labels")], key);
        let problem = if let Some(prefix) = [RESERVED_LABEL_PREFIX, PODMAN_LABEL_PREFIX]
            .into_iter()
            .find(|p| key.starts_with(p))
        {
            Some((
                format!(
                    "label `{key}` uses the prefix `{prefix}` that podctl reserves: it sets these labels itself"
                ),
                "choose another label key; for podman auto-update use `update.policy`",
            ))
        } else if key.is_empty() {
            Some((
                "a label key is empty".to_string(),
                "give the label a name, e.g. `app.tier`",
            ))
        } else if key.contains('=') || key.contains(|c: char| c.is_whitespace() || c.is_control()) {
            // podman splits `--label=KEY=VALUE` at the first `=`: the label would change.
            Some((
                format!("label key {key:?} contains `=`, white space or a control character"),
                "use letters, digits, `.`, `-`, `_` and `/` in label keys, e.g. `app.tier`",
            ))
        } else {
            None
        };
        if let Some((message, hint)) = problem {
            out.push(Diagnostic::new(at(), message).with_hint(hint));
        }
    }
}

/// The smallest memory limit podman accepts (`--memory`, `--memory-reservation`): its
/// `linuxMinMemory`, 6 MiB; below it `podman run` fails and the unit never starts.
const PODMAN_MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// Values that parse but that podman or the kernel refuse at start.
fn check_container_values(object: &Object, c: &ContainerSpec, out: &mut Diagnostics) {
    let origin = &object.origin;
    check_monitoring(object, c, out);
    for (field, value) in [
        ("memoryMax", c.resources.memory_max),
        ("memoryReservation", c.resources.memory_reservation),
    ] {
        if let Some(size) = value
            && size.bytes() < PODMAN_MIN_MEMORY
        {
            out.push(
                Diagnostic::new(
                    origin.at(&[Key("spec"), Key("resources"), Key(field)]),
                    format!("{field} {size} is below podman's minimum of 6M"),
                )
                .with_hint("podman refuses memory limits under 6 MiB; write `6M` or more"),
            );
        }
    }
    if let Some(hc) = &c.health_check
        && hc.timeout.is_zero()
    {
        out.push(
            Diagnostic::new(
                origin.at(&[Key("spec"), Key("healthCheck"), Key("timeout")]),
                "the health check timeout must be more than 0s",
            )
            .with_hint("podman refuses a zero timeout; e.g. `5s`"),
        );
    }
    if let Some(user) = &c.user
        && let Err(why) = check_user(user)
    {
        out.push(
            Diagnostic::new(
                origin.at(&[Key("spec"), Key("user")]),
                format!("invalid user `{user}`: {why}"),
            )
            .with_hint(
                "write `UID`, `UID:GID` or a user name known in the image, e.g. \"1000:1000\"",
            ),
        );
    }
}

/// `USER[:GROUP]` as podman takes it: each part a name or an ID below 2^32-1 (the
/// kernel's "no ID", which `-1` would also mean).
fn check_user(user: &str) -> Result<(), String> {
    let (name, group) = match user.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (user, None),
    };
    for part in std::iter::once(name).chain(group) {
        if part.is_empty() {
            return Err("a part is empty".into());
        }
        if part.chars().all(|c| c.is_ascii_digit()) {
            if !part.parse::<u32>().is_ok_and(|id| id < u32::MAX) {
                return Err(format!("ID `{part}` is out of range (0 to 4294967294)"));
            }
        } else if part.starts_with('-')
            || !part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(format!(
                "`{part}` is neither a number nor a user or group name (letters, digits, `_`, `.`, `-`, not starting with `-`)"
            ));
        }
    }
    Ok(())
}

/// A path inside the container, and where the manifest mounts something there.
type MountTarget = (String, Vec<crate::yaml::PathStep<'static>>);

/// The checks of one Container that need the rest of the revision: references, mounts,
/// dependencies and the cross-field rules. One method per concern, each reporting into
/// `out`; none stops another.
struct ContainerChecks<'a, 'o> {
    object: &'a Object,
    spec: &'a ContainerSpec,
    index: &'a HashMap<ObjectRef, &'a Object>,
    declared: &'a Declarations<'a>,
    out: &'o mut Diagnostics,
}

/// Thresholds are percentages of a limit, and a threshold without that limit would never fire.
fn check_monitoring(object: &Object, c: &ContainerSpec, out: &mut Diagnostics) {
    let origin = &object.origin;
    for (field, value, limit, has_limit) in [
        (
            "memoryHighPercent",
            c.monitoring.memory_high_percent,
            "memoryMax",
            c.resources.memory_max.is_some(),
        ),
        (
            "cpuHighPercent",
            c.monitoring.cpu_high_percent,
            "cpuQuota",
            c.resources.cpu_quota.is_some(),
        ),
    ] {
        let Some(percent) = value else { continue };
        let at = origin.at(&[Key("spec"), Key("monitoring"), Key(field)]);
        if !(1..=100).contains(&percent) {
            out.push(
                Diagnostic::new(
                    at,
                    format!("{field} {percent} is not a percentage from 1 to 100"),
                )
                .with_hint("e.g. `80`: the alert fires above 80% of the limit"),
            );
        } else if !has_limit {
            out.push(
                Diagnostic::new(
                    at,
                    format!("{field} needs `resources.{limit}`: it is a share of that limit"),
                )
                .with_hint(format!("set `resources.{limit}`, or remove `{field}`")),
            );
        }
    }
}

fn check_container(
    object: &Object,
    c: &ContainerSpec,
    index: &HashMap<ObjectRef, &Object>,
    declared: &Declarations<'_>,
    out: &mut Diagnostics,
) {
    crate::unit_size::check_unit_size(object, c, out);
    let mut checks = ContainerChecks {
        object,
        spec: c,
        index,
        declared,
        out,
    };
    checks.image();
    checks.network();
    checks.mounts_and_secrets();
    checks.dependencies();
    checks.resources();
    checks.health_check();
    checks.restart_security_and_enablement();
}

impl ContainerChecks<'_, '_> {
    fn exists(&self, kind: Kind, name: &Name) -> bool {
        self.declared
            .contains_key(&ObjectRef::new(kind, name.clone()))
    }

    /// `kind/name` referenced at `path` but declared nowhere.
    fn missing(&self, kind: Kind, name: &Name, path: &[crate::yaml::PathStep<'_>]) -> Diagnostic {
        Diagnostic::new(
            self.object.origin.at(path),
            format!(
                "{} `{name}` is not defined in this revision",
                kind.lowercase()
            ),
        )
        .with_hint(format!(
            "add a `kind: {kind}` manifest named `{name}`, or fix the name{}",
            suggestion(self.declared, kind, name)
        ))
    }

    /// The image reference, and what `update` asks of it.
    fn image(&mut self) {
        let (c, origin) = (self.spec, &self.object.origin);
        let image_registry = match &c.image {
            ImageSource::Reference(r) => Some(r.registry().is_some()),
            ImageSource::Object(name) => {
                match self.index.get(&ObjectRef::new(Kind::Image, name.clone())) {
                    Some(image) => image.as_image().map(|i| i.reference.registry().is_some()),
                    None if self.exists(Kind::Image, name) => None,
                    None => {
                        self.out.push(self.missing(
                            Kind::Image,
                            name,
                            &[Key("spec"), Key("image"), Key("ref")],
                        ));
                        None
                    }
                }
            }
        };
        if c.update.policy == UpdatePolicy::Registry && image_registry == Some(false) {
            self.out.push(
                Diagnostic::new(
                    origin.at(&[Key("spec"), Key("update"), Key("policy")]),
                    "`update.policy: registry` needs a fully qualified image reference",
                )
                .with_hint("name the registry in the image, e.g. `docker.io/library/nginx:1.27`; podman auto-update cannot resolve short names"),
            );
        }
        if c.update.health_gate.is_some_and(|g| g.timeout.is_zero()) {
            self.out.push(
                Diagnostic::new(
                    origin.at(&[
                        Key("spec"),
                        Key("update"),
                        Key("healthGate"),
                        Key("timeout"),
                    ]),
                    "`update.healthGate.timeout` is zero: no new image could ever pass the gate",
                )
                .with_hint("give the new container time to start, e.g. `timeout: 2m`, or leave `timeout` out for the default"),
            );
        }
        if c.update.backup_before
            && let Some(d) = crate::backup_checks::backup_before_without_backup(
                origin,
                c,
                self.object.name(),
                self.index,
            )
        {
            self.out.push(d);
        }
    }

    /// The network named, if it is a Network object.
    fn network(&mut self) {
        let (c, origin) = (self.spec, &self.object.origin);
        if let Some(NetworkMode::Network(name)) = &c.network
            && !self.exists(Kind::Network, name)
        {
            let at = [Key("spec"), Key("network")];
            if RESERVED_NETWORK_NAMES.contains(&name.as_str()) {
                // podman's own modes are not Network objects and cannot be declared as one.
                self.out.push(
                    Diagnostic::new(
                        origin.at(&at),
                        format!("`network: {name}` is not supported"),
                    )
                    .with_hint("remove `network:` for podman's default bridge network, write `host` or `none`, or name a `kind: Network` manifest of your own"),
                );
            } else {
                self.out.push(self.missing(Kind::Network, name, &at));
            }
        }
    }

    /// Volumes and secrets: their references and shapes; mount targets (volumes and secret
    /// files) share one namespace inside the container.
    fn mounts_and_secrets(&mut self) {
        let mut mount_targets = self.volumes();
        self.secrets(&mut mount_targets);
        self.mounted_once(&mount_targets);
    }

    /// The volume mounts, and their targets.
    fn volumes(&mut self) -> Vec<MountTarget> {
        let (c, origin) = (self.spec, &self.object.origin);
        let mut mount_targets: Vec<MountTarget> = Vec::new();
        for (i, v) in c.volumes.iter().enumerate() {
            let here = [Key("spec"), Key("volumes"), Index(i)];
            match (&v.volume, &v.host_path) {
                (Some(name), None) => {
                    if !self.exists(Kind::Volume, name) {
                        self.out.push(self.missing(Kind::Volume, name, &[Key("spec"), Key("volumes"), Index(i), Key("volume")]));
                    }
                }
                (None, Some(_)) => {}
                (Some(_), Some(_)) => self.out.push(
                    Diagnostic::new(origin.at(&here), "a mount has both `volume` and `hostPath`")
                        .with_hint("keep one: `volume` names a Volume object, `hostPath` a host directory"),
                ),
                (None, None) => self.out.push(
                    Diagnostic::new(origin.at(&here), "a mount needs `volume` or `hostPath`")
                        .with_hint("e.g. `{volume: appdata, path: /data}` or `{hostPath: /srv/static, path: /static}`"),
                ),
            }
            mount_targets.push((
                v.path.as_str().to_string(),
                vec![Key("spec"), Key("volumes"), Index(i), Key("path")],
            ));
        }
        mount_targets
    }

    /// The secrets used: as files (more mount targets) or as variables (one namespace
    /// with `env`).
    fn secrets(&mut self, mount_targets: &mut Vec<MountTarget>) {
        let (c, origin) = (self.spec, &self.object.origin);
        let mut env_names: HashMap<&str, Vec<crate::yaml::PathStep<'_>>> = HashMap::new();
        for name in c.env.keys() {
            env_names.insert(name.as_str(), vec![Key("spec"), Key("env")]);
        }
        for (i, s) in c.secrets.iter().enumerate() {
            let here = [Key("spec"), Key("secrets"), Index(i)];
            if !self.exists(Kind::Secret, &s.secret) {
                self.out.push(self.missing(
                    Kind::Secret,
                    &s.secret,
                    &[Key("spec"), Key("secrets"), Index(i), Key("secret")],
                ));
            }
            match (&s.path, &s.env) {
                (Some(path), None) => {
                    mount_targets.push((
                        path.as_str().to_string(),
                        vec![Key("spec"), Key("secrets"), Index(i), Key("path")],
                    ));
                }
                (None, Some(env)) => {
                    if env_names.contains_key(env.as_str()) {
                        self.out.push(
                            Diagnostic::new(
                                origin.at(&[Key("spec"), Key("secrets"), Index(i), Key("env")]),
                                format!("environment variable `{env}` is set twice"),
                            )
                            .with_hint(
                                "a secret given as `env` must not also be in `env` or another secret",
                            ),
                        );
                    } else {
                        env_names.insert(env.as_str(), here.to_vec());
                    }
                }
                (Some(_), Some(_)) => self.out.push(
                    Diagnostic::new(origin.at(&here), "a secret has both `path` and `env`").with_hint(
                        "give each use of a secret its own entry: one with `path`, one with `env`",
                    ),
                ),
                (None, None) => self.out.push(
                    Diagnostic::new(
                        origin.at(&here),
                        "a secret needs `path` (a file) or `env` (a variable)",
                    )
                    .with_hint("e.g. `{secret: db-password, path: /run/secrets/db-password}`"),
                ),
            }
        }
    }

    /// No path in the container is mounted twice.
    fn mounted_once(&mut self, mount_targets: &[MountTarget]) {
        let origin = &self.object.origin;
        let mut first_use: HashMap<&str, usize> = HashMap::new();
        for (i, (target, path)) in mount_targets.iter().enumerate() {
            if let Some(&j) = first_use.get(target.as_str()) {
                let first = origin.at(&mount_targets[j].1);
                self.out.push(
                    Diagnostic::new(
                        origin.at(path),
                        format!("`{target}` is mounted twice (also at {first})"),
                    )
                    .with_hint("give each mount its own path in the container"),
                );
            } else {
                first_use.insert(target, i);
            }
        }
    }

    /// `condition: healthy` needs a dependency with a `healthCheck` to wait for.
    fn healthy_dependency(&mut self, dependency: &Dependency, here: &[crate::yaml::PathStep<'_>]) {
        if dependency.condition != DependencyCondition::Healthy {
            return;
        }
        let has_check = self
            .index
            .get(&ObjectRef::new(Kind::Container, dependency.name.clone()))
            .and_then(|o| o.as_container())
            .map(|c| c.health_check.is_some());
        if has_check == Some(false) {
            self.out.push(
                Diagnostic::new(
                    self.object.origin.at(here),
                    format!(
                        "`condition: healthy` waits for the health check of `{}`, which has none",
                        dependency.name
                    ),
                )
                .with_hint("add `spec.healthCheck` to that container, or use `condition: started`"),
            );
        }
    }

    /// `dependsOn`: declared containers, no self-dependency, no repeats.
    fn dependencies(&mut self) {
        let (object, c, origin) = (self.object, self.spec, &self.object.origin);
        let mut seen_deps: HashMap<&Name, usize> = HashMap::new();
        for (i, dependency) in c.depends_on.iter().enumerate() {
            let dep = &dependency.name;
            let here = [Key("spec"), Key("dependsOn"), Index(i)];
            self.healthy_dependency(dependency, &here);
            if dep == object.name() {
                self.out.push(
                    Diagnostic::new(
                        origin.at(&here),
                        format!(
                            "dependency cycle: {dep} -> {dep} (container `{dep}` depends on itself)"
                        ),
                    )
                    .with_hint("remove it from `dependsOn`"),
                );
            } else if !self.exists(Kind::Container, dep) {
                self.out.push(self.missing(Kind::Container, dep, &here));
            }
            if seen_deps.insert(dep, i).is_some() {
                self.out.push(
                    Diagnostic::new(
                        origin.at(&here),
                        format!("`{dep}` is listed twice in `dependsOn`"),
                    )
                    .with_hint("remove the repeat"),
                );
            }
        }
    }

    /// Resource limits that agree with each other and systemd's ranges.
    fn resources(&mut self) {
        let (c, origin) = (self.spec, &self.object.origin);
        if let (Some(max), Some(reservation)) =
            (c.resources.memory_max, c.resources.memory_reservation)
            && reservation > max
        {
            self.out.push(
                Diagnostic::new(
                    origin.at(&[Key("spec"), Key("resources"), Key("memoryReservation")]),
                    format!("memoryReservation ({reservation}) is larger than memoryMax ({max})"),
                )
                .with_hint(
                    "the reservation is a soft floor below the hard limit; lower it or raise memoryMax",
                ),
            );
        }
        if let Some(weight) = c.resources.cpu_weight
            && !(1..=10_000).contains(&weight)
        {
            self.out.push(
                Diagnostic::new(
                    origin.at(&[Key("spec"), Key("resources"), Key("cpuWeight")]),
                    format!("cpuWeight {weight} is out of range"),
                )
                .with_hint("systemd's CPUWeight= takes 1 to 10000 (100 is the default)"),
            );
        }
        if c.resources.tasks_max == Some(0) {
            self.out.push(
                Diagnostic::new(
                    origin.at(&[Key("spec"), Key("resources"), Key("tasksMax")]),
                    "tasksMax must be at least 1",
                )
                .with_hint("remove it for no limit"),
            );
        }
    }

    /// A health check that can ever pass or fail.
    fn health_check(&mut self) {
        let (c, origin) = (self.spec, &self.object.origin);
        if let Some(hc) = &c.health_check {
            if hc.command.is_empty() {
                self.out.push(
                    Diagnostic::new(
                        origin.at(&[Key("spec"), Key("healthCheck"), Key("command")]),
                        "the health check command is empty",
                    )
                    .with_hint(
                        "e.g. [\"/bin/sh\", \"-c\", \"wget -q -O- http://127.0.0.1:8080/health\"]",
                    ),
                );
            }
            if hc.retries == 0 {
                self.out.push(
                    Diagnostic::new(
                        origin.at(&[Key("spec"), Key("healthCheck"), Key("retries")]),
                        "retries must be at least 1",
                    )
                    .with_hint(
                        "the number of failed checks in a row before the container is unhealthy",
                    ),
                );
            }
            if hc.interval.is_zero() {
                self.out.push(
                    Diagnostic::new(
                        origin.at(&[Key("spec"), Key("healthCheck"), Key("interval")]),
                        "the health check interval must be more than 0s",
                    )
                    .with_hint("e.g. `30s`"),
                );
            }
        }
    }

    /// The restart burst, capabilities, systemd hardening and enablement.
    fn restart_security_and_enablement(&mut self) {
        let (c, origin) = (self.spec, &self.object.origin);
        if c.restart.burst == Some(0) {
            self.out.push(
                Diagnostic::new(
                    origin.at(&[Key("spec"), Key("restart"), Key("burst")]),
                    "restart.burst must be at least 1",
                )
                .with_hint("the number of starts allowed within restart.interval"),
            );
        }
        for cap in &c.security.cap_add {
            if c.security.cap_drop.contains(cap) && cap.as_str() != "ALL" {
                self.out.push(
                    Diagnostic::new(
                        origin.at(&[Key("spec"), Key("security"), Key("capAdd")]),
                        format!("capability `{cap}` is both added and dropped"),
                    )
                    .with_hint(
                        "drop `ALL` and add back what the service needs, or remove one of the entries",
                    ),
                );
            }
        }
        if let Some(hardening) = &c.security.systemd
            && hardening.namespaces_mounts()
            && NetworkMode::is_bridged(c.network.as_ref())
        {
            self.out.push(
                    Diagnostic::new(
                        origin.at_key(&[Key("spec"), Key("security")], "systemd"),
                        "`security.systemd` (protectSystem, protectHome, readWritePaths) only works with `network: host` or `network: none`",
                    )
                    .with_hint("with a bridge network these settings hide podman's network-namespace mounts, so health checks and `podman exec` fail; protect the workload with `security.readOnlyRootFilesystem`, `noNewPrivileges` and `capDrop` instead, or use `network: host` or `network: none`"),
                );
        }
        if c.wanted_by.is_empty() && c.enabled {
            self.out.push(
                Diagnostic::new(
                    origin.at(&[Key("spec"), Key("wantedBy")]),
                    "an enabled container needs at least one `wantedBy` target",
                )
                .with_hint("e.g. `wantedBy: [multi-user.target]`, or set `enabled: false`"),
            );
        }
    }
}

fn check_secret(object: &Object, s: &SecretSpec, out: &mut Diagnostics) {
    let at = object.origin.at(&[Key("spec"), Key("source")]);
    match (&s.source.file, &s.source.env) {
        (Some(_), None) | (None, Some(_)) => {}
        (None, None) => out.push(
            Diagnostic::new(at, "a secret needs a source: `file` or `env`")
                .with_hint("e.g. `source: {file: /etc/podctl/secrets/db-password}`"),
        ),
        (Some(_), Some(_)) => out.push(
            Diagnostic::new(at, "a secret has two sources, `file` and `env`")
                .with_hint("keep exactly one of them"),
        ),
    }
}

fn check_network(object: &Object, n: &NetworkSpec, out: &mut Diagnostics) {
    if RESERVED_NETWORK_NAMES.contains(&object.name().as_str()) {
        out.push(
            Diagnostic::new(
                object.origin.at(&[Key("metadata"), Key("name")]),
                format!("`{}` is a reserved network name", object.name()),
            )
            .with_hint("podman and `spec.network` give it another meaning; choose another name"),
        );
    }
    if let Some(gateway) = n.gateway {
        match n.subnet {
            None => out.push(
                Diagnostic::new(
                    object.origin.at(&[Key("spec"), Key("gateway")]),
                    "a gateway needs a `subnet`",
                )
                .with_hint("add `subnet:` containing the gateway, e.g. `10.89.10.0/24`"),
            ),
            Some(subnet) if !subnet.contains(gateway.0) => out.push(
                Diagnostic::new(
                    object.origin.at(&[Key("spec"), Key("gateway")]),
                    format!("gateway {gateway} is outside subnet {subnet}"),
                )
                .with_hint("pick an address inside the subnet, usually its first one"),
            ),
            Some(_) => {}
        }
    }
}

/// Two containers cannot publish the same host port (same address and protocol).
/// podman refuses a network whose subnet overlaps another's: found here, not at apply.
fn check_subnets(objects: &[Object], out: &mut Diagnostics) {
    let mut seen: Vec<(&Object, crate::values::Subnet)> = Vec::new();
    for object in objects {
        let Some(subnet) = object.as_network().and_then(|n| n.subnet) else {
            continue;
        };
        let overlap = seen
            .iter()
            .find(|(_, s)| s.contains(subnet.address) || subnet.contains(s.address));
        if let Some((other, s)) = overlap {
            let first = other.origin.at(&[Key("spec"), Key("subnet")]);
            out.push(
                Diagnostic::new(
                    object.origin.at(&[Key("spec"), Key("subnet")]),
                    format!(
                        "subnet {subnet} overlaps {s} of network `{}` at {first}",
                        other.name()
                    ),
                )
                .with_hint("give each network its own address range"),
            );
        } else {
            seen.push((object, subnet));
        }
    }
}

fn check_host_ports(objects: &[Object], out: &mut Diagnostics) {
    let mut taken: HashMap<
        (Option<std::net::IpAddr>, u16, crate::values::Protocol),
        (&Object, usize),
    > = HashMap::new();
    for object in objects {
        let Some(c) = object.as_container() else {
            continue;
        };
        for (i, port) in c.ports.iter().enumerate() {
            let PortMapping {
                host_ip,
                host_port,
                protocol,
                ..
            } = *port;
            // A wildcard bind clashes with any address on the same port.
            let clash = taken
                .iter()
                .find(|((ip, p, proto), _)| {
                    *p == host_port
                        && *proto == protocol
                        && (ip.is_none() || host_ip.is_none() || *ip == host_ip)
                })
                .map(|(_, v)| *v);
            if let Some((other, j)) = clash {
                let first = other.origin.at(&[Key("spec"), Key("ports"), Index(j)]);
                out.push(
                    Diagnostic::new(
                        object.origin.at(&[Key("spec"), Key("ports"), Index(i)]),
                        format!("host port {host_port}/{protocol} is already published by container `{}` at {first}", other.name()),
                    )
                    .with_hint("choose another host port"),
                );
            } else {
                taken.insert((host_ip, host_port, protocol), (object, i));
            }
        }
    }
}

fn check_cycles(objects: &[Object], index: &HashMap<ObjectRef, &Object>, out: &mut Diagnostics) {
    let edges: Vec<(ObjectRef, ObjectRef)> = objects
        .iter()
        .flat_map(|o| {
            let from = o.object_ref();
            o.dependencies()
                .into_iter()
                .filter(|d| index.contains_key(d) && *d != from)
                .map(|d| (from.clone(), d))
                .collect::<Vec<_>>()
        })
        .collect();
    for cycle in find_cycles(&edges) {
        let shown: Vec<&str> = cycle.iter().map(|r| r.name.as_str()).collect();
        let first = &cycle[0];
        let second = &cycle[1];
        let Some(object) = index.get(first) else {
            continue;
        };
        let position = object
            .as_container()
            .and_then(|c| c.depends_on.iter().position(|d| d.name == second.name))
            .unwrap_or(0);
        out.push(
            Diagnostic::new(
                object.origin.at(&[Key("spec"), Key("dependsOn"), Index(position)]),
                format!("dependency cycle: {}", shown.join(" -> ")),
            )
            .with_hint("containers cannot wait for each other in a circle; remove one of these `dependsOn` entries"),
        );
    }
}

/// ", did you mean `x`?" when a defined object of that kind has a close name.
pub(crate) fn suggestion(index: &Declarations<'_>, kind: Kind, name: &Name) -> String {
    let names: Vec<&str> = index
        .keys()
        .filter(|r| r.kind == kind)
        .map(|r| r.name.as_str())
        .collect();
    match crate::diagnostic::closest(name.as_str(), names) {
        Some(best) => format!(" (did you mean `{best}`?)"),
        None => String::new(),
    }
}
