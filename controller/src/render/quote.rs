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
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
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

/// A path in a path-list setting (`ReadWritePaths=`): specifiers escaped, quoted when
/// it holds white space.
pub fn path_value(path: &str) -> String {
    let escaped = path.replace('%', "%%");
    if escaped.contains(char::is_whitespace) || escaped.contains('"') {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
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
                            let hex: String = chars.by_ref().take(2).collect();
                            if let Some(c) =
                                u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                            {
                                word.push(c);
                            }
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
    fn split_inverts_quoting() {
        let words = vec![
            "/usr/bin/podman".to_string(),
            "--env=GREETING=hello world".to_string(),
            "100% $HOME \"quoted\" back\\slash".to_string(),
            "line\nbreak\ttab".to_string(),
            String::new(),
        ];
        assert_eq!(split_exec_line(&exec_line(&words)), words);
    }
}
