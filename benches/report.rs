//! The report over a compacted month: `handler report` (the bench profile's build) over 30 days of
//! generated traffic, about 1,000,000 events, read from the hourly Parquet files in a real Azurite.
//!
//!     cargo bench --bench report -- [--events 1000000] [--runs 3] [--seed 1]
//!
//! The month is not archived through the handler (hours of uploads): its traffic is generated a
//! day at a time (`acs_event_archive::traffic`), each event becomes the record the handler would
//! store (`archive::record::prepare`), and each kind's hour is encoded by the analytics writer and
//! uploaded where compaction puts it, with the blob metadata compaction sets, so the report finds a
//! compacted month. Azurite's folder is kept in the target directory, one per events, seed and
//! generator version, and later runs reuse it; delete it to build the month again.
//!
//! Prints the build's time once, then the report's wall time and peak RSS (`ru_maxrss` from
//! `wait4`) per run, their median and maximum, and one `RESULT` line for scripts.

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use acs_event_archive::analytics::compact::{file_metadata, PARQUET_CONTENT_TYPE};
use acs_event_archive::analytics::parquet::{FileWriter, RowGroupLimits};
use acs_event_archive::analytics::{hour_start, Partition};
use acs_event_archive::archive::events::Family;
use acs_event_archive::archive::layout::sha256_hex;
use acs_event_archive::archive::record::prepare;
use acs_event_archive::config::{Config, Containers};
use acs_event_archive::storage::{AzureBlobStore, BlobSink, JobBlob, WriteCondition, WriteOutcome};
use acs_event_archive::traffic::{self, generate, TrafficOptions};
use futures::StreamExt;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::OffsetDateTime;

/// A month far older than any compaction lookback: the report trusts its files as compacted.
const MONTH_START: OffsetDateTime = datetime!(2026-09-01 00:00 UTC);
const DAYS: u32 = 30;

struct Args {
    events: usize,
    runs: usize,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        events: 1_000_000,
        runs: 3,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.replace(['_', ','], "").parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{arg} takes a number"))
        };
        match arg.as_str() {
            "--events" => a.events = value() as usize,
            "--runs" => a.runs = value() as usize,
            "--seed" => a.seed = value(),
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

/// The records of one kind and hour, as compaction would find them.
struct Hour {
    family: Family,
    kind: String,
    hour: OffsetDateTime,
    /// Blob name → (archived at, record); a redelivery lands on the same name and is stored once.
    records: BTreeMap<String, (i64, Vec<u8>)>,
}

fn main() {
    let args = args();
    let dataset = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "report-bench-{}-seed{}-traffic{}",
        args.events,
        args.seed,
        traffic::VERSION
    ));
    let stamp = dataset.join("complete");
    let azurite_folder = dataset.join("azurite");
    let fresh = !stamp.exists();
    if fresh {
        let _ = std::fs::remove_dir_all(&dataset);
        std::fs::create_dir_all(&azurite_folder).unwrap();
    }
    let azurite = helpers::Azurite::start(&azurite_folder);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let month_end = MONTH_START + time::Duration::days(i64::from(DAYS));
    let files_stamp = dataset.join("files");
    if fresh {
        let started = Instant::now();
        let (rows, files, bytes) = runtime.block_on(build_month(&args, azurite.port));
        let line = format!(
            "{rows} events in {files} Parquet files ({} MB), built and uploaded in {:.1} s",
            bytes / 1_000_000,
            started.elapsed().as_secs_f64()
        );
        // Azurite keeps its metadata in memory and writes it every few seconds: stopped as Ctrl-C
        // would, it writes the last of it, and the restarted one must list every file uploaded.
        azurite.stop();
        std::fs::write(&files_stamp, files.to_string()).unwrap();
        std::fs::write(&stamp, &line).unwrap();
        println!("month built: {line}");
        // Measure from a fresh image: a child forked from this process, which holds what it built,
        // would report this process's peak as its own `ru_maxrss` (Linux keeps the larger across
        // fork and exec).
        use std::os::unix::process::CommandExt;
        let error = std::process::Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .exec();
        panic!("could not run the benchmark again on the built month: {error}");
    } else {
        println!(
            "month reused from {}: {}",
            dataset.display(),
            std::fs::read_to_string(&stamp).unwrap()
        );
    }
    let expected_files: usize = std::fs::read_to_string(&files_stamp)
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let storage = helpers::Storage::new(azurite.port, reqwest::Client::new());
    let listed = runtime
        .block_on(storage.blob_names(&Containers::default().analytics))
        .len();
    assert_eq!(
        listed,
        expected_files,
        "the cached month in {} lost files: remove it and run again",
        dataset.display()
    );
    let events_in_month: u64 = std::fs::read_to_string(&stamp)
        .unwrap()
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);

    let help = helpers::handler_command(azurite.port, &Containers::default())
        .args(["report", "--help"])
        .output()
        .unwrap();
    if !help.status.success() {
        eprintln!(
            "`handler report` is not in this build ({}): the month is ready in {}; run again once the report is merged (issue 11)",
            String::from_utf8_lossy(&help.stderr).lines().next().unwrap_or_default(),
            dataset.display()
        );
        std::process::exit(2);
    }
    let (from, to) = (
        MONTH_START.format(&Rfc3339).unwrap(),
        month_end.format(&Rfc3339).unwrap(),
    );
    println!("handler report --from {from} --to {to}, {} runs", args.runs);
    let mut walls = vec![];
    let mut peak_kb = 0;
    for run in 1..=args.runs {
        let (wall, rss_kb) = report_once(azurite.port, &dataset, &from, &to, run);
        println!(
            "run {run}: {:.2} s, peak RSS {} MB",
            wall.as_secs_f64(),
            rss_kb / 1024
        );
        walls.push(wall);
        peak_kb = peak_kb.max(rss_kb);
    }
    walls.sort();
    let median = walls[walls.len() / 2];
    // The report says how many rows it read: every event of the month, or it measured less work.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dataset.join("summary.json")).unwrap()).unwrap();
    let rows_read: u64 = summary["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["rows"].as_u64())
        .sum();
    println!("the report read {rows_read} rows; the month has {events_in_month} events");
    assert_eq!(
        rows_read, events_in_month,
        "the report did not read the whole month"
    );
    println!(
        "median {:.2} s, peak RSS {} MB (max of the runs), {events_in_month} events in the month",
        median.as_secs_f64(),
        peak_kb / 1024
    );
    println!(
        "RESULT events={events_in_month} median_s={:.2} peak_rss_mb={}",
        median.as_secs_f64(),
        peak_kb / 1024
    );
}

/// One `handler report` over the month; its wall time and peak RSS in kB.
fn report_once(port: u16, dataset: &Path, from: &str, to: &str, run: usize) -> (Duration, i64) {
    let log = std::fs::File::create(dataset.join(format!("report-{run}.log"))).unwrap();
    let started = Instant::now();
    #[allow(
        clippy::zombie_processes,
        reason = "wait4 reaps it, and gives its resource usage, which Child::wait does not"
    )]
    let child = helpers::handler_command(port, &Containers::default())
        .args(["report", "--from", from, "--to", to, "--json"])
        .arg(dataset.join("summary.json"))
        .arg("--out")
        .arg(dataset.join("report.html"))
        .current_dir(dataset)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("could not start the handler");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 reaps the child we spawned and never waited on.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "handler report failed (status {status}): see {}",
        dataset.join(format!("report-{run}.log")).display()
    );
    (wall, usage.ru_maxrss)
}

/// Generates the month a day at a time and uploads each kind's hour once it is complete (a day's
/// follow-ups spill into the next day, never further back). Returns (events in the month, files,
/// bytes).
async fn build_month(args: &Args, port: u16) -> (u64, usize, u64) {
    let connection = helpers::connection_string(port);
    let config = Config::from_lookup(|key| (key == "ARCHIVE_STORAGE").then(|| connection.clone()))
        .expect("a configuration for Azurite");
    let store = AzureBlobStore::new(
        &config.storage,
        &config.containers.every(),
        false,
        Duration::from_secs(60),
    )
    .expect("a storage client");
    let month_end = MONTH_START + time::Duration::days(i64::from(DAYS));
    let per_day = args.events.div_ceil(DAYS as usize);
    let mut pending: BTreeMap<(OffsetDateTime, String), Hour> = BTreeMap::new();
    let (mut rows, mut files, mut bytes) = (0u64, 0usize, 0u64);
    for day in 0..DAYS {
        let start = MONTH_START + time::Duration::days(i64::from(day));
        let events = generate(&TrafficOptions {
            seed: args.seed.wrapping_mul(1_000).wrapping_add(u64::from(day)),
            start,
            hours: 24,
            events: per_day,
        });
        for event in &events {
            let time = event
                .get("eventTime")
                .or_else(|| event.get("time"))
                .and_then(|t| t.as_str())
                .expect("generated events have a time");
            let time = OffsetDateTime::parse(time, &Rfc3339).expect("an RFC 3339 time");
            let prepared = prepare(&serde_json::value::to_raw_value(event).unwrap());
            let hour = hour_start(time);
            // Archived two seconds after the event, in microseconds.
            let archived_at = (time.unix_timestamp_nanos() / 1_000) as i64 + 2_000_000;
            let entry = pending
                .entry((hour, prepared.kind.clone()))
                .or_insert_with(|| Hour {
                    family: prepared.family,
                    kind: prepared.kind.clone(),
                    hour,
                    records: BTreeMap::new(),
                });
            if entry
                .records
                .insert(prepared.blob_name, (archived_at, prepared.body))
                .is_none()
                && time < month_end
            {
                rows += 1;
            }
        }
        let complete: Vec<_> = pending
            .keys()
            .filter(|(hour, _)| *hour < start)
            .cloned()
            .collect();
        let hours: Vec<Hour> = complete.iter().filter_map(|k| pending.remove(k)).collect();
        let (f, b) = upload(&store, &config.containers.analytics, hours).await;
        files += f;
        bytes += b;
        eprintln!(
            "day {}: {} events generated, {rows} in the month so far",
            day + 1,
            events.len()
        );
    }
    let rest: Vec<Hour> = std::mem::take(&mut pending).into_values().collect();
    let (f, b) = upload(&store, &config.containers.analytics, rest).await;
    (rows, files + f, bytes + b)
}

/// Encodes each hour as compaction does and uploads it, a few at a time.
async fn upload(store: &AzureBlobStore, container: &str, hours: Vec<Hour>) -> (usize, u64) {
    let mut encoded = vec![];
    for hour in hours {
        let partition = Partition {
            family: hour.family,
            kind: hour.kind,
            hour: Some(hour.hour),
        };
        // What compaction digests (names and ETags of the sources); these sources have no ETags.
        let names: Vec<&str> = hour.records.keys().map(String::as_str).collect();
        let digest = sha256_hex(names.join("\n").as_bytes());
        let count = hour.records.len().to_string();
        let described = vec![
            ("family".to_owned(), partition.family.as_str().to_owned()),
            ("kind".to_owned(), partition.kind.clone()),
            ("sourcePrefix".to_owned(), partition.source_prefix()),
            ("sourceCount".to_owned(), count.clone()),
            ("sourcesDigest".to_owned(), digest.clone()),
        ];
        let mut writer = FileWriter::new(partition.family, described, RowGroupLimits::default()).unwrap();
        for (name, (archived_at, body)) in &hour.records {
            writer.push(name, Some(*archived_at), body).unwrap();
        }
        let file = writer.finish().unwrap();
        let metadata = file_metadata(hour.records.len(), &digest);
        encoded.push((partition.target_name(), metadata, file));
    }
    let files = encoded.len();
    let bytes: u64 = encoded.iter().map(|(_, _, f)| f.len() as u64).sum();
    let mut seen = HashSet::new();
    assert!(
        encoded.iter().all(|(name, ..)| seen.insert(name.clone())),
        "one file per hour and kind"
    );
    let condition = WriteCondition::Absent;
    let mut uploads = futures::stream::iter(encoded)
        .map(|(name, metadata, file)| {
            let condition = &condition;
            async move {
                let blob = JobBlob {
                    container,
                    name: &name,
                    content_type: PARQUET_CONTENT_TYPE,
                    metadata: &metadata,
                    condition,
                };
                let outcome = store.put_whole(blob, file).await;
                (name, outcome)
            }
        })
        .buffer_unordered(8);
    while let Some((name, outcome)) = uploads.next().await {
        match outcome {
            Ok(WriteOutcome::Written { .. }) => {}
            other => panic!("{name}: {other:?}"),
        }
    }
    (files, bytes)
}
