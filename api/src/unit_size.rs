//! Limits of systemd and Linux that a Container's rendered unit must stay within, checked
//! on the manifest: the `ExecStart=` line (one `podman run` word per field) and each word.
//!
//! The rendering itself lives in the controller; what is counted here is an upper bound
//! of what it writes for the fields a manifest can make arbitrarily long, each character
//! at the cost of its worst quoting, plus a fixed allowance for podctl's own words.

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::kinds::{ContainerSpec, Object};
use crate::yaml::PathStep::{self, Index, Key};

/// systemd's LONG_LINE_MAX (1 MiB): a unit file whose logical line (continuation lines
/// joined) is longer fails to load, and `EnableUnitFiles` fails with `LimitsExceeded` ("No
/// buffer space available") for every unit of the call.
pub const LONG_LINE_MAX: usize = 1024 * 1024;

/// Room left on the `ExecStart=` line for what podctl adds itself: the podman path, its fixed
/// flags and labels, the image, resource and security flags, the short typed fields.
const OWN_WORDS: usize = 64 * 1024;

/// Linux's MAX_ARG_STRLEN (32 pages of 4 KiB, with the terminating NUL): `execve` refuses a
/// longer single argument with E2BIG, and the unit fails to start (status 203/EXEC).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Bytes of one character in an `Exec*=` word at worst: `\xNN` for each UTF-8 byte of a
/// control character (`\xc2\x85` for U+0085), doubled `%`, `$`, `"` and `\`.
fn exec_cost(c: char) -> usize {
    match c {
        c if c.is_control() => 4 * c.len_utf8(),
        '%' | '$' | '"' | '\\' => 2,
        c => c.len_utf8(),
    }
}

/// The same inside a JSON array (`--entrypoint=`, `--health-cmd=`): JSON escapes first
/// (`\u00NN`, `\"`, `\\`), then the word is quoted, doubling each backslash.
fn json_exec_cost(c: char) -> usize {
    match c {
        // JSON escapes only C0 controls; DEL and C1 stay raw and are escaped as words are.
        c if c.is_ascii_control() && c != '\u{7f}' => 7,
        '"' | '\\' => 4,
        c => exec_cost(c),
    }
}

/// Bytes of one character in a JSON string as podman receives it.
fn json_arg_cost(c: char) -> usize {
    match c {
        c if c.is_control() => 6,
        '"' | '\\' => 2,
        c => c.len_utf8(),
    }
}

/// Quotes, and the ` \` + newline + tab that puts each word on its own line.
const WORD_OVERHEAD: usize = 2 + 4;

/// One field's share of the `ExecStart=` line, and its longest single argument.
struct Field<'a> {
    path: Vec<PathStep<'a>>,
    /// The key of the longest argument, for a map field.
    longest_key: Option<&'a str>,
    line_bytes: usize,
    longest_arg: usize,
}

impl<'a> Field<'a> {
    fn new(path: Vec<PathStep<'a>>) -> Self {
        Self {
            path,
            longest_key: None,
            line_bytes: 0,
            longest_arg: 0,
        }
    }

    /// A word `prefix` + `text` (prefix plain ASCII).
    fn word(&mut self, prefix: &str, text: &str, key: Option<&'a str>) {
        self.line_bytes +=
            WORD_OVERHEAD + prefix.len() + text.chars().map(exec_cost).sum::<usize>();
        self.arg(prefix.len() + text.len(), key);
    }

    /// A word holding `items` as a JSON array.
    fn json_word(&mut self, prefix: &str, items: &[String]) {
        let escaped: usize = items
            .iter()
            .map(|i| 2 + 2 + i.chars().map(json_exec_cost).sum::<usize>())
            .sum();
        self.line_bytes += WORD_OVERHEAD + prefix.len() + 2 + escaped;
        // The argument podman receives, JSON-escaped but no longer quoted for systemd.
        let arg: usize = items
            .iter()
            .map(|i| 3 + i.chars().map(json_arg_cost).sum::<usize>())
            .sum();
        self.arg(prefix.len() + 2 + arg, None);
    }

    fn arg(&mut self, bytes: usize, key: Option<&'a str>) {
        if bytes > self.longest_arg {
            self.longest_arg = bytes;
            self.longest_key = key;
        }
    }
}

/// The fields a manifest can make long, each with its share of the line.
fn fields(c: &ContainerSpec) -> Vec<Field<'_>> {
    let mut env = Field::new(vec![Key("spec"), Key("env")]);
    for (k, v) in &c.env {
        env.word(&format!("--env={k}="), v, Some(k.as_str()));
    }
    let mut labels = Field::new(vec![Key("spec"), Key("labels")]);
    for (k, v) in &c.labels {
        labels.word(&format!("--label={k}="), v, Some(k.as_str()));
    }
    let mut args = Field::new(vec![Key("spec"), Key("args")]);
    for a in &c.args {
        args.word("", a, None);
    }
    let mut command = Field::new(vec![Key("spec"), Key("command")]);
    if !c.command.is_empty() {
        command.json_word("--entrypoint=", &c.command);
    }
    let mut health = Field::new(vec![Key("spec"), Key("healthCheck"), Key("command")]);
    if let Some(hc) = &c.health_check {
        health.json_word("--health-cmd=", &hc.command);
    }
    let mut volumes = Field::new(vec![Key("spec"), Key("volumes")]);
    for v in &c.volumes {
        let source = v.host_path.as_ref().map_or("", |p| p.as_str());
        volumes.word(
            "--volume=:",
            &format!("{source}{}:ro", v.path.as_str()),
            None,
        );
    }
    let mut env_files = Field::new(vec![Key("spec"), Key("envFiles")]);
    for f in &c.env_files {
        env_files.word("--env-file=", f.as_str(), None);
    }
    let mut secrets = Field::new(vec![Key("spec"), Key("secrets")]);
    for s in &c.secrets {
        let target = s.path.as_ref().map_or("", |p| p.as_str());
        secrets.word("--secret=,type=mount,target=", target, None);
    }
    vec![
        env, labels, args, command, health, volumes, env_files, secrets,
    ]
}

/// Rejects a Container whose unit systemd could not load (a line over [`LONG_LINE_MAX`])
/// or start (an argument over [`MAX_ARG_STRLEN`]).
pub(crate) fn check_unit_size(object: &Object, c: &ContainerSpec, out: &mut Diagnostics) {
    let origin = &object.origin;
    let fields = fields(c);
    for field in &fields {
        if field.longest_arg < MAX_ARG_STRLEN {
            continue;
        }
        let at = match field.longest_key {
            Some(key) => origin.at_key(&field.path, key),
            None => origin.at(&field.path),
        };
        out.push(
            Diagnostic::new(
                at,
                format!(
                    "a single value here makes a `podman run` argument of {} bytes; Linux passes at most {} bytes in one argument (MAX_ARG_STRLEN), so the unit could never start",
                    field.longest_arg,
                    MAX_ARG_STRLEN - 1
                ),
            )
            .with_hint("put large data in a file instead: `envFiles:` for environment, a Secret or a volume for content"),
        );
    }
    let total: usize = fields.iter().map(|f| f.line_bytes).sum();
    let budget = LONG_LINE_MAX - OWN_WORDS;
    if total <= budget {
        return;
    }
    let Some(largest) = fields.iter().max_by_key(|f| f.line_bytes) else {
        return;
    };
    let at = match largest.path.last() {
        Some(Index(_)) | None => origin.at(&[Key("spec")]),
        Some(_) => origin.at(&largest.path),
    };
    out.push(
        Diagnostic::new(
            at,
            format!(
                "the unit's `ExecStart=` line would take up to {total} bytes of manifest text ({} from this field); systemd reads at most {LONG_LINE_MAX} bytes per line (LONG_LINE_MAX) and could neither load nor enable the unit",
                largest.line_bytes
            ),
        )
        .with_hint(format!(
            "keep the values of a container under {budget} bytes in all: move large environment into `envFiles:`, data into a Secret or a volume"
        )),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_should_cover_the_worst_quoting() {
        assert_eq!(exec_cost('a'), 1);
        assert_eq!(exec_cost('%'), 2);
        assert_eq!(exec_cost('\u{1}'), 4);
        assert_eq!(exec_cost('é'), 2);
        assert_eq!(json_exec_cost('\u{1}'), 7);
        assert_eq!(json_exec_cost('"'), 4);
    }
}
