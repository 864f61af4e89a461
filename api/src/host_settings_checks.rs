//! Checks of `HostSettings`: sysctl names and values that go into a sysctl.d line as they
//! are, a journald block that sets something, and one HostSettings per host (they share
//! podctl's one sysctl.d file and one journald drop-in).

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::kinds::{HostSettingsSpec, Kind, Object};
use crate::yaml::PathStep::Key;

pub(crate) fn check(object: &Object, h: &HostSettingsSpec, out: &mut Diagnostics) {
    if h.sysctl.is_empty() && h.journald.is_none() {
        out.push(
            Diagnostic::new(
                object.origin.at(&[Key("spec")]),
                "this HostSettings sets nothing",
            )
            .with_hint(
                "give `sysctl: {net.core.somaxconn: \"4096\"}` or `journald: {maxRetention: 7d}`",
            ),
        );
    }
    if h.journald.is_some_and(|j| j.is_empty()) {
        out.push(
            Diagnostic::new(
                object.origin.at_key(&[Key("spec")], "journald"),
                "`journald` sets nothing",
            )
            .with_hint("give `systemMaxUse: 1G`, `systemKeepFree: 1G` or `maxRetention: 7d`, or remove `journald`"),
        );
    }
    for (key, value) in &h.sysctl {
        let at = || object.origin.at_key(&[Key("spec"), Key("sysctl")], key);
        if !valid_key(key) {
            out.push(
                Diagnostic::new(at(), format!("`{key}` is not a sysctl name"))
                    .with_hint("dotted lowercase words as `sysctl -a` lists them, e.g. `net.core.somaxconn` or `vm.swappiness`"),
            );
        }
        if value.trim().is_empty() || value.chars().any(char::is_control) {
            out.push(
                Diagnostic::new(
                    object.origin.at(&[Key("spec"), Key("sysctl"), Key(key)]),
                    format!("the value of `{key}` must be text on one line"),
                )
                .with_hint("quote it, e.g. `\"4096\"` or `\"4096 87380 6291456\"`"),
            );
        }
    }
}

/// `net.core.somaxconn`, `net.ipv4.conf.eth0/10.rp_filter`: words of letters, digits, `_`
/// and `-` (and `/` for a dot inside an interface name), at least two, joined by dots.
fn valid_key(key: &str) -> bool {
    let words: Vec<&str> = key.split('.').collect();
    words.len() >= 2
        && words.iter().all(|w| {
            !w.is_empty()
                && !w.starts_with('/')
                && !w.ends_with('/')
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/'))
        })
}

/// One HostSettings per host. In a host's revision (`for_host`) every one counts; read for
/// every host, only those without `metadata.hosts` (each host gets them all).
pub(crate) fn check_one_per_host(objects: &[Object], for_host: bool, out: &mut Diagnostics) {
    let mut first: Option<&Object> = None;
    for object in objects
        .iter()
        .filter(|o| o.kind == Kind::HostSettings && (for_host || o.metadata.hosts.is_none()))
    {
        match first {
            None => first = Some(object),
            Some(f) => out.push(
                Diagnostic::new(
                    object.origin.at(&[Key("metadata"), Key("name")]),
                    format!(
                        "a second HostSettings for the same host: `{}` is already at {}",
                        f.name(),
                        f.origin.at(&[Key("metadata"), Key("name")])
                    ),
                )
                .with_hint(
                    "merge them into one, or give each `metadata.hosts` for different hosts",
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_key;

    #[test]
    fn sysctl_names_should_be_dotted_words() {
        for good in [
            "net.core.somaxconn",
            "vm.swappiness",
            "net.ipv4.conf.eth0/10.rp_filter",
        ] {
            assert!(valid_key(good), "{good}");
        }
        for bad in [
            "somaxconn",
            "net..core",
            ".net.core",
            "net.core.",
            "net.core.x y",
            "net/core",
            "net.core=1",
        ] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
