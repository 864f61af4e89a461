//! The rendered error report (`Display` of `Diagnostics`, as `podctl validate` prints it)
//! for a revision with many problems in several files, pinned as an insta snapshot.
//!
//! An object whose fields fail to type (`web` below) still counts as declared, so
//! references to it are not also reported; its own references are checked too, on what
//! types once the bad values are taken out.

mod common;

use common::Fixture;

#[test]
fn report_of_a_revision_with_many_errors() {
    let fx = Fixture::new(&[
        (
            "apps/web.yaml",
            "\
apiVersion: podctl.io/v1
kind: Container
metadata:
  name: web
spec:
  image: {ref: web}
  ports: [\"8080\"]
  stopTimeout: 30
  restart: {policy: allways}
  resources: {memoryMax: 2 GB}
  volumes:
    - {volume: static, path: /srv}
  secrets:
    - {secret: tokn, env: TOKEN}
  dependsOn: [db]
  helthCheck:
    command: [\"true\"]
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: db}
spec:
  image: docker.io/library/postgres:16
  dependsOn: [cache]
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: cache}
spec:
  image: docker.io/library/redis:7
  dependsOn: [db]
---
apiVersion: podctl.io/v1
kind: Container
metadata: {name: api}
spec:
  image: {ref: api}
  network: backend
  volumes:
    - {volume: static, path: /srv}
  secrets:
    - {secret: tokn, env: TOKEN}
  dependsOn: [web, queue]
",
        ),
        (
            "apps/worker.yml",
            "\
apiVersion: podctl.io/v1
kind: Containr
metadata: {name: worker}
spec: {image: nginx}
",
        ),
        (
            "storage.yaml",
            "\
apiVersion: podctl.io/v1
kind: Secret
metadata: {name: token}
spec:
  source: {file: /etc/token, env: TOKEN}
---
apiVersion: podctl.io/v1
kind: Volume
metadata: {name: Static}
spec: {}
",
        ),
        (
            "broken.yaml",
            "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: x\n",
        ),
    ]);
    insta::assert_snapshot!(fx.report());
}
