//! `podctl`: parses the command line and dispatches to one command.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.global.verbose, &args.command);
    match cli::run(args) {
        Ok(code) => code.into(),
        Err(e) => {
            // Errors quote podman, systemd, file names and manifests: escaped.
            eprintln!("error: {}", podctl_api::printable(&format!("{e:#}")));
            cli::Exit::Error.into()
        }
    }
}
