//! `podctl graph`: the dependency graph of a revision, as text or Graphviz dot; with the
//! state of each object when this host's systemd and podman answer.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use clap::{Args, ValueEnum};
use podctl_api::printable::printable_lines;
use podctl_api::{ObjectRef, Revision};

use super::{Exit, HostArgs, ManifestArgs, load_or_report};
use podctl::reconcile::Host;
use podctl::report::status::{Filter, rows};

/// How long `graph` waits for a host before it shows the graph alone.
const HOST_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// The manifest directory, instead of -f.
    #[arg(value_name = "DIR")]
    pub dir_arg: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub host: HostArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
    /// Show each object's state on this host (auto: when systemd and podman answer).
    #[arg(long, value_enum, default_value_t = ShowState::Auto)]
    pub state: ShowState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Levels of objects that can be worked on in parallel, each with what it needs.
    Text,
    /// Graphviz dot.
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowState {
    Auto,
    Never,
}

pub fn run(args: &GraphArgs) -> anyhow::Result<Exit> {
    let options = match args.manifests.load_options_any_host() {
        Ok(o) => o,
        Err(exit) => return Ok(exit),
    };
    let revision = match load_or_report(
        args.dir_arg.as_ref().unwrap_or(&args.manifests.dir),
        &options,
    ) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let states = match args.state {
        ShowState::Auto => host_states(args, &revision),
        ShowState::Never => BTreeMap::new(),
    };
    let note = |o: &ObjectRef| states.get(o).cloned();
    let graph = revision.graph();
    match args.format {
        // Names are validated, but the notes come from the host: escape the whole text.
        GraphFormat::Text => print!("{}", printable_lines(&graph.to_text_with(note))),
        GraphFormat::Dot => print!("{}", printable_lines(&graph.to_dot_with(note))),
    }
    Ok(Exit::Ok)
}

/// Each object's status on this host, or nothing when no host answers in time.
fn host_states(args: &GraphArgs, revision: &Revision) -> BTreeMap<ObjectRef, String> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return BTreeMap::new();
    };
    let states = runtime.block_on(async {
        tokio::time::timeout(HOST_TIMEOUT, async {
            let mut host = Host::connect(args.host.config()).await?;
            let dir = args.dir_arg.as_ref().unwrap_or(&args.manifests.dir);
            host.render.backup.set_manifests(
                dir,
                &args.manifests.link_roots,
                args.manifests.host_file.as_deref(),
            );
            let observed = host.observe(revision).await?;
            let plan = host.plan(revision, &observed);
            anyhow::Ok(rows(
                &plan,
                revision,
                &observed,
                SystemTime::now(),
                &Filter::default(),
            ))
        })
        .await
    });
    match states {
        Ok(Ok(rows)) => rows
            .into_iter()
            .filter_map(|r| {
                let object = ObjectRef::new(r.kind, r.name.parse().ok()?);
                Some((object, format!("{:?}", r.status)))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}
