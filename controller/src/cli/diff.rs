//! `podctl diff`: what `apply` would do and why, with unit file diffs; exit 1 on changes.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::{Exit, HostArgs, ManifestArgs, report_load_error};
use podctl::plan::guard::WipesTheHost;
use podctl::reconcile::Host;
use podctl::report::controller_status::DiagnosticInfo;
use podctl::report::diff::{Summary, render_json, render_text};
use podctl_api::printable::printable_json;

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
    /// What `apply --prune=false` would do: objects that left the revision are kept and
    /// shown as orphaned instead of deleted.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub prune: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For people: a line per object, its actions and the unit file diff.
    Text,
    /// For programs: the schema in docs/cli.md (schemaVersion 1).
    Json,
}

pub fn run(args: &DiffArgs) -> anyhow::Result<Exit> {
    let revision =
        match podctl_api::load_dir_with(&args.manifests.dir, &args.manifests.load_options()) {
            Ok(r) => r,
            Err(e) => {
                report_load_error(&e);
                if args.output == DiffFormat::Json {
                    // A CI job parsing stdout gets a document either way.
                    let mut out = std::io::stdout().lock();
                    let json =
                        serde_json::to_string_pretty(&invalid_revision(&args.manifests.dir, &e))?;
                    writeln!(out, "{}", printable_json(&json))?;
                }
                return Ok(Exit::Error);
            }
        };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The host (its D-Bus connection) lives and dies inside the runtime.
    let plan = runtime.block_on(async {
        let mut host = Host::connect(args.host.config()).await?;
        args.manifests.for_backup_timers(&mut host.render);
        let observed = host.observe(&revision).await?;
        anyhow::Ok(host.plan(&revision, &observed))
    })?;
    let plan = if args.prune {
        plan
    } else {
        plan.without_pruning()
    };
    if let Some(refused) = WipesTheHost::check(&revision, &plan, false) {
        // apply refuses this plan unless told; say so before anyone tries.
        eprintln!(
            "warning: {}; apply refuses it without --allow-empty",
            podctl_api::printable(&refused.to_string())
        );
    }
    let unit_dir = args.host.unit_dir.display().to_string();
    let mut out = anstream::stdout().lock();
    match args.output {
        DiffFormat::Text => write!(
            out,
            "{}",
            render_text(&plan, &revision, &unit_dir, args.all)
        )?,
        DiffFormat::Json => {
            let json = serde_json::to_string_pretty(&render_json(&plan, &revision, &unit_dir))?;
            writeln!(out, "{}", printable_json(&json))?;
        }
    }
    Ok(if Summary::of(&plan).has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// `podctl diff -o json` of a revision that does not load: what is wrong, where, in the
/// shape of the controller's `/status` `invalidRevision`.
fn invalid_revision(dir: &std::path::Path, e: &podctl_api::LoadError) -> serde_json::Value {
    let errors: Vec<DiagnosticInfo> = e
        .diagnostics()
        .map(|d| d.iter().map(DiagnosticInfo::from_diagnostic).collect())
        .unwrap_or_default();
    serde_json::json!({
        "apiVersion": podctl_api::API_VERSION,
        "kind": "Diff",
        "schemaVersion": podctl::report::diff::SCHEMA_VERSION,
        "manifests": dir.display().to_string(),
        "valid": false,
        "message": e.to_string(),
        "errors": errors,
    })
}
