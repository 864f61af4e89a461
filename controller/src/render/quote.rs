//! Quoting for systemd unit files: command lines (`ExecStart=`) and setting values, so
//! that `%`, `$`, spaces, quotes and newlines reach podman exactly as written.

/// Characters that need no quoting in a command-line word.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_./:=,@+-[]{}%$".contains(c)
}

/// One word of an `Exec*=` command line. systemd expands `%` specifiers everywhere and
/// `$VAR` in command lines, so both are doubled; anything else unusual goes in double
/// quotes with C-style escapes.
pub fn exec_word(word: &str) -> String {
    let escaped_specials = word.replace('%', "%%").replace('$', "$$");
    if !word.is_empty() && word.chars().all(is_plain) {
        return escaped_specials;
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c if c.is_control() => push_utf8_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A control character as C escapes of its UTF-8 bytes: systemd turns each `\xNN` into
/// one raw byte, so U+0085 must be written `\xc2\x85` (not `\x85`) for the argument to
/// stay the UTF-8 text it was.
fn push_utf8_escaped(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        out.push_str(&format!("\\x{b:02x}"));
    }
}

/// A whole command line, each word quoted on its own.
pub fn exec_line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| exec_word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A setting value outside command lines (`Description=`): specifiers escaped, line
/// breaks folded, because a value ends at the end of its line.
pub fn value(text: &str) -> String {
    text.replace('%', "%%").replace(['\n', '\r'], " ")
}

/// A path in a path-list setting (`ReadWritePaths=`). systemd splits such a value into
/// words with quotes, where a backslash takes the next character as is (`\b` is `b`; no
/// C escapes, as seen on systemd 252), and expands specifiers but not `$VAR`. So the path
/// is quoted when it needs to be, with `\` and `"` escaped and `%` doubled, and reaches systemd as
/// exactly its own bytes. Control characters have no escape here: `AbsPath` refuses them.
pub fn path_value(path: &str) -> String {
    // Plain paths stay unquoted, so units rendered before this stay byte for byte the same.
    if !path.contains(|c: char| c.is_whitespace() || "\"'\\".contains(c)) {
        return path.replace('%', "%%");
    }
    let mut out = String::with_capacity(path.len() + 2);
    out.push('"');
    for c in path.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Splits a command line back into words the way systemd does (quotes, C escapes,
/// `%%` and `$$`): the inverse of `exec_line`, used to compare and explain unit changes.
pub fn split_exec_line(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    c if c == first => break,
                    '\\' => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some('t') => word.push('\t'),
                        Some('r') => word.push('\r'),
                        Some('x') => {
                            // Each `\xNN` is one byte, as systemd reads it: the bytes of
                            // a run of them together make up UTF-8 characters.
                            let mut bytes = vec![hex_byte(&mut chars)];
                            while chars.clone().take(2).eq(['\\', 'x']) {
                                chars.nth(1);
                                bytes.push(hex_byte(&mut chars));
                            }
                            word.push_str(&String::from_utf8_lossy(&bytes));
                        }
                        Some(other) => word.push(other),
                        None => {}
                    },
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word.replace("%%", "%").replace("$$", "$"));
    }
    words
}

/// The two hex digits after `\x`; 0 when they are not hex (podctl never writes that).
fn hex_byte(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> u8 {
    let hex: String = chars.by_ref().take(2).collect();
    u8::from_str_radix(&hex, 16).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(exec_word("--env=LOG_LEVEL=info"), "--env=LOG_LEVEL=info");
        assert_eq!(exec_word("/usr/bin/podman"), "/usr/bin/podman");
    }

    #[test]
    fn specifiers_and_variables_are_doubled() {
        assert_eq!(exec_word("100%"), "100%%");
        assert_eq!(exec_word("$HOME"), "$$HOME");
        assert_eq!(exec_word("a $b"), "\"a $$b\"");
    }

    #[test]
    fn spaces_quotes_and_newlines_are_quoted() {
        assert_eq!(exec_word("a b"), "\"a b\"");
        assert_eq!(exec_word("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(exec_word("a\nb"), "\"a\\nb\"");
        assert_eq!(exec_word(""), "\"\"");
        assert_eq!(exec_word(";"), "\";\"");
    }

    #[test]
    fn c1_controls_are_escaped_as_their_utf8_bytes() {
        // systemd turns each `\xNN` into one byte: `\x85` alone is not UTF-8.
        assert_eq!(exec_word("a\u{85}b"), "\"a\\xc2\\x85b\"");
        assert_eq!(exec_word("\u{7}"), "\"\\x07\"");
    }

    #[test]
    fn paths_are_quoted_with_backslashes_escaped() {
        // systemd's path settings unquote without C escapes: `\\` and `\"` only.
        assert_eq!(path_value("/srv/a\\b"), "\"/srv/a\\\\b\"");
        assert_eq!(path_value("/srv/a b%"), "\"/srv/a b%%\"");
        assert_eq!(path_value("/srv/plain%"), "/srv/plain%%");
        assert_eq!(path_value("/srv/\"q\""), "\"/srv/\\\"q\\\"\"");
    }

    #[test]
    fn split_inverts_quoting() {
        let words = vec![
            "/usr/bin/podman".to_string(),
            "--env=GREETING=hello world".to_string(),
            "100% $HOME \"quoted\" back\\slash".to_string(),
            "line\nbreak\ttab".to_string(),
            "c1 \u{85}\u{9f} del \u{7f} bell \u{7}".to_string(),
            String::new(),
        ];
        assert_eq!(split_exec_line(&exec_line(&words)), words);
    }
}
