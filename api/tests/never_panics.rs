//! Property tests: whatever text a manifest file holds (random bytes, YAML-like noise, or
//! well-formed YAML of arbitrary shape built from manifest words), the loader returns a
//! revision or located diagnostics; it never panics.

use std::path::Path;
use std::sync::Arc;

use podctl_api::{Diagnostics, LoadError, SourceFile, from_sources};
use proptest::prelude::*;

/// Loads `texts` as files `f0.yaml`, `f1.yaml`, ... and checks every diagnostic points
/// into one of them at a plausible position.
fn load(texts: Vec<String>) -> Diagnostics {
    let dir = Path::new("manifests");
    let mut lines = Vec::new();
    let files: Vec<SourceFile> = texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let path: Arc<Path> = Arc::from(dir.join(format!("f{i}.yaml")));
            // YAML breaks lines at `\n`, `\r\n` and a lone `\r`.
            let breaks = text.matches('\n').count() + text.matches('\r').count();
            lines.push((path.clone(), breaks + 1));
            SourceFile { path, text }
        })
        .collect();
    match from_sources(dir, dir, files, Diagnostics::default()) {
        Ok(_) => Diagnostics::default(),
        Err(LoadError::Invalid(diagnostics)) => {
            assert!(!diagnostics.is_empty());
            for d in &diagnostics {
                let (_, max_line) = lines
                    .iter()
                    .find(|(p, _)| **p == *d.file())
                    .unwrap_or_else(|| panic!("diagnostic in an unknown file: {d}"));
                let mark = d.location.mark;
                assert!(mark.line >= 1 && mark.col >= 1, "{d}");
                assert!(
                    mark.line <= *max_line + 1,
                    "{d} (file has {max_line} lines)"
                );
                let _ = d.to_string();
            }
            diagnostics
        }
        Err(e) => panic!("from_sources gave a non-diagnostic error: {e}"),
    }
}

/// A YAML value of arbitrary shape.
#[derive(Debug, Clone)]
enum Tree {
    Scalar(String),
    Seq(Vec<Tree>),
    Map(Vec<(String, Tree)>),
}

const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "labels",
    "spec",
    "image",
    "ref",
    "command",
    "args",
    "env",
    "ports",
    "network",
    "volumes",
    "volume",
    "hostPath",
    "path",
    "readOnly",
    "secrets",
    "secret",
    "dependsOn",
    "healthCheck",
    "interval",
    "retries",
    "restart",
    "policy",
    "resources",
    "memoryMax",
    "cpuQuota",
    "security",
    "systemd",
    "protectSystem",
    "update",
    "healthGate",
    "source",
    "file",
    "subnet",
    "gateway",
    "wantedBy",
    "enabled",
    "x",
    "<<",
];

const SCALARS: &[&str] = &[
    "podctl.io/v1",
    "Container",
    "Volume",
    "Secret",
    "Image",
    "Network",
    "web",
    "db",
    "data",
    "nginx",
    "docker.io/library/nginx:1.27",
    "8080:80",
    "127.0.0.1:53:53/udp",
    "30s",
    "1h30m",
    "2G",
    "200%",
    "/data",
    "../x",
    "host",
    "none",
    "always",
    "registry",
    "strict",
    "true",
    "false",
    "null",
    "~",
    "0",
    "-1",
    "70000",
    "1.5",
    "0x1F",
    "",
    "TOKEN",
    "10.0.0.0/8",
];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(SCALARS).prop_map(str::to_string),
        1 => "[ -~]{0,12}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-zA-Z]{1,8}",
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    scalar()
        .prop_map(Tree::Scalar)
        .prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Tree::Seq),
                prop::collection::vec((key(), inner), 0..6).prop_map(Tree::Map),
            ]
        })
}

/// A document that starts like a manifest, so deserialization and validation run deep.
fn manifest() -> impl Strategy<Value = Tree> {
    (
        proptest::sample::select(&["Container", "Volume", "Secret", "Image", "Network"][..]),
        proptest::sample::select(&["web", "db", "data"][..]),
        tree(),
    )
        .prop_map(|(kind, name, spec)| {
            Tree::Map(vec![
                ("apiVersion".into(), Tree::Scalar("podctl.io/v1".into())),
                ("kind".into(), Tree::Scalar(kind.into())),
                (
                    "metadata".into(),
                    Tree::Map(vec![("name".into(), Tree::Scalar(name.into()))]),
                ),
                ("spec".into(), spec),
            ])
        })
}

/// Plain when it is safe to, else a JSON string (valid YAML double-quoted).
fn emit_scalar(s: &str, plain: bool) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "./-_%".contains(c))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '/');
    if plain && safe {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("json string")
    }
}

/// Block-style YAML with `indent` spaces; `flow` switches to `{...}` / `[...]`.
fn emit(tree: &Tree, indent: usize, flow: bool, out: &mut String) {
    let pad = " ".repeat(indent);
    match tree {
        Tree::Scalar(s) => {
            out.push_str(&emit_scalar(s, true));
            out.push('\n');
        }
        Tree::Seq(items) if flow || items.is_empty() => {
            out.push_str(&flow_text(tree));
            out.push('\n');
        }
        Tree::Map(entries) if flow || entries.is_empty() => {
            out.push_str(&flow_text(tree));
            out.push('\n');
        }
        Tree::Seq(items) => {
            out.push('\n');
            for item in items {
                out.push_str(&pad);
                out.push_str("- ");
                match item {
                    Tree::Scalar(_) => emit(item, indent + 2, flow, out),
                    _ => {
                        out.push_str(&flow_text(item));
                        out.push('\n');
                    }
                }
            }
        }
        Tree::Map(entries) => {
            out.push('\n');
            for (k, v) in entries {
                out.push_str(&pad);
                out.push_str(&emit_scalar(k, true));
                out.push_str(": ");
                emit(v, indent + 2, flow, out);
            }
        }
    }
}

fn flow_text(tree: &Tree) -> String {
    match tree {
        Tree::Scalar(s) => emit_scalar(s, false),
        Tree::Seq(items) => format!(
            "[{}]",
            items.iter().map(flow_text).collect::<Vec<_>>().join(", ")
        ),
        Tree::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", emit_scalar(k, false), flow_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn document(tree: &Tree, flow: bool) -> String {
    let mut out = String::new();
    match tree {
        Tree::Map(entries) if !flow && !entries.is_empty() => {
            for (k, v) in entries {
                out.push_str(&emit_scalar(k, true));
                out.push_str(": ");
                emit(v, 2, false, &mut out);
            }
        }
        _ => {
            out.push_str(&flow_text(tree));
            out.push('\n');
        }
    }
    out
}

proptest! {
    // No regression files in the tree: a failure prints its minimal input; add it as a
    // plain test.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = load(vec![String::from_utf8_lossy(&bytes).into_owned()]);
    }

    #[test]
    fn yaml_like_text_never_panics(
        text in "([a-zA-Z0-9 :\\-\\[\\]{},#&*!|>'\"?%@`.~/\n\t]|---\n|  - |: ){0,200}"
    ) {
        let _ = load(vec![text]);
    }

    #[test]
    fn arbitrary_yaml_trees_never_panic(
        docs in prop::collection::vec((prop_oneof![tree(), manifest()], any::<bool>()), 1..4),
        split in any::<bool>(),
    ) {
        let texts: Vec<String> = docs.iter().map(|(t, flow)| document(t, *flow)).collect();
        let diagnostics = if split {
            load(texts.clone())
        } else {
            load(vec![texts.join("---\n")])
        };
        // Well-formed YAML in, so the loader went past the parser into typing and checks.
        for d in &diagnostics {
            prop_assert!(!d.message.starts_with("YAML syntax error"), "{d}\n{texts:#?}");
        }
    }
}

#[test]
fn generated_manifests_are_valid_yaml() {
    // The emitter above must produce YAML that parses, or the tree property would only
    // exercise the syntax-error path.
    let tree = Tree::Map(vec![
        ("apiVersion".into(), Tree::Scalar("podctl.io/v1".into())),
        ("kind".into(), Tree::Scalar("Volume".into())),
        (
            "metadata".into(),
            Tree::Map(vec![("name".into(), Tree::Scalar("data".into()))]),
        ),
        (
            "spec".into(),
            Tree::Map(vec![(
                "labels".into(),
                // The key needs quoting in flow style (`,`, `[`), the value in block style.
                Tree::Map(vec![("a,b[c]".into(), Tree::Scalar("- x: y".into()))]),
            )]),
        ),
    ]);
    for flow in [false, true] {
        let text = document(&tree, flow);
        let files = vec![SourceFile {
            path: Arc::from(Path::new("v.yaml")),
            text: text.clone(),
        }];
        let revision = from_sources(
            Path::new("."),
            Path::new("."),
            files,
            Diagnostics::default(),
        );
        assert!(revision.is_ok(), "{text}\n{:?}", revision.err());
    }
}
