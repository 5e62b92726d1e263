//! `handler report --from T --to T [--out report.html] [--json summary.json]`: the archive's figures
//! for a window as a self-contained page and as JSON. Storage comes from the same settings as the
//! handler; hours not compacted yet are compacted first (see `report` in the library).

use super::compact::parse_time;
use acs_event_archive::config::Config;
use acs_event_archive::report::privacy::Privacy;
use acs_event_archive::report::{self, page, ReportOptions};
use anyhow::Context;
use std::path::PathBuf;
use time::OffsetDateTime;

/// Arguments of `handler report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Start, inclusive: a UTC date (2026-12-01) or an RFC 3339 time
    #[arg(long, value_parser = parse_time)]
    pub from: OffsetDateTime,
    /// End, exclusive: a UTC date or an RFC 3339 time
    #[arg(long, value_parser = parse_time)]
    pub to: OffsetDateTime,
    /// The HTML page
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
    /// Also write the figures as JSON (`-` for standard output)
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Show thread ids and phone numbers in quoted texts instead of hashing and masking them
    #[arg(long)]
    pub show_identifiers: bool,
}

pub async fn run(args: ReportArgs, config: &Config) -> anyhow::Result<bool> {
    anyhow::ensure!(args.from < args.to, "--from must be before --to");
    // A report reads every hour of its window: bound it, and keep clear of the calendar's end.
    anyhow::ensure!(
        args.to - args.from <= time::Duration::days(3_660),
        "the window is longer than ten years: report on less at a time"
    );
    anyhow::ensure!(args.to.year() < 9999, "--to must be before the year 9999");
    let store = super::job_store(config)?;
    let options = ReportOptions {
        from: args.from,
        to: args.to,
        now: OffsetDateTime::now_utc(),
        lookback_hours: config.compact_lookback_hours,
        privacy: if args.show_identifiers {
            Privacy::shown()
        } else {
            Privacy::hashed()
        },
    };
    // Progress goes to stderr when the JSON goes to stdout, so that stdout stays one JSON document.
    let json_to_stdout = args.json.as_deref() == Some(std::path::Path::new("-"));
    let say = |line: &str| {
        if json_to_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let summary = report::build(&store, &config.containers, &options, say).await?;
    for s in &summary.sources {
        say(&format!(
            "{} .. {}: {} rows from {}",
            s.from,
            s.to,
            s.rows,
            match s.read {
                report::summary::SourceKind::Parquet => "Parquet files",
                report::summary::SourceKind::Compacted => "Parquet compacted just now",
                report::summary::SourceKind::Records => "records (hours not over yet)",
            }
        ));
    }
    let html = page::render(&summary);
    std::fs::write(&args.out, &html).with_context(|| format!("could not write {}", args.out.display()))?;
    say(&format!(
        "wrote {} ({} KB)",
        args.out.display(),
        html.len().div_ceil(1024)
    ));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&summary).context("could not encode the summary")?;
        if json_to_stdout {
            println!("{json}");
        } else {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("could not write {}", path.display()))?;
            say(&format!("wrote {}", path.display()));
        }
    }
    if args.show_identifiers {
        eprintln!("note: this report shows thread ids and phone numbers; share it accordingly");
    }
    Ok(true)
}
