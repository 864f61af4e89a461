//! The spanned YAML tree: scalars resolved by the YAML 1.2 core schema, every node marked.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::diagnostic::Mark;

/// Nodes one file may expand to, aliases included: a guard against alias bombs
/// ("billion laughs") in a file that a controller reads unattended.
const NODE_BUDGET: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// A node taken out after it failed to deserialize, so that a retry can find the
    /// errors after it; lists keep it in place so later items keep their indexes.
    Removed,
}

/// A scalar keeps its source text beside its resolved type, so that a string field given
/// `8080` or `true` can take the text the operator wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub resolved: Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str,
}

impl Node {
    /// What a user would call this node's type, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar(s) => match s.resolved {
                Resolved::Null => "nothing (null)",
                Resolved::Bool(_) => "a boolean",
                Resolved::Int(_) => "an integer",
                Resolved::Float(_) => "a number",
                Resolved::Str => "a string",
            },
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Removed => "nothing",
        }
    }

    /// The value under `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The mapping entry (key node and value node) under `key`.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(Scalar {
                text,
                resolved: Resolved::Str,
            }) => Some(text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(
            self.value,
            Value::Scalar(Scalar {
                resolved: Resolved::Null,
                ..
            })
        )
    }

    /// The deepest node along `path` (mapping keys and list indexes), and whether the
    /// whole path exists.
    fn walk(&self, path: &[PathStep<'_>]) -> (&Node, bool) {
        let mut node = self;
        for step in path {
            let next = match (step, &node.value) {
                (PathStep::Key(k), Value::Map(_)) => node.get(k),
                (PathStep::Index(i), Value::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return (node, false),
            }
        }
        (node, true)
    }

    /// The position of the node at `path`, falling back to the deepest node that exists:
    /// used to pin semantic errors found after typing.
    pub fn locate(&self, path: &[PathStep<'_>]) -> Mark {
        self.walk(path).0.mark
    }

    /// The position of the key `key` in the mapping at `path`, or of the mapping itself.
    pub fn locate_key(&self, path: &[PathStep<'_>], key: &str) -> Mark {
        match self.walk(path) {
            (node, true) => node.entry(key).map_or(node.mark, |(k, _)| k.mark),
            (node, false) => node.mark,
        }
    }
}

impl Node {
    /// Marks the node at `path` as removed; false when there is no such node.
    pub(crate) fn remove(&mut self, path: &[OwnedStep]) -> bool {
        if path.is_empty() {
            return false;
        }
        let mut node = self;
        for step in path {
            match node.child_mut(step) {
                Some(next) => node = next,
                None => return false,
            }
        }
        if matches!(node.value, Value::Removed) {
            return false;
        }
        node.value = Value::Removed;
        true
    }

    /// The positions a check could point at when it looks at the node at `path`: each
    /// node and key on the way there (the root excluded), and everything below it.
    pub(crate) fn marks_along(&self, path: &[OwnedStep]) -> Vec<Mark> {
        let mut marks = Vec::new();
        let mut node = self;
        for step in path {
            let next = match (step, &node.value) {
                (OwnedStep::Key(k), Value::Map(_)) => node.entry(k).map(|(key, value)| {
                    marks.push(key.mark);
                    value
                }),
                (OwnedStep::Index(i), Value::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return marks,
            }
            marks.push(node.mark);
        }
        node.collect_marks(&mut marks);
        marks
    }

    fn collect_marks(&self, out: &mut Vec<Mark>) {
        out.push(self.mark);
        match &self.value {
            Value::Seq(items) => items.iter().for_each(|n| n.collect_marks(out)),
            Value::Map(entries) => entries.iter().for_each(|(k, v)| {
                out.push(k.mark);
                v.collect_marks(out);
            }),
            Value::Scalar(_) | Value::Removed => {}
        }
    }

    fn child_mut(&mut self, step: &OwnedStep) -> Option<&mut Node> {
        match (step, &mut self.value) {
            (OwnedStep::Key(k), Value::Map(entries)) => entries
                .iter_mut()
                .find(|(key, _)| key.as_str() == Some(k))
                .map(|(_, v)| v),
            (OwnedStep::Index(i), Value::Seq(items)) => items.get_mut(*i),
            _ => None,
        }
    }
}

/// A step of a path kept in an error: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedStep {
    Key(String),
    Index(usize),
}

/// Shows a path as users write it: `spec.ports[1]`.
pub fn display_path(path: &[OwnedStep]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            OwnedStep::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            OwnedStep::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// One step of a path into a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathStep<'a> {
    Key(&'a str),
    Index(usize),
}

/// The documents of one file that parsed, and the problems found while parsing.
#[derive(Debug, Default)]
pub struct ParsedFile {
    /// Non-empty documents, in file order.
    pub documents: Vec<Node>,
    /// Syntax errors, duplicate keys, unsupported tags: message, hint and position.
    pub errors: Vec<(Mark, String, Option<String>)>,
}

/// Parses every document of `text`. Parsing stops at the first syntax error (YAML gives no
/// reliable way to resynchronise), but the documents before it are kept and checked.
pub fn parse_documents(text: &str) -> ParsedFile {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => {
                if let Err(stop) = builder.on_event(event, span) {
                    builder.out.errors.push(stop);
                    break;
                }
            }
            Some(Err(e)) => {
                let m = e.marker();
                builder.out.errors.push((
                    Mark::new(m.line(), m.col() + 1),
                    format!("YAML syntax error: {}", e.info()),
                    Some(syntax_hint(e.info()).to_string()),
                ));
                break;
            }
        }
    }
    builder.out
}

fn syntax_hint(info: &str) -> &'static str {
    // Match the word: "unprintable" contains "tab" too.
    if info
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|w| w == "tab" || w == "tabs")
    {
        "YAML indents with spaces only; replace the tab characters"
    } else if info.contains("unprintable") {
        "remove the control character; manifests are plain UTF-8 text"
    } else if info.contains("mapping values are not allowed") {
        "a value that contains `: ` must be quoted, e.g. \"a: b\"; or check the indentation of this line"
    } else {
        "check the indentation and quoting on this line and the one before it"
    }
}

enum Frame {
    Seq(Node, Vec<Node>, usize),
    Map(Node, Vec<(Node, Node)>, Option<Node>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    out: ParsedFile,
}

type Stop = (Mark, String, Option<String>);

impl Builder {
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), Stop> {
        let mark = Mark::new(span.start.line(), span.start.col() + 1);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                self.stack.clear();
                self.anchors.clear();
            }
            Event::DocumentEnd => {}
            Event::Alias(id) => {
                let node =
                    self.anchors.get(&id).cloned().ok_or_else(|| {
                        (mark, "YAML alias to an unknown anchor".to_string(), None)
                    })?;
                self.nodes += count_nodes(&node);
                self.check_budget(mark)?;
                self.push(node, 0)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let resolved = resolve(&text, style, tag.as_deref(), mark)?;
                let node = Node {
                    value: Value::Scalar(Scalar {
                        text: text.into_owned(),
                        resolved,
                    }),
                    mark,
                };
                self.nodes += 1;
                self.check_budget(mark)?;
                self.push(node, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                reject_tag(tag.as_deref(), mark)?;
                let node = Node {
                    value: Value::Seq(Vec::new()),
                    mark,
                };
                self.stack.push(Frame::Seq(node, Vec::new(), anchor));
            }
            Event::MappingStart(anchor, tag) => {
                reject_tag(tag.as_deref(), mark)?;
                let node = Node {
                    value: Value::Map(Vec::new()),
                    mark,
                };
                self.stack.push(Frame::Map(node, Vec::new(), None, anchor));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(mut node, items, anchor)) = self.stack.pop() {
                    self.nodes += 1;
                    self.check_budget(mark)?;
                    node.value = Value::Seq(items);
                    self.push(node, anchor)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(mut node, entries, _, anchor)) = self.stack.pop() {
                    self.nodes += 1;
                    self.check_budget(mark)?;
                    node.value = Value::Map(entries);
                    self.push(node, anchor)?;
                }
            }
        }
        Ok(())
    }

    fn check_budget(&self, mark: Mark) -> Result<(), Stop> {
        if self.nodes > NODE_BUDGET {
            return Err((
                mark,
                format!("document expands to more than {NODE_BUDGET} YAML nodes"),
                Some("aliases (`*name`) multiply the content they refer to; write the values out or split the file".into()),
            ));
        }
        Ok(())
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), Stop> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if !node.is_null() {
                    self.out.documents.push(node);
                }
            }
            Some(Frame::Seq(_, items, _)) => items.push(node),
            Some(Frame::Map(_, entries, pending_key, _)) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    if let Some((first, _)) = entries
                        .iter()
                        .find(|(k, _)| k.value == key.value && matches!(k.value, Value::Scalar(_)))
                    {
                        let shown = match &key.value {
                            Value::Scalar(s) => s.text.clone(),
                            _ => String::new(),
                        };
                        self.out.errors.push((
                            key.mark,
                            format!(
                                "duplicate key `{shown}` (first set at line {}, column {})",
                                first.mark.line, first.mark.col
                            ),
                            Some("a key may appear once per mapping; remove one of them".into()),
                        ));
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
        Ok(())
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Scalar(_) => 1,
        Value::Removed => 0,
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

fn reject_tag(tag: Option<&Tag>, mark: Mark) -> Result<(), Stop> {
    match tag {
        None => Ok(()),
        Some(t) if t.is_yaml_core_schema() && matches!(t.suffix.as_str(), "map" | "seq") => Ok(()),
        Some(t) => Err(unsupported_tag(t, mark)),
    }
}

fn unsupported_tag(tag: &Tag, mark: Mark) -> Stop {
    // Shown as written: saphyr's Display gives `tag:yaml.org,2002:!binary` for `!!binary`.
    let shown = if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else if tag.handle == "!" {
        format!("!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    };
    (
        mark,
        format!("unsupported YAML tag `{shown}`"),
        Some("podctl manifests use plain YAML; remove the tag, or quote the value to make it a string".into()),
    )
}

/// Resolves a scalar by the YAML 1.2 core schema: only `true`/`false` are booleans, so
/// `no`, `on` and `yes` stay strings (no "Norway problem").
fn resolve(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    mark: Mark,
) -> Result<Resolved, Stop> {
    if let Some(tag) = tag {
        if !tag.is_yaml_core_schema() {
            return Err(unsupported_tag(tag, mark));
        }
        return match tag.suffix.as_str() {
            "str" => Ok(Resolved::Str),
            "null" | "bool" | "int" | "float" => Ok(resolve_plain(text)),
            _ => Err(unsupported_tag(tag, mark)),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Resolved::Str);
    }
    Ok(resolve_plain(text))
}

fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty()
            && hex.chars().all(|c| c.is_ascii_hexdigit())
            && let Ok(v) = i128::from_str_radix(hex, 16)
        {
            return Resolved::Int(v);
        }
        return Resolved::Str;
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if !oct.is_empty()
            && oct.chars().all(|c| matches!(c, '0'..='7'))
            && let Ok(v) = i128::from_str_radix(oct, 8)
        {
            return Resolved::Int(v);
        }
        return Resolved::Str;
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return match text.parse::<i128>() {
            Ok(v) => Resolved::Int(v),
            Err(_) => Resolved::Str,
        };
    }
    if is_core_float(digits)
        && let Ok(v) = text.parse::<f64>()
    {
        return Resolved::Float(v);
    }
    Resolved::Str
}

/// `[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)?` with at least one digit before the exponent.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let digits_ok = int.chars().all(|c| c.is_ascii_digit())
        && frac.is_none_or(|f| f.chars().all(|c| c.is_ascii_digit()));
    let has_digit = !int.is_empty() || frac.is_some_and(|f| !f.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    // A plain integer was handled before; a float needs a dot or an exponent.
    digits_ok && has_digit && exponent_ok && (frac.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let parsed = parse_documents(text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        parsed.documents.into_iter().next().expect("a document")
    }

    #[test]
    fn core_schema_keeps_norway_a_string() {
        let doc = one("a: no\nb: true\nc: 8080\nd: 1.5\ne: ~\nf: '42'\ng: 0x1F\n");
        let resolved = |k: &str| match &doc.get(k).expect(k).value {
            Value::Scalar(s) => s.resolved,
            _ => panic!("not a scalar"),
        };
        assert_eq!(resolved("a"), Resolved::Str);
        assert_eq!(resolved("b"), Resolved::Bool(true));
        assert_eq!(resolved("c"), Resolved::Int(8080));
        assert_eq!(resolved("d"), Resolved::Float(1.5));
        assert_eq!(resolved("e"), Resolved::Null);
        assert_eq!(resolved("f"), Resolved::Str);
        assert_eq!(resolved("g"), Resolved::Int(31));
    }

    #[test]
    fn marks_are_one_based() {
        let doc = one("kind: Container\nspec:\n  image: x\n");
        let spec = doc.get("spec").expect("spec");
        let (key, value) = spec.entry("image").expect("image");
        assert_eq!(key.mark, Mark::new(3, 3));
        assert_eq!(value.mark, Mark::new(3, 10));
    }

    #[test]
    fn empty_documents_are_skipped() {
        let parsed = parse_documents("---\n# only a comment\n---\na: 1\n---\n");
        assert_eq!(parsed.documents.len(), 1);
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_lines() {
        let parsed = parse_documents("a: 1\nb: 2\na: 3\n");
        assert_eq!(parsed.errors.len(), 1);
        let (mark, message, _) = &parsed.errors[0];
        assert_eq!(*mark, Mark::new(3, 1));
        assert!(message.contains("first set at line 1"), "{message}");
    }

    #[test]
    fn syntax_error_keeps_documents_before_it() {
        let parsed = parse_documents("a: 1\n---\nb: [1, 2\n");
        assert_eq!(parsed.documents.len(), 1);
        assert_eq!(parsed.errors.len(), 1);
        assert!(parsed.errors[0].1.starts_with("YAML syntax error"));
    }

    #[test]
    fn syntax_hints_match_the_error() {
        let tab = parse_documents("a:\n\tb: 1\n");
        // The minimal input proptest found: a NUL after line breaks.
        let unprintable = parse_documents("\u{1}\r\r\r\u{0}");
        let hint = |p: &ParsedFile| p.errors[0].2.clone().unwrap_or_default();
        assert!(hint(&tab).contains("tab"), "{:?}", tab.errors);
        assert!(
            hint(&unprintable).contains("control character"),
            "{:?}",
            unprintable.errors
        );
    }

    #[test]
    fn alias_bomb_is_stopped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let parsed = parse_documents(&text);
        assert!(
            parsed.errors.iter().any(|e| e.1.contains("more than")),
            "{:?}",
            parsed.errors
        );
    }

    #[test]
    fn locate_finds_nested_list_items() {
        let doc = one("spec:\n  dependsOn:\n    - db\n    - cache\n");
        let mark = doc.locate(&[
            PathStep::Key("spec"),
            PathStep::Key("dependsOn"),
            PathStep::Index(1),
        ]);
        assert_eq!(mark, Mark::new(4, 7));
    }
}
