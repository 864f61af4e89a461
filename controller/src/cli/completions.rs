//! `podctl completions` and `podctl man`: shell completions and man pages, generated from
//! the same clap definitions as the parser, so they never drift from it.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, Exit};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Where to write podctl.1 and one page per command (podctl-apply.1, ...).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "podctl", &mut std::io::stdout());
    Ok(Exit::Ok)
}

pub fn man(args: &ManArgs) -> anyhow::Result<Exit> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let command = Cli::command();
    clap_mangen::generate_to(command, &args.out)
        .with_context(|| format!("cannot write man pages to {}", args.out.display()))?;
    println!("man pages written to {}", args.out.display());
    Ok(Exit::Ok)
}
