//! A serde deserializer over the spanned tree that reports every problem of a document:
//! unknown keys are collected (with a "did you mean" hint) instead of stopping, each error
//! is pinned to its node, and a failed value is taken out and the document tried again so
//! that the errors after it are found too.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use super::tree::{Node, OwnedStep, Resolved, Scalar, Value, display_path};
use crate::diagnostic::{Mark, closest, excerpt};

/// Separates a message from its hint inside a serde custom error, so that the value types'
/// own `Deserialize` impls can suggest a fix through serde's string-only error channel.
const HINT_SEPARATOR: &str = "\u{1f}hint:";

/// Retries of one document after taking out a bad value; bounds the work a document with
/// very many errors can cause.
const MAX_RETRIES: usize = 64;

/// Builds a serde error message that carries a hint.
pub(crate) fn message_with_hint(message: impl fmt::Display, hint: impl fmt::Display) -> String {
    format!("{message}{HINT_SEPARATOR}{hint}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    pub mark: Option<Mark>,
    /// The node the error is about, once known.
    pub path: Option<Vec<OwnedStep>>,
    pub message: String,
    pub hint: Option<String>,
    /// Set for "missing required field": a retry that took out that field must not
    /// report it as missing.
    missing_field: Option<&'static str>,
    /// Set for unknown keys, which are reported but never taken out (they were skipped).
    unknown_key: bool,
}

impl DeError {
    fn new(message: String, hint: Option<String>) -> Self {
        Self {
            mark: None,
            path: None,
            message,
            hint,
            missing_field: None,
            unknown_key: false,
        }
    }

    /// The message as shown: prefixed with the path of the node (`spec.ports[1]: ...`).
    pub fn display_message(&self) -> String {
        match &self.path {
            Some(path) if !path.is_empty() && !self.unknown_key => {
                format!("{}: {}", display_path(path), self.message)
            }
            _ => self.message.clone(),
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_message())
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let text = msg.to_string();
        match text.split_once(HINT_SEPARATOR) {
            Some((message, hint)) => Self::new(message.to_string(), Some(hint.to_string())),
            None => Self::new(text, None),
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let hint = closest(variant, expected.iter().copied())
            .map(|best| format!("did you mean `{best}`?"));
        Self::new(
            format!(
                "unknown value `{}`; expected one of {}",
                excerpt(variant),
                quoted_list(expected)
            ),
            hint,
        )
    }

    /// serde names integer types as Rust does (`expected u32`); say the range instead.
    fn invalid_value(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        let expected = expected.to_string();
        let range = match expected.as_str() {
            "u8" => Some((0, u64::from(u8::MAX))),
            "u16" => Some((0, u64::from(u16::MAX))),
            "u32" => Some((0, u64::from(u32::MAX))),
            "u64" | "usize" => Some((0, u64::MAX)),
            _ => None,
        };
        match range {
            Some((low, high)) => Self::new(
                format!("{unexpected} is out of range"),
                Some(format!("write a whole number from {low} to {high}")),
            ),
            None => Self::new(
                format!("invalid value: {unexpected}, expected {expected}"),
                None,
            ),
        }
    }

    /// A key a nested struct (one read through `deserialize_any`) does not know.
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let hint = match closest(field, expected.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("valid fields here: {}", expected.join(", ")),
        };
        let mut e = Self::new(format!("unknown field `{}`", excerpt(field)), Some(hint));
        e.unknown_key = true;
        e
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = Self::new(
            format!("missing required field `{field}`"),
            Some(format!("add `{field}:` to this mapping")),
        );
        e.missing_field = Some(field);
        e
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a document did not deserialize: every problem, and what could still be read.
pub struct Rejected<T> {
    pub errors: Vec<DeError>,
    /// The value read once the failed nodes were taken out (unknown keys are skipped),
    /// when that succeeded: cross-field checks can still run on it.
    pub partial: Option<T>,
    /// The nodes taken out, by path.
    pub removed: Vec<Vec<OwnedStep>>,
}

/// Deserializes `node` into `T`, returning every problem found in it.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, Rejected<T>> {
    let mut errors: Vec<DeError> = Vec::new();
    let mut removed: Vec<Vec<OwnedStep>> = Vec::new();
    // The first attempt reads the original; only a document with errors is copied.
    let mut patched: Option<Node> = None;
    for _ in 0..=MAX_RETRIES {
        let tree = patched.as_ref().unwrap_or(node);
        let sink = RefCell::new(Vec::new());
        let result = T::deserialize(NodeDe {
            node: tree,
            path: None,
            sink: &sink,
        });
        for e in sink.into_inner() {
            if !errors.contains(&e) {
                errors.push(e);
            }
        }
        let e = match result {
            Ok(value) if errors.is_empty() => return Ok(value),
            Ok(value) => {
                return Err(Rejected {
                    errors,
                    partial: Some(value),
                    removed,
                });
            }
            Err(e) => e,
        };
        let path = e.path.clone().unwrap_or_default();
        let spurious = e.missing_field.is_some_and(|field| {
            removed.iter().any(|r| {
                r.len() == path.len() + 1
                    && r.starts_with(&path)
                    && r.last() == Some(&OwnedStep::Key(field.to_string()))
            })
        });
        if !spurious && !errors.contains(&e) {
            errors.push(e);
        }
        // Take the failed node out and try again, to find the errors after it.
        let tree = patched.get_or_insert_with(|| node.clone());
        if path.is_empty() || !tree.remove(&path) {
            break;
        }
        removed.push(path);
    }
    Err(Rejected {
        errors,
        partial: None,
        removed,
    })
}

/// A path as a linked list of steps borrowed from the tree: one small allocation per
/// node visited, and an owned copy only when an error needs it.
struct PathLink<'a> {
    parent: Option<Rc<PathLink<'a>>>,
    step: Step<'a>,
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn owned_path(path: &Option<Rc<PathLink<'_>>>) -> Vec<OwnedStep> {
    let mut steps = Vec::new();
    let mut link = path.as_deref();
    while let Some(l) = link {
        steps.push(match l.step {
            Step::Key(k) => OwnedStep::Key(k.to_string()),
            Step::Index(i) => OwnedStep::Index(i),
        });
        link = l.parent.as_deref();
    }
    steps.reverse();
    steps
}

fn join<'a>(parent: &Option<Rc<PathLink<'a>>>, step: Step<'a>) -> Option<Rc<PathLink<'a>>> {
    Some(Rc::new(PathLink {
        parent: parent.clone(),
        step,
    }))
}

struct NodeDe<'a, 's> {
    node: &'a Node,
    path: Option<Rc<PathLink<'a>>>,
    sink: &'s RefCell<Vec<DeError>>,
}

/// Gives an error raised at `node` its position and path, unless a deeper node already
/// claimed it.
fn locate(e: DeError, node: &Node, path: &Option<Rc<PathLink<'_>>>) -> DeError {
    if e.mark.is_some() {
        return e;
    }
    DeError {
        mark: Some(node.mark),
        path: Some(owned_path(path)),
        ..e
    }
}

impl<'a, 's> NodeDe<'a, 's> {
    fn locate(&self, e: DeError) -> DeError {
        locate(e, self.node, &self.path)
    }

    fn expected(&self, what: &str) -> DeError {
        let hint = match (&self.node.value, what) {
            (Value::Scalar(s), "a list") if s.resolved != Resolved::Null => {
                Some(format!("write a list, e.g. [{}]", s.text))
            }
            (Value::Scalar(s), "an integer") if s.resolved == Resolved::Str => {
                let t = s.text.trim();
                (!t.is_empty() && t.chars().all(|c| c.is_ascii_digit()))
                    .then(|| "remove the quotes around the number".to_string())
            }
            (Value::Scalar(s), "true or false") if s.resolved == Resolved::Str => {
                Some("YAML 1.2 booleans are `true` and `false`".to_string())
            }
            (Value::Scalar(s), "a string") if s.resolved == Resolved::Null => {
                Some("give a value after the colon".to_string())
            }
            _ => None,
        };
        self.locate(DeError::new(
            format!("expected {what}, found {}", self.node.kind_name()),
            hint,
        ))
    }

    fn scalar(&self) -> Option<&'a Scalar> {
        match &self.node.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    fn child(&self, node: &'a Node, step: Step<'a>) -> NodeDe<'a, 's> {
        NodeDe {
            node,
            path: join(&self.path, step),
            sink: self.sink,
        }
    }
}

macro_rules! integer {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            match self.scalar().map(|s| s.resolved) {
                Some(Resolved::Int(i)) => {
                    let r = if let Ok(v) = i64::try_from(i) {
                        visitor.visit_i64(v)
                    } else if let Ok(v) = u64::try_from(i) {
                        visitor.visit_u64(v)
                    } else {
                        visitor.visit_i128(i)
                    };
                    r.map_err(|e| self.locate(e))
                }
                _ => Err(self.expected("an integer")),
            }
        }
    )*};
}

impl<'de, 'a, 's> de::Deserializer<'de> for NodeDe<'a, 's> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Scalar(s) => match s.resolved {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => match i64::try_from(i) {
                    Ok(v) => visitor.visit_i64(v),
                    Err(_) => visitor.visit_i128(i),
                },
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str => visitor.visit_str(&s.text),
            },
            Value::Seq(items) => visitor.visit_seq(SeqDe::new(&self, items)),
            Value::Map(entries) => visitor.visit_map(MapDe::new(&self, entries, None)),
            Value::Removed => visitor.visit_unit(),
        };
        result.map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar().map(|s| s.resolved) {
            Some(Resolved::Bool(b)) => visitor.visit_bool(b).map_err(|e| self.locate(e)),
            _ => Err(self.expected("true or false")),
        }
    }

    integer!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match self.scalar().map(|s| s.resolved) {
            Some(Resolved::Float(f)) => visitor.visit_f64(f),
            #[allow(clippy::cast_precision_loss)]
            Some(Resolved::Int(i)) => visitor.visit_f64(i as f64),
            _ => return Err(self.expected("a number")),
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    /// Strings also take numbers and booleans as written (`PORT: 8080` in an env map),
    /// which is what an operator means; the reverse (a quoted number) is never accepted.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some(s) if s.resolved != Resolved::Null => {
                visitor.visit_str(&s.text).map_err(|e| self.locate(e))
            }
            _ => Err(self.expected("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, DeError> {
        Err(self.expected("binary data (not supported)"))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_none().map_err(|e| self.locate(e))
        } else {
            let (node, path) = (self.node, self.path.clone());
            visitor.visit_some(self).map_err(|e| locate(e, node, &path))
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_unit().map_err(|e| self.locate(e))
        } else {
            Err(self.expected("nothing (null)"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (node, path) = (self.node, self.path.clone());
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| locate(e, node, &path))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Seq(items) => visitor
                .visit_seq(SeqDe::new(&self, items))
                .map_err(|e| self.locate(e)),
            _ => Err(self.expected("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => visitor
                .visit_map(MapDe::new(&self, entries, None))
                .map_err(|e| self.locate(e)),
            _ => Err(self.expected("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => visitor
                .visit_map(MapDe::new(&self, entries, Some(fields)))
                .map_err(|e| self.locate(e)),
            _ => Err(self.expected("a mapping")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some(s) if s.resolved != Resolved::Null => visitor
                .visit_enum(UnitVariant(s.text.as_str()))
                .map_err(|e| self.locate(e)),
            _ => Err(self.expected("a string")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct SeqDe<'a, 's> {
    parent: NodeDe<'a, 's>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'a, 's> SeqDe<'a, 's> {
    fn new(parent: &NodeDe<'a, 's>, items: &'a [Node]) -> Self {
        Self {
            parent: NodeDe {
                node: parent.node,
                path: parent.path.clone(),
                sink: parent.sink,
            },
            items: items.iter().enumerate(),
        }
    }
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        for (i, node) in self.items.by_ref() {
            if matches!(node.value, Value::Removed) {
                continue;
            }
            let child = self.parent.child(node, Step::Index(i));
            let path = child.path.clone();
            return seed
                .deserialize(child)
                .map(Some)
                .map_err(|e| locate(e, node, &path));
        }
        Ok(None)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a, 's> {
    parent: NodeDe<'a, 's>,
    entries: std::slice::Iter<'a, (Node, Node)>,
    /// The struct's field names: keys outside them are reported and skipped, so one
    /// document can show every misspelt key at once.
    fields: Option<&'static [&'static str]>,
    value: Option<(&'a Node, &'a Node)>,
}

impl<'a, 's> MapDe<'a, 's> {
    fn new(
        parent: &NodeDe<'a, 's>,
        entries: &'a [(Node, Node)],
        fields: Option<&'static [&'static str]>,
    ) -> Self {
        Self {
            parent: NodeDe {
                node: parent.node,
                path: parent.path.clone(),
                sink: parent.sink,
            },
            entries: entries.iter(),
            fields,
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for MapDe<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        for (key, value) in self.entries.by_ref() {
            if matches!(value.value, Value::Removed) {
                continue;
            }
            if let Some(fields) = self.fields {
                let known = key.as_str().is_some_and(|k| fields.contains(&k));
                if !known {
                    let e = unknown_field(key, &self.parent.path, fields);
                    self.parent.sink.borrow_mut().push(e);
                    continue;
                }
            }
            self.value = Some((key, value));
            let key_de = NodeDe {
                node: key,
                path: self.parent.path.clone(),
                sink: self.parent.sink,
            };
            // A bad key (an env name, a field a nested struct does not know) points at
            // the key, and its entry is what a retry takes out.
            let entry = join(&self.parent.path, key_step(key));
            return seed.deserialize(key_de).map(Some).map_err(|e| {
                let e = if e.unknown_key {
                    with_place(e, &self.parent.path)
                } else {
                    e
                };
                DeError {
                    mark: Some(key.mark),
                    path: Some(owned_path(&entry)),
                    ..e
                }
            });
        }
        Ok(None)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DeError> {
        let (key, node) = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value requested before its key"))?;
        let child = self.parent.child(node, key_step(key));
        let path = child.path.clone();
        seed.deserialize(child).map_err(|e| locate(e, node, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

fn key_step(key: &Node) -> Step<'_> {
    match &key.value {
        Value::Scalar(s) => Step::Key(s.text.as_str()),
        _ => Step::Key("?"),
    }
}

/// Names the mapping an unknown key was found in, as `unknown_field` does.
fn with_place(mut e: DeError, path: &Option<Rc<PathLink<'_>>>) -> DeError {
    let parent = owned_path(path);
    if !parent.is_empty() {
        e.message = format!("{} in `{}`", e.message, display_path(&parent));
    }
    e
}

fn unknown_field(
    key: &Node,
    path: &Option<Rc<PathLink<'_>>>,
    fields: &'static [&'static str],
) -> DeError {
    let shown = match &key.value {
        Value::Scalar(s) => s.text.clone(),
        _ => key.kind_name().to_string(),
    };
    let hint = match closest(&shown, fields.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("valid fields here: {}", fields.join(", ")),
    };
    let parent = owned_path(path);
    let place = if parent.is_empty() {
        String::new()
    } else {
        format!(" in `{}`", display_path(&parent))
    };
    DeError {
        mark: Some(key.mark),
        path: Some(parent),
        message: format!("unknown field `{}`{place}", excerpt(&shown)),
        hint: Some(hint),
        missing_field: None,
        unknown_key: true,
    }
}

/// An enum given as a plain string: only unit variants, which is all the manifest uses.
struct UnitVariant<'t>(&'t str);

impl<'de> de::EnumAccess<'de> for UnitVariant<'_> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), DeError> {
        let de: de::value::StrDeserializer<'_, DeError> = self.0.into_deserializer();
        seed.deserialize(de).map(|v| (v, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        _seed: T,
    ) -> Result<T::Value, DeError> {
        Err(de::Error::custom(format_args!(
            "`{}` needs a value",
            self.0
        )))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, DeError> {
        Err(de::Error::custom(format_args!(
            "`{}` needs a value",
            self.0
        )))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, DeError> {
        Err(de::Error::custom(format_args!(
            "`{}` needs a value",
            self.0
        )))
    }
}
