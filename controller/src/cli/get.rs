//! `podctl get`: each object's desired and observed state at a glance.

use std::io::Write;
use std::time::SystemTime;

use clap::{Args, ValueEnum};
use podctl_api::Kind;
use serde::Serialize;

use super::{Exit, HostArgs, ManifestArgs, load_or_report};
use podctl::reconcile::Host;
use podctl::report::status::{Filter, Row, render_table, rows};

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Only objects of this kind (container, volume, secret, image, network; plurals work).
    #[arg(value_name = "KIND", value_parser = parse_kind)]
    pub kind: Option<Kind>,
    /// Only the object with this name.
    #[arg(value_name = "NAME", requires = "kind")]
    pub name: Option<String>,
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub host: HostArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = GetFormat::Table)]
    pub output: GetFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetFormat {
    /// KIND NAME STATUS ACTIVE HEALTH RESTARTS AGE MESSAGE.
    Table,
    /// The table plus image, unit and container ID.
    Wide,
    Json,
    Yaml,
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::parse_loose(s).ok_or_else(|| {
        format!("unknown kind `{s}`; use container, volume, secret, image or network")
    })
}

/// The document `-o json|yaml` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusList<'a> {
    api_version: &'static str,
    kind: &'static str,
    revision: &'a str,
    items: &'a [Row],
}

pub fn run(args: &GetArgs) -> anyhow::Result<Exit> {
    let revision = match load_or_report(&args.manifests.dir) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let filter = Filter {
        kind: args.kind,
        name: args.name.clone(),
    };
    // The host (its D-Bus connection) lives and dies inside the runtime.
    let rows = runtime.block_on(async {
        let host = Host::connect(args.host.config()).await?;
        let observed = host.observe(&revision).await?;
        let plan = host.plan(&revision, &observed);
        anyhow::Ok(rows(
            &plan,
            &revision,
            &observed,
            SystemTime::now(),
            &filter,
        ))
    })?;
    if rows.is_empty() && args.name.is_some() {
        eprintln!(
            "error: no {} named {:?} in the manifests or on the host",
            args.kind.map_or("object", Kind::lowercase),
            args.name.as_deref().unwrap_or_default()
        );
        return Ok(Exit::Error);
    }
    let list = StatusList {
        api_version: podctl_api::API_VERSION,
        kind: "StatusList",
        revision: revision.hash(),
        items: &rows,
    };
    let mut out = std::io::stdout().lock();
    match args.output {
        GetFormat::Table => write!(out, "{}", render_table(&rows, false))?,
        GetFormat::Wide => write!(out, "{}", render_table(&rows, true))?,
        GetFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?,
        GetFormat::Yaml => write!(out, "{}", serde_norway::to_string(&list)?)?,
    }
    Ok(Exit::Ok)
}
