//! `podctl export quadlet`: the manifests as Quadlet files for a podman release, with a
//! report of what Quadlet cannot express.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use podctl::migrate::manifest;
use podctl::migrate::quadlet::{self, PodmanVersion};
use podctl_api::{plural, printable};

use super::{Exit, ManifestArgs};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub target: ExportTarget,
}

#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// Write the manifests as Quadlet .container, .volume, .network and .image files
    #[command(
        after_help = "Exit status: 0 written (what Quadlet cannot express is reported on stderr and\n\
        kept in X-Podctl…= keys of [Unit], which systemd ignores), 2 invalid revision, error,\n\
        or with --strict anything not expressible; nothing is written then.\n\n\
        Only keys that the given podman release's Quadlet knows are written; a podman option\n\
        without a key of its own goes into PodmanArgs=. See docs/migrate.md.\n\n\
        Examples:\n  \
        podctl export quadlet -f ./manifests -o /etc/containers/systemd --podman-version 4.9\n  \
        podctl export quadlet -f ./manifests -o ./units --podman-version 5.2 --strict"
    )]
    Quadlet(QuadletExportArgs),
}

#[derive(Debug, Args)]
pub struct QuadletExportArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Where the Quadlet files go (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// The podman release the files are for (`4.4` or later, e.g. `4.9`, `5.2`).
    #[arg(long, value_name = "X.Y")]
    pub podman_version: PodmanVersion,
    /// Fail (exit 2, nothing written) when anything cannot be expressed in Quadlet.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<Exit> {
    match &args.target {
        ExportTarget::Quadlet(a) => quadlet_files(a),
    }
}

fn quadlet_files(args: &QuadletExportArgs) -> anyhow::Result<Exit> {
    let options = match args.manifests.load_options_any_host() {
        Ok(o) => o,
        Err(exit) => return Ok(exit),
    };
    let revision = match super::load_or_report(&args.manifests.dir, &options) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let manifests = manifest::from_revision(&revision);
    let exported = quadlet::export(&manifests, args.podman_version);
    for finding in &exported.report.findings {
        eprintln!("{finding}");
    }
    let not_mapped = exported.report.not_mapped();
    if args.strict && not_mapped > 0 {
        eprintln!(
            "error: {} cannot be expressed in Quadlet (--strict); nothing was written",
            plural(not_mapped, "field")
        );
        return Ok(Exit::Error);
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    for (name, text) in &exported.files {
        let path = args.output.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "{}: {} written for podman {} ({} not expressible in Quadlet)",
        printable(&args.output.display().to_string()),
        plural(exported.files.len(), "file"),
        args.podman_version,
        plural(not_mapped, "field")
    );
    Ok(Exit::Ok)
}
