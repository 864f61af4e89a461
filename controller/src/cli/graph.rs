//! `podctl graph`: the dependency graph of a revision, as text or Graphviz dot.

use clap::{Args, ValueEnum};

use super::{Exit, ManifestArgs, load_or_report};

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Levels of objects that can be worked on in parallel, each with what it needs.
    Text,
    /// Graphviz dot.
    Dot,
}

pub fn run(args: &GraphArgs) -> anyhow::Result<Exit> {
    let revision = match load_or_report(&args.manifests.dir) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let graph = revision.graph();
    match args.format {
        GraphFormat::Text => print!("{}", graph.to_text()),
        GraphFormat::Dot => print!("{}", graph.to_dot()),
    }
    Ok(Exit::Ok)
}
