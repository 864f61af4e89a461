//! `podctl validate`: load a manifest directory as a revision and report every problem.

use clap::Args;

use std::path::{Path, PathBuf};

use super::{Exit, ManifestArgs, load_or_report, read_host, report_load_error};
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
    /// A directory of host identity files (`*.yaml`, one per host): the revision is
    /// validated as each host's, and an object that no host gets is an error.
    #[arg(long, value_name = "DIR", conflicts_with = "host_file")]
    pub hosts: Option<std::path::PathBuf>,
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<Exit> {
    if let Some(hosts) = &args.hosts {
        return Ok(for_hosts(args, hosts));
    }
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

/// `--hosts DIR`: every object read once for all hosts, then the revision of each host,
/// then the objects no host gets.
fn for_hosts(args: &ValidateArgs, dir: &Path) -> Exit {
    let manifests = args.dir_arg.as_ref().unwrap_or(&args.manifests.dir);
    let hosts = match read_hosts(dir) {
        Ok(h) => h,
        Err(exit) => return exit,
    };
    let options = |host: Option<podctl_api::HostIdentity>| podctl_api::LoadOptions {
        link_roots: args.manifests.link_roots.clone(),
        host,
    };
    let Ok(all) = load_or_report(manifests, &options(None)) else {
        return Exit::Error;
    };
    let mut failed = false;
    for (file, host) in &hosts {
        match podctl_api::load_dir_with(manifests, &options(Some(host.clone()))) {
            Ok(revision) if !args.quiet => println!(
                "host {} ({}): valid: {}, revision {}",
                printable(&host.name),
                printable(&file.display().to_string()),
                plural(revision.len(), "object"),
                revision.short_hash()
            ),
            Ok(_) => {}
            Err(e) => {
                eprintln!(
                    "host {} ({}):",
                    printable(&host.name),
                    printable(&file.display().to_string())
                );
                report_load_error(&e);
                failed = true;
            }
        }
    }
    let identities: Vec<_> = hosts.into_iter().map(|(_, h)| h).collect();
    let unchosen = podctl_api::hosts::chosen_by_none(&all, &identities, &dir.display().to_string());
    if !unchosen.is_empty() {
        eprint!("{unchosen}");
        failed = true;
    }
    if failed { Exit::Error } else { Exit::Ok }
}

/// The host files of `dir`, sorted by name.
fn read_hosts(dir: &Path) -> Result<Vec<(PathBuf, podctl_api::HostIdentity)>, Exit> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        eprintln!(
            "error: cannot read the host directory {}: {e}",
            printable(&dir.display().to_string())
        );
        Exit::Error
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        eprintln!(
            "error: no host files (*.yaml) in {}",
            printable(&dir.display().to_string())
        );
        return Err(Exit::Error);
    }
    files
        .into_iter()
        .map(|f| read_host(&f).map(|h| (f, h)))
        .collect()
}
