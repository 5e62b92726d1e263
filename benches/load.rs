//! Load benchmark: the release `handler` driven like the Functions host drives it, against a real
//! Azurite, side by side with the direct-PUT ceiling and a Node peer in the same run. BENCHMARKS.md
//! has the figures.
//!
//! ```text
//! cargo bench --bench load -- [--concurrency 32] [--seconds 20] [--size 1024] [--warmup 3]
//!     [--startups 5] [--order chn] [--rounds 3] [--ceiling-with-tags] [--handler-env KEY=VALUE]...
//! ```
//!
//! 1. Starts the pinned Azurite (tests/api/helpers.rs) on a free port in a fresh folder.
//! 2. Start-up: spawns the handler (and the Node peer) `--startups` times each with the host's
//!    environment, polling `GET /` every 1 ms, and reports the median time from spawn to the first
//!    answer (the host itself polls every 25 ms; that figure is printed too).
//! 3. Ceiling (`c`): create-only PUT Blob (`If-None-Match: *`) of bodies the size of the handler's
//!    records, straight into Azurite with an account SAS, at the same concurrency.
//! 4. Handler (`h`): host-shaped invocations (`POST /SmsEvents` with the host's headers and body, sent
//!    with a Content-Length where the host streams chunks) of SMS events with unique ids; the handler
//!    answers 200 only once the blob is stored.
//! 5. Node peer (`n`): the same invocations to benches/node-peer/handler.js, a minimal Node custom
//!    handler over `@azure/storage-blob` (pinned; installed with `npm ci` on first use).
//!
//! The phases run `--rounds` times, each round rotated by one phase (`chn`, `hnc`, `nch`, ...),
//! because Azurite's rate drifts as it fills: each peer is measured early and late alike. Each phase
//! runs `--warmup` seconds unmeasured and then `--seconds` measured, without a pause. It prints per
//! phase events/s, p50/p99 latency and CPU (handler, node peer, Azurite, this driver, everything else)
//! over the measured window; per round the ratio to that round's ceiling and CPU ms per archived event
//! of each server (utime+stime from /proc/<pid>/stat over the window / events); then medians over the
//! rounds with min-max, peak RSS (VmHWM), ready times, a `SUMMARY` line of the target ratios and a
//! `RESULT` line for scripts. `LOAD_BENCH_HANDLER=/path/to/handler` runs another build of the handler
//! (one with symbols, to attach `perf record -p PID`).

#[path = "../tests/api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use acs_event_archive::archive::record;
use acs_event_archive::storage::account_sas;
use actix_web::web::Bytes;
use base64::Engine;
use clap::Parser;
use serde_json::value::RawValue;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Load benchmark of the handler against Azurite, with the direct-PUT ceiling")]
struct Args {
    /// Requests in flight at any time, in both phases
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds per phase
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Size in bytes of each stored blob (the handler's record; the direct PUT body)
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Unmeasured seconds before each phase's measured window
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// How many separate start-ups to time (1 ms polling)
    #[arg(long, default_value_t = 5)]
    startups: usize,
    /// Phases of the first round in order: `c` for the direct-PUT ceiling, `h` for the handler, `n`
    /// for the Node peer (benches/node-peer). Each later round rotates the order by one phase, because
    /// Azurite's rate drifts as it fills (`h` alone measures the handler's costs only)
    #[arg(long, default_value = "chn", value_parser = parse_order)]
    order: String,
    /// Rounds of the order; the summary is the median over rounds
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Give the direct PUTs the same metadata and index tags as the handler's writes
    #[arg(long)]
    ceiling_with_tags: bool,
    /// Extra environment for the handler under load, e.g. `--handler-env ARCHIVE_LOG=warn` (repeatable)
    #[arg(long = "handler-env", value_name = "KEY=VALUE", value_parser = parse_env)]
    handler_env: Vec<(String, String)>,
    /// Passed by `cargo bench`; ignored
    #[arg(long, hide = true)]
    bench: bool,
}

const FUNCTION: &str = "SmsEvents";
const ID_MARK: &str = "@@ID@@";

fn main() {
    let args = Args::parse();
    assert!(
        args.concurrency > 0 && args.seconds > 0,
        "concurrency and seconds must be positive"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let machine = machine();
    eprintln!("load benchmark: {machine}");
    eprintln!(
        "concurrency {}, {} s measured after {} s warm-up per phase, {} B blobs, {} rounds from order {}, handler env {:?}",
        args.concurrency, args.seconds, args.warmup, args.size, args.rounds, args.order, args.handler_env
    );
    let with_node = args.order.contains('n');
    if with_node {
        ensure_node_peer_installed();
    }

    let folder = tempfile::tempdir().expect("a temporary folder for Azurite");
    let azurite = helpers::Azurite::start(folder.path());
    let azurite_pid = Some(azurite.pid());
    let connection = helpers::connection_string(azurite.port);
    eprintln!(
        "azurite {} on port {} (pid {})",
        helpers::AZURITE_VERSION,
        azurite.port,
        azurite_pid.map_or("?".into(), |p| p.to_string())
    );

    let work = Workload::new(args.size);
    eprintln!(
        "record {} B, host invocation body {} B",
        work.record.len(),
        work.body_len()
    );

    // Start-up, timed precisely. The polling client exists and has been used before the spawn, as
    // the host's has: a new one takes milliseconds (TLS roots), which would hide the first poll.
    let poller = reqwest::Client::new();
    // Its first request also loads the TLS roots: do that one before the clock starts.
    let _ = poller.get(helpers::blob_endpoint(azurite.port)).send().await;
    let ready_precise = startup_median(Peer::Handler, &args, &connection, &poller).await;
    let node_ready = match with_node {
        true => Some(startup_median(Peer::Node, &args, &connection, &poller).await),
        false => None,
    };

    // The servers under load, started as the host starts them (25 ms polling).
    let mut handler = Handler::spawn(Peer::Handler, &connection, &args.handler_env);
    let ready_host = handler.wait_ready(&poller, Duration::from_millis(25)).await;
    let idle_rss = proc_status_kb(handler.pid(), "VmRSS:");
    eprintln!("handler {} pid {}", handler_binary().display(), handler.pid());
    eprintln!(
        "handler ready after {:.1} ms (precise median: {:.1} ms), idle RSS {} kB",
        ms(ready_host),
        ready_precise.map_or(f64::NAN, ms),
        idle_rss.unwrap_or(0)
    );
    let mut node = match with_node {
        true => Some(Handler::spawn(Peer::Node, &connection, &[])),
        false => None,
    };
    let mut node_idle_rss = None;
    if let Some(node) = &mut node {
        node.wait_ready(&poller, Duration::from_millis(25)).await;
        node_idle_rss = proc_status_kb(node.pid(), "VmRSS:");
        eprintln!(
            "node peer pid {}, ready after {:.1} ms precise median, idle RSS {} kB",
            node.pid(),
            node_ready.flatten().map_or(f64::NAN, ms),
            node_idle_rss.unwrap_or(0)
        );
    }

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .http1_only()
        .build()
        .expect("an HTTP client");
    let storage = DirectStorage::new(&connection, http.clone(), args.ceiling_with_tags);
    storage.create_container().await;

    let pids = Pids {
        handler: Some(handler.pid()),
        node: node.as_ref().map(Handler::pid),
        azurite: azurite_pid,
    };
    let seq = Arc::new(AtomicU64::new(0));
    let run_direct = || {
        let storage = storage.clone();
        let body = work.record.clone();
        let tags = work.tags.clone();
        let sha = work.sha.clone();
        phase("ceiling", &args, pids, seq.clone(), 201, move |n| {
            storage.put(n, body.clone(), &sha, &tags)
        })
    };
    // The same host-shaped invocations, to the Rust handler or to the Node peer.
    let run_server = |name: &'static str, base: String| {
        let http = http.clone();
        let work = work.clone();
        phase(name, &args, pids, seq.clone(), 200, move |n| {
            http.post(format!("{base}/{FUNCTION}"))
                .header("Content-Type", "application/json; charset=utf-8")
                .header("X-Azure-Functions-HostVersion", "4.1037.0.0")
                .header(
                    "X-Azure-Functions-InvocationId",
                    format!("00000000-0000-0000-0000-{n:012}"),
                )
                .header("User-Agent", "Azure-Functions-Host/4.1037.0.0")
                .body(work.body(n))
        })
    };
    // (round, order of that round, result) per phase.
    let mut phases: Vec<(usize, PhaseResult)> = vec![];
    let mut orders = vec![];
    for round in 0..args.rounds {
        // Each round starts one phase later in the order: every peer takes every position once in
        // as many rounds as there are letters, so Azurite's drift as it fills favours none of them.
        let order = rotated(&args.order, round);
        eprintln!("round {} of {}: {order}", round + 1, args.rounds);
        for which in order.chars() {
            let result = match which {
                'c' => run_direct().await,
                'h' => run_server("handler", handler.base.clone()).await,
                _ => {
                    let node = node.as_ref().expect("the node peer runs when the order has an n");
                    run_server("node", node.base.clone()).await
                }
            };
            phases.push((round, result));
        }
        orders.push(order);
    }
    let peak_rss = proc_status_kb(handler.pid(), "VmHWM:");
    let node_peak_rss = node.as_ref().and_then(|n| proc_status_kb(n.pid(), "VmHWM:"));
    let log_lines = handler.log_lines.load(Ordering::Relaxed);
    handler.stop();
    if let Some(node) = &mut node {
        node.stop();
    }

    println!();
    println!("{machine}");
    println!(
        "concurrency {}, {} s measured per phase, {} B blobs, {} rounds: {}",
        args.concurrency,
        args.seconds,
        work.record.len(),
        args.rounds,
        orders.join(" ")
    );
    println!(
        "{:<5} {:<9} {:>9} {:>9} {:>9} {:>7} {:>10} {:>7} {:>10} {:>9} {:>9}",
        "round",
        "phase",
        "ok/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "handler %",
        "node %",
        "azurite %",
        "driver %",
        "others %"
    );
    for (round, r) in &phases {
        println!(
            "{:<5} {:<9} {:>9.0} {:>9.2} {:>9.2} {:>7} {:>10.0} {:>7.0} {:>10.0} {:>9.0} {:>9.0}",
            round + 1,
            r.name,
            r.rate(),
            r.percentile(0.50),
            r.percentile(0.99),
            r.errors,
            r.cpu.percent(r.cpu.handler_ms),
            r.cpu.percent(r.cpu.node_ms),
            r.cpu.percent(r.cpu.azurite_ms),
            r.cpu.percent(r.cpu.driver_ms),
            r.cpu.percent(r.cpu.others_ms()),
        );
        if let Some(e) = &r.first_error {
            println!("                first error: {e}");
        }
    }

    // Per round: phases of one kind pooled (an order may measure the ceiling twice), then the
    // figures the targets name, each relative to the same round's other peers.
    let rounds: Vec<RoundFigures> = (0..args.rounds)
        .map(|round| {
            let of = |name: &'static str| {
                let mut matching = phases
                    .iter()
                    .filter(|(r, p)| *r == round && p.name == name)
                    .map(|(_, p)| p)
                    .peekable();
                matching
                    .peek()
                    .is_some()
                    .then(|| PhaseResult::merge(name, matching))
            };
            RoundFigures::of(
                of("ceiling"),
                of("handler").expect("every round has an h"),
                of("node"),
            )
        })
        .collect();
    println!();
    println!(
        "{:<5} {:>10} {:>10} {:>8} {:>13} {:>9} {:>13} {:>14}",
        "round", "ceiling/s", "handler/s", "ratio", "handler ms/ev", "node/s", "node ms/ev", "node/handler"
    );
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "{:<5} {:>10.0} {:>10.0} {:>8.3} {:>13.3} {:>9.0} {:>13.3} {:>13.2}x",
            i + 1,
            r.ceiling_eps,
            r.handler_eps,
            r.ratio,
            r.handler_cpu_ms,
            r.node_eps,
            r.node_cpu_ms,
            r.node_over_handler_cpu
        );
    }
    let median = |f: fn(&RoundFigures) -> f64| Spread::of(rounds.iter().map(f).collect());
    let handler_cpu = median(|r| r.handler_cpu_ms);
    let ratio = median(|r| r.ratio);
    let node_cpu = median(|r| r.node_cpu_ms);
    let node_over_handler = median(|r| r.node_over_handler_cpu);
    let handler_over_node_rate = median(|r| r.handler_eps / r.node_eps);
    let handler_eps = median(|r| r.handler_eps);
    let node_eps = median(|r| r.node_eps);
    let direct_eps = median(|r| r.ceiling_eps);
    let mb = |kb: Option<u64>| kb.map_or(f64::NAN, |kb| kb as f64 / 1024.0);
    println!();
    println!("medians of {} rounds (min-max)", rounds.len());
    println!("handler CPU per event      {handler_cpu:.3} ms   (target <= 0.12)");
    println!("ratio to ceiling           {ratio:.3}   (target >= 0.9)");
    println!("node peer CPU per event    {node_cpu:.3} ms");
    println!("node / handler CPU         {node_over_handler:.2}   (target >= 3)");
    println!("handler / node rate        {handler_over_node_rate:.2}");
    println!(
        "events/s                   ceiling {direct_eps:.0}, handler {handler_eps:.0}, node {node_eps:.0}"
    );
    println!(
        "peak RSS (VmHWM)           handler {:.1} MB (target <= 30; idle {:.1} MB), node {:.1} MB (idle {:.1} MB)",
        mb(peak_rss),
        mb(idle_rss),
        mb(node_peak_rss),
        mb(node_idle_rss)
    );
    println!(
        "ready after spawn          handler {:.1} ms precise median, {:.1} ms at 25 ms polling (target <= 10); node {:.1} ms",
        ready_precise.map_or(f64::NAN, ms),
        ms(ready_host),
        node_ready.flatten().map_or(f64::NAN, ms)
    );
    println!("handler stdout lines       {log_lines}");
    println!(
        "SUMMARY handler_cpu_ms={:.3} (<=0.12) ratio_to_direct={:.3} (>=0.9) node_over_handler_cpu={:.2} (>=3) \
         peak_rss_mb={:.1} (<=30) ready_ms={:.1} (<=10)",
        handler_cpu.median,
        ratio.median,
        node_over_handler.median,
        mb(peak_rss),
        ready_precise.map_or(f64::NAN, ms),
    );
    let others = phases
        .iter()
        .map(|(_, p)| p.cpu.percent(p.cpu.others_ms()))
        .fold(0.0, f64::max);
    println!(
        "RESULT concurrency={} seconds={} size={} rounds={} direct_eps={:.0} handler_eps={:.0} ratio={:.3} \
         cpu_ms_per_event={:.3} node_eps={:.0} node_cpu_ms_per_event={:.3} node_over_handler_cpu={:.2} \
         peak_rss_mb={:.1} node_peak_rss_mb={:.1} ready_ms={:.1} ready_host_ms={:.1} node_ready_ms={:.1} \
         errors={} others_pct={:.0}",
        args.concurrency,
        args.seconds,
        work.record.len(),
        rounds.len(),
        direct_eps.median,
        handler_eps.median,
        ratio.median,
        handler_cpu.median,
        node_eps.median,
        node_cpu.median,
        node_over_handler.median,
        mb(peak_rss),
        mb(node_peak_rss),
        ready_precise.map_or(f64::NAN, ms),
        ms(ready_host),
        node_ready.flatten().map_or(f64::NAN, ms),
        phases.iter().map(|(_, p)| p.errors).sum::<u64>(),
        others,
    );
    drop(azurite);
}

/// The order of round `round`: `order` rotated left by that many phases.
fn rotated(order: &str, round: usize) -> String {
    let phases: Vec<char> = order.chars().collect();
    let k = round % phases.len();
    phases[k..].iter().chain(&phases[..k]).collect()
}

/// Median time from spawn to the first answer over `--startups` spawns, polling every 1 ms.
async fn startup_median(
    peer: Peer,
    args: &Args,
    connection: &str,
    poller: &reqwest::Client,
) -> Option<Duration> {
    let env: &[(String, String)] = match peer {
        Peer::Handler => &args.handler_env,
        Peer::Node => &[],
    };
    let mut startups = vec![];
    for _ in 0..args.startups {
        let mut server = Handler::spawn(peer, connection, env);
        startups.push(server.wait_ready(poller, Duration::from_millis(1)).await);
        server.stop();
    }
    startups.sort();
    eprintln!(
        "{peer:?} start-ups (ms): {}",
        startups
            .iter()
            .map(|d| format!("{:.1}", ms(*d)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    startups.get(startups.len() / 2).copied()
}

/// One round's figures; NaN where the round had no such phase.
struct RoundFigures {
    ceiling_eps: f64,
    handler_eps: f64,
    ratio: f64,
    handler_cpu_ms: f64,
    node_eps: f64,
    node_cpu_ms: f64,
    node_over_handler_cpu: f64,
}

impl RoundFigures {
    fn of(ceiling: Option<PhaseResult>, handler: PhaseResult, node: Option<PhaseResult>) -> Self {
        let ceiling_eps = ceiling.as_ref().map_or(f64::NAN, PhaseResult::rate);
        let handler_cpu_ms = handler.cpu.handler_ms / handler.ok as f64;
        let (node_eps, node_cpu_ms) = node
            .as_ref()
            .map_or((f64::NAN, f64::NAN), |n| (n.rate(), n.cpu.node_ms / n.ok as f64));
        RoundFigures {
            ceiling_eps,
            handler_eps: handler.rate(),
            ratio: handler.rate() / ceiling_eps,
            handler_cpu_ms,
            node_eps,
            node_cpu_ms,
            node_over_handler_cpu: node_cpu_ms / handler_cpu_ms,
        }
    }
}

/// Median, minimum and maximum of per-round figures.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => values[n / 2],
            _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        };
        Spread {
            median,
            min: values.first().copied().unwrap_or(f64::NAN),
            max: values.last().copied().unwrap_or(f64::NAN),
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = f.precision().unwrap_or(3);
        write!(f, "{:.p$} ({:.p$}-{:.p$})", self.median, self.min, self.max)
    }
}

/// Installs the Node peer's pinned `@azure/storage-blob` with `npm ci` once, as the tests do Azurite.
fn ensure_node_peer_installed() {
    let folder = node_peer_folder();
    let wanted = std::fs::read_to_string(folder.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v["dependencies"]["@azure/storage-blob"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("benches/node-peer/package.json pins @azure/storage-blob");
    let installed = std::fs::read_to_string(folder.join("node_modules/@azure/storage-blob/package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned));
    if installed.as_deref() == Some(wanted.as_str()) {
        return;
    }
    eprintln!("installing the node peer's @azure/storage-blob {wanted} (npm ci)");
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&folder)
        .stdout(Stdio::null())
        .status()
        .expect("npm runs (install Node.js and npm)");
    assert!(status.success(), "`npm ci` failed in {}", folder.display());
}

fn node_peer_folder() -> std::path::PathBuf {
    helpers::project_root().join("benches/node-peer")
}

fn parse_env(pair: &str) -> Result<(String, String), String> {
    pair.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{pair}: expected KEY=VALUE"))
}

fn parse_order(order: &str) -> Result<String, String> {
    if order.contains('h') && order.chars().all(|c| matches!(c, 'c' | 'h' | 'n')) {
        Ok(order.to_owned())
    } else {
        Err("use the letters c (ceiling), h (handler) and n (node peer), at least one h, e.g. chn".into())
    }
}

/// The events of the run: one SMS event template with a message sized so that the record the handler
/// stores is `size` bytes, and that record as the body of the direct PUTs.
#[derive(Clone)]
struct Workload {
    /// The host body split at every occurrence of the event id.
    parts: Arc<Vec<String>>,
    record: Bytes,
    sha: String,
    tags: String,
}

impl Workload {
    fn new(size: usize) -> Self {
        let id = "bench-00000000000000";
        let record_of = |message: &str| {
            let event = helpers::sms_event(id, message).to_string();
            record::prepare(&RawValue::from_string(event).expect("valid JSON"))
        };
        let base = record_of("").body.len();
        // The message appears twice in the record: in the event and in the projected fields.
        let message = "m".repeat(size.saturating_sub(base) / 2);
        let prepared = record_of(&message);
        let event = helpers::sms_event(ID_MARK, &message);
        let body = helpers::host_body(FUNCTION, &event).to_string();
        Workload {
            parts: Arc::new(body.split(ID_MARK).map(str::to_owned).collect()),
            record: prepared.body.into(),
            sha: prepared.content_sha256,
            tags: prepared.tags,
        }
    }

    /// The host body of event `n`, with an id of the same length as the calibration id.
    fn body(&self, n: u64) -> String {
        self.parts.join(&format!("bench-{n:014}"))
    }

    fn body_len(&self) -> usize {
        self.body(0).len()
    }
}

/// Create-only PUT Blob straight into Azurite: the ceiling.
#[derive(Clone)]
struct DirectStorage {
    endpoint: String,
    sas: String,
    http: reqwest::Client,
    with_tags: bool,
}

const DIRECT_CONTAINER: &str = "bench-direct";

impl DirectStorage {
    fn new(connection: &str, http: reqwest::Client, with_tags: bool) -> Self {
        let setting = |key: &str| {
            connection
                .split(';')
                .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                .unwrap_or_else(|| panic!("{key} missing from the connection string"))
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(setting("AccountKey"))
            .expect("a base64 account key");
        DirectStorage {
            endpoint: setting("BlobEndpoint").to_owned(),
            sas: account_sas(
                setting("AccountName"),
                &key,
                time::OffsetDateTime::now_utc(),
                true,
            ),
            http,
            with_tags,
        }
    }

    async fn create_container(&self) {
        let response = self
            .http
            .put(format!(
                "{}/{DIRECT_CONTAINER}?restype=container&{}",
                self.endpoint, self.sas
            ))
            .header("x-ms-version", "2026-04-06")
            .header("Content-Length", "0")
            .send()
            .await
            .expect("Azurite answers");
        assert!(
            response.status().is_success() || response.status() == 409,
            "could not create the ceiling container: {}",
            response.status()
        );
    }

    fn put(&self, n: u64, body: Bytes, sha: &str, tags: &str) -> reqwest::RequestBuilder {
        let url = format!(
            "{}/{DIRECT_CONTAINER}/smsReceived/2024/05/01/12/bench-{n:014}.json?{}",
            self.endpoint, self.sas
        );
        let mut request = self
            .http
            .put(url)
            .header("x-ms-version", "2026-04-06")
            .header("x-ms-blob-type", "BlockBlob")
            .header("If-None-Match", "*")
            .header("x-ms-blob-content-type", "application/json")
            .body(body);
        if self.with_tags {
            request = request
                .header("x-ms-meta-contentsha256", sha)
                .header("x-ms-meta-archivedat", "2024-05-01T12:00:02Z")
                .header("x-ms-tags", tags);
        }
        request
    }
}

/// Which server a [`Handler`] process runs.
#[derive(Clone, Copy, Debug)]
enum Peer {
    /// The Rust handler (this build, or `LOAD_BENCH_HANDLER`).
    Handler,
    /// benches/node-peer/handler.js.
    Node,
}

/// A handler process (the Rust one or the Node peer), spawned with the environment the Functions host
/// gives it.
struct Handler {
    child: Child,
    base: String,
    started: Instant,
    log_lines: Arc<AtomicU64>,
}

impl Handler {
    fn spawn(peer: Peer, connection: &str, env: &[(String, String)]) -> Handler {
        let containers = helpers::unique_containers();
        let mut command = match peer {
            Peer::Handler => Command::new(handler_binary()),
            Peer::Node => {
                let mut node = Command::new("node");
                node.arg(node_peer_folder().join("handler.js"));
                node
            }
        };
        // Settings of this shell that the Functions host would not pass. RUST_BACKTRACE in particular
        // makes every error the Azure SDK builds and drops capture a stack trace (BENCHMARKS.md); put
        // it back with `--handler-env RUST_BACKTRACE=1` to measure that.
        for inherited in [
            "ARCHIVE_STORAGE",
            "AzureWebJobsStorage",
            "ARCHIVE_BUDGET_MS",
            "ARCHIVE_LOG",
            "RUST_LOG",
            "RUST_BACKTRACE",
            "RUST_LIB_BACKTRACE",
        ] {
            command.env_remove(inherited);
        }
        command
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
            .env(
                "FUNCTIONS_CUSTOMHANDLER_WORKER_ID",
                "00000000-0000-0000-0000-000000000001",
            )
            .env("FUNCTIONS_APP_ROOT_PATH", helpers::project_root())
            .env("ARCHIVE_STORAGE", connection)
            .envs(helpers::container_env(&containers))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().expect("could not start the handler binary");
        // The host reads both streams line by line; so does this (and counts the lines).
        let log_lines = Arc::new(AtomicU64::new(0));
        let counter = log_lines.clone();
        let stdout = child.stdout.take().expect("piped stdout");
        // Started on port 0, the handler says in its ready line which port it has.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = helpers::port_from_ready_line(&line) {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(port);
                    }
                }
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            if !text.trim().is_empty() {
                eprintln!("handler stderr: {}", text.trim());
            }
        });
        let port = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the handler printed no ready line within 30 s");
        Handler {
            child,
            base: format!("http://127.0.0.1:{port}"),
            started,
            log_lines,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `GET /` until it answers; returns the time from spawn to that answer.
    async fn wait_ready(&mut self, http: &reqwest::Client, every: Duration) -> Duration {
        loop {
            if http.get(format!("{}/", self.base)).send().await.is_ok() {
                return self.started.elapsed();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("handler exited with {status} before it was ready");
            }
            assert!(
                self.started.elapsed() < Duration::from_secs(30),
                "handler not ready within 30 s"
            );
            tokio::time::sleep(every).await;
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Clone, Copy)]
struct Pids {
    handler: Option<u32>,
    node: Option<u32>,
    azurite: Option<u32>,
}

/// CPU time used over the measured window, in ms.
#[derive(Default)]
struct Cpu {
    handler_ms: f64,
    node_ms: f64,
    azurite_ms: f64,
    driver_ms: f64,
    /// Busy time of the whole machine, all cores, from /proc/stat.
    machine_ms: f64,
    wall_ms: f64,
}

impl Cpu {
    fn sample(pids: Pids) -> [Option<f64>; 5] {
        [
            pids.handler.and_then(cpu_ms),
            pids.azurite.and_then(cpu_ms),
            cpu_ms(std::process::id()),
            machine_busy_ms(),
            // No node peer: nothing to count, not an unknown.
            pids.node.map_or(Some(0.0), cpu_ms),
        ]
    }

    fn between(a: [Option<f64>; 5], b: [Option<f64>; 5], wall: Duration) -> Cpu {
        let d = |i: usize| b[i].zip(a[i]).map_or(f64::NAN, |(b, a)| b - a);
        Cpu {
            handler_ms: d(0),
            azurite_ms: d(1),
            driver_ms: d(2),
            machine_ms: d(3),
            node_ms: d(4),
            wall_ms: wall.as_secs_f64() * 1000.0,
        }
    }

    /// Percent of one core.
    fn percent(&self, ms: f64) -> f64 {
        100.0 * ms / self.wall_ms
    }

    /// CPU used by everything else on the machine: a busy neighbour makes the run unreliable.
    fn others_ms(&self) -> f64 {
        (self.machine_ms - self.handler_ms - self.node_ms - self.azurite_ms - self.driver_ms).max(0.0)
    }
}

struct PhaseResult {
    /// `ceiling`, `handler` or `node`.
    name: &'static str,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    window: Duration,
    /// Latencies of the requests completed in the measured window, in µs, sorted.
    latencies: Vec<u32>,
    cpu: Cpu,
}

impl PhaseResult {
    /// Phases of one kind as one: counts, windows and CPU added, latencies pooled.
    fn merge<'a>(name: &'static str, phases: impl Iterator<Item = &'a PhaseResult>) -> PhaseResult {
        let mut out = PhaseResult {
            name,
            ok: 0,
            errors: 0,
            first_error: None,
            window: Duration::ZERO,
            latencies: vec![],
            cpu: Cpu::default(),
        };
        for p in phases {
            out.ok += p.ok;
            out.errors += p.errors;
            out.first_error = out.first_error.or_else(|| p.first_error.clone());
            out.window += p.window;
            out.latencies.extend_from_slice(&p.latencies);
            out.cpu.handler_ms += p.cpu.handler_ms;
            out.cpu.node_ms += p.cpu.node_ms;
            out.cpu.azurite_ms += p.cpu.azurite_ms;
            out.cpu.driver_ms += p.cpu.driver_ms;
            out.cpu.machine_ms += p.cpu.machine_ms;
            out.cpu.wall_ms += p.cpu.wall_ms;
        }
        out.latencies.sort_unstable();
        out
    }

    fn rate(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[i] as f64 / 1000.0
    }
}

#[derive(Default)]
struct WorkerResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Vec<u32>,
}

/// Runs `concurrency` closed-loop workers for warm-up + measured seconds; counts what completes inside
/// the measured window and samples CPU at its edges.
async fn phase<F>(
    name: &'static str,
    args: &Args,
    pids: Pids,
    seq: Arc<AtomicU64>,
    expect: u16,
    request: F,
) -> PhaseResult
where
    F: Fn(u64) -> reqwest::RequestBuilder + Clone + 'static,
{
    let begin = Instant::now();
    let measure_from = begin + Duration::from_secs(args.warmup);
    let until = measure_from + Duration::from_secs(args.seconds);
    let done = Arc::new(AtomicU64::new(0));
    let local = tokio::task::LocalSet::new();
    let mut workers = vec![];
    for _ in 0..args.concurrency {
        let (request, seq, done) = (request.clone(), seq.clone(), done.clone());
        workers.push(local.spawn_local(async move {
            let mut out = WorkerResult::default();
            loop {
                let sent = Instant::now();
                if sent >= until {
                    return out;
                }
                let n = seq.fetch_add(1, Ordering::Relaxed);
                // The whole answer is read, so the connection goes back to the pool.
                let outcome = match request(n).send().await {
                    Ok(response) => {
                        let status = response.status();
                        response.bytes().await.map(|body| (status, body))
                    }
                    Err(e) => Err(e),
                };
                let finished = Instant::now();
                done.fetch_add(1, Ordering::Relaxed);
                if finished < measure_from || finished > until {
                    continue;
                }
                match outcome {
                    Ok((status, _)) if status == expect => {
                        out.ok += 1;
                        out.latencies
                            .push((finished - sent).as_micros().min(u32::MAX as u128) as u32);
                    }
                    Ok((status, body)) => {
                        out.errors += 1;
                        let text = String::from_utf8_lossy(&body);
                        out.first_error
                            .get_or_insert_with(|| format!("{status}: {text:.200}"));
                    }
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
        }));
    }
    let monitor = {
        let done = done.clone();
        let (warmup, seconds) = (args.warmup, args.seconds);
        local.spawn_local(async move {
            let terminal = std::io::stderr().is_terminal();
            let tick = Duration::from_millis(if terminal { 500 } else { 5000 });
            let mut before = None;
            let mut last = (Instant::now(), 0u64);
            loop {
                let now = Instant::now();
                if before.is_none() && now >= measure_from {
                    before = Some((Cpu::sample(pids), now));
                }
                if now >= until {
                    let (cpu, at) = before.expect("the measured window started");
                    let after = Cpu::sample(pids);
                    if terminal {
                        eprintln!();
                    }
                    return Cpu::between(cpu, after, now - at);
                }
                let count = done.load(Ordering::Relaxed);
                let rate = (count - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-3);
                last = (now, count);
                let stage = if now < measure_from {
                    "warm-up"
                } else {
                    "measuring"
                };
                let line = format!(
                    "  {name:<8} {stage:<9} {:>5.1}/{} s  {count:>8} requests  {rate:>7.0}/s",
                    (now - begin).as_secs_f64(),
                    warmup + seconds
                );
                if terminal {
                    eprint!("\r{line}");
                    let _ = std::io::stderr().flush();
                } else {
                    eprintln!("{line}");
                }
                let next = [now + tick, measure_from, until]
                    .into_iter()
                    .filter(|t| *t > now)
                    .min()
                    .unwrap_or(until);
                tokio::time::sleep_until(next.into()).await;
            }
        })
    };
    let (results, cpu) = local
        .run_until(async {
            let mut results = vec![];
            for w in workers {
                results.push(w.await.expect("a worker"));
            }
            (results, monitor.await.expect("the monitor"))
        })
        .await;
    let mut total = WorkerResult::default();
    for r in results {
        total.ok += r.ok;
        total.errors += r.errors;
        total.first_error = total.first_error.or(r.first_error);
        total.latencies.extend(r.latencies);
    }
    total.latencies.sort_unstable();
    PhaseResult {
        name,
        ok: total.ok,
        errors: total.errors,
        first_error: total.first_error,
        window: Duration::from_secs(args.seconds),
        latencies: total.latencies,
        cpu,
    }
}

/// The release `handler` cargo built for this bench, or `LOAD_BENCH_HANDLER` (e.g. a build with symbols
/// to attach `perf` to).
fn handler_binary() -> std::path::PathBuf {
    std::env::var_os("LOAD_BENCH_HANDLER")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_handler").into())
}

/// utime + stime of a process, in ms.
fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 overall.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks * 1000.0 / per_second)
}

/// Busy time of all cores (user, nice, system, irq, softirq, steal), in ms.
fn machine_busy_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| fields.get(i)).sum();
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(busy * 1000.0 / per_second)
}

/// A `kB` line of /proc/<pid>/status, e.g. `VmHWM:`.
fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = proc_meminfo_mb().map_or("?".into(), |m| format!("{m} MB"));
    format!("{cpus} CPUs ({model}), {memory} RAM")
}

fn proc_meminfo_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
