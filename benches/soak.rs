//! Soak run: many events through the real handler while storage fails every few seconds.
//!
//!     cargo bench --bench soak -- [--events N]      (default 50,000)
//!
//! The same fault layer and Event Grid driver as the fault-injection test (tests/api/faults.rs), at
//! a larger scale and with longer outages. Prints progress, then lost / doubled counts, retries per
//! event and the handler's resident memory at start and end; exits non-zero if any event was lost,
//! doubled or stored wrong.

#[allow(dead_code)]
#[path = "../tests/api/eventgrid.rs"]
mod eventgrid;
#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../tests/api/proxy.rs"]
mod proxy;

use eventgrid::{Corpus, Plan, Progress};
use helpers::{spawn_app_with, AppOptions, Azurite};
use proxy::{Mode, Proxy};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_millis(2000);

fn main() {
    // `cargo bench` adds `--bench`; anything but `--events N` / `--events=N` is ignored.
    let mut events = 50_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--events") {
            Some("") => args.next(),
            Some(rest) => rest.strip_prefix('=').map(str::to_owned),
            None => None,
        };
        if let Some(n) = value {
            events = n
                .replace(['_', ','], "")
                .parse()
                .expect("--events takes a number");
        }
    }
    let clean = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(soak(events));
    if !clean {
        std::process::exit(1);
    }
}

async fn soak(events: usize) -> bool {
    let started = Instant::now();
    let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let azurite = Azurite::start(folder.path());
    let proxy = Proxy::start(azurite.port).await;
    let app = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: vec![("ARCHIVE_BUDGET_MS".into(), BUDGET.as_millis().to_string())],
    })
    .await;
    let pid = app.pid();
    let rss_start = rss_kib(pid);
    println!("soak: {events} events, handler pid {pid}, budget {BUDGET:?}, RSS at start {rss_start} KiB");

    let s = Duration::from_secs;
    let plan = Plan {
        concurrency: 24,
        duplicate_every: 10,
        burst_every: 50,
        faults: vec![
            (Mode::Pass, s(4)),
            (Mode::Cut, s(1)),
            (Mode::Pass, s(4)),
            (Mode::Refuse, BUDGET + s(1)),
            (Mode::Pass, s(4)),
            (Mode::BlackHole, BUDGET + s(1)),
        ],
        min_cycles: 1,
        max_cycles: u32::MAX,
        deadline: s(120 + events as u64 / 20),
        progress_every: Some(s(5)),
    };
    let rss_peak = AtomicU64::new(rss_start);
    let rss_warm = AtomicU64::new(0);
    let progress = |p: &Progress| {
        let rss = rss_kib(pid);
        rss_peak.fetch_max(rss, Ordering::Relaxed);
        if p.acknowledged >= events / 10 && rss_warm.load(Ordering::Relaxed) == 0 {
            rss_warm.store(rss, Ordering::Relaxed);
        }
        println!(
            "{:>6.1}s  first deliveries {:>6}  acknowledged {:>6}  deliveries {:>6}  failed {:>5}  storage {:<9}  RSS {rss} KiB",
            p.elapsed.as_secs_f64(),
            p.first_deliveries,
            p.acknowledged,
            p.deliveries,
            p.failed,
            format!("{:?}", p.mode),
        );
    };
    let (report, corpus) =
        eventgrid::run(&app.base, &proxy, Corpus::new("soak", events), &plan, &progress).await;
    let rss_end = rss_kib(pid);
    let faults = proxy.stats();
    println!("verifying every blob against its event...");
    let stored = eventgrid::verify(azurite.port, &app.containers, &corpus).await;

    let doubled = stored.extra.len();
    println!("\n== soak: {events} events in {:.0?} ==", started.elapsed());
    println!(
        "deliveries {} (2xx {}, 5xx {}, other {}, no answer {}), fault cycles {}, final fault-free pass {} deliveries",
        report.deliveries,
        report.ok,
        report.server_errors,
        report.other_statuses,
        report.dropped,
        report.fault_cycles,
        report.final_pass_deliveries
    );
    println!(
        "connections through the fault layer {}: refused {}, cut {}, black-holed {}",
        faults.connections, faults.refused, faults.cut, faults.black_holed
    );
    println!(
        "slowest answer {:?} (slowest non-2xx {:?}; budget {BUDGET:?}, Event Grid waits 30 s)",
        report.max_latency, report.max_error_latency
    );
    println!(
        "retries per event: mean {:.3}, max {}",
        report.retries_mean, report.retries_max
    );
    println!(
        "stored {} of {}: lost {}, doubled {}, wrong content {}, unacknowledged {}",
        stored.stored,
        stored.expected,
        stored.lost.len(),
        doubled,
        stored.wrong_content.len(),
        report.unacknowledged_at_end
    );
    println!(
        "handler RSS: start {rss_start} KiB, after 10% {} KiB, peak {} KiB, end {rss_end} KiB",
        rss_warm.load(Ordering::Relaxed),
        rss_peak.load(Ordering::Relaxed).max(rss_end)
    );
    for (what, list) in [
        ("lost", &stored.lost),
        ("doubled", &stored.extra),
        ("wrong content", &stored.wrong_content),
    ] {
        if !list.is_empty() {
            println!("{what} (first 20): {:?}", &list[..list.len().min(20)]);
        }
    }
    stored.lost.is_empty()
        && stored.extra.is_empty()
        && stored.wrong_content.is_empty()
        && report.unacknowledged_at_end == 0
        && report.max_latency < Duration::from_secs(25)
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
