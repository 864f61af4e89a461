//! `podctl diff`: what `apply` would do and why, with unit file diffs; exit 1 on changes.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::{Exit, HostArgs, ManifestArgs, load_or_report};
use podctl::reconcile::Host;
use podctl::report::diff::{Summary, render_json, render_text};

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub host: HostArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = DiffFormat::Text)]
    pub output: DiffFormat,
    /// Also list objects that are up to date.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For people: a line per object, its actions and the unit file diff.
    Text,
    /// For programs: the schema in docs/cli.md (schemaVersion 1).
    Json,
}

pub fn run(args: &DiffArgs) -> anyhow::Result<Exit> {
    let revision = match load_or_report(&args.manifests.dir) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The host (its D-Bus connection) lives and dies inside the runtime.
    let plan = runtime.block_on(async {
        let host = Host::connect(args.host.config()).await?;
        let observed = host.observe(&revision).await?;
        anyhow::Ok(host.plan(&revision, &observed))
    })?;
    let unit_dir = args.host.unit_dir.display().to_string();
    let mut out = anstream::stdout().lock();
    match args.output {
        DiffFormat::Text => write!(
            out,
            "{}",
            render_text(&plan, &revision, &unit_dir, args.all)
        )?,
        DiffFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &render_json(&plan, &revision, &unit_dir))?;
            writeln!(out)?;
        }
    }
    Ok(if Summary::of(&plan).has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}
