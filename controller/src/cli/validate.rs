//! `podctl validate`: load a manifest directory as a revision and report every problem.

use clap::Args;

use super::{Exit, ManifestArgs, load_or_report};
use podctl_api::{plural, printable};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// The manifest directory, instead of -f.
    #[arg(value_name = "DIR")]
    pub dir_arg: Option<std::path::PathBuf>,
    /// Print nothing when the revision is valid.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<Exit> {
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
    if !args.quiet {
        let stats = revision.stats();
        println!(
            "{}: valid: {} in {} ({}), revision {}",
            // A directory name is anyone's text: escaped.
            printable(
                &args
                    .dir_arg
                    .as_ref()
                    .unwrap_or(&args.manifests.dir)
                    .display()
                    .to_string()
            ),
            plural(revision.len(), "object"),
            plural(stats.files, "file"),
            plural(stats.documents, "document"),
            revision.short_hash()
        );
    }
    Ok(Exit::Ok)
}
