//! Checks of `update.strategy: blue-green`: what the proxy and the two colour instances
//! need (one published TCP port, a health check, a network namespace with ports) and the
//! names and ports they take on the host (`NAME-proxy`, `NAME-blue`, `NAME-green`, the host
//! port + 10000 and + 20000 on 127.0.0.1), which nothing else may take.

use std::collections::HashMap;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::kinds::{ContainerSpec, Kind, NetworkMode, Object, ObjectRef, UpdateStrategy};
use crate::values::Protocol;
use crate::yaml::PathStep::{Index, Key};

/// The offset of the blue instance's internal port from the published one.
pub const BLUE_PORT_OFFSET: u16 = 10_000;
/// The offset of the green instance's internal port from the published one.
pub const GREEN_PORT_OFFSET: u16 = 20_000;
/// The highest published port whose green port still fits in 16 bits.
pub const MAX_PUBLISHED_PORT: u16 = u16::MAX - GREEN_PORT_OFFSET;
/// The suffixes of the units (and containers) a blue-green container runs as.
pub const UNIT_SUFFIXES: [&str; 3] = ["proxy", "blue", "green"];

/// Whether a container is rolled out blue-green.
pub fn is_blue_green(spec: &ContainerSpec) -> bool {
    spec.update.strategy == UpdateStrategy::BlueGreen
}

/// Every check of blue-green containers in the revision.
pub(crate) fn check(objects: &[Object], out: &mut Diagnostics) {
    let index: HashMap<ObjectRef, &Object> = objects.iter().map(|o| (o.object_ref(), o)).collect();
    for object in objects {
        let Some(c) = object.as_container() else {
            continue;
        };
        check_dependencies(object, c, &index, out);
        if !is_blue_green(c) {
            continue;
        }
        check_needs(object, c, out);
        check_names(object, &index, out);
        check_internal_ports(object, c, objects, out);
    }
}

fn strategy_at(object: &Object) -> crate::Location {
    object
        .origin
        .at(&[Key("spec"), Key("update"), Key("strategy")])
}

/// A health check, exactly one TCP port, and a network where ports mean something.
fn check_needs(object: &Object, c: &ContainerSpec, out: &mut Diagnostics) {
    if c.health_check.is_none() {
        out.push(
            Diagnostic::new(
                strategy_at(object),
                "`update.strategy: blue-green` needs a health check: the new instance takes traffic only once it reports healthy",
            )
            .with_hint("add `spec.healthCheck: {command: [...]}`, e.g. `[wget, -q, -O-, http://127.0.0.1:8080/health]`"),
        );
    }
    match c.ports.as_slice() {
        [] => out.push(
            Diagnostic::new(
                strategy_at(object),
                "`update.strategy: blue-green` needs a published port: the proxy listens on it",
            )
            .with_hint("add `spec.ports: [\"HOST:CONTAINER\"]`, e.g. `8080:8080`, or use `strategy: recreate`"),
        ),
        [port] => check_port(object, *port, out),
        [_, rest @ ..] => out.push(
            Diagnostic::new(
                object.origin.at(&[Key("spec"), Key("ports"), Index(rest.len())]),
                format!("`update.strategy: blue-green` proxies one port; this container publishes {}", c.ports.len()),
            )
            .with_hint("publish one TCP port, or use `strategy: recreate`"),
        ),
    }
    if !NetworkMode::is_bridged(c.network.as_ref()) {
        out.push(
            Diagnostic::new(
                object.origin.at(&[Key("spec"), Key("network")]),
                "`update.strategy: blue-green` needs the container's own network namespace: both instances publish their port on 127.0.0.1",
            )
            .with_hint("remove `network: host`/`none`, or name a Network object"),
        );
    }
}

fn check_port(object: &Object, port: crate::values::PortMapping, out: &mut Diagnostics) {
    let at = || object.origin.at(&[Key("spec"), Key("ports"), Index(0)]);
    if port.protocol != Protocol::Tcp {
        out.push(
            Diagnostic::new(
                at(),
                format!(
                    "`update.strategy: blue-green` proxies HTTP over TCP, not {}",
                    port.protocol
                ),
            )
            .with_hint("publish a TCP port, or use `strategy: recreate`"),
        );
    }
    if port.host_port > MAX_PUBLISHED_PORT {
        out.push(
            Diagnostic::new(
                at(),
                format!(
                    "host port {} is above {MAX_PUBLISHED_PORT}: the green instance listens on the host port + {GREEN_PORT_OFFSET}",
                    port.host_port
                ),
            )
            .with_hint(format!("publish a host port of {MAX_PUBLISHED_PORT} or less")),
        );
    }
}

/// `NAME-proxy`, `NAME-blue` and `NAME-green` are the units this container runs as.
fn check_names(object: &Object, index: &HashMap<ObjectRef, &Object>, out: &mut Diagnostics) {
    for suffix in UNIT_SUFFIXES {
        let Ok(taken) = format!("{}-{suffix}", object.name()).parse() else {
            continue;
        };
        if let Some(other) = index.get(&ObjectRef::new(Kind::Container, taken)) {
            let other_at = other.origin.at(&[Key("metadata"), Key("name")]);
            out.push(
                Diagnostic::new(
                    object.origin.at(&[Key("metadata"), Key("name")]),
                    format!(
                        "blue-green container `{}` runs as `{}-{suffix}.service`, the unit of the container declared at {other_at}",
                        object.name(),
                        object.name()
                    ),
                )
                .with_hint("rename one of the two containers"),
            );
        }
    }
}

/// The colours' ports on 127.0.0.1 must be free of other containers' published ports.
fn check_internal_ports(
    object: &Object,
    c: &ContainerSpec,
    objects: &[Object],
    out: &mut Diagnostics,
) {
    let Some(published) = c
        .ports
        .first()
        .filter(|p| p.host_port <= MAX_PUBLISHED_PORT)
    else {
        return;
    };
    for (colour, offset) in [("blue", BLUE_PORT_OFFSET), ("green", GREEN_PORT_OFFSET)] {
        let internal = published.host_port + offset;
        let clash = objects
            .iter()
            .filter_map(|o| Some((o, o.as_container()?)))
            .find_map(|(o, oc)| {
                let i = oc.ports.iter().position(|p| {
                    p.host_port == internal
                        && p.protocol == Protocol::Tcp
                        && p.host_ip.is_none_or(|ip| ip.is_loopback())
                })?;
                Some(o.origin.at(&[Key("spec"), Key("ports"), Index(i)]))
            });
        if let Some(other_at) = clash {
            out.push(
                Diagnostic::new(
                    object.origin.at(&[Key("spec"), Key("ports"), Index(0)]),
                    format!("the {colour} instance listens on 127.0.0.1:{internal} (host port + {offset}), which {other_at} publishes"),
                )
                .with_hint("choose another host port for one of the two"),
            );
        }
    }
}

/// A blue-green container has no `NAME.service` that a dependent could `Requires=`.
fn check_dependencies(
    object: &Object,
    c: &ContainerSpec,
    index: &HashMap<ObjectRef, &Object>,
    out: &mut Diagnostics,
) {
    for (i, dependency) in c.depends_on.iter().enumerate() {
        let target = index
            .get(&ObjectRef::new(Kind::Container, dependency.name.clone()))
            .and_then(|o| o.as_container());
        if target.is_some_and(is_blue_green) {
            out.push(
                Diagnostic::new(
                    object.origin.at(&[Key("spec"), Key("dependsOn"), Index(i)]),
                    format!(
                        "`{}` is rolled out blue-green: it has no single unit to depend on",
                        dependency.name
                    ),
                )
                .with_hint(format!(
                    "reach it through its published port instead, or give `{}` `strategy: recreate`",
                    dependency.name
                )),
            );
        }
    }
}
