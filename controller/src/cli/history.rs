//! `podctl history NAME`: a container's rollouts from its record, newest last.

use std::path::PathBuf;

use clap::Args;
use podctl::observe::rollouts;
use podctl::rollout::record::utc;
use podctl::rollout::{ImagePin, RolloutRecord};
use podctl_api::printable;
use podctl_api::printable::{printable_json, printable_lines};

use super::Exit;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The Container's name.
    pub name: String,
    /// Where podctl keeps its records.
    #[arg(long, value_name = "DIR", env = "PODCTL_STATE_DIR", default_value = podctl::reconcile::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// `text` (a table) or `json` (the record as stored).
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

pub fn run(args: &HistoryArgs) -> anyhow::Result<Exit> {
    let Some(record) = rollouts::read(&args.state_dir, &args.name)? else {
        eprintln!(
            "error: container/{} has no rollout record in {}; it gets one with its first apply",
            printable(&args.name),
            printable(&args.state_dir.display().to_string())
        );
        return Ok(Exit::Error);
    };
    match args.output {
        Output::Json => println!(
            "{}",
            printable_json(&serde_json::to_string_pretty(&record)?)
        ),
        Output::Text => print!("{}", table(&record)),
    }
    Ok(Exit::Ok)
}

fn pin(p: Option<&ImagePin>) -> String {
    p.map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// The pins, then one line per rollout.
pub fn table(record: &RolloutRecord) -> String {
    let mut out = format!(
        "container/{}: runs {}; rollback target {}; failed {}\n",
        record.container,
        pin(record.current.as_ref()),
        pin(record.previous.as_ref()),
        pin(record.failed.as_ref()),
    );
    let rows: Vec<[String; 6]> = record
        .history
        .iter()
        .map(|e| {
            [
                utc(e.time),
                e.trigger.to_string(),
                pin(e.from.as_ref()),
                e.to.to_string(),
                e.result.to_string(),
                e.reason
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), ToString::to_string),
            ]
        })
        .collect();
    let header = ["TIME", "TRIGGER", "FROM", "TO", "RESULT", "REASON"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    printable_lines(&out).into_owned()
}
