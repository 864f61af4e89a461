//! `podctl alerts`: the Prometheus alert rules for the manifests, with each container's own
//! `monitoring` thresholds.

use std::io::Write as _;

use clap::Args;

use super::{Exit, ManifestArgs, load_manifests};
use podctl::report::alerts::rules_yaml;

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// The shipped defaults (dist/podctl-alerts.yml), without reading any manifest.
    #[arg(long)]
    pub defaults: bool,
}

pub fn run(args: &AlertsArgs) -> anyhow::Result<Exit> {
    let yaml = if args.defaults {
        rules_yaml(None)
    } else {
        match load_manifests(&args.manifests) {
            Ok(revision) => rules_yaml(Some(&revision)),
            Err(exit) => return Ok(exit),
        }
    };
    std::io::stdout().lock().write_all(yaml.as_bytes())?;
    Ok(Exit::Ok)
}
