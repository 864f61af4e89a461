//! `podctl update [NAME…] [--check]`: look for new images of the containers that follow
//! their reference (`update.policy: registry|local`), print what would change, and (without
//! `--check`) pull them and roll them out through the health gate, under the host lock.

use std::collections::BTreeSet;
use std::time::Instant;

use clap::Args;
use podctl::adapters::podman::Podman;
use podctl::adapters::registry::Skopeo;
use podctl::reconcile::{Host, PassError, PassOptions};
use podctl::update::{self, Report, Verdict};
use podctl_api::{Kind, ObjectRef, Revision, printable};

use super::apply::{print_outcomes, stop_on_signals, take_lock};
use super::{Exit, HostArgs, LockArgs, ManifestArgs, RolloutArgs, load_or_report};

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The Containers to look at (default: every one with an update policy).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Only report: exit 1 when something would update, 0 when nothing would, 2 when a
    /// lookup failed. Takes no lock: it runs beside a controller.
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub rollouts: RolloutArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

pub fn run(args: &UpdateArgs) -> anyhow::Result<Exit> {
    let revision = match load_or_report(&args.manifests.dir, &args.manifests.load_options()) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let targets = match update::targets(&revision, &args.names) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("  hint: {}", e.hint());
            return Ok(Exit::Error);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        if args.check {
            let podman = Podman::with_program(&args.host.podman);
            let report =
                update::check(&podman, &Skopeo::default(), &args.host.state_dir, targets).await?;
            print_report(&report);
            return Ok(check_exit(&report));
        }
        let started = Instant::now();
        let _lock = take_lock(&args.lock, &args.manifests.dir).await?;
        let mut host = Host::connect(args.rollouts.config(&args.host)).await?;
        args.manifests.for_backup_timers(&mut host.render);
        stop_on_signals(host.interrupt.clone())?;
        let report = update::check(
            &host.podman,
            &Skopeo::default(),
            &host.config.state_dir,
            targets,
        )
        .await?;
        print_report(&report);
        let exit = roll_out(&host, &revision, &report, started).await?;
        Ok(match (exit, report.verdict()) {
            (Exit::Ok, Verdict::Failed) => Exit::Error,
            (exit, _) => exit,
        })
    })
}

/// One line per container on stdout (`container/NAME REF old -> new`), errors on stderr.
fn print_report(report: &Report) {
    for checked in &report.checked {
        if checked.finding.is_error() {
            eprintln!("error: {}", checked.line());
        } else {
            println!("{}", checked.line());
        }
    }
}

fn check_exit(report: &Report) -> Exit {
    match report.verdict() {
        Verdict::Current => Exit::Ok,
        Verdict::Updates => Exit::Changes,
        Verdict::Failed => Exit::Error,
    }
}

/// Pulls the new images and runs a pass over the containers with an update only (the rest
/// of the revision is left as it is, nothing is pruned); its outcomes as `apply` prints them.
async fn roll_out(
    host: &Host,
    revision: &Revision,
    report: &Report,
    started: Instant,
) -> anyhow::Result<Exit> {
    let mut failed_pulls = BTreeSet::new();
    for (reference, result) in update::pull(&host.podman, report).await {
        if let Err(e) = result {
            eprintln!("error: {}", printable(&e.to_string()));
            failed_pulls.insert(reference);
        }
    }
    let updating: BTreeSet<ObjectRef> = report
        .updates()
        .filter(|c| !failed_pulls.contains(&c.target.reference))
        .filter_map(|c| {
            let name = c.target.container.parse().ok()?;
            Some(ObjectRef::new(Kind::Container, name))
        })
        .collect();
    if updating.is_empty() {
        return Ok(if failed_pulls.is_empty() {
            Exit::Ok
        } else {
            Exit::Error
        });
    }
    let options = PassOptions {
        prune: false,
        deferred: revision
            .objects()
            .iter()
            .map(|o| o.object_ref())
            .filter(|o| !updating.contains(o))
            .collect(),
        ..PassOptions::default()
    };
    let reconciled = match host.reconcile(revision, options).await {
        Ok(done) => done,
        Err(PassError::Refused(refused)) => anyhow::bail!("{refused}"),
        Err(PassError::Observe(e)) => return Err(e.into()),
    };
    let failed = print_outcomes(&reconciled.outcomes, revision, started)?;
    Ok(if host.interrupt.is_cancelled() {
        Exit::Interrupted
    } else if failed > 0 {
        Exit::Changes
    } else if !failed_pulls.is_empty() {
        Exit::Error
    } else {
        Exit::Ok
    })
}
