//! Object names: lowercase DNS-1123 labels, because they become unit names
//! (`NAME.service`), podman object names and DNS names on container networks.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::values::ValueError;
use crate::yaml::message_with_hint;

pub const MAX_NAME_LEN: usize = 63;

/// A valid object name: 1–63 characters of `[a-z0-9-]`, starting and ending with a letter
/// or digit. Nothing else can become a `Name`, so no path trick (`../x`) reaches a file
/// name or a podman argument.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let rule = "names are 1-63 lowercase letters, digits and `-`, starting and ending with a letter or digit";
        let fail = |why: String, hint: String| {
            Err(ValueError {
                message: why,
                hint: Some(hint),
            })
        };
        if s.is_empty() {
            return fail("name is empty".into(), rule.into());
        }
        if s.len() > MAX_NAME_LEN {
            return fail(
                format!(
                    "name `{s}` is {} characters long, more than {MAX_NAME_LEN}",
                    s.len()
                ),
                "shorten it: the name becomes a unit name and a DNS label".into(),
            );
        }
        let chars_ok = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let ends_ok = !s.starts_with('-') && !s.ends_with('-');
        if chars_ok && ends_ok {
            return Ok(Self(s.to_string()));
        }
        let suggestion: String = s
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .to_string();
        let hint = if !suggestion.is_empty() && suggestion.len() <= MAX_NAME_LEN {
            format!("{rule}, e.g. `{suggestion}`")
        } else {
            rule.to_string()
        };
        fail(format!("invalid name `{s}`"), hint)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(|e: ValueError| {
            serde::de::Error::custom(message_with_hint(&e.message, e.hint.unwrap_or_default()))
        })
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl JsonSchema for Name {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Name")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A lowercase DNS-1123 label: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit.",
            "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "maxLength": MAX_NAME_LEN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["a", "myapp", "db-1", "0abc", &"a".repeat(63)] {
            assert!(ok.parse::<Name>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_path_tricks_and_suggests_a_fix() {
        for bad in [
            "",
            "../x",
            "a/b",
            "-a",
            "a-",
            "My_App",
            "a.b",
            &"a".repeat(64),
            "é",
        ] {
            assert!(bad.parse::<Name>().is_err(), "{bad}");
        }
        let e = "My_App".parse::<Name>().unwrap_err();
        assert!(
            e.hint
                .as_deref()
                .is_some_and(|h| h.ends_with("e.g. `my-app`")),
            "{e:?}"
        );
    }
}
