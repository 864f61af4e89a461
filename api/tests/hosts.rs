//! `metadata.hosts`: a revision evaluated for a host holds that host's objects only, and is
//! validated as that host's revision.

mod common;

use common::Fixture;
use podctl_api::{HostIdentity, Kind, LoadError, LoadOptions, Revision, load_dir_with};

const DB: &str = "apiVersion: podctl.io/v1
kind: Container
metadata:
  name: db
  hosts: {selector: {role: db}}
spec: {image: docker.io/library/postgres:16}
";
const WEB: &str = "apiVersion: podctl.io/v1
kind: Container
metadata:
  name: web
  hosts: {names: [web-1, web-2]}
spec: {image: docker.io/library/nginx:1.27}
";
const EVERYWHERE: &str = "apiVersion: podctl.io/v1
kind: Container
metadata: {name: agent}
spec: {image: docker.io/library/busybox:1}
";

fn host(name: &str, role: &str) -> HostIdentity {
    HostIdentity {
        name: name.into(),
        labels: [("role".to_owned(), role.to_owned())].into(),
        ..Default::default()
    }
}

fn load_for(fx: &Fixture, host: Option<HostIdentity>) -> Result<Revision, LoadError> {
    load_dir_with(
        fx.path(),
        &LoadOptions {
            host,
            ..LoadOptions::default()
        },
    )
}

fn names(revision: &Revision) -> Vec<String> {
    revision
        .of_kind(Kind::Container)
        .map(|o| o.name().to_string())
        .collect()
}

#[test]
fn each_host_should_get_its_objects_and_those_for_every_host() {
    let fx = Fixture::new(&[
        ("db.yaml", DB),
        ("web.yaml", WEB),
        ("agent.yaml", EVERYWHERE),
    ]);
    let db = load_for(&fx, Some(host("db-1", "db"))).expect("db host");
    assert_eq!(names(&db), ["agent", "db"]);
    let web = load_for(&fx, Some(host("web-2", "web"))).expect("web host");
    assert_eq!(names(&web), ["agent", "web"]);
    let all = load_for(&fx, None).expect("no host: everything");
    assert_eq!(names(&all), ["agent", "db", "web"]);
    // The revision of a host is its own: another host's objects change nothing in it.
    assert_ne!(db.hash(), web.hash());
}

#[test]
fn a_reference_to_another_hosts_object_should_break_on_that_host_only() {
    let app = "apiVersion: podctl.io/v1
kind: Container
metadata: {name: app}
spec:
  image: docker.io/library/busybox:1
  dependsOn: [db]
";
    let fx = Fixture::new(&[("db.yaml", DB), ("app.yaml", app)]);
    assert!(load_for(&fx, Some(host("db-1", "db"))).is_ok());
    let err = load_for(&fx, Some(host("web-1", "web"))).expect_err("db is not on web-1");
    let text = err.to_string() + &format!("{:?}", err.diagnostics().map(|d| d.to_string()));
    assert!(text.contains("`db` is not defined"), "{text}");
}

#[test]
fn hosts_without_names_or_selector_should_be_an_error() {
    let empty = EVERYWHERE.replace(
        "metadata: {name: agent}",
        "metadata: {name: agent, hosts: {}}",
    );
    let fx = Fixture::new(&[("a.yaml", &empty)]);
    assert_eq!(
        fx.errors(),
        [
            "a.yaml:3:25: `metadata.hosts` names no host and has no selector: the object would be on no host"
        ]
    );
}

#[test]
fn variants_of_one_object_for_different_hosts_should_each_reach_their_host() {
    let web_1 = "apiVersion: podctl.io/v1
kind: Container
metadata:
  name: web
  hosts: {selector: {wave: '0'}}
spec:
  image: docker.io/library/nginx:1.27
  ports: ['8080:80']
";
    let web_2 = web_1
        .replace("wave: '0'", "wave: '1'")
        .replace("nginx:1.27", "nginx:1.26");
    let fx = Fixture::new(&[("web-canary.yaml", web_1), ("web.yaml", &web_2)]);
    // Read for every host: variants, not duplicates, and not a port clash.
    assert!(load_for(&fx, None).is_ok());
    let image_on = |wave: &str| {
        let host = HostIdentity {
            name: "h".into(),
            labels: [("wave".to_owned(), wave.to_owned())].into(),
            ..Default::default()
        };
        let revision = load_for(&fx, Some(host)).expect("valid on the host");
        let web = revision
            .objects()
            .iter()
            .find_map(|o| o.as_container())
            .expect("web");
        format!("{:?}", web.image)
    };
    assert!(image_on("0").contains("1.27"));
    assert!(image_on("1").contains("1.26"));
    // A host both variants choose has a duplicate.
    let both = web_2.replace(
        "hosts: {selector: {wave: '1'}}",
        "hosts: {selector: {wave: '0'}}",
    );
    let fx = Fixture::new(&[("a.yaml", web_1), ("b.yaml", &both)]);
    let host = HostIdentity {
        name: "h".into(),
        labels: [("wave".to_owned(), "0".to_owned())].into(),
        ..Default::default()
    };
    assert!(load_for(&fx, Some(host)).is_err());
}
