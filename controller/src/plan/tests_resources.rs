//! Planner tests of volumes, secrets, images, networks and pruning, against hand-made
//! observed states.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use podctl_api::{Diagnostics, Kind, ObjectRef, Revision, SourceFile, from_sources};

use super::*;
use crate::observe::{NetworkStatus, Observed, SecretStatus, VolumeStatus};
use crate::render::labels;

const VOLUME: &str = "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: data}\nspec: {}\n";
const SECRET: &str = "apiVersion: podctl.io/v1\nkind: Secret\nmetadata: {name: pw}\nspec:\n  source: {file: /etc/pw}\n";
const NETWORK: &str = "apiVersion: podctl.io/v1\nkind: Network\nmetadata: {name: net}\nspec: {subnet: 10.89.10.0/24}\n";
const IMAGE: &str = "apiVersion: podctl.io/v1\nkind: Image\nmetadata: {name: img}\nspec:\n  ref: 127.0.0.1:5000/bb:v1\n  tlsVerify: false\n";
/// Uses every kind; `other` uses none of them and depends on nothing.
const APP: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: app}\nspec:\n  image: {ref: img}\n  network: net\n  volumes: [{volume: data, path: /data}]\n  secrets: [{secret: pw, path: /run/secrets/pw}]\n";
const WEB: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: web}\nspec:\n  image: localhost/bb:v1\n  dependsOn: [app]\n";
const OTHER: &str = "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {name: other}\nspec:\n  image: localhost/bb:v1\n";

fn revision(files: &[&str]) -> Revision {
    let sources = files
        .iter()
        .enumerate()
        .map(|(i, text)| SourceFile {
            path: Path::new(&format!("{i}.yaml")).into(),
            text: (*text).to_string(),
        })
        .collect();
    from_sources(
        Path::new("m"),
        Path::new("m"),
        sources,
        Diagnostics::default(),
    )
    .expect("valid revision")
}

fn all() -> Revision {
    revision(&[VOLUME, SECRET, NETWORK, IMAGE, APP, WEB, OTHER])
}

fn object(kind: Kind, name: &str) -> ObjectRef {
    ObjectRef::new(kind, name.parse().expect("name"))
}

fn managed(kind: &str, name: &str, hash: &str) -> BTreeMap<String, String> {
    crate::ownership::mark_labels(Kind::parse_loose(kind).expect("kind"), name, hash)
}

fn verbs(step: &Step) -> Vec<&'static str> {
    step.actions.iter().map(Action::verb).collect()
}

/// The host after a perfect apply of `revision` with the secret `pw` hashing to `hash`.
fn converged(revision: &Revision, hash: &str) -> Observed {
    let mut observed = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    observed.secret_hashes.insert("pw".into(), Ok(hash.into()));
    observed.images.insert("localhost/bb:v1".into());
    observed.images.insert("127.0.0.1:5000/bb:v1".into());
    observed
        .image_ids
        .insert("127.0.0.1:5000/bb:v1".into(), "id1".into());
    let mut volume_labels = managed("volume", "data", "x");
    volume_labels.insert(labels::RECLAIM.into(), "Retain".into());
    observed.volumes.insert(
        "data".into(),
        VolumeStatus {
            driver: "local".into(),
            options: BTreeMap::new(),
            labels: volume_labels,
        },
    );
    observed.secrets.insert(
        "pw".into(),
        SecretStatus {
            id: "s1".into(),
            labels: managed("secret", "pw", hash),
        },
    );
    if let Some(net) = revision.of_kind(Kind::Network).next() {
        let spec = net.as_network().expect("network");
        observed.networks.insert(
            "net".into(),
            NetworkStatus {
                driver: "bridge".into(),
                subnets: vec!["10.89.10.0/24".into()],
                labels: managed("network", "net", &spec_hash(spec)),
                ..NetworkStatus::default()
            },
        );
    }
    let mut ctx = RenderContext::default();
    ctx.secret_hashes.insert("pw".into(), hash.into());
    super::tests::with_containers_converged(observed, revision, &ctx)
}

fn fresh(hash: &str) -> Observed {
    let mut observed = Observed {
        unit_dir: PathBuf::from("/etc/systemd/system"),
        ..Observed::default()
    };
    observed.secret_hashes.insert("pw".into(), Ok(hash.into()));
    observed
}

#[test]
fn converged_host_with_every_kind_plans_nothing() {
    let rev = all();
    let plan = plan(&rev, &converged(&rev, "aaaa"), &RenderContext::default());
    assert!(!plan.has_changes(), "{plan:#?}");
}

#[test]
fn fresh_host_creates_volume_secret_network_and_pulls_the_image_first() {
    let rev = all();
    let plan = plan(&rev, &fresh("aaaa"), &RenderContext::default());
    let volume = plan.step(&object(Kind::Volume, "data")).expect("volume");
    assert_eq!(volume.change, Change::Create);
    let Action::CreateVolume { labels: l, .. } = &volume.actions[0] else {
        panic!("{volume:?}");
    };
    assert_eq!(l[labels::RECLAIM], "Retain");
    assert_eq!(l[labels::MANAGED], "true");
    let secret = plan.step(&object(Kind::Secret, "pw")).expect("secret");
    assert_eq!(verbs(secret), ["create-secret"]);
    let network = plan.step(&object(Kind::Network, "net")).expect("network");
    assert_eq!(verbs(network), ["create-network"]);
    let image = plan.step(&object(Kind::Image, "img")).expect("image");
    assert!(matches!(
        &image.actions[..],
        [Action::PullImage {
            tls_verify: Some(false),
            previous_id: None,
            ..
        }]
    ));
    // The container does not pull its Image object's reference itself.
    let app = plan.step(&object(Kind::Container, "app")).expect("app");
    assert_eq!(verbs(app), ["write", "enable", "start"]);
    assert!(
        app.unit_after
            .as_deref()
            .is_some_and(|u| u.contains("--label=io.podctl.secret.pw=aaaa")),
        "{app:?}"
    );
}

#[test]
fn changed_volume_option_is_an_error_that_says_how_to_migrate() {
    let rev = all();
    let mut observed = converged(&rev, "aaaa");
    let volume = observed.volumes.get_mut("data").expect("volume");
    volume.options.insert("type".into(), "tmpfs".into());
    let plan = plan(&rev, &observed, &RenderContext::default());
    let step = plan.step(&object(Kind::Volume, "data")).expect("volume");
    let Change::Error { message } = &step.change else {
        panic!("{step:?}");
    };
    assert!(message.contains("options {type=tmpfs} -> {}"), "{message}");
    assert!(message.contains("podman volume export data"), "{message}");
    assert!(step.actions.is_empty(), "never recreated");
}

#[test]
fn foreign_volume_secret_and_network_are_conflicts() {
    let rev = all();
    let mut observed = converged(&rev, "aaaa");
    observed.volumes.get_mut("data").expect("v").labels.clear();
    observed.secrets.get_mut("pw").expect("s").labels.clear();
    observed.networks.get_mut("net").expect("n").labels.clear();
    let plan = plan(&rev, &observed, &RenderContext::default());
    for o in [
        object(Kind::Volume, "data"),
        object(Kind::Secret, "pw"),
        object(Kind::Network, "net"),
    ] {
        let step = plan.step(&o).expect("step");
        assert!(
            matches!(&step.change, Change::Conflict { message } if message.contains("does not manage")),
            "{step:?}"
        );
        assert!(step.actions.is_empty());
    }
}

#[test]
fn changed_secret_replaces_it_and_restarts_exactly_its_consumers() {
    let rev = all();
    let mut observed = converged(&rev, "aaaa");
    observed
        .secret_hashes
        .insert("pw".into(), Ok("bbbb".into()));
    let plan = plan(&rev, &observed, &RenderContext::default());
    let secret = plan.step(&object(Kind::Secret, "pw")).expect("secret");
    assert_eq!(verbs(secret), ["remove-secret", "create-secret"]);
    let app = plan.step(&object(Kind::Container, "app")).expect("app");
    assert_eq!(
        app.change,
        Change::Update {
            fields: vec!["secrets".into()]
        }
    );
    assert!(app.actions.contains(&Action::RestartUnit {
        unit: "app.service".into()
    }));
    // web needs app (Requires=): systemd restarts it with app, and the plan says so.
    let web = plan.step(&object(Kind::Container, "web")).expect("web");
    assert_eq!(
        web.actions,
        [Action::RestartedWith {
            unit: "web.service".into(),
            with: "app.service".into()
        }]
    );
    assert_eq!(
        web.change,
        Change::Repair {
            reason: RepairReason::RestartedWith(object(Kind::Container, "app"))
        }
    );
    assert!(
        plan.step(&object(Kind::Container, "other"))
            .expect("c")
            .is_noop(),
        "other restarted"
    );
    // Nothing in the plan can hold a value: only the hashes and the source's path.
    let shown = format!("{plan:?}");
    assert!(shown.contains("bbbb") && shown.contains("/etc/pw"));
}

#[test]
fn unreadable_secret_source_is_an_error_on_the_secret() {
    let rev = all();
    let mut observed = converged(&rev, "aaaa");
    observed.secret_hashes.insert(
        "pw".into(),
        Err("cannot read secret file /etc/pw: permission denied (mode 0600, owner uid 1000 gid 1000); podctl runs as uid 0".into()),
    );
    let plan = plan(&rev, &observed, &RenderContext::default());
    let secret = plan.step(&object(Kind::Secret, "pw")).expect("secret");
    assert!(
        matches!(&secret.change, Change::Error { message } if message.contains("/etc/pw") && message.contains("permission denied")),
        "{secret:?}"
    );
    assert!(!secret.is_noop());
    // Its consumer keeps its unit (no made-up change) and waits for the secret.
    let app = object(Kind::Container, "app");
    assert!(plan.step(&app).expect("app").is_noop(), "{plan:?}");
    assert_eq!(
        plan.blocker(&rev, &app).map(|s| s.object.to_string()),
        Some("secret/pw".into())
    );
}

#[test]
fn image_pull_policies() {
    let never = IMAGE.replace("tlsVerify: false", "pullPolicy: Never");
    let always = IMAGE.replace("tlsVerify: false", "pullPolicy: Always");
    let rev = revision(&[&never]);
    let plan_never = plan(&rev, &fresh("a"), &RenderContext::default());
    let step = plan_never.step(&object(Kind::Image, "img")).expect("img");
    assert!(matches!(&step.change, Change::Error { message } if message.contains("Never")));

    let rev = revision(&[&always]);
    let mut observed = fresh("a");
    observed.images.insert("127.0.0.1:5000/bb:v1".into());
    observed
        .image_ids
        .insert("127.0.0.1:5000/bb:v1".into(), "id1".into());
    let plan_always = plan(&rev, &observed, &RenderContext::default());
    let step = plan_always.step(&object(Kind::Image, "img")).expect("img");
    assert!(matches!(
        &step.actions[..],
        [Action::PullImage { previous_id: Some(id), tls_verify: None, .. }] if id == "id1"
    ));

    let rev = revision(&[IMAGE]);
    let plan_present = plan(&rev, &observed, &RenderContext::default());
    assert!(!plan_present.has_changes());
}

#[test]
fn changed_network_is_recreated_with_its_containers_stopped_and_started_in_order() {
    let rev = all();
    let mut observed = converged(&rev, "aaaa");
    observed
        .networks
        .get_mut("net")
        .expect("net")
        .labels
        .insert(labels::HASH.into(), "old".into());
    let plan = plan(&rev, &observed, &RenderContext::default());
    let net = plan.step(&object(Kind::Network, "net")).expect("net");
    assert_eq!(
        net.actions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "stop web.service",
            "stop app.service",
            "remove network net",
            "create network net"
        ]
    );
    for c in ["app", "web"] {
        let step = plan.step(&object(Kind::Container, c)).expect("c");
        assert_eq!(
            step.actions,
            vec![Action::StartUnit {
                unit: format!("{c}.service")
            }],
            "{c}"
        );
        assert!(
            matches!(&step.change, Change::Repair { reason } if reason.to_string().contains("network net"))
        );
    }
    assert!(
        plan.step(&object(Kind::Container, "other"))
            .expect("o")
            .is_noop()
    );
    let order: Vec<String> = plan.steps.iter().map(|s| s.object.to_string()).collect();
    let pos = |o: &str| order.iter().position(|x| x == o).expect("in plan");
    assert!(
        pos("network/net") < pos("container/app") && pos("container/app") < pos("container/web")
    );
}

#[test]
fn pruning_removes_in_reverse_dependency_order_and_keeps_retained_volumes() {
    let old = all();
    let mut observed = converged(&old, "aaaa");
    observed.pulled_images.insert("127.0.0.1:5000/bb:v1".into());
    // Never pulled by podctl: never pruned.
    observed.images.insert("localhost/other:v1".into());
    let mut deleted = managed("volume", "scratch", "x");
    deleted.insert(labels::RECLAIM.into(), "Delete".into());
    observed.volumes.insert(
        "scratch".into(),
        VolumeStatus {
            driver: "local".into(),
            labels: deleted,
            ..VolumeStatus::default()
        },
    );
    let new = revision(&[OTHER]);
    let plan = plan(&new, &observed, &RenderContext::default());
    let removals: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| s.change == Change::Delete)
        .map(|s| format!("{} {}", s.object, verbs(s).join(",")))
        .collect();
    assert_eq!(
        removals,
        [
            "container/app stop,disable,remove-unit,remove-container",
            "container/web stop,disable,remove-unit,remove-container",
            "secret/pw remove-secret",
            "network/net remove-network",
            "image/127-0-0-1-5000-bb-v1 remove-image",
            "volume/scratch remove-volume",
        ]
    );
    let data = plan.step(&object(Kind::Volume, "data")).expect("data");
    assert!(
        matches!(&data.change, Change::Orphaned { reason } if reason.contains("reclaimPolicy Retain")),
        "{data:?}"
    );
    assert!(data.is_noop());

    let kept = plan.clone().without_pruning();
    assert!(!kept.has_changes(), "{kept:#?}");
    assert!(kept.steps.iter().all(|s| s.change != Change::Delete));
}

#[test]
fn a_conflict_blocks_exactly_the_objects_that_need_it() {
    let rev = revision(&[VOLUME, SECRET, NETWORK, IMAGE, APP, WEB, OTHER]);
    let mut observed = fresh("aaaa");
    observed.volumes.insert(
        "data".into(),
        VolumeStatus {
            driver: "local".into(),
            options: BTreeMap::new(),
            labels: BTreeMap::new(),
        },
    );
    let plan = plan(&rev, &observed, &RenderContext::default());
    let blocker = |name: &str| {
        plan.blocker(&rev, &object(Kind::Container, name))
            .map(|s| s.object.to_string())
    };
    assert_eq!(blocker("app").as_deref(), Some("volume/data"));
    assert_eq!(
        blocker("web").as_deref(),
        Some("volume/data"),
        "through app"
    );
    assert_eq!(blocker("other"), None);
    let message = plan
        .blocked_message(&rev, &object(Kind::Container, "web"))
        .unwrap_or_default();
    assert!(
        message.starts_with("blocked by container/app, which waits for volume/data: conflict"),
        "{message}"
    );
    assert_eq!(plan.blocker(&rev, &object(Kind::Volume, "data")), None);
}

/// `pullPolicy: Always`: the reference now names another image than the container runs
/// (an admin's `podman pull`, or an apply stopped after its pull): a restart, said why.
#[test]
fn a_container_running_an_older_image_of_an_always_reference_is_restarted() {
    let always = IMAGE.replace("tlsVerify: false", "pullPolicy: Always");
    let rev = revision(&[VOLUME, SECRET, NETWORK, &always, APP]);
    let mut observed = converged(&rev, "aaaa");
    observed.containers.get_mut("app").expect("app").image_id = "id1".into();
    let same = plan(&rev, &observed, &RenderContext::default());
    assert!(verbs(same.step(&object(Kind::Container, "app")).expect("app")).is_empty());

    observed
        .image_ids
        .insert("127.0.0.1:5000/bb:v1".into(), "id2".into());
    let newer = plan(&rev, &observed, &RenderContext::default());
    let app = newer.step(&object(Kind::Container, "app")).expect("app");
    // The new image is rolled out: pinned, restarted, judged by the gate.
    assert_eq!(verbs(app), ["write", "enable", "restart", "rollout"]);
    assert_eq!(
        app.change,
        Change::Update {
            fields: vec!["image (new ID)".into()]
        }
    );
    // An IfNotPresent image without an update policy stays pinned: no restart.
    let rev = revision(&[VOLUME, SECRET, NETWORK, IMAGE, APP]);
    let plan = plan(&rev, &observed, &RenderContext::default());
    assert!(verbs(plan.step(&object(Kind::Container, "app")).expect("app")).is_empty());
}
