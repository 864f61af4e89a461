//! `podctl import compose|quadlet`: read another tool's files, print or write manifests,
//! report on stderr every key that was not mapped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};

use podctl::migrate::compose::{self, ComposeSource};
use podctl::migrate::interpolate::{Variables, parse_dotenv};
use podctl::migrate::manifest::{self, Manifest};
use podctl::migrate::{Report, quadlet};
use podctl_api::{plural, printable};

use super::{Exit, report_load_error};

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// Convert a Compose file (services, volumes, networks, secrets, configs) to manifests
    #[command(
        after_help = "Exit status: 0 imported (keys that were not mapped are warnings on stderr),\n\
        2 an error (YAML, a missing required variable, a value a manifest cannot hold, or\n\
        with --strict any key that was not mapped); nothing is written then.\n\n\
        Variables (${VAR}, ${VAR:-default}, ${VAR:?error}, $$) come from the environment and\n\
        the .env file beside FILE. See docs/migrate.md for what maps to what.\n\nExamples:\n  \
        podctl import compose docker-compose.yaml\n  \
        podctl import compose compose.yaml -o /etc/podctl/manifests/app --strict"
    )]
    Compose(ComposeArgs),
    /// Convert Quadlet units (.container, .volume, .network, .image and drop-ins) to manifests
    #[command(
        after_help = "Exit status: 0 imported (keys that were not mapped are warnings on stderr),\n\
        2 an error, or with --strict any key that was not mapped; nothing is written then.\n\n\
        Examples:\n  \
        podctl import quadlet /etc/containers/systemd\n  \
        podctl import quadlet ./units -o ./manifests"
    )]
    Quadlet(QuadletArgs),
}

/// Where the manifests go and how strict the import is.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write one file per object (NAME.KIND.yaml) into DIR (created if missing) instead of
    /// printing one YAML stream to stdout.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Fail (exit 2, nothing written) when any key was not mapped.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// The Compose file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The project name: the name of the network services join when they name none
    /// (PROJECT-default). Default: the file's `name:`, else COMPOSE_PROJECT_NAME, else the
    /// directory's name.
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct QuadletArgs {
    /// The directory of Quadlet files (not recursive).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: &ImportArgs) -> anyhow::Result<Exit> {
    match &args.source {
        ImportSource::Compose(a) => compose(a),
        ImportSource::Quadlet(a) => quadlet_dir(a),
    }
}

fn compose(args: &ComposeArgs) -> anyhow::Result<Exit> {
    let shown = printable(&args.file.display().to_string()).into_owned();
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read the Compose file {shown}"))?;
    let absolute =
        std::path::absolute(&args.file).with_context(|| format!("cannot make {shown} absolute"))?;
    let base = absolute
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let environment: Variables = std::env::vars().collect();
    let dotenv = base.join(".env");
    let mut vars = match std::fs::read_to_string(&dotenv) {
        Ok(t) => parse_dotenv(&t, &environment)
            .map_err(|e| anyhow::anyhow!("{}:{}: {}", dotenv.display(), e.line, e.message))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Variables::new(),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", dotenv.display()));
        }
    };
    vars.extend(environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    let project = args
        .project
        .clone()
        .or_else(|| environment.get("COMPOSE_PROJECT_NAME").cloned());
    let imported = compose::import(&ComposeSource {
        path: Arc::from(args.file.as_path()),
        base_dir: &base,
        text: &text,
        vars: &vars,
        project: project.as_deref(),
    });
    finish(imported.manifests, imported.report, &args.output)
}

fn quadlet_dir(args: &QuadletArgs) -> anyhow::Result<Exit> {
    let files = quadlet::read_dir(&args.dir)?;
    let imported = quadlet::import(&files);
    finish(imported.manifests, imported.report, &args.output)
}

/// Reports, validates with the api's loader, then prints or writes the manifests.
pub(super) fn finish(
    manifests: Vec<Manifest>,
    report: Report,
    output: &OutputArgs,
) -> anyhow::Result<Exit> {
    for finding in &report.findings {
        eprintln!("{finding}");
    }
    if !report.errors.is_empty() {
        for error in &report.errors {
            eprintln!("{error}");
        }
        eprintln!(
            "error: import failed: {}; nothing was written",
            plural(report.errors.len(), "error")
        );
        return Ok(Exit::Error);
    }
    let not_mapped = report.not_mapped();
    if output.strict && not_mapped > 0 {
        eprintln!(
            "error: {} not mapped (--strict); nothing was written",
            plural(not_mapped, "key")
        );
        return Ok(Exit::Error);
    }
    let files = manifest::files(&manifests)?;
    let shown_dir = output
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("<stdout>"));
    // What is written must be a valid revision: checked by the loader `validate` uses.
    if let Err(e) = manifest::validate(&shown_dir, &files) {
        report_load_error(&e);
        eprintln!("error: the imported manifests do not validate; nothing was written");
        return Ok(Exit::Error);
    }
    match &output.output {
        None => print!("{}", manifest::stream(&manifests)?),
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, text) in &files {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            eprintln!(
                "{}: {} written ({} not mapped)",
                printable(&dir.display().to_string()),
                plural(files.len(), "manifest"),
                plural(not_mapped, "key")
            );
        }
    }
    Ok(Exit::Ok)
}
