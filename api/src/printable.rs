//! Text from manifests, file names, podman, systemd or a controller, made safe to print on a
//! terminal: the one escaping function every podctl printer uses, so that nobody who writes
//! a manifest or names a file can clear root's screen, set its window title, hide text or
//! reorder a line with bidi overrides.

use std::borrow::Cow;

/// Whether `c` can drive a terminal or change how a line reads: C0 controls, DEL and C1
/// controls (`char::is_control`: a raw U+009B is CSI on some terminals), and the Unicode
/// bidi controls (embeddings, overrides, isolates and the marks), which reorder what
/// follows them ("Trojan Source").
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every unsafe character escaped (`\u{1b}`, `\n`, `\u{202e}`): one line that
/// cannot drive the terminal. For names, messages and table cells.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// Like [`printable`], but keeps line breaks and tabs: for multi-line blocks (unit files, a
/// graph) printed as they are.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// JSON text (as `serde_json` writes it) with the unsafe characters it leaves raw (DEL,
/// C1, bidi controls) written as `\uXXXX`: the same document, safe on a terminal. Those
/// characters can only occur inside strings, where the escape means the same character.
/// C0 is left alone: inside strings `serde_json` already escaped it, and outside them it is
/// the document's own line breaks and indentation.
pub fn printable_json(json: &str) -> Cow<'_, str> {
    let raw = |c: char| is_unsafe(c) && c > '\u{1f}';
    if !json.chars().any(raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if raw(c) {
            // All of them are in the Basic Multilingual Plane: one \uXXXX each.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) && !keep(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_should_escape_c0_del_c1_and_bidi_controls() {
        assert_eq!(
            printable("a\u{1b}]0;owned\u{7}\u{1b}[2Jb"),
            "a\\u{1b}]0;owned\\u{7}\\u{1b}[2Jb"
        );
        assert_eq!(printable("x\u{7f}\u{9b}31m"), "x\\u{7f}\\u{9b}31m");
        assert_eq!(printable("a\u{202e}cba\u{2066}"), "a\\u{202e}cba\\u{2066}");
        assert_eq!(printable("line\nnext\r\t"), "line\\nnext\\r\\t");
    }

    #[test]
    fn printable_should_leave_ordinary_text_alone_and_borrowed() {
        for text in ["web-1", "café ✓ 日本", "a \"quoted\" path/x.yaml"] {
            assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn printable_json_should_escape_what_serde_json_leaves_raw_and_mean_the_same() {
        let value = serde_json::json!({"m": "a\u{1b}[2J\u{7f}\u{9b}\u{202e}z\nq"});
        let text = serde_json::to_string(&value).unwrap();
        let safe = printable_json(&text);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        assert_eq!(safe, r#"{"m":"a\u001b[2J\u007f\u009b\u202ez\nq"}"#);
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
        // Pretty-printed: its line breaks and indentation stay as they are.
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let safe = printable_json(&pretty);
        assert!(safe.starts_with("{\n  \"m\": "), "{safe}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
            value
        );
    }

    #[test]
    fn printable_lines_should_keep_line_breaks_only() {
        assert_eq!(
            printable_lines("[Unit]\n\tDescription=\u{1b}[8mhidden\r\n"),
            "[Unit]\n\tDescription=\\u{1b}[8mhidden\\r\n"
        );
    }
}
