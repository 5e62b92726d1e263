//! Deterministic cost: user-space instructions per archived event, counted by callgrind.
//!
//!     cargo bench --bench cost -- [--small 50] [--large 350] [--size 1024]
//!
//! Wall-clock figures on a shared 2-core machine are noisy; instruction counts are not. This starts
//! the release `handler` (the bench profile: release code with line tables) under
//! `valgrind --tool=callgrind`, the way the Functions host starts it, against a real Azurite, and
//! sends `--small` and then `--large` sequential host invocations of a ~1 KB SMS delivery report,
//! each in a process of its own. The difference of the two runs divided by the difference of the
//! counts is the steady-state cost of one event, start-up and shutdown subtracted. It does this for
//! a new connection per invocation and for one pooled connection (as the host keeps them), and splits
//! each event's instructions by where they go, from the self cost of each function.
//!
//! `COST_HANDLER=path/to/handler` measures another build the same way (a stripped binary has no
//! function names, so only its total is meaningful).
//!
//! Under valgrind the `sha2` crate takes its software path (valgrind hides SHA-NI), so hashing is
//! overstated and reported on its own line; the target excludes it.

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where an instruction goes, by the function it is counted in (first match wins).
const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "hashing (sha2, software path under valgrind)",
        &["sha2::", "sha256"],
    ),
    (
        "allocator (mimalloc; glibc malloc, free, realloc)",
        &[
            "libmimalloc",
            "malloc.c:",
            "__rust_alloc",
            "__rust_dealloc",
            "__rust_realloc",
            "__rdl_",
        ],
    ),
    (
        "formatting and logging (core::fmt, tracing)",
        &[
            "core::fmt",
            "tracing",
            "alloc::fmt",
            "itoa",
            "ryu",
            "time::format",
        ],
    ),
    (
        "storage SDK pipeline (azure_core, azure_storage_blob, typespec)",
        &["azure_", "typespec"],
    ),
    (
        "HTTP client (reqwest, hyper, url)",
        &["reqwest", "hyper", "url::", "idna", "form_urlencoded"],
    ),
    ("HTTP server (actix)", &["actix", "mio::", "bytestring"]),
    (
        "record work (archive: envelope, projection, record, names)",
        &[
            "acs_event_archive::archive",
            "serde_json",
            "serde::",
            "serde_core",
        ],
    ),
    (
        "async runtime (tokio, futures)",
        &["tokio::", "futures", "parking_lot"],
    ),
    (
        "libc (memcpy, syscall wrappers)",
        &["libc.so", "libc-", "ld-linux"],
    ),
];

struct Args {
    small: usize,
    large: usize,
    size: usize,
}

fn args() -> Args {
    let mut a = Args {
        small: 50,
        large: 350,
        size: 1024,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.replace(['_', ','], "").parse().ok())
                .unwrap_or_else(|| panic!("{arg} takes a number"))
        };
        match arg.as_str() {
            "--small" => a.small = value(),
            "--large" => a.large = value(),
            "--size" => a.size = value(),
            _ => {}
        }
    }
    assert!(a.large > a.small, "--large must be more than --small");
    a
}

fn main() {
    let args = args();
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("valgrind is missing: install it (Debian: apt-get install valgrind)");
        std::process::exit(2);
    }
    let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let azurite = helpers::Azurite::start(folder.path());
    let connection = helpers::connection_string(azurite.port);
    // Kept after the run, for `callgrind_annotate` or kcachegrind.
    let profiles = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cost");
    std::fs::create_dir_all(&profiles).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "callgrind cost of one archived event: {} vs {} sequential invocations, ~{} B SMS delivery reports",
        args.small, args.large, args.size
    );
    for pooled in [false, true] {
        let mode = if pooled {
            "one pooled connection (as the host)"
        } else {
            "a new connection per invocation"
        };
        let small = runtime.block_on(profile(&connection, args.small, args.size, pooled, &profiles));
        let large = runtime.block_on(profile(&connection, args.large, args.size, pooled, &profiles));
        let events = (args.large - args.small) as f64;
        let per_event = |cat: &str| {
            (large.get(cat).copied().unwrap_or(0) as f64 - small.get(cat).copied().unwrap_or(0) as f64)
                / events
        };
        let total: f64 = large.values().sum::<u64>() as f64 - small.values().sum::<u64>() as f64;
        let total = total / events;
        let hashing = per_event(CATEGORIES[0].0);
        println!("\n{mode}:");
        let mut names: Vec<&str> = CATEGORIES.iter().map(|(name, _)| *name).collect();
        names.push("other");
        for name in names {
            let n = per_event(name);
            println!("  {:>9.0}  {:>5.1} %  {name}", n, 100.0 * n / total);
        }
        println!("  {:>9.0}           instructions per archived event", total);
        println!(
            "  {:>9.0}           hashing excluded (target <= 250,000)",
            total - hashing
        );
        println!("  profiles: {}", profiles.display());
        println!(
            "RESULT mode={} per_event={:.0} without_hashing={:.0}",
            if pooled { "pooled" } else { "fresh" },
            total,
            total - hashing
        );
    }
}

/// Runs the handler under callgrind for `n` invocations; returns its self cost per category.
async fn profile(
    connection: &str,
    n: usize,
    size: usize,
    pooled: bool,
    folder: &Path,
) -> BTreeMap<String, u64> {
    let out = folder.join(format!(
        "callgrind-{}-{n}.out",
        if pooled { "pooled" } else { "fresh" }
    ));
    let containers = helpers::unique_containers();
    let mut command = Command::new("valgrind");
    command
        .args(["--tool=callgrind", "--dump-instr=no", "--collect-systime=no"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(handler_binary())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .env("ARCHIVE_STORAGE", connection)
        .envs(helpers::container_env(&containers))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("valgrind starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = helpers::port_from_ready_line(&line) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(port);
                }
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the handler under valgrind printed no ready line within 120 s");
    let base = format!("http://127.0.0.1:{port}");
    let client = |pooled: bool| {
        let b = reqwest::Client::builder();
        if pooled { b } else { b.pool_max_idle_per_host(0) }
            .build()
            .unwrap()
    };
    let http = client(pooled);
    // The containers exist before counting starts, in both runs alike.
    let mut warm = helpers::sms_event("Outgoing_cost-warm", "x");
    warm["eventType"] = "Microsoft.Communication.SMSDeliveryReportReceived".into();
    send(&http, &base, &warm).await;
    for i in 0..n {
        send(&http, &base, &delivery_report(i, size, n, pooled)).await;
    }
    // SIGTERM: the handler drains and exits 0, and callgrind writes its counts.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the handler under valgrind exited with {status}"
    );
    self_costs(&out)
}

/// The handler measured: this build's, or another one (`COST_HANDLER=path`, e.g. an older commit's
/// release build, to compare two builds instruction for instruction).
fn handler_binary() -> PathBuf {
    std::env::var_os("COST_HANDLER")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_handler").into())
}

async fn send(http: &reqwest::Client, base: &str, event: &serde_json::Value) {
    let body = serde_json::to_vec(&helpers::host_body("SmsEvents", event)).unwrap();
    let response = http
        .post(format!("{base}/SmsEvents"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("the handler answers");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// A ~`size`-byte SMS delivery report with an id of its own per run and index.
fn delivery_report(i: usize, size: usize, n: usize, pooled: bool) -> serde_json::Value {
    let id = format!("Outgoing_cost-{}-{n}-{i:06}", if pooled { "p" } else { "f" });
    let mut event = serde_json::json!({
        "id": id,
        "topic": "/subscriptions/s/resourceGroups/rg/providers/microsoft.communication/communicationservices/acs",
        "subject": "/phonenumber/15555555555",
        "data": {"messageId": id, "from": "15555555555", "to": "+15555555556", "deliveryStatus": "Delivered",
                 "deliveryStatusDetails": "No error.", "receivedTimestamp": "2024-05-01T12:00:00.2855749Z",
                 "deliveryAttempts": [{"timestamp": "2024-05-01T12:00:00.9315918Z", "segmentsSucceeded": 1, "segmentsFailed": 0}],
                 "tag": ""},
        "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
        "dataVersion": "1.0", "metadataVersion": "1", "eventTime": "2024-05-01T12:00:01Z"
    });
    let len = event.to_string().len();
    event["data"]["tag"] = "t".repeat(size.saturating_sub(len)).into();
    event
}

/// Self cost (instructions) per category, from callgrind_annotate's per-function listing.
fn self_costs(out: &PathBuf) -> BTreeMap<String, u64> {
    let annotated = Command::new("callgrind_annotate")
        .args(["--inclusive=no", "--threshold=100", "--auto=no"])
        .arg(out)
        .output()
        .expect("callgrind_annotate runs (it comes with valgrind)");
    let text = String::from_utf8_lossy(&annotated.stdout);
    let mut costs = BTreeMap::new();
    for line in text.lines() {
        // "12,345,678 (12.34%)  file:function [object]"
        let trimmed = line.trim_start();
        let Some((count, rest)) = trimmed.split_once(' ') else {
            continue;
        };
        let Ok(count) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        let Some(function) = rest.split_once(')').map(|(_, f)| f.trim()) else {
            continue;
        };
        if function.starts_with("PROGRAM TOTALS") || function.is_empty() {
            continue;
        }
        let category = CATEGORIES
            .iter()
            .find(|(_, needles)| needles.iter().any(|n| function.contains(n)))
            .map_or("other", |(name, _)| name);
        *costs.entry(category.to_owned()).or_default() += count;
    }
    assert!(
        !costs.is_empty(),
        "callgrind_annotate printed nothing usable:\n{text}"
    );
    costs
}
