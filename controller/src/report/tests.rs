//! Golden tests of what people and programs read: diff text and JSON, the status table.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::observe::{ActiveState, Health, Observed};
use crate::plan::plan;
use crate::plan::tests::{APP, DB, converged, revision};
use crate::render::RenderContext;

use super::diff::{Summary, render_json, render_text};
use super::status::{Filter, render_table, rows};

fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

#[test]
fn diff_of_a_fresh_host_lists_creations_with_unit_files() {
    let rev = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let observed = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    let plan = plan(&rev, &observed, &RenderContext::default());
    let text = plain(&render_text(&plan, &rev, "/etc/systemd/system", false));
    insta::assert_snapshot!("diff_fresh_host", text);
    assert!(Summary::of(&plan).has_changes());
}

#[test]
fn diff_of_a_changed_env_shows_one_line_and_names_the_field() {
    let old = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let new = revision(&[
        ("a.yaml", &APP.replace("MODE: one", "MODE: two")),
        ("d.yaml", DB),
    ]);
    let plan = plan(&new, &converged(&old), &RenderContext::default());
    let text = plain(&render_text(&plan, &new, "/etc/systemd/system", false));
    insta::assert_snapshot!("diff_changed_env", text);
    assert!(
        text.contains("-\t--env=MODE=one \\\n") && text.contains("+\t--env=MODE=two \\\n"),
        "{text}"
    );
    assert!(!text.contains("container/db"), "db is unchanged: {text}");

    let json = serde_json::to_value(render_json(&plan, &new, "/etc/systemd/system")).expect("json");
    assert_eq!(json["schemaVersion"], 1);
    assert_eq!(json["hasChanges"], true);
    assert_eq!(json["changes"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["changes"][0]["object"], "container/app");
    assert_eq!(json["changes"][0]["fields"], serde_json::json!(["env"]));
    assert_eq!(json["summary"]["update"], 1);
    assert_eq!(json["summary"]["unchanged"], 1);
}

#[test]
fn diff_of_a_converged_host_says_so() {
    let rev = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let plan = plan(&rev, &converged(&rev), &RenderContext::default());
    assert!(!Summary::of(&plan).has_changes());
    let text = plain(&render_text(&plan, &rev, "/etc/systemd/system", false));
    assert!(
        text.starts_with("No changes: the host matches revision"),
        "{text}"
    );
}

#[test]
fn status_table_shows_converged_and_drifted_objects() {
    let rev = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let mut observed = converged(&rev);
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    for unit in observed.units.values_mut() {
        unit.active_enter_timestamp_us = (1_000_000 - 300) * 1_000_000;
    }
    let app = observed.units.get_mut("app.service").expect("app unit");
    app.active_state = ActiveState::Failed;
    app.sub_state = "failed".into();
    observed.containers.get_mut("db").expect("db").health = Some(Health::Healthy);
    let plan = plan(&rev, &observed, &RenderContext::default());
    let rows = rows(&plan, &rev, &observed, now, &Filter::default());
    insta::assert_snapshot!("status_table", render_table(&rows, false));
    insta::assert_snapshot!("status_table_wide", render_table(&rows, true));
    let _ = SystemTime::now();
}

#[test]
fn blocked_objects_say_by_what_and_always_pulled_images_are_converged() {
    const VOLUME: &str =
        "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: data}\nspec: {}\n";
    const IMAGE: &str = "apiVersion: podctl.io/v1\nkind: Image\nmetadata: {name: img}\nspec: {ref: localhost/bb:v1, pullPolicy: Always}\n";
    let with_volume = APP.replace(
        "  env: {MODE: one}\n",
        "  env: {MODE: one}\n  volumes: [{volume: data, path: /data}]\n",
    );
    let rev = revision(&[
        ("a.yaml", &with_volume),
        ("d.yaml", DB),
        ("i.yaml", IMAGE),
        ("v.yaml", VOLUME),
    ]);
    let mut observed = converged(&revision(&[("d.yaml", DB)]));
    observed.volumes.insert(
        "data".into(),
        crate::observe::VolumeStatus {
            driver: "local".into(),
            options: Default::default(),
            labels: Default::default(),
        },
    );
    let plan = plan(&rev, &observed, &RenderContext::default());
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let rows = rows(&plan, &rev, &observed, now, &Filter::default());
    let row = |name: &str| rows.iter().find(|r| r.name == name).expect("row");
    assert_eq!(row("app").status, super::status::Convergence::Pending);
    assert!(
        row("app")
            .message
            .starts_with("blocked by volume/data: conflict"),
        "{}",
        row("app").message
    );
    assert_eq!(row("data").status, super::status::Convergence::Failed);
    assert_eq!(row("db").status, super::status::Convergence::Converged);
    assert_eq!(row("img").status, super::status::Convergence::Converged);

    let text = plain(&render_text(&plan, &rev, "/etc/systemd/system", false));
    assert!(
        text.contains("+ container/app  create\n    blocked by volume/data: apply leaves"),
        "{text}"
    );
    let json = serde_json::to_value(render_json(&plan, &rev, "/etc/systemd/system")).expect("json");
    let app = json["changes"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["object"] == "container/app"))
        .expect("app in json");
    assert_eq!(app["blockedBy"], "volume/data");
}

#[test]
fn orphans_are_listed_without_all() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    let mut labels = std::collections::BTreeMap::from([
        ("io.podctl.managed".to_string(), "true".to_string()),
        ("io.podctl.kind".to_string(), "volume".to_string()),
        ("io.podctl.name".to_string(), "keepme".to_string()),
    ]);
    labels.insert("io.podctl.reclaim".into(), "Retain".into());
    observed.volumes.insert(
        "keepme".into(),
        crate::observe::VolumeStatus {
            driver: "local".into(),
            options: Default::default(),
            labels,
        },
    );
    let plan = plan(&rev, &observed, &RenderContext::default());
    let text = plain(&render_text(&plan, &rev, "/etc/systemd/system", false));
    assert!(text.contains("? volume/keepme  orphaned"), "{text}");
    assert!(!text.contains("container/db"), "{text}");
}

#[test]
fn a_unit_stopped_by_hand_is_degraded_and_a_crash_is_failed() {
    let rev = revision(&[("a.yaml", APP), ("d.yaml", DB)]);
    let mut observed = converged(&rev);
    for (unit, status) in [("app.service", 143), ("db.service", 1)] {
        let u = observed.units.get_mut(unit).expect("unit");
        u.active_state = ActiveState::Failed;
        u.sub_state = "failed".into();
        u.exec_main_status = Some(status);
    }
    let plan = plan(&rev, &observed, &RenderContext::default());
    let rows = rows(&plan, &rev, &observed, UNIX_EPOCH, &Filter::default());
    let row = |name: &str| rows.iter().find(|r| r.name == name).expect("row");
    assert_eq!(row("app").status, super::status::Convergence::Degraded);
    assert!(
        row("app").message.starts_with("stopped"),
        "{}",
        row("app").message
    );
    assert_eq!(row("db").status, super::status::Convergence::Failed);
}

#[test]
fn a_container_restarting_again_and_again_is_degraded() {
    let rev = revision(&[("d.yaml", DB)]);
    let mut observed = converged(&rev);
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let db = observed.units.get_mut("db.service").expect("db");
    db.n_restarts = Some(7);
    db.active_enter_timestamp_us = (1_000_000 - 20) * 1_000_000;
    let plan = plan(&rev, &observed, &RenderContext::default());
    let looping = rows(&plan, &rev, &observed, now, &Filter::default());
    assert_eq!(looping[0].status, super::status::Convergence::Degraded);
    assert!(
        looping[0]
            .message
            .starts_with("restarting: 7 restarts, up 20s"),
        "{}",
        looping[0].message
    );

    // Up for an hour after its restarts: converged again.
    let db = observed.units.get_mut("db.service").expect("db");
    db.active_enter_timestamp_us = (1_000_000 - 3600) * 1_000_000;
    let settled = rows(&plan, &rev, &observed, now, &Filter::default());
    assert_eq!(settled[0].status, super::status::Convergence::Converged);
}
