//! One YAML document to one typed object: checks `apiVersion` and `kind`, then
//! deserializes the kind's spec, turning every problem into a located diagnostic.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::diagnostic::{Diagnostic, Diagnostics, Location, Mark, closest, excerpt};
use crate::kinds::{API_VERSION, Kind, Object, ObjectMeta, ObjectRef, Origin, Spec};
use crate::name::Name;
use crate::yaml::{DeError, Node, Value, from_node};

/// The envelope every manifest document shares.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document<S> {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: ObjectMeta,
    spec: S,
}

/// A document that names its kind and a valid name but failed to type: it still counts
/// for references and duplicates, so one bad field does not also make every reference
/// to the object an error.
#[derive(Debug)]
pub(crate) struct Declared {
    pub object: ObjectRef,
    pub origin: Origin,
}

/// What one document gave.
pub(crate) enum Parsed {
    Object(Object),
    /// Typed only after its bad values were taken out (their errors are reported): its
    /// cross-field and reference checks still run, except where they would look at the
    /// values taken out (`tainted`, positions in its file).
    Partial {
        object: Object,
        tainted: Vec<Mark>,
    },
    Invalid(Declared),
    Unidentified,
}

/// Types one document, or adds why it cannot be typed to `out`.
pub(crate) fn parse_object(file: &Arc<Path>, document: Node, out: &mut Diagnostics) -> Parsed {
    let at = |node: &Node| Location::new(file.clone(), node.mark);
    report_nul(file, &document, out);
    if !matches!(document.value, Value::Map(_)) {
        out.push(
            Diagnostic::new(
                at(&document),
                format!("a manifest must be a mapping, found {}", document.kind_name()),
            )
            .with_hint("start the document with `apiVersion: podctl.io/v1`, then `kind`, `metadata` and `spec`"),
        );
        return Parsed::Unidentified;
    }

    let api_version_ok = check_api_version(file, &document, out);
    let kind = check_kind(file, &document, out);

    let Some(kind) = kind.filter(|_| api_version_ok) else {
        // The spec cannot be typed without its kind, but a misspelt envelope key (often
        // the reason `kind` is missing) can still be named.
        report_unknown_envelope_keys(file, &document, out);
        return Parsed::Unidentified;
    };
    let document = Arc::new(document);
    let typed = match kind {
        Kind::Container => typed(&document, file, out, |s| Spec::Container(Box::new(s))),
        Kind::Volume => typed(&document, file, out, Spec::Volume),
        Kind::Secret => typed(&document, file, out, Spec::Secret),
        Kind::Image => typed(&document, file, out, Spec::Image),
        Kind::Network => typed(&document, file, out, Spec::Network),
        Kind::BackupRepository => typed(&document, file, out, Spec::BackupRepository),
        Kind::HostSettings => typed(&document, file, out, Spec::HostSettings),
    };
    let origin = Origin {
        file: file.clone(),
        document,
    };
    match typed {
        Typed::Whole(metadata, spec) => Parsed::Object(Object {
            api_version: API_VERSION,
            kind,
            metadata,
            spec,
            origin,
        }),
        Typed::Partial(metadata, spec, tainted) => Parsed::Partial {
            object: Object {
                api_version: API_VERSION,
                kind,
                metadata,
                spec,
                origin,
            },
            tainted,
        },
        Typed::Failed => {
            let name = origin
                .document
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Node::as_str)
                .and_then(|n| n.parse::<Name>().ok());
            match name {
                Some(name) => Parsed::Invalid(Declared {
                    object: ObjectRef::new(kind, name),
                    origin,
                }),
                None => Parsed::Unidentified,
            }
        }
    }
}

/// Whether the document declares this podctl's `apiVersion`; says why not otherwise.
fn check_api_version(file: &Arc<Path>, document: &Node, out: &mut Diagnostics) -> bool {
    let at = |node: &Node| Location::new(file.clone(), node.mark);
    match document.get("apiVersion") {
        None => {
            out.push(
                Diagnostic::new(at(document), "missing `apiVersion`")
                    .with_hint(format!("add `apiVersion: {API_VERSION}`")),
            );
            false
        }
        Some(v) if v.as_str() == Some(API_VERSION) => true,
        Some(v) => {
            let shown = scalar_text(v);
            out.push(
                Diagnostic::new(at(v), format!("unsupported apiVersion `{shown}`"))
                    .with_hint(format!("this podctl reads `apiVersion: {API_VERSION}`")),
            );
            false
        }
    }
}

/// The document's `kind`, or why it has none podctl knows.
fn check_kind(file: &Arc<Path>, document: &Node, out: &mut Diagnostics) -> Option<Kind> {
    let at = |node: &Node| Location::new(file.clone(), node.mark);
    let names = Kind::ALL.map(Kind::as_str);
    match document.get("kind") {
        None => {
            out.push(
                Diagnostic::new(at(document), "missing `kind`")
                    .with_hint(format!("add `kind:` with one of {}", names.join(", "))),
            );
            None
        }
        Some(v) => {
            let shown = scalar_text(v);
            let kind = Kind::parse_exact(&shown);
            if kind.is_none() {
                let hint = match closest(&shown, names) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("use one of {}", names.join(", ")),
                };
                out.push(
                    Diagnostic::new(at(v), format!("unknown kind `{}`", excerpt(&shown)))
                        .with_hint(hint),
                );
            }
            kind
        }
    }
}

const ENVELOPE_KEYS: [&str; 4] = ["apiVersion", "kind", "metadata", "spec"];

/// A NUL (written `"\0"` or `"\x00"` in YAML) ends a C string: no command line, unit
/// file or label can carry one, and podman would pass the literal text on instead. So it
/// is refused in every string, keys included, wherever it is.
fn report_nul(file: &Arc<Path>, node: &Node, out: &mut Diagnostics) {
    match &node.value {
        Value::Scalar(s) if s.text.contains('\0') => out.push(
            Diagnostic::new(
                Location::new(file.clone(), node.mark),
                "this string contains a NUL character (`\\0`)",
            )
            .with_hint("remove it: no command line, unit file or label can carry a NUL"),
        ),
        Value::Scalar(_) | Value::Removed => {}
        Value::Seq(items) => items.iter().for_each(|n| report_nul(file, n, out)),
        Value::Map(entries) => entries.iter().for_each(|(k, v)| {
            report_nul(file, k, out);
            report_nul(file, v, out);
        }),
    }
}

fn report_unknown_envelope_keys(file: &Arc<Path>, document: &Node, out: &mut Diagnostics) {
    let Value::Map(entries) = &document.value else {
        return;
    };
    for (key, _) in entries {
        let shown = scalar_text(key);
        if ENVELOPE_KEYS.contains(&shown.as_str()) {
            continue;
        }
        let hint = match closest(&shown, ENVELOPE_KEYS) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("valid fields here: {}", ENVELOPE_KEYS.join(", ")),
        };
        out.push(
            Diagnostic::new(
                Location::new(file.clone(), key.mark),
                format!("unknown field `{}`", excerpt(&shown)),
            )
            .with_hint(hint),
        );
    }
}

enum Typed {
    Whole(ObjectMeta, Spec),
    Partial(ObjectMeta, Spec, Vec<Mark>),
    Failed,
}

fn typed<S: DeserializeOwned>(
    document: &Arc<Node>,
    file: &Arc<Path>,
    out: &mut Diagnostics,
    wrap: impl FnOnce(S) -> Spec,
) -> Typed {
    match from_node::<Document<S>>(document) {
        Ok(doc) => Typed::Whole(doc.metadata, wrap(doc.spec)),
        Err(rejected) => {
            out.extend(
                rejected
                    .errors
                    .into_iter()
                    .map(|e| diagnostic(file, document, e)),
            );
            match rejected.partial {
                Some(doc) => {
                    let tainted = rejected
                        .removed
                        .iter()
                        .flat_map(|path| document.marks_along(path))
                        .collect();
                    Typed::Partial(doc.metadata, wrap(doc.spec), tainted)
                }
                None => Typed::Failed,
            }
        }
    }
}

pub(crate) fn diagnostic(file: &Arc<Path>, document: &Node, e: DeError) -> Diagnostic {
    Diagnostic {
        location: Location::new(file.clone(), e.mark.unwrap_or(document.mark)),
        message: e.display_message(),
        hint: e.hint,
    }
}

fn scalar_text(node: &Node) -> String {
    match &node.value {
        Value::Scalar(s) => s.text.clone(),
        _ => node.kind_name().to_string(),
    }
}
