//! Rendering as systemd reads it (issue 13, item 5): arbitrary strings in every string field
//! that reaches a unit file are loaded, rendered, written as units into the sandbox and
//! read back over D-Bus after one `daemon-reload`. systemd's own parser must give exactly
//! the intended argv of `ExecStart=` and the intended `ReadWritePaths=`, or validation must
//! have refused the manifest with a located message and a hint.
//!
//! `PODCTL_RENDER_CASES=N` sets the number of generated manifests (200 by default).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use podctl::render::{RenderContext, container_unit, podman_run_args};
use podctl_api::{Diagnostics, Kind, LoadError, Revision, SourceFile, from_sources};
use podctl_e2e::TestHost;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRng, TestRunner};

const UNIT_DIR: &str = "/etc/systemd/system";
const DEFAULT_CASES: usize = 200;

/// The manifest field one generated string goes into.
#[derive(Debug, Clone, Copy)]
enum Field {
    Args,
    Command,
    Env,
    Label,
    User,
    LogTag,
    HealthCommand,
    WorkingDir,
    ReadWritePath,
    HostPath,
}

const FIELDS: [Field; 10] = [
    Field::Args,
    Field::Command,
    Field::Env,
    Field::Label,
    Field::User,
    Field::LogTag,
    Field::HealthCommand,
    Field::WorkingDir,
    Field::ReadWritePath,
    Field::HostPath,
];

impl Field {
    fn is_path(self) -> bool {
        matches!(
            self,
            Field::WorkingDir | Field::ReadWritePath | Field::HostPath
        )
    }

    /// The manifest lines under `spec:` that carry `value` (already YAML-quoted).
    fn yaml(self, value: &str) -> String {
        match self {
            Field::Args => format!("  args: [{value}, tail]"),
            Field::Command => format!("  command: [/bin/sh, {value}]"),
            Field::Env => format!("  env: {{VALUE: {value}}}"),
            Field::Label => format!("  labels: {{app.key: {value}}}"),
            Field::User => format!("  user: {value}"),
            Field::LogTag => format!("  logging: {{tag: {value}}}"),
            Field::HealthCommand => format!("  healthCheck: {{command: [/bin/true, {value}]}}"),
            Field::WorkingDir => format!("  workingDir: {value}"),
            Field::ReadWritePath => format!(
                "  security: {{systemd: {{protectSystem: strict, readWritePaths: [{value}]}}}}"
            ),
            Field::HostPath => format!("  volumes: [{{hostPath: {value}, path: /data}}]"),
        }
    }
}

/// Characters systemd, YAML or podman treat specially, mixed with arbitrary ones.
fn text() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        ' ', '"', '\'', '\\', '%', '$', ';', '\n', '\t', '\r', '\u{0}', '\u{7}', '\u{1b}',
        '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', '\u{a0}', '\u{2028}', 'é', '€', '😀', '{', '}',
        '`', '#', '=', ',', ':', '/', '.', '-', 'a', 'Z', '0', '*', '&', '!', '|', '>',
    ]);
    let ch = prop_oneof![4 => special, 1 => any::<char>()];
    prop::collection::vec(ch, 0..10).prop_map(|v| v.into_iter().collect())
}

fn case() -> impl Strategy<Value = (Field, String)> {
    (prop::sample::select(FIELDS.to_vec()), text()).prop_map(|(field, s)| {
        // A path field gets a path-like start most of the time, so more cases get past
        // "not absolute" to the interesting characters.
        let s = if field.is_path() && !s.starts_with('/') {
            format!("/srv/{s}")
        } else {
            s
        };
        (field, s)
    })
}

/// A YAML double-quoted scalar holding exactly `s`: every character outside printable
/// ASCII written as a `\u`/`\U` escape.
fn yaml_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

fn manifest(name: &str, field: Field, value: &str) -> String {
    format!(
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n  image: localhost/bb:v1\n  network: host\n{}\n",
        field.yaml(&yaml_quoted(value))
    )
}

fn load(name: &str, text: String) -> Result<Revision, LoadError> {
    let dir = Path::new("/manifests");
    let file = SourceFile {
        path: Arc::from(dir.join(format!("{name}.yaml"))),
        text,
    };
    from_sources(dir, dir, vec![file], Diagnostics::default())
}

/// One rendered case: the unit and what systemd must make of it.
struct Expected {
    unit: String,
    content: String,
    field: Field,
    value: String,
    argv: Vec<String>,
    read_write_paths: Vec<String>,
}

/// Renders a loaded case; the argv is podctl's intended one, with the value checked to be
/// in it verbatim where the field puts it in a word of its own.
fn expect(revision: &Revision, field: Field, value: &str) -> Result<Expected> {
    let object = revision
        .of_kind(Kind::Container)
        .next()
        .context("no container")?;
    let spec = object.as_container().context("not a container")?;
    let ctx = RenderContext::default();
    let unit = container_unit(object, revision, &ctx).context("did not render")?;
    let image = podctl::render::container::image_reference(spec, revision).context("no image")?;
    let mut argv = vec![ctx.podman.display().to_string()];
    // systemd expands the specifiers of the cidfile word, the one word written with them.
    let cidfile = format!("--cidfile=/run/{}.ctr-id", unit.name);
    argv.extend(
        podman_run_args(object.name(), spec, image)
            .into_iter()
            .map(|w| w.replace("@@PODCTL_HASH@@", &unit.hash))
            .map(|w| {
                if w == "--cidfile=%t/%n.ctr-id" {
                    cidfile.clone()
                } else {
                    w
                }
            }),
    );
    let word = match field {
        Field::Args => Some(value.to_string()),
        Field::Env => Some(format!("--env=VALUE={value}")),
        Field::Label => Some(format!("--label=app.key={value}")),
        Field::User => Some(format!("--user={value}")),
        Field::LogTag => Some(format!("--log-opt=tag={value}")),
        _ => None,
    };
    if let Some(word) = word {
        ensure!(
            argv.contains(&word),
            "{word:?} is not in the intended argv {argv:?}"
        );
    }
    let mut read_write_paths = Vec::new();
    if matches!(field, Field::ReadWritePath) {
        read_write_paths = [
            "/var/lib/containers",
            "/run",
            "/var/tmp",
            "/tmp",
            "/etc/containers/networks",
        ]
        .iter()
        .map(|p| format!("-{p}"))
        .collect();
        read_write_paths.sort();
        let normalised = if value.len() > 1 {
            value.trim_end_matches('/')
        } else {
            value
        };
        read_write_paths.push(normalised.to_string());
    }
    Ok(Expected {
        unit: format!("{UNIT_DIR}/{}", unit.name),
        content: unit.content,
        field,
        value: value.to_string(),
        argv,
        read_write_paths,
    })
}

#[tokio::test]
async fn systemd_parses_rendered_units_into_exactly_the_intended_argv_and_paths() -> Result<()> {
    let Some(host) = TestHost::require("systemd_parses_rendered_units").await else {
        return Ok(());
    };
    let cases: usize = std::env::var("PODCTL_RENDER_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    // A fixed seed per run would hide new cases; the seed is printed to replay a failure.
    let seed: u64 = std::env::var("PODCTL_RENDER_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15);
    eprintln!("rendering {cases} cases, PODCTL_RENDER_SEED={seed}");
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &seed_bytes),
    );

    let prefix = host.unique_name("render");
    let mut written = Vec::new();
    let mut rejected = 0usize;
    for i in 0..cases {
        let (field, value) = case()
            .new_tree(&mut runner)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .current();
        let name = format!("{prefix}-{i}");
        match load(&name, manifest(&name, field, &value)) {
            Ok(revision) => {
                let expected = expect(&revision, field, &value)
                    .with_context(|| format!("{field:?} = {value:?}"))?;
                host.write_file(&expected.unit, &expected.content)?;
                written.push(expected);
            }
            Err(LoadError::Invalid(diagnostics)) => {
                rejected += 1;
                for d in &diagnostics {
                    ensure!(
                        d.location.mark.line >= 1 && !d.message.is_empty() && d.hint.is_some(),
                        "{field:?} = {value:?}: a rejection without place or hint: {d}"
                    );
                }
            }
            Err(e) => anyhow::bail!("{field:?} = {value:?}: {e}"),
        }
    }
    let result = check_parsed(&host, &written).await;
    for e in &written {
        let _ = std::fs::remove_file(host.host_path(&e.unit));
    }
    host.exec_ok(["systemctl", "daemon-reload"]).await?;
    let mismatches = result?;
    eprintln!(
        "{} units parsed by systemd as intended, {rejected} manifests refused by validation",
        written.len()
    );
    ensure!(
        mismatches.is_empty(),
        "{} of {} units read differently by systemd:\n{}",
        mismatches.len(),
        written.len(),
        mismatches.join("\n")
    );
    // The property must not hold only because everything was refused.
    ensure!(
        written.len() * 3 >= cases,
        "only {} of {cases} cases were valid: the generator no longer reaches the renderer",
        written.len()
    );
    Ok(())
}

/// One `daemon-reload`, then each unit's parsed properties against the intended ones.
async fn check_parsed(host: &TestHost, written: &[Expected]) -> Result<Vec<String>> {
    host.exec_ok(["systemctl", "daemon-reload"]).await?;
    let systemd = host.systemd().await?;
    let mut mismatches = Vec::new();
    for e in written {
        let unit = Path::new(&e.unit)
            .file_name()
            .and_then(|n| n.to_str())
            .context("unit name")?;
        let what = format!("{unit} ({:?} = {:?})", e.field, e.value);
        let parsed = match systemd.parsed_service(unit).await {
            Ok(p) => p,
            Err(err) => {
                mismatches.push(format!("{what}: {err:#}"));
                continue;
            }
        };
        let exec_start: Result<Vec<Vec<String>>, String> = parsed
            .exec_start
            .iter()
            .map(|argv| argv.iter().map(|w| expand_dollars(w)).collect())
            .collect();
        if parsed.load_state != "loaded" {
            mismatches.push(format!("{what}: load state {}", parsed.load_state));
        } else if exec_start.as_ref() != Ok(&vec![e.argv.clone()]) {
            mismatches.push(format!(
                "{what}: ExecStart {:?} ({exec_start:?} when run), intended {:?}",
                parsed.exec_start, e.argv
            ));
        } else if sorted_but_last(&parsed.read_write_paths) != e.read_write_paths {
            mismatches.push(format!(
                "{what}: ReadWritePaths {:?}, intended {:?}",
                parsed.read_write_paths, e.read_write_paths
            ));
        }
    }
    Ok(mismatches)
}

/// What systemd makes of a stored `ExecStart=` word when it runs it: `$$` is a `$`; a lone
/// `$` starts a variable reference that the environment would replace, which podctl must
/// never write.
fn expand_dollars(word: &str) -> Result<String, String> {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        match rest[i + 1..].strip_prefix('$') {
            Some(after) => {
                out.push('$');
                rest = after;
            }
            None => return Err(format!("{word:?} has a variable reference")),
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The paths podman needs come in the renderer's order (parents first); the manifest's
/// path comes last. Compared with the first ones sorted.
fn sorted_but_last(paths: &[String]) -> Vec<String> {
    let mut out = paths.to_vec();
    if let Some(last) = out.pop() {
        out.sort();
        out.push(last);
    }
    out
}
