//! `podctl rollback NAME`: put a container back on the image before its current one,
//! through the same gate as any rollout, under the host lock.

use clap::Args;
use podctl::execute::Verdict;
use podctl::lock::{self, HostLock};
use podctl::plan::Plan;
use podctl::plan::rollout::rollback_step;
use podctl::reconcile::Host;
use podctl_api::{Kind, ObjectRef, printable};

use super::{Exit, HostArgs, LockArgs, ManifestArgs, load_manifests};

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The Container's name.
    pub name: String,
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

pub fn run(args: &RollbackArgs) -> anyhow::Result<Exit> {
    let revision = match load_manifests(&args.manifests) {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let Ok(name) = args.name.parse() else {
        eprintln!("error: `{}` is not a container name", printable(&args.name));
        return Ok(Exit::Error);
    };
    let object = ObjectRef::new(Kind::Container, name);
    if revision.get(&object).is_none() {
        eprintln!(
            "error: {} is not in the manifests in {}",
            printable(&object.to_string()),
            printable(&args.manifests.dir.display().to_string())
        );
        return Ok(Exit::Error);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let me = lock::Holder::me(lock::Command::Apply, &args.manifests.dir);
        let _lock = HostLock::acquire(
            &args.lock.lock_file,
            &me,
            args.lock.lock_timeout.as_std(),
            |_| {},
        )
        .await?;
        let mut host = Host::connect(args.host.config()).await?;
        args.manifests.for_backup_timers(&mut host.render);
        let observed = host.observe(&revision).await?;
        let plan = host.plan(&revision, &observed);
        let Some(planned) = plan.step(&object) else {
            eprintln!("error: {} is not planned", printable(&object.to_string()));
            return Ok(Exit::Error);
        };
        let blue_green = revision.get(&object).filter(|o| {
            o.as_container()
                .is_some_and(podctl_api::bluegreen_checks::is_blue_green)
        });
        let step = match blue_green {
            Some(o) => podctl::plan::bluegreen::rollback(o, &revision, &observed, &host.render),
            None => rollback_step(planned, observed.rollouts.get(object.name.as_str())),
        };
        let step = match step {
            Ok(step) => step,
            Err(refused) => {
                eprintln!("error: {}", printable(&refused.to_string()));
                eprintln!("  hint: {}", refused.hint());
                return Ok(Exit::Error);
            }
        };
        let outcomes = host.execute(&Plan { steps: vec![step] }, &revision).await;
        let mut exit = Exit::Ok;
        for o in &outcomes {
            let line = match &o.status {
                Verdict::Applied | Verdict::UpToDate => format!("{} rolled back", o.object),
                other => {
                    exit = Exit::Changes;
                    format!(
                        "{} FAILED: {}",
                        o.object,
                        other.message().unwrap_or_default()
                    )
                }
            };
            println!("{}", printable(&line));
        }
        Ok(exit)
    })
}
