//! The command line: global options, the subcommands, and exit codes.

mod alerts;
mod apply;
mod backup;
mod completions;
mod controller;
mod diff;
mod export;
mod fleet;
mod get;
mod graph;
mod history;
mod import;
mod rollback;
mod sync;
mod update;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub const DEFAULT_MANIFESTS: &str = "/etc/podctl/manifests";

/// Exit codes, following kubectl's `diff` convention where it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Valid, converged, no changes.
    Ok = 0,
    /// Changes pending (`diff`) or some objects failed (`apply`).
    Changes = 1,
    /// Invalid revision or an error before any work.
    Error = 2,
    /// `apply` stopped by Ctrl-C or SIGTERM before it finished (128 + SIGINT, as shells do).
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "podctl",
    version,
    about = "Reconcile a Podman host to YAML manifests: containers become systemd services",
    long_about = "podctl reads a directory of YAML manifests (podctl.io/v1) as one revision and \
                  makes the host match it: each Container becomes a systemd service running \
                  podman; volumes, secrets, images and networks are created through podman.\n\n\
                  An invalid revision changes nothing: every error is printed as FILE:LINE:COL.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output (-v: debug, -vv: trace); RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The manifest directory option shared by the commands that read manifests.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The manifest directory (read recursively; may be a symlink swapped by a sync tool).
    #[arg(
        short = 'f',
        long = "manifests",
        value_name = "DIR",
        env = "PODCTL_MANIFESTS",
        default_value = DEFAULT_MANIFESTS
    )]
    pub dir: PathBuf,
    /// A directory outside the manifest directory that links in it may point into (a
    /// shared folder); repeat it, or separate several with `:` in the variable. Links
    /// anywhere else are not followed: podctl reads as root.
    #[arg(
        long = "allow-links-to",
        value_name = "DIR",
        env = "PODCTL_ALLOW_LINKS_TO",
        value_delimiter = ':'
    )]
    pub link_roots: Vec<PathBuf>,
    /// This host's identity (`{name: web-1, labels: {role: web}}`): only the objects whose
    /// `metadata.hosts` choose it are used. Default /etc/podctl/host.yaml; without that file,
    /// the machine's hostname and no labels. `validate` and `graph` use every object unless
    /// it is given.
    #[arg(long = "host", value_name = "FILE", env = "PODCTL_HOST_FILE")]
    pub host_file: Option<PathBuf>,
}

/// Where a host's identity is kept.
pub const DEFAULT_HOST_FILE: &str = "/etc/podctl/host.yaml";

impl ManifestArgs {
    /// Backup timers run `podctl backup run -f` on the directory this command was given.
    pub fn for_backup_timers(&self, render: &mut podctl::render::RenderContext) {
        render
            .backup
            .set_manifests(&self.dir, &self.link_roots, self.host_file.as_deref());
    }
}

impl ManifestArgs {
    /// How to read the manifests on this host: for `--host`, else for /etc/podctl/host.yaml,
    /// else for the machine's hostname. An unreadable identity is reported (exit 2).
    pub fn load_options(&self) -> Result<podctl_api::LoadOptions, Exit> {
        let host = match &self.host_file {
            Some(file) => read_host(file)?,
            None if Path::new(DEFAULT_HOST_FILE).exists() => {
                read_host(Path::new(DEFAULT_HOST_FILE))?
            }
            None => podctl_api::HostIdentity {
                name: podctl::backup::hostname(),
                labels: Default::default(),
                ..Default::default()
            },
        };
        Ok(podctl_api::LoadOptions {
            link_roots: self.link_roots.clone(),
            host: Some(host),
        })
    }

    /// For `validate` and `graph`: every object, unless `--host` names a host.
    pub fn load_options_any_host(&self) -> Result<podctl_api::LoadOptions, Exit> {
        let host = match &self.host_file {
            Some(file) => Some(read_host(file)?),
            None => None,
        };
        Ok(podctl_api::LoadOptions {
            link_roots: self.link_roots.clone(),
            host,
        })
    }
}

/// A host identity file; an error is printed with its place and the fix.
pub(super) fn read_host(file: &Path) -> Result<podctl_api::HostIdentity, Exit> {
    let shown = podctl_api::printable(&file.display().to_string()).into_owned();
    let text = std::fs::read_to_string(file).map_err(|e| {
        eprintln!("error: cannot read the host identity {shown}: {e}");
        eprintln!(
            "  hint: write `name: HOSTNAME` and `labels: {{role: web}}` there, or leave --host out"
        );
        Exit::Error
    })?;
    let host: podctl_api::HostIdentity = serde_norway::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        eprintln!(
            "{shown}{at}: error: {}",
            podctl_api::printable(&e.to_string())
        );
        eprintln!(
            "  hint: the file is `name: web-1` and optional `labels: {{role: web, wave: \"0\"}}`"
        );
        Exit::Error
    })?;
    if host.name.trim().is_empty() {
        eprintln!("{shown}: error: the host's `name` is empty");
        return Err(Exit::Error);
    }
    Ok(host)
}

/// Where podctl installs units and how much it does at once.
#[derive(Debug, Args)]
pub struct HostArgs {
    /// Where podctl writes unit files.
    #[arg(long, value_name = "DIR", env = "PODCTL_UNIT_DIR", default_value = podctl::reconcile::DEFAULT_UNIT_DIR)]
    pub unit_dir: PathBuf,
    /// How many objects to start at once (default: twice the number of CPUs: a start
    /// mostly waits on podman's locks and storage, not on a CPU).
    #[arg(long, value_name = "N", env = "PODCTL_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Where podctl keeps its records: the images it pulled, the secret hash key.
    #[arg(long, value_name = "DIR", env = "PODCTL_STATE_DIR", default_value = podctl::reconcile::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// The podman podctl calls itself (e.g. a wrapper); units run the `podman` on PATH.
    #[arg(
        long,
        value_name = "PROGRAM",
        env = "PODCTL_PODMAN",
        default_value = "podman",
        hide = true
    )]
    pub podman: PathBuf,
    /// podman's REST API socket. `apply`, `diff`, `get` and the other one-shot commands read
    /// the host through it when podman's API service already runs (`podman.service`); the
    /// controller whenever the socket exists (its event stream keeps the service running).
    /// `none`, or a podman program of one's own (`PODCTL_PODMAN`): always the podman CLI. A
    /// query the API fails is asked of the CLI.
    #[arg(long, value_name = "PATH", env = "PODCTL_PODMAN_SOCKET", default_value = podctl::adapters::podman::api::DEFAULT_SOCKET)]
    pub podman_socket: PathBuf,
}

impl HostArgs {
    pub fn config(&self) -> podctl::reconcile::HostConfig {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        podctl::reconcile::HostConfig {
            unit_dir: self.unit_dir.clone(),
            concurrency: self.concurrency.unwrap_or(2 * cpus).max(1),
            state_dir: self.state_dir.clone(),
            podman: self.podman.clone(),
            // A podman program of one's own (a wrapper that runs podman elsewhere, or a
            // broken one in a test) is what podctl must talk to: the local socket is not it.
            podman_api: if self.podman_socket.as_os_str() == "none"
                || self.podman_socket.as_os_str().is_empty()
                || self.podman.as_os_str() != "podman"
            {
                podctl::reconcile::PodmanApi::Off
            } else {
                podctl::reconcile::PodmanApi::IfRunning(self.podman_socket.clone())
            },
            unit_podman: podman_on_path(),
            pull_attempts: podctl::execute::PULL_ATTEMPTS,
            max_parallel_updates: podctl::execute::DEFAULT_MAX_PARALLEL_UPDATES,
            host_paths: podctl::observe::host_settings::HostPaths::default(),
        }
    }
}

/// The host-wide bound on rollouts: `apply`, `update` and the controller take it.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// How many containers roll out a new image at once (restart, then the health gate),
    /// host-wide, in dependency order; a rollback stops the rollouts of the pass not begun yet.
    #[arg(
        long,
        value_name = "N",
        env = "PODCTL_MAX_PARALLEL_UPDATES",
        default_value_t = podctl::execute::DEFAULT_MAX_PARALLEL_UPDATES as u64,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_parallel_updates: u64,
}

impl RolloutArgs {
    /// `host`'s configuration with this bound.
    pub fn config(&self, host: &HostArgs) -> podctl::reconcile::HostConfig {
        podctl::reconcile::HostConfig {
            max_parallel_updates: usize::try_from(self.max_parallel_updates).unwrap_or(usize::MAX),
            ..host.config()
        }
    }
}

/// The absolute path of `podman` for `Exec*=` lines: systemd needs one, and the binary
/// found on PATH is the one the operator uses. `PODCTL_PODMAN` (a wrapper for podctl's own
/// calls) deliberately does not change what the units run.
fn podman_on_path() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("podman"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/podman"))
}

/// The host lock: `apply` and the controller take it, so one podctl at a time changes the host.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// The host lock file, held by the controller for as long as it runs and by `apply` for
    /// one run. Keep the default: two podctl with different lock files would each remove
    /// what the other manages.
    #[arg(long, value_name = "FILE", env = "PODCTL_LOCK_FILE", default_value = podctl::lock::DEFAULT_LOCK_FILE)]
    pub lock_file: PathBuf,
    /// How long to wait for an `apply` that holds the host lock (e.g. `30s`, `2m`); a running
    /// controller is never waited for: it holds the lock for as long as it runs.
    #[arg(
        long,
        value_name = "DURATION",
        env = "PODCTL_LOCK_TIMEOUT",
        default_value = "30s"
    )]
    pub lock_timeout: podctl_api::values::Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a manifest directory; print every error as FILE:LINE:COL
    #[command(after_help = "Exit status: 0 valid, 2 invalid.\n\nExamples:\n  \
        podctl validate ./manifests\n  \
        podctl validate -f ./manifests\n  \
        PODCTL_MANIFESTS=./manifests podctl validate")]
    Validate(validate::ValidateArgs),
    /// Show the dependency graph of the manifests
    #[command(
        after_help = "Exit status: 0 shown, 2 invalid revision.\n\nExamples:\n  \
        podctl graph -f ./manifests\n  \
        podctl graph --format dot | dot -Tsvg > graph.svg"
    )]
    Graph(graph::GraphArgs),
    /// Converge the host to the manifests: write units, start, restart, remove
    #[command(
        after_help = "Exit status: 0 converged, 1 some objects failed (or a unit is overridden by a\n\
        drop-in), 2 invalid revision or error, 130 interrupted (Ctrl-C, SIGTERM).\n\n\
        Ctrl-C lets the systemd jobs in flight finish and starts nothing more; a second\n\
        Ctrl-C stops at once. Either way, the next apply finishes what was left half-way.\n\n\
        Each object gets one line: its result, the time it took, what changed and why.\n\
        An invalid revision changes nothing.\n\nExamples:\n  \
        podctl apply\n  \
        podctl apply -f ./manifests --unit-dir /etc/systemd/system"
    )]
    Apply(apply::ApplyArgs),
    /// Run the long-running reconciler: watch the manifests and the host, keep them converged
    #[command(
        after_help = "Runs until SIGTERM; SIGHUP re-reads the manifests. Serves /metrics, /healthz\n\
        and /readyz on --metrics-address (TCP), and /status only to root on --status-socket\n\
        (default /run/podctl/status.sock). Meant to run as dist/podctl.service.\n\nExamples:\n  \
        podctl controller\n  \
        podctl controller -f /etc/podctl/manifests --resync 30 --metrics-address 127.0.0.1:9883"
    )]
    Controller(controller::ControllerArgs),
    /// Show what apply would change and why, with unit file diffs
    #[command(
        after_help = "Exit status: 0 no changes, 1 changes (or conflicts), 2 error or invalid revision:\n\
        kubectl's convention, so it drops into a CI check of a GitOps pull request.\n\
        Drift counts as a change: a unit stopped or edited by hand, a container removed.\n\
        Secret values never appear; a changed secret shows only as a changed hash.\n\nExamples:\n  \
        podctl diff\n  \
        podctl diff -f ./manifests -o json | jq '.changes[].object'\n  \
        NO_COLOR=1 podctl diff > plan.txt"
    )]
    Diff(diff::DiffArgs),
    /// List objects with their status: Converged, Progressing, Degraded, Failed, Pending, Orphaned
    #[command(after_help = "Examples:\n  \
        podctl get\n  \
        podctl get containers -o wide\n  \
        podctl get container myapp -o yaml")]
    Get(get::GetArgs),
    /// Show a container's rollouts: pinned image, rollback target, results and reasons
    #[command(
        after_help = "Exit status: 0 shown, 2 no record (never applied) or unreadable.\n\nExamples:\n  \
        podctl history web\n  \
        podctl history web -o json | jq '.history[-1]'"
    )]
    History(history::HistoryArgs),
    /// Put a container back on the image before its current one, through its health gate
    #[command(
        after_help = "Exit status: 0 rolled back, 1 the previous image failed its gate (the current\n\
        one runs again), 2 nothing to roll back to, or an error.\n\n\
        The image left is marked failed: no apply or controller pass rolls forward to it by\n\
        itself; a new image in the manifest (or under the tag) is rolled out as usual.\n\n\
        Examples:\n  \
        podctl rollback web\n  \
        podctl history web"
    )]
    Rollback(rollback::RollbackArgs),
    /// Look for new images of containers with an update policy; roll them out, or only report
    #[command(
        after_help = "Exit status with --check: 0 nothing would update, 1 something would, 2 a lookup\n\
        failed (or an error). Without --check: 0 updated (or nothing to do), 1 a rollout failed\n\
        or was blocked, 2 a lookup or pull failed (or an error).\n\n\
        update.policy registry asks the registry (skopeo) for each distinct reference once;\n\
        local compares the image local storage names under the reference. An image that\n\
        failed its gate before is held, not retried. Prints `container/NAME REF old -> new`.\n\n\
        Examples:\n  \
        podctl update --check\n  \
        podctl update web\n  \
        podctl update --max-parallel-updates 1"
    )]
    Update(update::UpdateArgs),
    /// Back volumes up with restic now, or list their snapshots
    #[command(
        after_help = "Exit status: 0 done, 2 error (nothing is reported as backed up unless it is).\n\n\
        The volume's manifest names a BackupRepository (`backup: {repository: NAME}`); the\n\
        repository is initialised when missing. The password is read from the repository's\n\
        Secret and never printed.\n\nExamples:\n  \
        podctl backup run data -f /etc/podctl/manifests\n  \
        podctl backup list\n  \
        podctl backup list data"
    )]
    Backup(backup::BackupArgs),
    /// Restore a volume from a snapshot, exactly (the volume is emptied first)
    #[command(
        after_help = "Exit status: 0 restored, 2 error (the volume is left as it was when the\n\
        snapshot cannot be read).\n\n\
        Refuses while a running container uses the volume, unless --stop: then those\n\
        containers are stopped, the volume restored, and they are started again in\n\
        dependency order.\n\nExamples:\n  \
        podctl restore data\n  \
        podctl restore data --snapshot 4f2a9c1e --stop\n  \
        podctl restore data --into data-check"
    )]
    Restore(backup::RestoreArgs),
    /// Fetch a Git repository and swap the manifests link to its commit, atomically
    #[command(
        after_help = "Exit status: 0 swapped, up to date, or held by the fleet's rules, 2 error or etcd\n\
        unreachable (the link is left as it was).\n\n\
        The commit's tree is written to STATE_DIR/sync/COMMIT and --dest (a symlink) is\n\
        swapped to it with one rename, so a running controller sees the old tree or the new\n\
        one. With --allowed-signers, a commit without an allowed SSH signature is refused.\n\
        dist/podctl-sync.timer runs it every minute (see docs/gitops.md). With --fleet-etcd\n\
        the commit is taken only after the lower waves ran it healthy for --fleet-soak and\n\
        with a free slot of the host's group; otherwise `held: …` says why (docs/fleet.md).\n\nExamples:\n  \
        podctl sync --repo https://git.example/ops/fleet.git --branch main\n  \
        podctl sync --repo file:///srv/fleet.git --allowed-signers /etc/podctl/allowed_signers"
    )]
    Sync(sync::SyncArgs),
    /// See a fleet's rollout in etcd: hosts, waves, commits, states, why a rollout waits
    #[command(
        after_help = "Exit status: 0 shown, 2 etcd unreachable (or an error).\n\n\
        Hosts appear while their controller runs with --fleet-etcd (their lease keeps them);\n\
        GATE is what `podctl sync` decided about the newest commit (docs/fleet.md).\n\n\
        Examples:\n  \
        podctl fleet status --fleet-etcd http://10.0.0.5:2379\n  \
        podctl fleet status -o json | jq '.hosts[] | select(.state != \"Converged\")'"
    )]
    Fleet(fleet::FleetArgs),
    /// Print Prometheus alert rules for podctl's metrics, with the manifests' thresholds
    #[command(after_help = "Exit status: 0 printed, 2 invalid revision.\n\n\
        Check them with `promtool check rules`; docs/monitoring.md says how to load them.\n\n\
        Examples:\n  \
        podctl alerts -f /etc/podctl/manifests > /etc/prometheus/rules/podctl.yml\n  \
        podctl alerts --defaults")]
    Alerts(alerts::AlertsArgs),
    /// Convert Compose files or Quadlet units to manifests, reporting what does not map
    #[command(
        after_help = "Exit status: 0 imported, 2 error (or --strict and a key not mapped).\n\n\
        See docs/migrate.md.\n\nExamples:\n  \
        podctl import compose compose.yaml -o ./manifests\n  \
        podctl import quadlet /etc/containers/systemd"
    )]
    Import(import::ImportArgs),
    /// Write the manifests as Quadlet units for a podman release, reporting what does not map
    #[command(
        after_help = "Exit status: 0 written, 2 invalid revision or error (or --strict and a field\n\
        Quadlet cannot express).\n\nSee docs/migrate.md.\n\nExample:\n  \
        podctl export quadlet -f ./manifests -o ./units --podman-version 4.9"
    )]
    Export(export::ExportArgs),
    /// Print a shell completion script
    #[command(after_help = "Examples:\n  \
        podctl completions bash > /etc/bash_completion.d/podctl\n  \
        podctl completions zsh > \"${fpath[1]}/_podctl\"")]
    Completions(completions::CompletionsArgs),
    /// Write man pages for podctl and every command
    #[command(after_help = "Example:\n  podctl man --out /usr/local/share/man/man1")]
    Man(completions::ManArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Controller(args) => controller::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Get(args) => get::run(&args),
        Command::History(args) => history::run(&args),
        Command::Rollback(args) => rollback::run(&args),
        Command::Update(args) => update::run(&args),
        Command::Backup(args) => backup::run(&args),
        Command::Restore(args) => backup::restore(&args),
        Command::Sync(args) => sync::run(&args),
        Command::Fleet(args) => fleet::run(&args),
        Command::Alerts(args) => alerts::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    }
}

/// Logs go to stderr, leaving stdout to the command's output; the controller logs at info
/// by default, and to journald (structured fields) when systemd runs it.
pub fn init_logging(verbose: u8, command: &Command) {
    let controller = matches!(command, Command::Controller(_));
    let default = match verbose {
        0 if controller => "info",
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    if controller && std::env::var_os("JOURNAL_STREAM").is_some() {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        if let Ok(journald) = tracing_journald::layer() {
            let _ = tracing_subscriber::registry()
                .with(filter)
                // Fields as docs/operations.md names them: OBJECT=, REASON=, not F_OBJECT=.
                .with(
                    journald
                        .with_syslog_identifier("podctl".to_owned())
                        .with_field_prefix(None),
                )
                .try_init();
            return;
        }
    }
    // Colours only on a terminal, and never with NO_COLOR: logs piped to a file or a CI
    // log stay plain text.
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Loads the revision in `dir`, or prints why it is invalid and says how to exit.
/// The revision of `args` on this host (`ManifestArgs::load_options`), or the exit after
/// reporting why there is none.
pub fn load_manifests(args: &ManifestArgs) -> Result<podctl_api::Revision, Exit> {
    load_or_report(&args.dir, &args.load_options()?)
}

pub fn load_or_report(
    dir: &std::path::Path,
    options: &podctl_api::LoadOptions,
) -> Result<podctl_api::Revision, Exit> {
    podctl_api::load_dir_with(dir, options).map_err(|e| {
        report_load_error(&e);
        Exit::Error
    })
}

/// Every diagnostic of a revision that does not load, then the one-line summary.
pub fn report_load_error(e: &podctl_api::LoadError) {
    if let Some(diagnostics) = e.diagnostics() {
        eprint!("{diagnostics}");
    }
    // Without diagnostics the error may name a file: anyone's text, escaped.
    eprintln!("error: {}", podctl_api::printable(&e.to_string()));
}
