//! YAML with positions: a small spanned tree built from saphyr's event stream, and a serde
//! deserializer over it that reports every problem at the line and column it comes from.

mod de;
mod tree;

pub(crate) use de::message_with_hint;
pub use de::{DeError, from_node};
pub use tree::{Node, ParsedFile, PathStep, Resolved, Scalar, Value, parse_documents};
