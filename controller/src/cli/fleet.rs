//! `podctl fleet status`, and the etcd options shared by it, `sync` and `controller`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use podctl::fleet::{self, EtcdConfig, TlsFiles};

use super::Exit;

/// Where the fleet's etcd is (`sync`, `controller`, `fleet status`).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Fleet (etcd)")]
pub struct EtcdArgs {
    /// etcd's client URLs, comma-separated (e.g. http://10.0.0.5:2379). With it, `sync` takes
    /// a new commit only when the lower waves run it healthy, and the controller reports this
    /// host's state there (docs/fleet.md).
    #[arg(
        long = "fleet-etcd",
        value_name = "URL,...",
        env = "PODCTL_FLEET_ETCD",
        value_delimiter = ','
    )]
    pub endpoints: Vec<String>,
    /// The keys' prefix in etcd: one fleet per prefix.
    #[arg(long = "fleet-prefix", value_name = "PREFIX", env = "PODCTL_FLEET_PREFIX", default_value = fleet::DEFAULT_PREFIX)]
    pub prefix: String,
    /// The CA certificate (PEM) that signed etcd's certificates: TLS to etcd (https:// URLs).
    #[arg(long = "fleet-ca", value_name = "FILE", env = "PODCTL_FLEET_CA")]
    pub ca: Option<PathBuf>,
    /// This host's client certificate (PEM), when etcd asks for one (with --fleet-key).
    #[arg(
        long = "fleet-cert",
        value_name = "FILE",
        env = "PODCTL_FLEET_CERT",
        requires = "key"
    )]
    pub cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(
        long = "fleet-key",
        value_name = "FILE",
        env = "PODCTL_FLEET_KEY",
        requires = "cert"
    )]
    pub key: Option<PathBuf>,
}

impl EtcdArgs {
    /// `None` without `--fleet-etcd`.
    pub fn config(&self) -> anyhow::Result<Option<EtcdConfig>> {
        let endpoints: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            anyhow::ensure!(
                self.ca.is_none() && self.cert.is_none(),
                "--fleet-ca and --fleet-cert need --fleet-etcd"
            );
            return Ok(None);
        }
        anyhow::ensure!(
            self.prefix.starts_with('/') && self.prefix.trim_end_matches('/').len() > 1,
            "--fleet-prefix {}: an absolute key prefix such as /podctl/fleet",
            self.prefix
        );
        let https = endpoints.iter().any(|e| e.starts_with("https://"));
        anyhow::ensure!(
            https == self.ca.is_some(),
            "--fleet-ca goes with https:// endpoints (and https:// needs --fleet-ca)"
        );
        Ok(Some(EtcdConfig {
            endpoints,
            prefix: self.prefix.trim_end_matches('/').to_owned(),
            tls: self.ca.clone().map(|ca| TlsFiles {
                ca,
                client: self.cert.clone().zip(self.key.clone()),
            }),
        }))
    }
}

#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Every host's commit, state and wave, the group slots, and where the rollout stands
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn run(args: &FleetArgs) -> anyhow::Result<Exit> {
    match &args.command {
        FleetCommand::Status(status) => self::status(status),
    }
}

fn status(args: &StatusArgs) -> anyhow::Result<Exit> {
    let Some(config) = args.etcd.config()? else {
        eprintln!("error: give etcd with --fleet-etcd URL (or PODCTL_FLEET_ETCD)");
        return Ok(Exit::Error);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let snapshot = runtime.block_on(async {
        let etcd = fleet::etcd::Etcd::connect(&config).await?;
        etcd.snapshot().await
    });
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", podctl::report::error_chain(&e));
            return Ok(Exit::Error);
        }
    };
    let status = fleet::status::of(&snapshot);
    match args.output {
        Format::Table => print!("{}", fleet::status::render(&status, fleet::now())),
        Format::Json => println!("{}", serde_json::to_string_pretty(&status)?),
    }
    for key in &snapshot.unreadable {
        eprintln!(
            "warning: {} is not a podctl fleet record; left out",
            podctl_api::printable(key)
        );
    }
    Ok(Exit::Ok)
}
