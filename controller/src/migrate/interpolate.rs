//! Compose's variable interpolation (`${VAR}`, `${VAR:-default}`, `${VAR:?error}`, `$$`)
//! and its `.env` file, as the Compose specification defines them.

use std::collections::BTreeMap;

/// The variables a Compose file is interpolated with: the `.env` file beside it, overridden
/// by the process environment (Compose's order of precedence).
pub type Variables = BTreeMap<String, String>;

/// Why a value could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// `${VAR:?message}` or `${VAR?message}` with the variable missing.
    #[error("required variable `{name}` is missing a value: {message}")]
    Required { name: String, message: String },
    /// A `$` that starts no variable (`$1`, `${}`, an unclosed `${`).
    #[error("invalid interpolation format in `{text}`: {why}")]
    Invalid { text: String, why: &'static str },
}

impl InterpolationError {
    pub fn hint(&self) -> &'static str {
        match self {
            InterpolationError::Required { .. } => {
                "set the variable in the environment or in the `.env` file beside the Compose file"
            }
            InterpolationError::Invalid { .. } => {
                "write `$$` for a literal dollar sign, `${NAME}` or `$NAME` for a variable"
            }
        }
    }
}

/// The result of interpolating one value: the text, and the variables that were used
/// without being set (Compose warns about those and substitutes an empty string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    pub text: String,
    pub unset: Vec<String>,
}

/// Interpolates `text` with `vars`.
pub fn interpolate(text: &str, vars: &Variables) -> Result<Interpolated, InterpolationError> {
    let mut unset = Vec::new();
    let text = expand(text, vars, &mut unset)?;
    Ok(Interpolated { text, unset })
}

fn invalid(text: &str, why: &'static str) -> InterpolationError {
    InterpolationError::Invalid {
        text: text.to_string(),
        why,
    }
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

fn expand(
    text: &str,
    vars: &Variables,
    unset: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // The matching brace: defaults may hold `${...}` themselves.
                let start = i + 2;
                let mut depth = 1;
                let mut j = start;
                while j < chars.len() {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(invalid(text, "`${` is not closed"));
                }
                let inner: String = chars[start..j].iter().collect();
                out.push_str(&braced(&inner, text, vars, unset)?);
                i = j + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(&lookup(&name, vars, unset));
                i = j;
            }
            _ => return Err(invalid(text, "`$` is not followed by a variable name")),
        }
    }
    Ok(out)
}

fn lookup(name: &str, vars: &Variables, unset: &mut Vec<String>) -> String {
    match vars.get(name) {
        Some(v) => v.clone(),
        None => {
            if !unset.iter().any(|u| u == name) {
                unset.push(name.to_string());
            }
            String::new()
        }
    }
}

/// `NAME`, `NAME:-default`, `NAME-default`, `NAME:?err`, `NAME?err`, `NAME:+alt`, `NAME+alt`.
fn braced(
    inner: &str,
    whole: &str,
    vars: &Variables,
    unset: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    let name_len = inner.chars().take_while(|c| is_name_char(*c)).count();
    let name = &inner[..name_len];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(invalid(whole, "`${` is not followed by a variable name"));
    }
    let rest = &inner[name_len..];
    let value = vars.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let (op, arg) = if let Some(arg) = rest.strip_prefix(":-") {
        (":-", arg)
    } else if let Some(arg) = rest.strip_prefix(":?") {
        (":?", arg)
    } else if let Some(arg) = rest.strip_prefix(":+") {
        (":+", arg)
    } else if let Some(arg) = rest.strip_prefix('-') {
        ("-", arg)
    } else if let Some(arg) = rest.strip_prefix('?') {
        ("?", arg)
    } else if let Some(arg) = rest.strip_prefix('+') {
        ("+", arg)
    } else if rest.is_empty() {
        ("", "")
    } else {
        return Err(invalid(whole, "unknown modifier after the variable name"));
    };
    let current = || value.cloned().unwrap_or_default();
    Ok(match op {
        "" => lookup(name, vars, unset),
        ":-" if non_empty => current(),
        "-" if set => current(),
        ":-" | "-" => expand(arg, vars, unset)?,
        ":?" if non_empty => current(),
        "?" if set => current(),
        ":?" | "?" => {
            return Err(InterpolationError::Required {
                name: name.to_string(),
                message: expand(arg, vars, unset)?,
            });
        }
        ":+" if non_empty => expand(arg, vars, unset)?,
        "+" if set => expand(arg, vars, unset)?,
        _ => String::new(),
    })
}

/// One problem in a `.env` file, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DotenvError {
    pub line: usize,
    pub message: String,
}

/// Parses a `.env` file as Compose reads it: `KEY=VALUE` lines, optional `export `, `#`
/// comments; single quotes are literal, double quotes take `\n`, `\t`, `\\`, `\"` and
/// interpolation, unquoted values are trimmed, lose a ` #comment` and are interpolated.
/// Variables refer to earlier lines and to `outer` (the process environment).
pub fn parse_dotenv(text: &str, outer: &Variables) -> Result<Variables, DotenvError> {
    let mut vars = Variables::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |message: String| DotenvError { line, message };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let trimmed = trimmed
            .strip_prefix("export ")
            .unwrap_or(trimmed)
            .trim_start();
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(err(format!("expected `KEY=VALUE`, found `{trimmed}`")));
        };
        let key = key.trim();
        if key.is_empty() || !key.starts_with(is_name_start) || !key.chars().all(is_name_char) {
            return Err(err(format!("`{key}` is not a variable name")));
        }
        let value = value.trim_start();
        // Earlier lines and the environment, the environment winning, as Compose resolves.
        let mut scope = vars.clone();
        scope.extend(outer.iter().map(|(k, v)| (k.clone(), v.clone())));
        let parsed = if let Some(rest) = value.strip_prefix('\'') {
            let Some(end) = rest.find('\'') else {
                return Err(err("the single quote is not closed".into()));
            };
            rest[..end].to_string()
        } else if let Some(rest) = value.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = rest.chars();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some('r') => out.push('\r'),
                        Some(other) => out.push(other),
                        None => out.push('\\'),
                    },
                    other => out.push(other),
                }
            }
            if !closed {
                return Err(err("the double quote is not closed".into()));
            }
            interpolate(&out, &scope)
                .map_err(|e| err(e.to_string()))?
                .text
        } else {
            let unquoted = match value.find(" #") {
                Some(i) => &value[..i],
                None => value,
            };
            interpolate(unquoted.trim_end(), &scope)
                .map_err(|e| err(e.to_string()))?
                .text
        };
        vars.insert(key.to_string(), parsed);
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn text(t: &str, v: &Variables) -> String {
        interpolate(t, v).expect("interpolates").text
    }

    #[test]
    fn interpolation_should_follow_compose_for_every_form() {
        let v = vars(&[("SET", "x"), ("EMPTY", "")]);
        assert_eq!(text("${SET}", &v), "x");
        assert_eq!(text("$SET/a", &v), "x/a");
        assert_eq!(text("${UNSET:-d}", &v), "d");
        assert_eq!(text("${EMPTY:-d}", &v), "d");
        assert_eq!(text("${EMPTY-d}", &v), "");
        assert_eq!(text("${UNSET-d}", &v), "d");
        assert_eq!(text("${SET:-d}", &v), "x");
        assert_eq!(text("${SET:+alt}", &v), "alt");
        assert_eq!(text("${EMPTY:+alt}", &v), "");
        assert_eq!(text("${EMPTY+alt}", &v), "alt");
        assert_eq!(text("$$SET costs $$5", &v), "$SET costs $5");
        assert_eq!(text("${UNSET:-${SET}-y}", &v), "x-y");
        assert_eq!(text("${EMPTY?e}", &v), "");
    }

    #[test]
    fn unset_variable_should_be_empty_and_named() {
        let out = interpolate("a${NOPE}b$NOPE", &Variables::new()).expect("ok");
        assert_eq!(out.text, "ab");
        assert_eq!(out.unset, vec!["NOPE".to_string()]);
    }

    #[test]
    fn missing_required_variable_should_be_an_error_with_its_message() {
        let v = vars(&[("EMPTY", "")]);
        let err = interpolate("${DB_PASSWORD:?set the password}", &v).expect_err("required");
        assert_eq!(
            err,
            InterpolationError::Required {
                name: "DB_PASSWORD".into(),
                message: "set the password".into()
            }
        );
        assert!(interpolate("${EMPTY:?no}", &v).is_err());
        assert!(interpolate("${EMPTY?no}", &v).is_ok());
    }

    #[test]
    fn invalid_formats_should_be_errors() {
        for bad in ["$", "a $1", "${}", "${A", "${A:x}", "${-x}"] {
            assert!(
                matches!(
                    interpolate(bad, &Variables::new()),
                    Err(InterpolationError::Invalid { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn dotenv_should_read_quotes_comments_export_and_references() {
        let env = parse_dotenv(
            "# comment\n\nexport A=1\nB='lit ${A}'\nC=\"q ${A}\\n\"\nD = plain value # note\nE=${A}${OUTER}\n",
            &vars(&[("OUTER", "o")]),
        )
        .expect("parses");
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "lit ${A}");
        assert_eq!(env["C"], "q 1\n");
        assert_eq!(env["D"], "plain value");
        assert_eq!(env["E"], "1o");
    }

    #[test]
    fn dotenv_errors_should_name_the_line() {
        let err = parse_dotenv("A=1\nnot a line\n", &Variables::new()).expect_err("bad");
        assert_eq!(err.line, 2);
    }
}
