//! Diagnostics of `update.strategy: blue-green`: a health check, one published TCP port in
//! range, a network with ports, and names and ports nothing else takes, each reported at
//! FILE:LINE:COL with a fix.

mod common;

use common::Fixture;

const GOOD: &str = "apiVersion: podctl.io/v1
kind: Container
metadata: {name: web}
spec:
  image: localhost/web:v1
  ports: ['8080:8080']
  healthCheck: {command: [wget, -q, -O-, 'http://127.0.0.1:8080/health'], interval: 1s}
  update: {strategy: blue-green}
";

#[test]
fn a_blue_green_container_with_a_port_and_a_health_check_should_load() {
    Fixture::new(&[("web.yaml", GOOD)]).revision();
}

#[test]
fn blue_green_without_a_health_check_or_a_port_should_be_reported_at_the_strategy() {
    let text = GOOD.replace("  ports: ['8080:8080']\n", "").replace(
        "  healthCheck: {command: [wget, -q, -O-, 'http://127.0.0.1:8080/health'], interval: 1s}\n",
        "",
    );
    let fx = Fixture::new(&[("web.yaml", &text)]);
    let errors = fx.errors();
    assert!(
        errors
            .iter()
            .any(|e| e
                .starts_with("web.yaml:6:22: `update.strategy: blue-green` needs a health check")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e
            .starts_with("web.yaml:6:22: `update.strategy: blue-green` needs a published port")),
        "{errors:#?}"
    );
    assert!(
        fx.report().contains("hint: add `spec.ports"),
        "{}",
        fx.report()
    );
}

#[test]
fn blue_green_with_two_ports_a_udp_port_or_one_too_high_should_be_reported_at_the_port() {
    let two = GOOD.replace("['8080:8080']", "['8080:8080', '8081:8081']");
    let udp = GOOD.replace("['8080:8080']", "['8080:8080/udp']");
    let high = GOOD.replace("['8080:8080']", "['50000:8080']");
    let hostnet = GOOD.replace("  update:", "  network: host\n  update:");
    let fx = Fixture::new(&[
        ("a.yaml", &two),
        ("b.yaml", &udp.replace("web", "b")),
        ("c.yaml", &high.replace("name: web", "name: c")),
        (
            "d.yaml",
            &hostnet
                .replace("name: web", "name: d")
                .replace("8080:8080", "9090:8080"),
        ),
    ]);
    let errors = fx.errors();
    let has = |prefix: &str| errors.iter().any(|e| e.starts_with(prefix));
    assert!(
        has("a.yaml:6:24: `update.strategy: blue-green` proxies one port"),
        "{errors:#?}"
    );
    assert!(
        has("b.yaml:6:11: `update.strategy: blue-green` proxies HTTP over TCP, not udp"),
        "{errors:#?}"
    );
    assert!(
        has("c.yaml:6:11: host port 50000 is above 45535"),
        "{errors:#?}"
    );
    assert!(
        has(
            "d.yaml:8:12: `update.strategy: blue-green` needs the container's own network namespace"
        ),
        "{errors:#?}"
    );
}

#[test]
fn blue_green_names_internal_ports_and_dependents_should_not_clash() {
    let other = "apiVersion: podctl.io/v1
kind: Container
metadata: {name: web-green}
spec:
  image: localhost/web:v1
  ports: ['127.0.0.1:18080:80']
  dependsOn: [web]
";
    let fx = Fixture::new(&[("web.yaml", GOOD), ("other.yaml", other)]);
    let errors = fx.errors();
    let has = |prefix: &str| errors.iter().any(|e| e.starts_with(prefix));
    assert!(
        has(
            "web.yaml:3:18: blue-green container `web` runs as `web-green.service`, the unit of the container declared at other.yaml:3:18"
        ),
        "{errors:#?}"
    );
    assert!(
        has(
            "web.yaml:6:11: the blue instance listens on 127.0.0.1:18080 (host port + 10000), which other.yaml:6:11 publishes"
        ),
        "{errors:#?}"
    );
    assert!(
        has("other.yaml:7:15: `web` is rolled out blue-green: it has no single unit to depend on"),
        "{errors:#?}"
    );
}
