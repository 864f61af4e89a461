//! `podctl apply`: converge the host to the manifests once, and report per object.

use std::io::{IsTerminal as _, Write};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use super::{Exit, HostArgs, LockArgs, ManifestArgs, RolloutArgs, load_or_report};
use podctl::execute::{Outcome, PullProgress, Verdict};
use podctl::lock::{self, HostLock};
use podctl::plan::{Change, Plan};
use podctl::reconcile::{Host, PassError, PassOptions, Reconciled};
use podctl_api::printable;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub rollouts: RolloutArgs,
    #[command(flatten)]
    pub lock: LockArgs,
    /// Apply even when the revision is empty and would remove every managed container
    /// (guards against a sync tool leaving an empty directory behind).
    #[arg(long)]
    pub allow_empty: bool,
    /// Remove managed objects that left the revision (containers, secrets, networks,
    /// images podctl pulled, volumes with `reclaimPolicy: Delete`); with `--prune=false`
    /// they are kept and reported as orphaned.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub prune: bool,
}

pub fn run(args: &ApplyArgs) -> anyhow::Result<Exit> {
    let revision = match load_or_report(&args.manifests.dir, &args.manifests.load_options()) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let started = Instant::now();
        // Before looking at the host: what is observed and planned must not change under
        // us, and a controller's host is not ours to change.
        let _lock = take_lock(&args.lock, &args.manifests.dir).await?;
        let mut host = Host::connect(args.rollouts.config(&args.host)).await?;
        args.manifests.for_backup_timers(&mut host.render);
        if std::io::stderr().is_terminal() {
            host.progress = Some(Arc::new(|p: &PullProgress| {
                eprintln!("{}", printable(&p.to_string()));
            }));
        }
        stop_on_signals(host.interrupt.clone())?;
        let options = PassOptions {
            allow_empty: args.allow_empty,
            prune: args.prune,
            ..PassOptions::default()
        };
        let Reconciled { plan, outcomes, .. } = match host.reconcile(&revision, options).await {
            Ok(done) => done,
            Err(PassError::Refused(refused)) => {
                eprintln!("error: {}", printable(&refused.to_string()));
                eprintln!("  hint: {}", refused.hint());
                return Ok(Exit::Error);
            }
            Err(PassError::Observe(e)) => return Err(e.into()),
        };
        let failed = print_outcomes(&outcomes, &revision, started)?;
        let overridden = warn_drop_ins(&plan);
        Ok(if host.interrupt.is_cancelled() {
            Exit::Interrupted
        } else if failed > 0 || overridden > 0 {
            Exit::Changes
        } else {
            Exit::Ok
        })
    })
}

/// One line per object and the summary line, on stdout; how many objects are not ok.
pub(super) fn print_outcomes(
    outcomes: &[Outcome],
    revision: &podctl_api::Revision,
    started: Instant,
) -> std::io::Result<usize> {
    let mut out = std::io::stdout().lock();
    // Objects and messages (podman's and systemd's words) are printed escaped.
    let width = outcomes
        .iter()
        .map(|o| printable(&o.object.to_string()).len())
        .max()
        .unwrap_or(0);
    for o in outcomes {
        writeln!(
            out,
            "{:width$}  {:9}  {:>6.1}s  {}",
            printable(&o.object.to_string()),
            result_word(o),
            o.elapsed.as_secs_f64(),
            printable(&outcome_detail(o)),
        )?;
    }
    let failed = outcomes.iter().filter(|o| !o.status.is_ok()).count();
    let orphaned = outcomes
        .iter()
        .filter(|o| matches!(o.change, Change::Orphaned { .. }))
        .count();
    writeln!(
        out,
        "revision {}: {}, {} changed, {} failed{} in {:.1}s",
        revision.short_hash(),
        podctl_api::plural(outcomes.len(), "object"),
        outcomes
            .iter()
            .filter(|o| matches!(o.status, Verdict::Applied))
            .count(),
        failed,
        if orphaned > 0 {
            format!(", {orphaned} orphaned (kept)")
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64()
    )?;
    Ok(failed)
}

/// The result column: how the object ended.
fn result_word(o: &Outcome) -> &'static str {
    match &o.status {
        Verdict::UpToDate if matches!(o.change, Change::Orphaned { .. }) => "orphaned",
        Verdict::UpToDate => "unchanged",
        Verdict::Applied => "ok",
        Verdict::Failed(_) => "FAILED",
        Verdict::Blocked(_) => "BLOCKED",
        Verdict::Conflict(_) => "CONFLICT",
    }
}

/// The last column: the change, and what was done or what went wrong.
fn outcome_detail(o: &Outcome) -> String {
    let detail = match &o.status {
        Verdict::UpToDate => String::new(),
        Verdict::Applied => o
            .done
            .iter()
            .map(|a| a.verb())
            .collect::<Vec<_>>()
            .join(", "),
        Verdict::Failed(e) => e.to_string(),
        Verdict::Blocked(b) => b.to_string(),
        Verdict::Conflict(m) => m.clone(),
    };
    let change = match &o.change {
        Change::UpToDate => "-".to_string(),
        // The status carries the message; say it once.
        Change::Conflict { .. } => "conflict".to_string(),
        Change::Error { .. } => "error".to_string(),
        c => c.to_string(),
    };
    match (change.as_str(), detail.is_empty()) {
        (_, true) => change,
        ("-", false) => detail,
        (_, false) => format!("{change}: {detail}"),
    }
}

/// Drift podctl does not repair: the operator's drop-ins stay, and are said once more, on
/// stderr. How many units have one.
fn warn_drop_ins(plan: &Plan) -> usize {
    let overridden: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| !s.drop_ins.is_empty())
        .collect();
    for step in &overridden {
        for drop_in in &step.drop_ins {
            eprintln!(
                "warning: {}: drop-in {} overrides its unit; podctl never removes it: move the setting into the manifest or delete the file",
                printable(&step.object.to_string()),
                printable(&drop_in.display().to_string())
            );
        }
    }
    overridden.len()
}

/// Ctrl-C (or SIGTERM) stops the apply at its next safe point: the systemd jobs and podman
/// calls in flight finish, nothing more starts, and what was left half-way is finished by
/// the next apply. A second one ends podctl at once, which is safe too (unit files are
/// written atomically; the next apply repairs the rest).
pub(super) fn stop_on_signals(
    interrupt: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        for n in 0.. {
            tokio::select! {
                _ = sigint.recv() => {}
                _ = sigterm.recv() => {}
            }
            if n > 0 {
                eprintln!("podctl: stopped at once; run apply again to finish");
                std::process::exit(Exit::Interrupted as i32);
            }
            eprintln!(
                "podctl: interrupted: finishing the jobs in flight, then stopping (again to stop at once)"
            );
            interrupt.cancel();
        }
    });
    Ok(())
}

/// Takes the host lock for one run (apply, update), saying on stderr when it has to wait.
pub(super) async fn take_lock(
    args: &LockArgs,
    manifests: &std::path::Path,
) -> Result<HostLock, lock::LockError> {
    let me = lock::Holder::me(lock::Command::Apply, manifests);
    let timeout = args.lock_timeout.as_std();
    HostLock::acquire(&args.lock_file, &me, timeout, |holder| {
        let holder = holder.map_or_else(|| "another process".to_owned(), ToString::to_string);
        eprintln!(
            "waiting up to {timeout:?} for the host lock {}, held by {holder}",
            args.lock_file.display()
        );
    })
    .await
}
