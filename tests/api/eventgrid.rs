//! Plays Event Grid (through the Functions host) against a running handler, while a fault layer in
//! front of storage is switched between faults, then reads back what was stored.
//!
//! Shared by the fault-injection test (`faults.rs`) and the soak run (`benches/soak.rs`).
//!
//! Event `i` of a [`Corpus`] is a sample event from tests/fixtures/events (all families, both
//! envelopes) with the id `{prefix}-{i}`, so it can be rebuilt at any time instead of kept in memory.
//! Every delivery that is not answered 2xx (an error status, or no answer at all) is redelivered later
//! with a growing delay, as Event Grid does; some events are delivered again after their success (a
//! plain duplicate), and some arrive first as a burst of 8 identical concurrent deliveries.

use crate::helpers::{fixture_events, fixture_names, function_for, host_body, Storage};
use crate::proxy::{Mode, Proxy};
use acs_event_archive::archive::record::prepare;
use acs_event_archive::config::Containers;
use futures::StreamExt;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Event Grid gives up on an answer after 30 s.
pub const EVENT_GRID_TIMEOUT: Duration = Duration::from_secs(30);

/// Distinct events made from the sample fixtures.
pub struct Corpus {
    templates: Vec<Value>,
    prefix: String,
    pub len: usize,
}

impl Corpus {
    pub fn new(prefix: &str, len: usize) -> Corpus {
        let templates: Vec<Value> = fixture_names()
            .iter()
            .filter(|name| name.ends_with(".json"))
            .flat_map(|name| fixture_events(name))
            .filter(|e| e["id"].is_string() && (e["eventType"].is_string() || e["type"].is_string()))
            .collect();
        assert!(templates.len() > 20, "too few sample events");
        Corpus {
            templates,
            prefix: prefix.to_owned(),
            len,
        }
    }

    pub fn id(&self, i: usize) -> String {
        format!("{}-{i:06}", self.prefix)
    }

    pub fn event(&self, i: usize) -> Value {
        let mut event = self.templates[i % self.templates.len()].clone();
        event["id"] = Value::String(self.id(i));
        event
    }

    fn function(&self, i: usize) -> &'static str {
        function_for(&self.templates[i % self.templates.len()])
    }

    /// The container, blob name and bytes event `i` must end up as.
    fn expected(&self, i: usize, containers: &Containers) -> (String, String, Vec<u8>) {
        let text = serde_json::to_string(&self.event(i)).unwrap();
        let record = prepare(&serde_json::value::RawValue::from_string(text).unwrap());
        let container = containers.for_family(record.family).to_owned();
        (container, record.blob_name, record.body)
    }
}

/// How to drive one run.
pub struct Plan {
    pub concurrency: usize,
    /// Every n-th event is delivered once more after it was acknowledged.
    pub duplicate_every: usize,
    /// Every n-th event first arrives as 8 identical concurrent deliveries.
    pub burst_every: usize,
    /// The faults, switched in turn (each for its duration) until every event had its first
    /// delivery and the schedule ran `min_cycles` times, or it ran `max_cycles` times; then storage
    /// stays healthy.
    pub faults: Vec<(Mode, Duration)>,
    pub min_cycles: u32,
    pub max_cycles: u32,
    /// After this, whatever is still unacknowledged goes to the final fault-free pass.
    pub deadline: Duration,
    /// Calls `progress` this often, if set.
    pub progress_every: Option<Duration>,
}

/// A snapshot for progress lines.
pub struct Progress {
    pub elapsed: Duration,
    pub first_deliveries: usize,
    pub acknowledged: usize,
    pub deliveries: u64,
    pub failed: u64,
    pub mode: Mode,
}

#[derive(Debug)]
pub struct Report {
    pub events: usize,
    pub deliveries: u64,
    pub ok: u64,
    pub server_errors: u64,
    /// Answers that are neither 2xx nor 5xx.
    pub other_statuses: u64,
    /// Deliveries that got no answer (connection error or no answer within 30 s).
    pub dropped: u64,
    pub max_latency: Duration,
    pub max_error_latency: Duration,
    /// Failed deliveries per event (each one caused a redelivery).
    pub retries_mean: f64,
    pub retries_max: u32,
    pub fault_cycles: u32,
    pub unacknowledged_after_run: usize,
    pub final_pass_deliveries: u64,
    pub unacknowledged_at_end: usize,
    pub elapsed: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Job {
    First,
    Redelivery,
    Duplicate,
}

#[derive(Default)]
struct Queue {
    next_first: usize,
    /// (when, event, job), earliest first.
    due: BinaryHeap<Reverse<(Instant, usize, Job)>>,
    in_flight: usize,
}

#[derive(Default)]
struct EventState {
    acks: AtomicU32,
    failures: AtomicU32,
}

struct Shared {
    corpus: Corpus,
    http: reqwest::Client,
    base: String,
    duplicate_every: usize,
    burst_every: usize,
    started: Instant,
    deadline: Instant,
    queue: Mutex<Queue>,
    events: Vec<EventState>,
    mode: Mutex<Mode>,
    /// The fault schedule is over: storage stays healthy from now on.
    faults_over: AtomicBool,
    finished: AtomicBool,
    deliveries: AtomicU64,
    ok: AtomicU64,
    server_errors: AtomicU64,
    other_statuses: AtomicU64,
    dropped: AtomicU64,
    max_latency_us: AtomicU64,
    max_error_latency_us: AtomicU64,
}

/// Delivers every event of `corpus` to the handler at `base` (e.g. `TestApp::base`) with faults
/// switched on `proxy`, until each one is acknowledged or the deadline passes, then redelivers what
/// is still unacknowledged with storage healthy.
pub async fn run(
    base: &str,
    proxy: &Proxy,
    corpus: Corpus,
    plan: &Plan,
    progress: &(dyn Fn(&Progress) + Sync),
) -> (Report, Corpus) {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        events: (0..corpus.len).map(|_| EventState::default()).collect(),
        corpus,
        http: reqwest::Client::builder()
            .timeout(EVENT_GRID_TIMEOUT)
            .pool_max_idle_per_host(plan.concurrency)
            .build()
            .unwrap(),
        base: base.trim_end_matches('/').to_owned(),
        duplicate_every: plan.duplicate_every,
        burst_every: plan.burst_every,
        started,
        deadline: started + plan.deadline,
        queue: Mutex::new(Queue::default()),
        mode: Mutex::new(Mode::Pass),
        faults_over: AtomicBool::new(false),
        finished: AtomicBool::new(false),
        deliveries: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        server_errors: AtomicU64::new(0),
        other_statuses: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        max_latency_us: AtomicU64::new(0),
        max_error_latency_us: AtomicU64::new(0),
    });

    let workers: Vec<_> = (0..plan.concurrency)
        .map(|_| tokio::spawn(worker(shared.clone())))
        .collect();
    let drive = async {
        for w in workers {
            w.await.unwrap();
        }
        shared.finished.store(true, Ordering::SeqCst);
    };
    let faults = switch_faults(&shared, proxy, plan);
    let report_progress = async {
        let Some(every) = plan.progress_every else {
            return;
        };
        let mut next = Instant::now() + every;
        while !shared.finished.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if Instant::now() >= next {
                progress(&shared.progress());
                next += every;
            }
        }
    };
    let ((), fault_cycles, ()) = tokio::join!(drive, faults, report_progress);
    proxy.set(Mode::Pass);
    *shared.mode.lock().unwrap() = Mode::Pass;

    // The final fault-free pass: whatever is still unacknowledged is redelivered.
    let unacknowledged: Vec<usize> = (0..shared.corpus.len)
        .filter(|&i| shared.events[i].acks.load(Ordering::SeqCst) == 0)
        .collect();
    let before = shared.deliveries.load(Ordering::SeqCst);
    futures::stream::iter(unacknowledged.iter().copied())
        .for_each_concurrent(plan.concurrency, |i| {
            let shared = shared.clone();
            async move {
                for _ in 0..5 {
                    if shared.deliver(i).await {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
        .await;
    let final_pass_deliveries = shared.deliveries.load(Ordering::SeqCst) - before;

    let failures: Vec<u32> = shared
        .events
        .iter()
        .map(|e| e.failures.load(Ordering::SeqCst))
        .collect();
    let us = |a: &AtomicU64| Duration::from_micros(a.load(Ordering::SeqCst));
    let report = Report {
        events: shared.corpus.len,
        deliveries: shared.deliveries.load(Ordering::SeqCst),
        ok: shared.ok.load(Ordering::SeqCst),
        server_errors: shared.server_errors.load(Ordering::SeqCst),
        other_statuses: shared.other_statuses.load(Ordering::SeqCst),
        dropped: shared.dropped.load(Ordering::SeqCst),
        max_latency: us(&shared.max_latency_us),
        max_error_latency: us(&shared.max_error_latency_us),
        retries_mean: failures.iter().map(|&f| f as f64).sum::<f64>() / failures.len().max(1) as f64,
        retries_max: failures.iter().copied().max().unwrap_or(0),
        fault_cycles,
        unacknowledged_after_run: unacknowledged.len(),
        final_pass_deliveries,
        unacknowledged_at_end: shared
            .events
            .iter()
            .filter(|e| e.acks.load(Ordering::SeqCst) == 0)
            .count(),
        elapsed: started.elapsed(),
    };
    let shared = Arc::into_inner(shared).expect("every worker has ended");
    (report, shared.corpus)
}

/// Runs the fault schedule while first deliveries remain (at least `min_cycles`, at most
/// `max_cycles` times), then leaves storage healthy. Returns how many full cycles ran.
async fn switch_faults(shared: &Shared, proxy: &Proxy, plan: &Plan) -> u32 {
    let mut cycles = 0;
    'schedule: while !plan.faults.is_empty() {
        for &(mode, duration) in &plan.faults {
            if Instant::now() >= shared.deadline {
                break 'schedule;
            }
            proxy.set(mode);
            *shared.mode.lock().unwrap() = mode;
            tokio::time::sleep(duration).await;
        }
        cycles += 1;
        let firsts_done = shared.queue.lock().unwrap().next_first >= shared.corpus.len;
        if (firsts_done && cycles >= plan.min_cycles) || cycles >= plan.max_cycles {
            break;
        }
    }
    proxy.set(Mode::Pass);
    *shared.mode.lock().unwrap() = Mode::Pass;
    shared.faults_over.store(true, Ordering::SeqCst);
    cycles
}

async fn worker(shared: Arc<Shared>) {
    loop {
        let next = {
            let mut q = shared.queue.lock().unwrap();
            let now = Instant::now();
            if now >= shared.deadline {
                return;
            }
            match q.due.peek() {
                Some(Reverse((when, i, job))) if *when <= now => {
                    let (i, job) = (*i, *job);
                    q.due.pop();
                    q.in_flight += 1;
                    Ok((i, job))
                }
                _ if q.next_first < shared.corpus.len => {
                    q.next_first += 1;
                    q.in_flight += 1;
                    Ok((q.next_first - 1, Job::First))
                }
                Some(Reverse((when, ..))) => Err(Some((*when - now).min(Duration::from_millis(50)))),
                None if q.in_flight > 0 || !shared.faults_over.load(Ordering::SeqCst) => {
                    Err(Some(Duration::from_millis(10)))
                }
                None => Err(None),
            }
        };
        match next {
            Ok((i, job)) => {
                shared.run_job(i, job).await;
                shared.queue.lock().unwrap().in_flight -= 1;
            }
            Err(Some(wait)) => tokio::time::sleep(wait).await,
            Err(None) => return,
        }
    }
}

impl Shared {
    fn schedule(&self, i: usize, job: Job, after: Duration) {
        self.queue
            .lock()
            .unwrap()
            .due
            .push(Reverse((Instant::now() + after, i, job)));
    }

    async fn run_job(&self, i: usize, job: Job) {
        let burst = job == Job::First && i % self.burst_every == self.burst_every / 2;
        let deliveries = if burst { 8 } else { 1 };
        let answers = futures::future::join_all((0..deliveries).map(|_| self.deliver(i))).await;
        // Event Grid redelivers every delivery that failed, each on its own.
        let failed = answers.iter().filter(|ok| !**ok).count();
        for _ in 0..failed {
            self.redeliver_later(i);
        }
        if failed == 0 && job == Job::First && i % self.duplicate_every == 1 {
            self.schedule(
                i,
                Job::Duplicate,
                Duration::from_millis(50 + (i % 10) as u64 * 50),
            );
        }
    }

    fn redeliver_later(&self, i: usize) {
        // Event Grid waits 10 s, 30 s, 1 min, ...; the same shape, compressed.
        let failures = self.events[i].failures.load(Ordering::SeqCst).min(5);
        let delay = Duration::from_millis((50 << failures) + (i as u64 * 37) % 100);
        self.schedule(i, Job::Redelivery, delay.min(Duration::from_secs(2)));
    }

    /// One delivery of event `i`; true when it was acknowledged (2xx).
    async fn deliver(&self, i: usize) -> bool {
        let function = self.corpus.function(i);
        let body = serde_json::to_vec(&host_body(function, &self.corpus.event(i))).unwrap();
        self.deliveries.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let answer = self
            .http
            .post(format!("{}/{function}", self.base))
            .header("Content-Type", "application/json; charset=utf-8")
            .header(
                "X-Azure-Functions-InvocationId",
                format!("00000000-0000-0000-0000-{i:012}"),
            )
            .header("User-Agent", "Azure-Functions-Host/4.1037.0.0")
            .body(body)
            .send()
            .await;
        let status = match answer {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.ok().map(|_| status)
            }
            Err(_) => None,
        };
        let elapsed = started.elapsed().as_micros() as u64;
        self.max_latency_us.fetch_max(elapsed, Ordering::SeqCst);
        let ok = status.is_some_and(|s| s.is_success());
        match status {
            Some(s) if s.is_success() => self.ok.fetch_add(1, Ordering::SeqCst),
            Some(s) if s.is_server_error() => self.server_errors.fetch_add(1, Ordering::SeqCst),
            Some(_) => self.other_statuses.fetch_add(1, Ordering::SeqCst),
            None => self.dropped.fetch_add(1, Ordering::SeqCst),
        };
        let state = &self.events[i];
        if ok {
            state.acks.fetch_add(1, Ordering::SeqCst);
        } else {
            self.max_error_latency_us.fetch_max(elapsed, Ordering::SeqCst);
            state.failures.fetch_add(1, Ordering::SeqCst);
        }
        ok
    }

    fn progress(&self) -> Progress {
        Progress {
            elapsed: self.started.elapsed(),
            first_deliveries: self.queue.lock().unwrap().next_first,
            acknowledged: self
                .events
                .iter()
                .filter(|e| e.acks.load(Ordering::Relaxed) > 0)
                .count(),
            deliveries: self.deliveries.load(Ordering::Relaxed),
            failed: self.server_errors.load(Ordering::Relaxed)
                + self.other_statuses.load(Ordering::Relaxed)
                + self.dropped.load(Ordering::Relaxed),
            mode: *self.mode.lock().unwrap(),
        }
    }
}

/// What storage holds compared with what the corpus should have left there.
#[derive(Debug, Default)]
pub struct Verification {
    pub expected: usize,
    pub stored: usize,
    /// Event ids with no blob.
    pub lost: Vec<String>,
    /// Blobs that are not the one expected blob of an event (a second copy, a `~c` conflict blob,
    /// anything in quarantine).
    pub extra: Vec<String>,
    /// Event ids whose blob does not hold exactly the expected record.
    pub wrong_content: Vec<String>,
    /// (family, schema) of the records read back, with counts.
    pub kinds: HashMap<(String, String), usize>,
}

/// Lists every container of the app straight from the Blob REST API at `storage_port` (the real
/// Azurite, not the proxy) and compares each blob with the record its event must have produced.
pub async fn verify(storage_port: u16, containers: &Containers, corpus: &Corpus) -> Verification {
    let reader = Storage::new(storage_port, reqwest::Client::new());
    let mut expected: HashMap<(String, String), (usize, Vec<u8>)> = HashMap::new();
    for i in 0..corpus.len {
        let (container, name, bytes) = corpus.expected(i, containers);
        assert!(
            expected.insert((container, name), (i, bytes)).is_none(),
            "two events of the corpus share a blob name"
        );
    }
    let mut v = Verification {
        expected: corpus.len,
        ..Default::default()
    };
    let mut found = vec![];
    for container in containers.all() {
        for name in reader.blob_names(container).await {
            v.stored += 1;
            match expected.remove(&(container.to_owned(), name.clone())) {
                Some((i, bytes)) => found.push((container.to_owned(), name, i, bytes)),
                None => v.extra.push(format!("{container}/{name}")),
            }
        }
    }
    v.lost = expected.values().map(|(i, _)| corpus.id(*i)).collect();
    let reader = &reader;
    let checked: Vec<_> = futures::stream::iter(found)
        .map(|(container, name, i, bytes)| async move {
            let stored = reader.bytes(&container, &name).await;
            (i, stored == bytes, bytes)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (i, same, bytes) in checked {
        if !same {
            v.wrong_content.push(corpus.id(i));
            continue;
        }
        let record: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(record["eventId"], corpus.id(i));
        let key = |k: &str| record[k].as_str().unwrap_or_default().to_owned();
        *v.kinds.entry((key("family"), key("schema"))).or_default() += 1;
    }
    v
}
