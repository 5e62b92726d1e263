//! Load benchmark: the release `handler` driven like the Functions host drives it, against a real
//! Azurite, next to the storage ceiling measured in the same run. BENCHMARKS.md has the figures.
//!
//! ```text
//! cargo bench --bench load -- [--concurrency 32] [--seconds 20] [--size 1024] [--warmup 3]
//!     [--startups 5] [--order chc] [--ceiling-with-tags] [--handler-env KEY=VALUE]...
//! ```
//!
//! 1. Starts the pinned Azurite (tests/api/helpers.rs) on a free port in a fresh folder.
//! 2. Start-up: spawns the handler `--startups` times with the host's environment, polling `GET /`
//!    every 1 ms, and reports the median time from spawn to the first answer (the host itself polls
//!    every 25 ms, so it sees the next multiple of 25 ms; that figure is printed too).
//! 3. Ceiling (`c`): create-only PUT Blob (`If-None-Match: *`) of bodies the size of the handler's
//!    records, straight into Azurite with an account SAS, at the same concurrency.
//! 4. Handler (`h`): host-shaped invocations (`POST /SmsEvents` with the host's headers and body, sent
//!    with a Content-Length where the host streams chunks) of SMS events with unique ids; the handler
//!    answers 200 only once the blob is stored.
//!
//! By default the ceiling is measured before and after the handler (`--order chc`) and the two are
//! pooled, because Azurite's rate drifts as it fills. Each phase runs `--warmup` seconds unmeasured
//! and then `--seconds` measured, without a pause. It prints events/s, p50/p99 latency, CPU (handler,
//! Azurite, this driver, everything else) over the measured window, handler CPU ms per archived event
//! (utime+stime from /proc/<pid>/stat), peak RSS (VmHWM), ready time and the ratio to the ceiling,
//! then one `RESULT` line for scripts. `LOAD_BENCH_HANDLER=/path/to/handler` runs another build of the
//! handler (one with symbols, to attach `perf record -p PID`).

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
    /// Phases in order, `c` for the ceiling and `h` for the handler. Azurite's rate drifts as it fills,
    /// so the default measures the ceiling on both sides of the handler and uses their mean (`h` alone
    /// measures the handler's costs only)
    #[arg(long, default_value = "chc", value_parser = parse_order)]
    order: String,
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
        "concurrency {}, {} s measured after {} s warm-up per phase, {} B blobs, handler env {:?}",
        args.concurrency, args.seconds, args.warmup, args.size, args.handler_env
    );

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
    let mut startups = vec![];
    for _ in 0..args.startups {
        let mut handler = Handler::spawn(&connection, &args.handler_env);
        startups.push(handler.wait_ready(&poller, Duration::from_millis(1)).await);
        handler.stop();
    }
    startups.sort();
    let ready_precise = startups.get(startups.len() / 2).copied();

    // The handler under load, started as the host starts it (25 ms polling).
    let mut handler = Handler::spawn(&connection, &args.handler_env);
    let ready_host = handler.wait_ready(&poller, Duration::from_millis(25)).await;
    let idle_rss = proc_status_kb(handler.pid(), "VmRSS:");
    eprintln!("handler {} pid {}", handler_binary().display(), handler.pid());
    eprintln!(
        "handler ready after {:.1} ms (precise, median of {}: {}), idle RSS {} kB",
        ms(ready_host),
        startups.len(),
        startups
            .iter()
            .map(|d| format!("{:.1}", ms(*d)))
            .collect::<Vec<_>>()
            .join(" "),
        idle_rss.unwrap_or(0)
    );

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .http1_only()
        .build()
        .expect("an HTTP client");
    let storage = DirectStorage::new(&connection, http.clone(), args.ceiling_with_tags);
    storage.create_container().await;

    let pids = Pids {
        handler: Some(handler.pid()),
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
    let run_handler = || {
        let base = handler.base.clone();
        let http = http.clone();
        let work = work.clone();
        phase("handler", &args, pids, seq.clone(), 200, move |n| {
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
    let mut phases = vec![];
    for which in args.order.chars() {
        phases.push(if which == 'c' {
            run_direct().await
        } else {
            run_handler().await
        });
    }
    let peak_rss = proc_status_kb(handler.pid(), "VmHWM:");
    let log_lines = handler.log_lines.load(Ordering::Relaxed);
    handler.stop();

    let of = |name: &'static str| phases.iter().filter(move |p| p.name == name);
    let direct = PhaseResult::merge("ceilings", of("ceiling"));
    let through = PhaseResult::merge("handlers", of("handler"));
    let ratio = through.rate() / direct.rate();
    let handler_cpu_ms = through.cpu.handler_ms / through.ok as f64;
    println!();
    println!("{machine}");
    println!(
        "concurrency {}, {} s measured per phase, {} B blobs, order: {}",
        args.concurrency,
        args.seconds,
        work.record.len(),
        args.order
    );
    println!(
        "{:<9} {:>9} {:>9} {:>9} {:>7} {:>11} {:>11} {:>10} {:>10}",
        "phase", "ok/s", "p50 ms", "p99 ms", "errors", "handler %", "azurite %", "driver %", "others %"
    );
    // Then the pooled figures of a kind measured more than once.
    let merged = [
        (&direct, of("ceiling").count()),
        (&through, of("handler").count()),
    ];
    let rows = phases
        .iter()
        .chain(merged.into_iter().filter(|(_, n)| *n > 1).map(|(r, _)| r));
    for r in rows {
        println!(
            "{:<9} {:>9.0} {:>9.2} {:>9.2} {:>7} {:>11.0} {:>11.0} {:>10.0} {:>10.0}",
            r.name,
            r.rate(),
            r.percentile(0.50),
            r.percentile(0.99),
            r.errors,
            r.cpu.percent(r.cpu.handler_ms),
            r.cpu.percent(r.cpu.azurite_ms),
            r.cpu.percent(r.cpu.driver_ms),
            r.cpu.percent(r.cpu.others_ms()),
        );
        if let Some(e) = &r.first_error {
            println!("          first error: {e}");
        }
    }
    println!("ratio to ceiling           {ratio:.3}   (target >= 0.9)");
    println!("handler CPU per event      {handler_cpu_ms:.3} ms   (target <= 0.2)");
    println!(
        "handler peak RSS (VmHWM)   {:.1} MB   (target <= 30; idle {:.1} MB)",
        peak_rss.unwrap_or(0) as f64 / 1024.0,
        idle_rss.unwrap_or(0) as f64 / 1024.0
    );
    println!(
        "ready after spawn          {:.1} ms precise median, {:.1} ms at 25 ms polling   (target <= 25)",
        ready_precise.map_or(f64::NAN, ms),
        ms(ready_host)
    );
    println!(
        "azurite CPU per blob       ceiling {:.3} ms, handler phase {:.3} ms",
        direct.cpu.azurite_ms / direct.ok as f64,
        through.cpu.azurite_ms / through.ok as f64
    );
    println!("handler stdout lines       {log_lines}");
    println!(
        "RESULT concurrency={} seconds={} size={} direct_eps={:.0} handler_eps={:.0} ratio={:.3} \
         handler_p50_ms={:.2} handler_p99_ms={:.2} direct_p50_ms={:.2} direct_p99_ms={:.2} \
         cpu_ms_per_event={:.3} peak_rss_mb={:.1} ready_ms={:.1} ready_host_ms={:.1} errors={} \
         others_pct={:.0}",
        args.concurrency,
        args.seconds,
        work.record.len(),
        direct.rate(),
        through.rate(),
        ratio,
        through.percentile(0.5),
        through.percentile(0.99),
        direct.percentile(0.5),
        direct.percentile(0.99),
        handler_cpu_ms,
        peak_rss.unwrap_or(0) as f64 / 1024.0,
        ready_precise.map_or(f64::NAN, ms),
        ms(ready_host),
        direct.errors + through.errors,
        direct
            .cpu
            .percent(direct.cpu.others_ms())
            .max(through.cpu.percent(through.cpu.others_ms())),
    );
    drop(azurite);
}

fn parse_env(pair: &str) -> Result<(String, String), String> {
    pair.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{pair}: expected KEY=VALUE"))
}

fn parse_order(order: &str) -> Result<String, String> {
    if order.contains('h') && order.chars().all(|c| c == 'c' || c == 'h') {
        Ok(order.to_owned())
    } else {
        Err("use the letters c (ceiling) and h (handler), at least one h, e.g. chc".into())
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

/// The handler process, spawned with the environment the Functions host gives it.
struct Handler {
    child: Child,
    base: String,
    started: Instant,
    log_lines: Arc<AtomicU64>,
}

impl Handler {
    fn spawn(connection: &str, env: &[(String, String)]) -> Handler {
        let containers = helpers::unique_containers();
        let mut command = Command::new(handler_binary());
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
    azurite: Option<u32>,
}

/// CPU time used over the measured window, in ms.
#[derive(Default)]
struct Cpu {
    handler_ms: f64,
    azurite_ms: f64,
    driver_ms: f64,
    /// Busy time of the whole machine, all cores, from /proc/stat.
    machine_ms: f64,
    wall_ms: f64,
}

impl Cpu {
    fn sample(pids: Pids) -> [Option<f64>; 4] {
        [
            pids.handler.and_then(cpu_ms),
            pids.azurite.and_then(cpu_ms),
            cpu_ms(std::process::id()),
            machine_busy_ms(),
        ]
    }

    fn between(a: [Option<f64>; 4], b: [Option<f64>; 4], wall: Duration) -> Cpu {
        let d = |i: usize| b[i].zip(a[i]).map_or(f64::NAN, |(b, a)| b - a);
        Cpu {
            handler_ms: d(0),
            azurite_ms: d(1),
            driver_ms: d(2),
            machine_ms: d(3),
            wall_ms: wall.as_secs_f64() * 1000.0,
        }
    }

    /// Percent of one core.
    fn percent(&self, ms: f64) -> f64 {
        100.0 * ms / self.wall_ms
    }

    /// CPU used by everything else on the machine: a busy neighbour makes the run unreliable.
    fn others_ms(&self) -> f64 {
        (self.machine_ms - self.handler_ms - self.azurite_ms - self.driver_ms).max(0.0)
    }
}

struct PhaseResult {
    /// `ceiling` or `handler`; `ceilings` and `handlers` once pooled.
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
