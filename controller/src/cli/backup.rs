//! `podctl backup run|list` and `podctl restore`: arguments in, `podctl::backup` operations
//! called, results printed.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use podctl::backup::{self, BackupConfig, RestoreOptions, Target};
use podctl::reconcile::Host;
use podctl_api::printable;

use super::{Exit, HostArgs, ManifestArgs, load_or_report};

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: BackupCommand,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back a volume up now: export it, store a restic snapshot, apply its retention
    Run(RunArgs),
    /// List the snapshots of one volume, or of every volume with a `backup`
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The Volume (its manifest has a `backup`).
    pub volume: String,
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub work: WorkArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this volume.
    pub volume: Option<String>,
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub work: WorkArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The Volume whose snapshot is restored.
    pub volume: String,
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub work: WorkArgs,
    /// The snapshot (ID or short ID, as `podctl backup list` shows it); default: the newest.
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// Restore into this new volume (it must not exist) instead of VOLUME.
    #[arg(long, value_name = "NEW")]
    pub into: Option<String>,
    /// Stop the containers using the volume, restore, start them again in dependency order.
    #[arg(long)]
    pub stop: bool,
}

/// Where the password file and the archives are kept while podctl works.
#[derive(Debug, Args)]
pub struct WorkArgs {
    /// The private directory for the repository password file (a tmpfs).
    #[arg(
        long,
        value_name = "DIR",
        env = "PODCTL_RUNTIME_DIR",
        default_value = backup::DEFAULT_RUNTIME_DIR
    )]
    pub runtime_dir: PathBuf,
}

impl WorkArgs {
    fn config(&self, state_dir: &std::path::Path) -> BackupConfig {
        BackupConfig::new(state_dir, &self.runtime_dir)
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub fn run(args: &BackupArgs) -> anyhow::Result<Exit> {
    match &args.command {
        BackupCommand::Run(a) => backup_run(a),
        BackupCommand::List(a) => list(a),
    }
}

fn backup_run(args: &RunArgs) -> anyhow::Result<Exit> {
    let revision = match load_or_report(&args.manifests.dir, &args.manifests.load_options()) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let target = Target::resolve(&revision, &args.volume)?;
    let config = args.work.config(&args.host.state_dir);
    runtime()?.block_on(async {
        let host = Host::connect(args.host.config()).await?;
        match backup::run(&host.podman, &host.systemd, &revision, &target, &config).await {
            Ok(r) => {
                println!(
                    "volume/{} backed up: snapshot {} ({} bytes in {:.1}s{}{})",
                    target.volume,
                    r.snapshot,
                    r.bytes,
                    r.took.as_secs_f64(),
                    stopped_note(&r.stopped),
                    if r.pruned { ", retention applied" } else { "" },
                );
                Ok(Exit::Ok)
            }
            Err(e) => {
                tracing::error!(volume = %target.volume, kind = e.kind(), error = %e, "backup failed");
                Err(e.into())
            }
        }
    })
}

fn stopped_note(units: &[String]) -> String {
    if units.is_empty() {
        String::new()
    } else {
        format!(", stopped and started again: {}", units.join(", "))
    }
}

fn list(args: &ListArgs) -> anyhow::Result<Exit> {
    let revision = match load_or_report(&args.manifests.dir, &args.manifests.load_options()) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let volumes: Vec<String> = match &args.volume {
        Some(v) => vec![v.clone()],
        None => revision
            .objects()
            .iter()
            .filter(|o| o.as_volume().is_some_and(|v| v.backup.is_some()))
            .map(|o| o.name().to_string())
            .collect(),
    };
    let config = args
        .work
        .config(std::path::Path::new(podctl::reconcile::DEFAULT_STATE_DIR));
    let now = std::time::SystemTime::now();
    runtime()?.block_on(async {
        println!(
            "{:<24} {:<10} {:<25} {:>10} {:>14}  HOST",
            "VOLUME", "SNAPSHOT", "TIME", "AGE", "SIZE"
        );
        for volume in volumes {
            let target = Target::resolve(&revision, &volume)?;
            for s in backup::list(&target, &config).await? {
                let size = s.tag(backup::TAG_SIZE).unwrap_or("-");
                println!(
                    "{:<24} {:<10} {:<25} {:>10} {:>14}  {}",
                    printable(&volume),
                    printable(&s.short_id),
                    printable(s.time.get(..19).unwrap_or(&s.time)),
                    age(&s.time, now),
                    size,
                    printable(&s.hostname),
                );
            }
        }
        Ok(Exit::Ok)
    })
}

/// `3d`, `5h`, `12m`, `40s` from an RFC 3339 time; `-` when it does not parse.
fn age(time: &str, now: std::time::SystemTime) -> String {
    let Some(then) = podctl::backup::parse_rfc3339(time) else {
        return "-".to_owned();
    };
    let secs = now.duration_since(then).map_or(0, |d| d.as_secs());
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

pub fn restore(args: &RestoreArgs) -> anyhow::Result<Exit> {
    let revision = match load_or_report(&args.manifests.dir, &args.manifests.load_options()) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let target = Target::resolve(&revision, &args.volume)?;
    let config = args.work.config(&args.host.state_dir);
    let options = RestoreOptions {
        snapshot: args.snapshot.clone(),
        into: args.into.clone(),
        stop: args.stop,
    };
    runtime()?.block_on(async {
        let host = Host::connect(args.host.config()).await?;
        let r = backup::restore(
            &host.podman,
            &host.systemd,
            &revision,
            &target,
            &config,
            &options,
        )
        .await?;
        println!(
            "volume/{} restored from snapshot {} ({} bytes in {:.1}s{})",
            r.volume,
            r.snapshot,
            r.bytes,
            r.took.as_secs_f64(),
            stopped_note(&r.stopped),
        );
        Ok(Exit::Ok)
    })
}
