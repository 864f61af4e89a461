//! Diagnostics of `HostSettings`: sysctl names and values, an empty block, one per host.

mod common;

use common::Fixture;

const GOOD: &str = "apiVersion: podctl.io/v1
kind: HostSettings
metadata: {name: base}
spec:
  sysctl: {net.core.somaxconn: '4096', vm.swappiness: '10'}
  journald: {systemMaxUse: 1G, systemKeepFree: 1G, maxRetention: 7d}
";

#[test]
fn host_settings_should_load() {
    let fx = Fixture::new(&[("h.yaml", GOOD)]);
    let revision = fx.revision();
    assert_eq!(revision.len(), 1);
}

#[test]
fn bad_names_values_and_empty_blocks_should_be_reported_at_their_place() {
    let text = GOOD
        .replace("net.core.somaxconn: '4096'", "somaxconn: '4096'")
        .replace("vm.swappiness: '10'", "vm.swappiness: ' '")
        .replace(
            "{systemMaxUse: 1G, systemKeepFree: 1G, maxRetention: 7d}",
            "{}",
        );
    let fx = Fixture::new(&[("h.yaml", &text)]);
    assert_eq!(
        fx.errors(),
        [
            "h.yaml:5:12: `somaxconn` is not a sysctl name",
            "h.yaml:5:46: the value of `vm.swappiness` must be text on one line",
            "h.yaml:6:3: `journald` sets nothing",
        ]
    );
}

#[test]
fn two_host_settings_for_every_host_should_be_an_error() {
    let second = GOOD.replace("name: base", "name: extra");
    let fx = Fixture::new(&[("a.yaml", GOOD), ("b.yaml", &second)]);
    let errors = fx.errors();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("b.yaml:3:18: a second HostSettings for the same host: `base`")),
        "{errors:?}"
    );
    // For different hosts, they do not meet.
    let web = second.replace(
        "metadata: {name: extra}",
        "metadata: {name: extra, hosts: {names: [web-1]}}",
    );
    let fx = Fixture::new(&[
        (
            "a.yaml",
            &GOOD.replace(
                "metadata: {name: base}",
                "metadata: {name: base, hosts: {names: [db-1]}}",
            ),
        ),
        ("b.yaml", &web),
    ]);
    assert!(fx.load().is_ok());
}
