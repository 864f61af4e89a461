//! `podctl get`: each object's desired and observed state at a glance.

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args, ValueEnum};
use podctl_api::printable::printable_json;
use podctl_api::{Kind, printable};
use serde::Serialize;

use super::{Exit, HostArgs, ManifestArgs};
use podctl::reconcile::Host;
use podctl::report::controller_status::ControllerStatus;
use podctl::report::live;
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
    /// The unix socket where a running `podctl controller` serves its status (root only);
    /// its view is shown too, and used alone when the manifests on disk are invalid.
    /// Trusted only if root owns it, others cannot connect, and the process behind it holds
    /// the host lock as the controller.
    #[arg(long, value_name = "PATH", env = "PODCTL_STATUS_SOCKET", default_value = podctl::controller::http::DEFAULT_STATUS_SOCKET)]
    pub status_socket: PathBuf,
    /// The host lock, which names the controller's pid.
    #[arg(long, value_name = "FILE", env = "PODCTL_LOCK_FILE", default_value = podctl::lock::DEFAULT_LOCK_FILE)]
    pub lock_file: PathBuf,
    /// Do not ask a running controller.
    #[arg(long)]
    pub no_controller: bool,
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
    /// The revision the rows describe: the manifests on disk, or the controller's.
    revision: &'a str,
    /// The Git commit of the manifests on disk, when `podctl sync` checked them out.
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    items: &'a [Row],
    /// The running controller's `/status`, when one answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    controller: Option<&'a ControllerStatus>,
}

pub fn run(args: &GetArgs) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let live = controller_view(args, &runtime);
    let Some((rows, revision_hash)) = collect_rows(args, &runtime, live.as_ref())? else {
        return Ok(Exit::Error);
    };
    if rows.is_empty() && args.name.is_some() {
        eprintln!(
            "error: no {} named \"{}\" in the manifests or on the host",
            args.kind.map_or("object", Kind::lowercase),
            printable(args.name.as_deref().unwrap_or_default())
        );
        eprintln!(
            "  hint: `podctl get {}` lists them; check the name, and -f for another manifest directory",
            args.kind.map_or("", Kind::lowercase)
        );
        return Ok(Exit::Error);
    }
    print(args, &rows, &revision_hash, live.as_ref())?;
    Ok(Exit::Ok)
}

/// The running controller's status, when it is trusted (see `report::live`); a warning
/// says why not otherwise.
fn controller_view(args: &GetArgs, runtime: &tokio::runtime::Runtime) -> Option<ControllerStatus> {
    if args.no_controller {
        return None;
    }
    let source = live::Source {
        socket: &args.status_socket,
        lock_file: &args.lock_file,
    };
    runtime.block_on(live::fetch(source)).unwrap_or_else(|e| {
        eprintln!("warning: {}", printable(&e.to_string()));
        None
    })
}

/// The rows to show and the revision they are of: podctl's own view of valid manifests,
/// or the controller's while the manifests on disk are invalid. `None` once the load error
/// is reported.
fn collect_rows(
    args: &GetArgs,
    runtime: &tokio::runtime::Runtime,
    live: Option<&ControllerStatus>,
) -> anyhow::Result<Option<(Vec<Row>, String)>> {
    let filter = Filter {
        kind: args.kind,
        name: args.name.clone(),
    };
    match (
        podctl_api::load_dir_with(&args.manifests.dir, &args.manifests.load_options()),
        live,
    ) {
        (Ok(revision), _) => {
            // The host (its D-Bus connection) lives and dies inside the runtime.
            let mut rows = runtime.block_on(async {
                let mut host = Host::connect(args.host.config()).await?;
                args.manifests.for_backup_timers(&mut host.render);
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
            if let Some(status) = live {
                live::annotate(&mut rows, status);
            }
            Ok(Some((rows, revision.hash().to_string())))
        }
        (Err(e), Some(status)) if e.diagnostics().is_some() => {
            // Show what the controller keeps running; the summary line says why.
            let rows: Vec<Row> = live::rows(status)
                .into_iter()
                .filter(|r| {
                    filter.kind.is_none_or(|k| k == r.kind)
                        && filter.name.as_deref().is_none_or(|n| n == r.name)
                })
                .collect();
            let hash = status.revision.as_ref().map(|r| r.hash.clone());
            Ok(Some((rows, hash.unwrap_or_default())))
        }
        (Err(e), _) => {
            if let Some(diagnostics) = e.diagnostics() {
                eprint!("{diagnostics}");
            }
            eprintln!("error: {}", printable(&e.to_string()));
            Ok(None)
        }
    }
}

/// The rows in the format asked for, with the controller's summary above a table.
fn print(
    args: &GetArgs,
    rows: &[Row],
    revision_hash: &str,
    live: Option<&ControllerStatus>,
) -> anyhow::Result<()> {
    let list = StatusList {
        api_version: podctl_api::API_VERSION,
        kind: "StatusList",
        revision: revision_hash,
        commit: podctl::sync::source_of(&args.manifests.dir).map(|s| s.commit),
        items: rows,
        controller: live,
    };
    let mut out = std::io::stdout().lock();
    let table = |wide| {
        let summary = match (live, &list.commit) {
            (Some(s), _) => format!("{}\n", live::summary(s)),
            (None, Some(commit)) => format!("manifests: commit {}\n", printable(commit)),
            (None, None) => String::new(),
        };
        format!("{summary}{}", render_table(rows, wide))
    };
    match args.output {
        GetFormat::Table => write!(out, "{}", table(false))?,
        GetFormat::Wide => write!(out, "{}", table(true))?,
        GetFormat::Json => writeln!(
            out,
            "{}",
            printable_json(&serde_json::to_string_pretty(&list)?)
        )?,
        GetFormat::Yaml => write!(out, "{}", serde_norway::to_string(&list)?)?,
    }
    Ok(())
}
