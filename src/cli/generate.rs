//! `handler generate`: a seeded day (or any hours) of realistic ACS traffic as a JSON array that
//! `handler send` accepts, for demos and for trying `handler compact` and `handler report`.

use acs_event_archive::traffic::{generate, TrafficOptions};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use time::OffsetDateTime;

/// Arguments of `handler generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// The same seed, date, hours and events always give the same events
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start: a UTC date (2026-12-01) or an RFC 3339 time; default: yesterday, whose hours are closed
    /// and can be compacted and reported at once
    #[arg(long, value_parser = super::compact::parse_time)]
    pub date: Option<OffsetDateTime>,
    /// Hours of traffic from the start (24: a day)
    #[arg(long, default_value_t = 24)]
    pub hours: u32,
    /// About how many events
    #[arg(long, default_value_t = 5_000)]
    pub events: usize,
    /// The file to write; default: stdout
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: GenerateArgs) -> ExitCode {
    match write(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn write(args: &GenerateArgs) -> anyhow::Result<()> {
    let start = args.date.unwrap_or_else(|| {
        let yesterday = OffsetDateTime::now_utc() - time::Duration::DAY;
        yesterday.replace_time(time::Time::MIDNIGHT)
    });
    let events = generate(&TrafficOptions {
        seed: args.seed,
        start,
        hours: args.hours,
        events: args.events,
    });
    // One event per line: greppable, and diffs of two seeds stay readable.
    let mut text = String::from("[\n");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            text.push_str(",\n");
        }
        text.push_str(&event.to_string());
    }
    text.push_str("\n]\n");
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("could not write {}", path.display()))?;
            eprintln!("wrote {} events to {}", events.len(), path.display());
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("could not write to stdout")?,
    }
    Ok(())
}
