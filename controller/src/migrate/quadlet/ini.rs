//! The systemd unit file syntax Quadlet reads: `[Section]` headers, `Key=Value` lines,
//! `#`/`;` comments, `\` line continuations; drop-ins appended after the main file. Every
//! entry keeps its file and line for the import's findings.

use std::path::Path;
use std::sync::Arc;

use podctl_api::{Location, Mark};

/// One `Key=Value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: String,
    pub location: Location,
}

/// A parse problem: a line that is neither a section, an assignment nor a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub location: Location,
    pub message: String,
}

/// Parses one file; entries in file order.
pub fn parse(path: &Arc<Path>, text: &str) -> (Vec<Entry>, Vec<SyntaxError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut section = String::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let location = Location::new(path.clone(), Mark::new(index + 1, 1));
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            errors.push(SyntaxError {
                location,
                message: format!(
                    "expected `Key=Value` or `[Section]`, found `{}`",
                    podctl_api::excerpt(line)
                ),
            });
            continue;
        };
        let mut value = value.trim().to_string();
        // A trailing backslash joins the next line, with a space, as systemd does.
        while value.ends_with('\\') {
            value.pop();
            value.truncate(value.trim_end().len());
            match lines.next() {
                Some((_, next)) => {
                    value.push(' ');
                    value.push_str(next.trim());
                }
                None => break,
            }
        }
        if section.is_empty() {
            errors.push(SyntaxError {
                location,
                message: format!(
                    "`{}` is outside any section",
                    podctl_api::excerpt(key.trim())
                ),
            });
            continue;
        }
        entries.push(Entry {
            section: section.clone(),
            key: key.trim().to_string(),
            value,
            location: Location::new(path.clone(), Mark::new(index + 1, 1)),
        });
    }
    (entries, errors)
}

/// Splits a value into words as systemd does for command lines: white space separates,
/// double and single quotes group, a backslash escapes inside double quotes and outside.
pub fn split_words(value: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                in_word = true;
                let quote = c;
                loop {
                    match chars.next() {
                        Some(ch) if ch == quote => break,
                        Some('\\') if quote == '"' => match chars.next() {
                            Some(e) => word.push(unescape(e)),
                            None => return Err(format!("unclosed quote in `{value}`")),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err(format!("unclosed quote in `{value}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(e) = chars.next() {
                    word.push(unescape(e));
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn unescape(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        other => other,
    }
}

/// A word as systemd reads it back from a command line: quoted when it holds white
/// space, quotes or backslashes, or is empty.
pub fn quote_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '\\') && !c.is_control());
    if plain {
        return word.to_string();
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Words joined into one value that [`split_words`] splits back.
pub fn join_words<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote_word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// systemd expands `%` specifiers in most values: a literal `%` is written `%%`.
pub fn escape_specifiers(value: &str) -> String {
    value.replace('%', "%%")
}

pub fn unescape_specifiers(value: &str) -> String {
    value.replace("%%", "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_should_keep_sections_lines_and_continuations() {
        let path: Arc<Path> = Arc::from(Path::new("web.container"));
        let (entries, errors) = parse(
            &path,
            "# c\n[Unit]\nAfter=a.service\n\n[Container]\nExec=sh -c \\\n  'echo hi'\nbad line\n",
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].location.mark.line, 8);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].section, "Container");
        assert_eq!(entries[1].value, "sh -c 'echo hi'");
        assert_eq!(entries[1].location.mark.line, 6);
    }

    #[test]
    fn words_should_round_trip_through_quoting() {
        let words = vec![
            "plain".to_string(),
            "two words".into(),
            "quote \" and \\".into(),
            String::new(),
            "it's".into(),
        ];
        assert_eq!(split_words(&join_words(&words)), Ok(words));
    }
}
