//! `handler compact [--from T] [--to T]`: compact the archive's closed hours into Parquet, for
//! backfill or to catch up by hand. Storage comes from the same settings as the handler. A progress
//! bar on a terminal, one line per partition written otherwise.

use acs_event_archive::analytics::compact::{Compactor, Outcome};
use acs_event_archive::analytics::hour_start;
use acs_event_archive::config::Config;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

/// Arguments of `handler compact`.
#[derive(Debug, clap::Args)]
pub struct CompactArgs {
    /// First hour to compact, inclusive: a UTC date (2026-12-01) or an RFC 3339 time; default: the
    /// lookback (ARCHIVE_COMPACT_LOOKBACK_HOURS) before the current hour
    #[arg(long, value_parser = parse_time)]
    pub from: Option<OffsetDateTime>,
    /// End, exclusive: a UTC date or an RFC 3339 time; default and at most: the current hour, which
    /// is still open
    #[arg(long, value_parser = parse_time)]
    pub to: Option<OffsetDateTime>,
    /// Leave out every kind's undated records
    #[arg(long)]
    pub no_undated: bool,
}

/// `2026-12-01` (midnight UTC) or an RFC 3339 time.
pub fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(date) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Ok(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc());
    }
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        format!("{text:?} is neither a date (2026-12-01) nor an RFC 3339 time (2026-12-01T10:00:00Z)")
    })
}

/// Compacts the window; returns whether every partition succeeded.
pub async fn run(args: CompactArgs, config: &Config) -> anyhow::Result<bool> {
    let now = OffsetDateTime::now_utc();
    let lookback = time::Duration::hours(i64::from(config.compact_lookback_hours));
    let from = args.from.unwrap_or(hour_start(now) - lookback);
    let to = args.to.unwrap_or(now);
    anyhow::ensure!(from < to, "--from must be before --to");
    let store = super::job_store(config)?;
    let compactor = Compactor::new(&store, &config.containers);
    let partitions = compactor
        .partitions(from, to, now, !args.no_undated)
        .await
        .context("could not find the kinds to compact")?;
    let terminal = std::io::stderr().is_terminal();
    let bar = if terminal {
        let bar = ProgressBar::new(partitions.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} partitions {msg}").expect("a valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let say = |line: String| {
        if terminal {
            bar.println(line);
        } else {
            println!("{line}");
        }
    };
    // Far: the command runs until done; the time limit is for the timer function.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(366 * 24 * 3600);
    let report = compactor
        .run(&partitions, deadline, |partition, result| {
            bar.inc(1);
            bar.set_message(partition.label());
            match result {
                Ok(Outcome::Written { rows, replaced, .. }) => say(format!(
                    "{} {}: {rows} rows -> {}/{}",
                    if *replaced { "replaced" } else { "wrote" },
                    partition.label(),
                    config.containers.analytics,
                    partition.target_name()
                )),
                Ok(Outcome::WrittenByAnother) => say(format!(
                    "{}: written meanwhile by another compaction, same sources",
                    partition.label()
                )),
                Err(e) => say(format!("{} failed: {e}", partition.label())),
                Ok(Outcome::Unchanged | Outcome::NoRecords) => {}
            }
        })
        .await;
    bar.finish_and_clear();
    println!("{}", report.summary());
    Ok(report.failed.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_are_midnight_utc_and_times_are_rfc_3339() {
        assert_eq!(parse_time("2026-12-01").unwrap(), datetime!(2026-12-01 00:00 UTC));
        assert_eq!(
            parse_time("2026-12-01T10:30:00+01:00").unwrap(),
            datetime!(2026-12-01 09:30 UTC)
        );
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
