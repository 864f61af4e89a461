//! Unit tests of the Compose import's own rules (the corpus in `tests/compose_import.rs`
//! covers whole stacks).

use std::path::Path;
use std::sync::Arc;

use super::{ComposeSource, Imported, import};
use crate::migrate::Severity;
use crate::migrate::interpolate::Variables;

fn run(text: &str) -> Imported {
    import(&ComposeSource {
        path: Arc::from(Path::new("c.yaml")),
        base_dir: Path::new("/srv/app"),
        text,
        vars: &Variables::new(),
        project: None,
    })
}

fn shown(i: &Imported) -> Vec<String> {
    i.report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::NotMapped)
        .map(ToString::to_string)
        .collect()
}

#[test]
fn merge_keys_should_merge_and_let_own_keys_win() {
    let i = run(
        "x-base: &base\n  image: alpine:3\n  restart: always\n  user: \"1\"\nservices:\n  a:\n    <<: *base\n    user: \"2\"\n",
    );
    assert!(i.report.errors.is_empty(), "{:?}", i.report.errors);
    let c = i
        .manifests
        .iter()
        .find_map(|m| m.as_container())
        .expect("container");
    assert_eq!(c.user.as_deref(), Some("2"));
    assert_eq!(c.restart.policy, podctl_api::RestartPolicy::Always);
}

#[test]
fn two_services_with_one_podctl_name_should_be_an_error() {
    let i = run("services:\n  web_1:\n    image: alpine\n  web-1:\n    image: alpine\n");
    assert_eq!(i.report.errors.len(), 1, "{:?}", i.report.errors);
    assert!(
        i.report.errors[0]
            .to_string()
            .starts_with("c.yaml:4:3: two services are both named `web-1`"),
        "{}",
        i.report.errors[0]
    );
}

#[test]
fn findings_should_name_file_line_column_key_and_reason() {
    let i = run("services:\n  a:\n    image: alpine\n    privileged: true\n");
    assert_eq!(
        shown(&i),
        [
            "c.yaml:4:5: warning: not mapped: `services.a.privileged`: podctl runs no privileged containers; add the capabilities needed with `cap_add`"
        ]
    );
}

#[test]
fn a_healthy_condition_on_a_service_without_a_healthcheck_should_be_reported_and_kept_started() {
    let i = run(
        "services:\n  db:\n    image: postgres\n  app:\n    image: alpine\n    depends_on:\n      db: {condition: service_healthy}\n",
    );
    let app = i
        .manifests
        .iter()
        .find(|m| m.name.as_str() == "app")
        .and_then(|m| m.as_container())
        .expect("app");
    assert_eq!(
        app.depends_on[0].condition,
        podctl_api::DependencyCondition::Started
    );
    assert_eq!(shown(&i).len(), 1);
    assert!(shown(&i)[0].contains("`db` has no healthcheck in this file"));
}

#[test]
fn a_syntax_error_should_stop_the_import_with_its_position() {
    let i = run("services:\n  a: [\n");
    assert!(i.manifests.is_empty());
    assert!(
        i.report.errors[0]
            .to_string()
            .starts_with("c.yaml:3:1: YAML syntax error"),
        "{}",
        i.report.errors[0]
    );
}

#[test]
fn a_tilde_path_should_use_home_of_the_variables() {
    let vars: Variables = [("HOME".to_string(), "/home/ops".to_string())].into();
    let i = import(&ComposeSource {
        path: Arc::from(Path::new("c.yaml")),
        base_dir: Path::new("/srv/app"),
        text: "services:\n  a:\n    image: alpine\n    volumes: [\"~/data:/data\", \"../shared:/shared:ro\"]\n",
        vars: &vars,
        project: None,
    });
    let c = i
        .manifests
        .iter()
        .find_map(|m| m.as_container())
        .expect("container");
    let hosts: Vec<String> = c
        .volumes
        .iter()
        .filter_map(|v| v.host_path.as_ref().map(ToString::to_string))
        .collect();
    assert_eq!(hosts, ["/home/ops/data", "/srv/shared"]);
}

#[test]
fn a_long_project_name_should_still_give_a_default_network() {
    let i = import(&ComposeSource {
        path: Arc::from(Path::new("c.yaml")),
        base_dir: Path::new("/srv/app"),
        text: "services:\n  a:\n    image: alpine\n",
        vars: &Variables::new(),
        project: Some(&"p".repeat(70)),
    });
    let c = i
        .manifests
        .iter()
        .find_map(|m| m.as_container())
        .expect("container");
    match &c.network {
        Some(podctl_api::NetworkMode::Network(n)) => assert!(n.as_str().len() <= 63, "{n}"),
        other => panic!("no default network: {other:?}"),
    }
}
