//! Planner tests of HostSettings against hand-made host states.

use std::path::PathBuf;

use podctl_api::{Kind, ObjectRef};

use super::tests::revision;
use super::*;
use crate::observe::Observed;
use crate::observe::host_settings::{HostSettingsStatus, OwnedFile};

const BASE: &str = "apiVersion: podctl.io/v1\nkind: HostSettings\nmetadata: {name: base}\nspec:\n  sysctl: {net.core.somaxconn: '4096'}\n  journald: {maxRetention: 7d}\n";

fn base() -> ObjectRef {
    ObjectRef::new(Kind::HostSettings, "base".parse().expect("name"))
}

fn host(values: &[(&str, Option<&str>)]) -> Observed {
    Observed {
        host_settings: HostSettingsStatus {
            sysctl_path: PathBuf::from("/etc/sysctl.d/90-podctl.conf"),
            journald_path: PathBuf::from("/etc/systemd/journald.conf.d/90-podctl.conf"),
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect(),
            ..HostSettingsStatus::default()
        },
        ..Observed::default()
    }
}

/// `observed` after a perfect apply of BASE.
fn applied(mut observed: Observed) -> Observed {
    let rev = revision(&[("h.yaml", BASE)]);
    let spec = rev
        .get(&base())
        .and_then(|o| o.as_host_settings())
        .expect("spec");
    let file = |content: Option<String>| {
        content.map(|content| OwnedFile {
            content,
            managed: true,
        })
    };
    observed.host_settings.sysctl_file = file(crate::render::host_settings::sysctl_file(
        &base().name,
        spec,
    ));
    observed.host_settings.journald_file = file(crate::render::host_settings::journald_file(
        &base().name,
        spec,
    ));
    observed
}

fn shown(step: &Step) -> Vec<String> {
    step.actions.iter().map(ToString::to_string).collect()
}

#[test]
fn host_settings_should_be_written_and_applied_then_be_up_to_date() {
    let rev = revision(&[("h.yaml", BASE)]);
    let fresh = host(&[("net.core.somaxconn", Some("128"))]);
    let plan = plan(&rev, &fresh, &RenderContext::default());
    let step = plan.step(&base()).expect("step");
    assert_eq!(
        shown(step),
        [
            "write /etc/sysctl.d/90-podctl.conf",
            "restart systemd-sysctl.service",
            "write /etc/systemd/journald.conf.d/90-podctl.conf",
            "restart systemd-journald.service",
        ]
    );
    let done = applied(host(&[("net.core.somaxconn", Some("4096"))]));
    let plan = super::plan(&rev, &done, &RenderContext::default());
    assert!(plan.step(&base()).expect("step").is_noop());
}

#[test]
fn a_later_file_should_be_named_and_a_changed_value_applied_again() {
    let rev = revision(&[("h.yaml", BASE)]);
    let mut observed = applied(host(&[("net.core.somaxconn", Some("2048"))]));
    let changed = plan(&rev, &observed, &RenderContext::default());
    let step = changed.step(&base()).expect("step");
    assert!(
        matches!(step.change, Change::Repair { .. }),
        "{:?}",
        step.change
    );
    assert_eq!(shown(step), ["restart systemd-sysctl.service"]);

    observed.host_settings.winners.insert(
        "net.core.somaxconn".into(),
        PathBuf::from("/etc/sysctl.d/99-admin.conf"),
    );
    let overridden = plan(&rev, &observed, &RenderContext::default());
    let step = overridden.step(&base()).expect("step");
    assert!(
        matches!(&step.change, Change::Conflict { message } if message.contains("/etc/sysctl.d/99-admin.conf sets it")),
        "{:?}",
        step.change
    );
}

#[test]
fn an_unknown_key_should_fail_and_a_removed_object_take_its_files() {
    let rev = revision(&[("h.yaml", BASE)]);
    let unknown = plan(
        &rev,
        &host(&[("net.core.somaxconn", None)]),
        &RenderContext::default(),
    );
    assert!(matches!(
        &unknown.step(&base()).expect("step").change,
        Change::Error { message } if message.contains("no sysctl net.core.somaxconn")
    ));
    let empty = revision(&[]);
    let gone = plan(&empty, &applied(host(&[])), &RenderContext::default());
    let step = gone.step(&base()).expect("removal");
    assert_eq!(step.change, Change::Delete);
    assert_eq!(
        shown(step),
        [
            "remove /etc/sysctl.d/90-podctl.conf",
            "restart systemd-sysctl.service",
            "remove /etc/systemd/journald.conf.d/90-podctl.conf",
            "restart systemd-journald.service",
        ]
    );
}
