//! The units of a blue-green container: one per colour (the container's own unit, renamed
//! `NAME-blue`/`NAME-green`, its port published on 127.0.0.1 at the colour's port), and
//! `NAME-proxy.service`: HAProxy in the foreground on the published port, its configuration
//! in the unit itself (`StandardInputText=`, read as `-f /dev/stdin`), so that the one file
//! podctl owns, diffs and prunes is the whole proxy. The colour the proxy starts with is in
//! that configuration; a switch changes it at run time through HAProxy's admin socket.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use podctl_api::values::{ImageReference, PortMapping};
use podctl_api::{ContainerSpec, Name};
use sha2::{Digest, Sha256};

use super::container::{UnitFile, unit_of};
use super::{HASH_KEY, MANAGED_MARKER, RenderContext};
use crate::bluegreen::{Colour, instance_name, proxy_unit};

/// Where Debian's haproxy package installs it.
pub const HAPROXY: &str = "/usr/sbin/haproxy";
/// The HAProxy backend that holds the two colours as servers `blue` and `green`.
pub const BACKEND: &str = "app";

/// The admin socket of `container`'s proxy (its unit's `RuntimeDirectory=`).
pub fn admin_socket(container: &str) -> PathBuf {
    PathBuf::from(format!("/run/{}/admin.sock", runtime_dir(container)))
}

fn runtime_dir(container: &str) -> String {
    format!("podctl-{container}-proxy")
}

/// The published port a blue-green container's proxy listens on (validation makes it one).
pub fn published_port(spec: &ContainerSpec) -> Option<PortMapping> {
    spec.ports.first().copied()
}

/// The unit of `colour`: the container's, named `NAME-COLOUR`, its port on 127.0.0.1 at
/// the colour's port.
pub fn colour_unit(
    name: &Name,
    spec: &ContainerSpec,
    image: &ImageReference,
    pinned: Option<&str>,
    colour: Colour,
    ctx: &RenderContext,
) -> Option<UnitFile> {
    let instance: Name = instance_name(name.as_str(), colour).parse().ok()?;
    let mut spec = spec.clone();
    spec.ports = published_port(&spec)
        .map(|p| PortMapping {
            host_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            host_port: colour.port(p.host_port),
            ..p
        })
        .into_iter()
        .collect();
    Some(unit_of(&instance, &spec, image, pinned, ctx))
}

/// The proxy's unit, sending new connections to `active`. Its hash leaves the colour out:
/// a unit that differs only in it is rewritten without a restart (a switch already moved
/// the traffic at run time).
pub fn proxy(name: &Name, spec: &ContainerSpec, active: Colour) -> Option<UnitFile> {
    let port = published_port(spec)?;
    let hash = short_hash(&config(name, port, None));
    let mut u = String::with_capacity(2048);
    let mut line = |s: &str| {
        u.push_str(s);
        u.push('\n');
    };
    line(MANAGED_MARKER);
    line("[Unit]");
    line(&format!(
        "Description=podctl blue-green proxy of {name} (port {})",
        port.host_port
    ));
    line(&format!("{HASH_KEY}={hash}"));
    line("Wants=network-online.target");
    line("After=network-online.target");
    line("");
    service_section(&mut line, name, &config(name, port, Some(active)));
    line("");
    line("[Install]");
    if !spec.wanted_by.is_empty() {
        let targets: Vec<&str> = spec.wanted_by.iter().map(|u| u.as_str()).collect();
        line(&format!("WantedBy={}", targets.join(" ")));
    }
    Some(UnitFile {
        name: proxy_unit(name.as_str()),
        template: u.clone(),
        content: u,
        hash,
    })
}

fn service_section(line: &mut impl FnMut(&str), name: &Name, config: &str) {
    line("[Service]");
    // `exec`: the unit is active once haproxy runs; it parses its configuration first and
    // exits non-zero on an error, which fails the start job.
    line("Type=exec");
    line(&format!("ExecStart={HAPROXY} -db -f /dev/stdin"));
    line("StandardInput=data");
    for l in config.lines() {
        line(&format!("StandardInputText={l}"));
    }
    line("StandardOutput=journal");
    line(&format!("RuntimeDirectory={}", runtime_dir(name.as_str())));
    line("RuntimeDirectoryMode=0700");
    line("Restart=always");
    line("RestartSec=1s");
    line("NoNewPrivileges=yes");
    line("ProtectSystem=strict");
    line("ProtectHome=yes");
    line("PrivateTmp=yes");
}

/// HAProxy's configuration; `active: None` for the hash (the colour left out).
fn config(name: &Name, port: PortMapping, active: Option<Colour>) -> String {
    let bind = match port.host_ip {
        None => format!(":{}", port.host_port),
        Some(IpAddr::V4(ip)) => format!("{ip}:{}", port.host_port),
        Some(IpAddr::V6(ip)) => format!("ipv6@{ip}:{}", port.host_port),
    };
    let mut c = String::new();
    let socket = admin_socket(name.as_str());
    let _ = writeln!(c, "global");
    let _ = writeln!(c, "stats socket {} mode 600 level admin", socket.display());
    let _ = writeln!(c, "defaults");
    let _ = writeln!(c, "mode http");
    // A request that finds its server gone between the switch and the stop is sent again,
    // to the other colour: that is what keeps a switch free of failed requests.
    let _ = writeln!(c, "option redispatch");
    let _ = writeln!(c, "retries 3");
    let _ = writeln!(c, "retry-on conn-failure empty-response response-timeout");
    let _ = writeln!(c, "timeout connect 2s");
    let _ = writeln!(c, "timeout client 60s");
    let _ = writeln!(c, "timeout server 60s");
    let _ = writeln!(c, "timeout http-request 10s");
    let _ = writeln!(c, "frontend {name}");
    let _ = writeln!(c, "bind {bind}");
    let _ = writeln!(c, "default_backend {BACKEND}");
    let _ = writeln!(c, "backend {BACKEND}");
    for colour in Colour::ALL {
        let state = match active {
            Some(a) if a != colour => " disabled",
            _ => "",
        };
        let _ = writeln!(
            c,
            "server {colour} 127.0.0.1:{}{state}",
            colour.port(port.host_port)
        );
    }
    c
}

fn short_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(10)
        .fold(String::with_capacity(20), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        let yaml = "image: localhost/web:v1\nports: ['8080:8080']\nhealthCheck: {command: [true]}\nupdate: {strategy: blue-green}\n";
        serde_norway::from_str(yaml).expect("spec")
    }

    #[test]
    fn proxy_unit_should_send_to_the_active_colour_and_hash_without_it() {
        let name: Name = "web".parse().unwrap();
        let blue = proxy(&name, &spec(), Colour::Blue).unwrap();
        let green = proxy(&name, &spec(), Colour::Green).unwrap();
        assert_eq!(blue.name, "web-proxy.service");
        assert!(
            blue.content
                .contains("StandardInputText=server blue 127.0.0.1:18080\n")
        );
        assert!(
            blue.content
                .contains("StandardInputText=server green 127.0.0.1:28080 disabled\n")
        );
        assert!(
            green
                .content
                .contains("StandardInputText=server blue 127.0.0.1:18080 disabled\n")
        );
        assert!(blue.content.contains("StandardInputText=bind :8080\n"));
        assert_eq!(blue.hash, green.hash);
        assert_ne!(blue.content, green.content);
    }

    #[test]
    fn colour_unit_should_publish_on_loopback_at_the_colour_port() {
        let name: Name = "web".parse().unwrap();
        let image: ImageReference = "localhost/web:v1".parse().unwrap();
        let ctx = RenderContext::default();
        let unit = colour_unit(&name, &spec(), &image, Some("abc"), Colour::Green, &ctx).unwrap();
        assert_eq!(unit.name, "web-green.service");
        assert!(
            unit.content.contains("--publish=127.0.0.1:28080:8080"),
            "{}",
            unit.content
        );
        assert!(unit.content.contains("--name=web-green"));
        assert!(unit.content.contains("\tabc"), "{}", unit.content);
    }
}
