//! How a manifest directory is read as one revision: which files count, in what order,
//! through a symlink, and what the revision's hash and dependency graph are.

mod common;

use std::path::Path;

use common::{APP, Fixture, examples};
use podctl_api::{Kind, LoadError, LoadOptions, Name, ObjectRef, load_dir, load_dir_with};

fn object(kind: Kind, name: &str) -> ObjectRef {
    ObjectRef::new(kind, name.parse::<Name>().expect("name"))
}

fn names(revision: &podctl_api::Revision) -> Vec<String> {
    revision
        .objects()
        .iter()
        .map(|o| o.object_ref().to_string())
        .collect()
}

fn volume(name: &str) -> String {
    format!("apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {{name: {name}}}\nspec: {{}}\n")
}

#[test]
fn examples_are_valid() {
    for example in ["production", "minimal"] {
        let revision = load_dir(&examples(example)).expect(example);
        assert!(!revision.is_empty(), "{example}");
    }
}

#[test]
fn hidden_files_and_directories_are_skipped() {
    let broken = "this is: [not valid";
    let fx = Fixture::new(&[
        ("app.yaml", &volume("data")),
        (".hidden.yaml", broken),
        (".git/config.yaml", broken),
        (".github/workflows/ci.yml", broken),
        ("team/.draft/x.yaml", broken),
    ]);
    let revision = fx.revision();
    assert_eq!(names(&revision), ["volume/data"]);
    assert_eq!(revision.stats().files, 1);
}

#[test]
fn only_yaml_and_yml_files_are_read() {
    let broken = "this is: [not valid";
    let fx = Fixture::new(&[
        ("a.yaml", &volume("a")),
        ("b.yml", &volume("b")),
        ("c.json", broken),
        ("d.yaml.bak", broken),
        ("e.YAML.txt", broken),
        ("README.md", broken),
        ("f.yaml~", broken),
    ]);
    let revision = fx.revision();
    assert_eq!(names(&revision), ["volume/a", "volume/b"]);
    assert_eq!(revision.stats().files, 2);
}

#[test]
fn subdirectories_are_read_recursively() {
    let fx = Fixture::new(&[
        ("a.yaml", &volume("a")),
        ("team/b.yaml", &volume("b")),
        ("team/deep/er/c.yml", &volume("c")),
    ]);
    assert_eq!(names(&fx.revision()), ["volume/a", "volume/b", "volume/c"]);
}

#[test]
fn multi_document_files_and_empty_documents() {
    let text = format!(
        "---\n# a comment only\n---\n{}---\n---\n{}...\n---\n{}---\n",
        volume("a"),
        volume("b"),
        volume("c")
    );
    let fx = Fixture::new(&[
        ("all.yaml", &text),
        ("empty.yaml", ""),
        ("comments.yml", "# nothing\n"),
    ]);
    let revision = fx.revision();
    assert_eq!(names(&revision), ["volume/a", "volume/b", "volume/c"]);
    assert_eq!(revision.stats().files, 3);
    assert_eq!(revision.stats().documents, 3);
}

#[test]
fn an_empty_directory_is_an_empty_valid_revision() {
    let fx = Fixture::new(&[]);
    let revision = fx.revision();
    assert!(revision.is_empty());
    assert!(revision.graph().is_empty());
}

#[test]
fn errors_in_later_documents_keep_their_line_numbers() {
    let text = format!("{}---\n{}", volume("a"), volume("B"));
    let fx = Fixture::new(&[("all.yaml", &text)]);
    assert_eq!(
        fx.errors(),
        ["all.yaml:8:18: metadata.name: invalid name `B`"]
    );
}

#[cfg(unix)]
#[test]
fn directory_given_as_a_symlink_is_resolved_once_and_paths_keep_the_given_form() {
    let root = tempfile::tempdir().expect("tempdir");
    let v1 = root.path().join("rev-1");
    std::fs::create_dir(&v1).expect("mkdir");
    std::fs::write(v1.join("app.yaml"), "kind: Nope\n").expect("write");
    let link = root.path().join("current");
    std::os::unix::fs::symlink(&v1, &link).expect("symlink");

    let diagnostics = match load_dir(&link) {
        Err(LoadError::Invalid(d)) => d,
        other => panic!("expected diagnostics, got {other:?}"),
    };
    let file = diagnostics.iter().next().expect("one").file().to_path_buf();
    assert_eq!(file, link.join("app.yaml"), "the path as given, not rev-1");

    // A sync tool swaps the link atomically to a new tree: the next read sees only it.
    let v2 = root.path().join("rev-2");
    std::fs::create_dir(&v2).expect("mkdir");
    std::fs::write(v2.join("app.yaml"), volume("data")).expect("write");
    let tmp_link = root.path().join("current.tmp");
    std::os::unix::fs::symlink(&v2, &tmp_link).expect("symlink");
    std::fs::rename(&tmp_link, &link).expect("swap");

    let revision = load_dir(&link).expect("valid");
    assert_eq!(revision.dir(), link.as_path());
    assert_eq!(
        revision.resolved_dir(),
        std::fs::canonicalize(&v2).expect("canonical")
    );
    assert_eq!(names(&revision), ["volume/data"]);
}

#[cfg(unix)]
#[test]
fn symlinked_files_are_followed_and_a_loop_is_read_once() {
    let fx = Fixture::new(&[("a.yaml", &volume("a"))]);
    let shared = tempfile::tempdir().expect("tempdir");
    std::fs::write(shared.path().join("b.yaml"), volume("b")).expect("write");
    std::os::unix::fs::symlink(shared.path().join("b.yaml"), fx.join("b.yaml")).expect("symlink");
    // A link back up the tree is followed once, not forever.
    std::os::unix::fs::symlink(fx.path(), fx.join("loop")).expect("symlink");
    let options = LoadOptions {
        link_roots: vec![shared.path().to_path_buf()],
        ..LoadOptions::default()
    };
    let revision = load_dir_with(fx.path(), &options).expect("valid");
    assert_eq!(names(&revision), ["volume/a", "volume/b"]);
}

/// podctl reads as root: a link committed to the repository must not make it read (and
/// quote) a file elsewhere on the host.
#[cfg(unix)]
#[test]
fn a_link_out_of_the_tree_is_not_followed_and_its_target_not_quoted() {
    let fx = Fixture::new(&[("a.yaml", &volume("a"))]);
    let outside = tempfile::tempdir().expect("tempdir");
    let shadow = outside.path().join("shadow");
    std::fs::write(
        &shadow,
        "root:$6$saltsalt$SECRETHASHSECRETHASH:19000:0:99999:7:::\n",
    )
    .expect("write");
    std::os::unix::fs::symlink(&shadow, fx.join("shadow.yaml")).expect("symlink");
    std::os::unix::fs::symlink(outside.path(), fx.join("elsewhere")).expect("symlink");
    let d = fx.diagnostics();
    let messages: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 2, "{messages:?}");
    assert!(
        messages
            .iter()
            .all(|m| m.contains("outside the manifest directory: not followed"))
    );
    assert!(
        messages.iter().all(|m| !m.contains("SECRETHASH")),
        "{messages:?}"
    );
    assert!(
        d[0].hint
            .as_deref()
            .is_some_and(|h| h.contains("--allow-links-to")),
        "{:?}",
        d[0].hint
    );
}

/// Even a file that is read (inside the tree) is quoted back only as a short excerpt.
#[test]
fn unknown_content_is_quoted_only_as_a_short_excerpt() {
    let fx = Fixture::new(&[(
        "a.yaml",
        "apiVersion: podctl.io/v1\nkind: Volume\nmetadata: {name: a}\nspec: {}\nroot:$6$saltsalt$SECRETHASHSECRETHASH: 1\n",
    )]);
    let errors = fx.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(!errors[0].contains("SECRETHASH"), "{errors:?}");
    assert!(errors[0].contains("more characters"), "{errors:?}");
}

/// A dangling link hides whatever it pointed to (a shared folder briefly missing): a
/// revision read without it would remove those objects and their volumes' data.
#[cfg(unix)]
#[test]
fn a_dangling_link_makes_the_revision_invalid() {
    let fx = Fixture::new(&[("a.yaml", &volume("a"))]);
    std::os::unix::fs::symlink("/nonexistent/podctl-shared", fx.join("shared")).expect("symlink");
    std::os::unix::fs::symlink(fx.join("missing.yaml"), fx.join("c.yaml")).expect("symlink");
    // Hidden entries stay skipped, dangling or not.
    std::os::unix::fs::symlink("/nonexistent", fx.join(".old")).expect("symlink");
    let errors = fx.errors();
    assert_eq!(
        errors,
        [
            // (the fixture's directory is stripped from messages)
            "c.yaml:1:1: dangling symlink -> missing.yaml: its target does not exist",
            "shared:1:1: dangling symlink -> /nonexistent/podctl-shared: its target does not exist",
        ]
    );
    assert!(
        fx.hints()[0]
            .as_deref()
            .is_some_and(|h| h.contains("restore it")),
        "{:?}",
        fx.hints()
    );
}

/// A subdirectory podctl may not read is as incomplete as a missing one.
#[cfg(unix)]
#[test]
fn an_unreadable_subdirectory_makes_the_revision_invalid() {
    use std::os::unix::fs::PermissionsExt as _;
    let fx = Fixture::new(&[("a.yaml", &volume("a")), ("team/b.yaml", &volume("b"))]);
    let team = fx.join("team");
    std::fs::set_permissions(&team, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    // root reads it anyway: then there is nothing to prove here.
    let readable = std::fs::read_dir(&team).is_ok();
    let result = fx.load();
    std::fs::set_permissions(&team, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    if readable {
        assert!(result.is_ok());
        return;
    }
    let e = result.expect_err("unreadable subdirectory");
    let d = e.diagnostics().expect("diagnostics");
    assert!(
        d.iter()
            .any(|d| d.message.starts_with("cannot read directory")),
        "{e}"
    );
}

#[test]
fn missing_directory_and_file_instead_of_directory() {
    let fx = Fixture::new(&[("a.yaml", &volume("a"))]);
    let missing = fx.join("nope");
    let e = load_dir(&missing).expect_err("missing");
    assert!(matches!(e, LoadError::Io { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(&format!(
            "cannot read manifest directory {}",
            missing.display()
        )),
        "{e}"
    );
    let e = load_dir(&fx.join("a.yaml")).expect_err("a file");
    assert_eq!(
        e.to_string(),
        format!(
            "{} is not a directory; pass the directory that holds the manifests",
            fx.join("a.yaml").display()
        )
    );
}

#[test]
fn files_are_read_and_reported_in_sorted_path_order() {
    // Paths compare by component, so `b/x.yaml` comes before `b.yaml` (plain byte order
    // would put `b.yaml` first, since `.` < `/`).
    let fx = Fixture::new(&[
        ("z.yaml", "kind: Nope\n"),
        ("b.yaml", "kind: Nope\n"),
        ("b/x.yaml", "kind: Nope\n"),
        ("a.yaml", "kind: Nope\n"),
    ]);
    let files: Vec<String> = fx
        .diagnostics()
        .iter()
        .map(|d| {
            d.file()
                .strip_prefix(fx.path())
                .expect("under the dir")
                .display()
                .to_string()
        })
        .collect();
    let mut sorted = files.clone();
    sorted.sort_by(|a, b| Path::new(a).cmp(Path::new(b)));
    sorted.dedup();
    let mut unique = files.clone();
    unique.dedup();
    assert_eq!(unique, sorted);
    assert_eq!(unique, ["a.yaml", "b/x.yaml", "b.yaml", "z.yaml"]);
}

#[test]
fn the_later_file_in_sorted_order_is_the_duplicate() {
    let fx = Fixture::new(&[("b.yaml", &volume("data")), ("a.yaml", &volume("data"))]);
    let errors = fx.errors();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("b.yaml:3:18: duplicate Volume `data`"),
        "{errors:?}"
    );
}

#[test]
fn objects_are_listed_by_kind_then_name() {
    let fx = Fixture::new(&[("app.yaml", APP)]);
    assert_eq!(
        names(&fx.revision()),
        [
            "volume/data",
            "secret/token",
            "container/db",
            "container/web"
        ]
    );
}

// --- The revision hash -------------------------------------------------------------------

#[test]
fn hash_is_stable_when_files_are_reformatted_reordered_or_split() {
    let original = Fixture::new(&[("app.yaml", APP)]).revision();
    assert_eq!(original.hash().len(), 64);
    assert_eq!(original.short_hash(), &original.hash()[..12]);

    // Split into files, documents reordered, flow style, comments, keys reordered,
    // quoting changed and defaults spelled out.
    let split = Fixture::new(&[
        (
            "z-web.yaml",
            "\
# the web front end
kind: Container
apiVersion: podctl.io/v1
spec:
  dependsOn:
    - db
  secrets: [{env: TOKEN, secret: token}]
  image: \"docker.io/library/nginx:1.27\"
metadata:
  name: web
",
        ),
        (
            "storage/all.yml",
            "\
apiVersion: podctl.io/v1
kind: Secret
metadata: {name: token}
spec: {source: {env: TOKEN}}
---
apiVersion: podctl.io/v1
kind: Volume
metadata:
  name: data
spec:
  driver: local
  reclaimPolicy: Retain
",
        ),
        (
            "a-db.yaml",
            "\
apiVersion: podctl.io/v1
kind: Container
metadata: {name: db}
spec:
  image: 'docker.io/library/postgres:16'
  volumes:
    - volume: data
      path: /var/lib/postgresql/data/
      readOnly: false
",
        ),
    ])
    .revision();
    assert_eq!(split.hash(), original.hash());
}

#[test]
fn hash_changes_when_content_changes() {
    let original = Fixture::new(&[("app.yaml", APP)]).revision();
    for (from, to) in [
        ("nginx:1.27", "nginx:1.28"),
        ("{env: TOKEN}", "{env: OTHER_TOKEN}"),
        ("dependsOn: [db]", "dependsOn: []"),
        (
            "metadata: {name: data}",
            "metadata: {name: data, labels: {a: b}}",
        ),
    ] {
        assert!(APP.contains(from), "{from}");
        let changed = Fixture::new(&[("app.yaml", &APP.replace(from, to))]).revision();
        assert_ne!(changed.hash(), original.hash(), "{from} -> {to}");
    }
}

#[test]
fn object_hash_ignores_layout_but_not_content() {
    let a = Fixture::new(&[("a.yaml", &volume("data"))]).revision();
    let b = Fixture::new(&[("x/b.yml", "# c\n---\nkind: Volume\napiVersion: podctl.io/v1\nmetadata:\n  name: data\nspec:\n  driver: local\n")]).revision();
    let c = Fixture::new(&[("a.yaml", &volume("other"))]).revision();
    let hash = |r: &podctl_api::Revision| podctl_api::object_hash(&r.objects()[0]);
    assert_eq!(hash(&a), hash(&b));
    assert_ne!(hash(&a), hash(&c));
}

// --- The dependency graph ----------------------------------------------------------------

#[test]
fn production_graph_orders_dependencies_first() {
    let revision = load_dir(&examples("production")).expect("valid");
    let graph = revision.graph();
    let order: Vec<String> = graph.order().map(ToString::to_string).collect();
    assert_eq!(
        order,
        [
            "volume/pgdata",
            "secret/api-token",
            "secret/db-password",
            "container/postgresql",
            "container/myapp",
        ]
    );
    let position = |s: &str| order.iter().position(|o| o == s).expect(s);
    assert!(position("container/postgresql") < position("container/myapp"));
    for storage in ["volume/pgdata", "secret/api-token", "secret/db-password"] {
        assert!(position(storage) < position("container/postgresql"));
    }

    let levels: Vec<Vec<String>> = graph
        .levels()
        .iter()
        .map(|l| l.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(
        levels,
        [
            vec!["volume/pgdata", "secret/api-token", "secret/db-password"],
            vec!["container/postgresql"],
            vec!["container/myapp"],
        ]
    );

    let myapp = object(Kind::Container, "myapp");
    let postgresql = object(Kind::Container, "postgresql");
    let password = object(Kind::Secret, "db-password");
    assert_eq!(
        graph.dependencies(&myapp),
        [&object(Kind::Secret, "api-token"), &password, &postgresql]
    );
    // Direct neighbours are listed by kind, then name.
    assert_eq!(graph.dependents(&password), [&myapp, &postgresql]);
    assert_eq!(
        graph.transitive_dependents(&object(Kind::Volume, "pgdata")),
        [&postgresql, &myapp]
    );
    assert!(graph.transitive_dependents(&myapp).is_empty());
}

#[test]
fn independent_objects_share_a_level() {
    let fx = Fixture::new(&[(
        "app.yaml",
        &format!(
            "{APP}---\napiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: cache}}\nspec: {{image: docker.io/library/redis:7}}\n"
        ),
    )]);
    let revision = fx.revision();
    let levels: Vec<Vec<String>> = revision
        .graph()
        .levels()
        .iter()
        .map(|l| l.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(
        levels,
        [
            vec!["volume/data", "secret/token", "container/cache"],
            vec!["container/db"],
            vec!["container/web"],
        ]
    );
}

#[test]
fn a_revision_without_its_documents_should_keep_its_hash_and_point_at_each_document() {
    let fx = Fixture::new(&[("app.yaml", &format!("{}---\n{}", volume("a"), volume("b")))]);
    let mut revision = fx.revision();
    let hash = revision.hash().to_owned();
    let b = object(Kind::Volume, "b");
    let spec = [podctl_api::yaml::PathStep::Key("spec")];
    let before = revision.get(&b).expect("b").origin.at(&spec);
    assert_eq!(before.mark.line, 9, "{before}");

    revision.forget_documents();

    assert_eq!(revision.hash(), hash);
    let after = revision.get(&b).expect("b").origin.at(&spec);
    assert_eq!(
        after.mark.line, 6,
        "the document of b starts after `---`: {after}"
    );
    assert_eq!(after.file, before.file);
}
