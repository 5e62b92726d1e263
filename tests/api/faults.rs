//! Storage that refuses connections, cuts them mid-request or never answers, switched on and off
//! while thousands of events are delivered, redelivered, duplicated and raced: in the end every event
//! is stored exactly once, and every invocation was answered in time.

// Shared with benches/soak.rs, which reads what this test leaves unread (progress, some figures).
#[allow(dead_code)]
#[path = "eventgrid.rs"]
pub mod eventgrid;

use crate::helpers::*;
use crate::proxy::{Mode, Proxy};
use eventgrid::{Corpus, Plan};
use std::time::Duration;

const BUDGET: Duration = Duration::from_millis(700);
const EVENTS: usize = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_lost_or_doubled_when_storage_fails_mid_run() {
    let started = std::time::Instant::now();
    let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let azurite = Azurite::start(folder.path());
    let proxy = Proxy::start(azurite.port).await;
    let app = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: vec![("ARCHIVE_BUDGET_MS".into(), BUDGET.as_millis().to_string())],
    })
    .await;
    let corpus = Corpus::new("faults", EVENTS);

    // A black-holed storage turns into a 5xx within the budget, not a hang.
    proxy.set(Mode::BlackHole);
    let first = corpus.event(0);
    let probe = app.invoke(function_for(&first), &first).await;
    assert_eq!(probe.status, 503, "{:?}", probe.body);
    assert!(
        probe.elapsed >= BUDGET - Duration::from_millis(50)
            && probe.elapsed < BUDGET + Duration::from_secs(2),
        "black hole answered after {:?}",
        probe.elapsed
    );
    proxy.set(Mode::Pass);

    let ms = Duration::from_millis;
    let plan = Plan {
        concurrency: 24,
        duplicate_every: 16,
        burst_every: 50,
        faults: vec![
            (Mode::Pass, ms(1000)),
            (Mode::Cut, ms(600)),
            (Mode::Pass, ms(1000)),
            (Mode::Refuse, BUDGET + ms(200)),
            (Mode::Pass, ms(1000)),
            (Mode::BlackHole, BUDGET + ms(200)),
        ],
        // Bounded, so that a slow machine does not also get more faults to wade through.
        min_cycles: 1,
        max_cycles: 3,
        deadline: Duration::from_secs(40),
        progress_every: None,
    };
    let (report, corpus) = eventgrid::run(&app.base, &proxy, corpus, &plan, &|_| {}).await;
    let faults = proxy.stats();
    let delivered = started.elapsed();
    let stored = eventgrid::verify(azurite.port, &app.containers, &corpus).await;
    eprintln!(
        "{report:#?}\n{} storage connections: {faults:?}\nstored {} of {}; delivered after {delivered:?}, verified after {:?}",
        faults.connections,
        stored.stored,
        stored.expected,
        started.elapsed()
    );

    // The faults did happen, and made deliveries fail.
    assert!(report.fault_cycles >= 1, "{report:?}");
    assert!(
        faults.refused > 0 && faults.cut > 0 && faults.black_holed > 0,
        "{faults:?}"
    );
    assert!(report.server_errors > 0, "{report:?}");
    // Every invocation was answered, with 2xx or 5xx, well inside Event Grid's 30 s.
    assert_eq!(report.dropped, 0, "{report:?}");
    assert_eq!(report.other_statuses, 0, "{report:?}");
    assert!(report.max_latency < Duration::from_secs(25), "{report:?}");
    assert!(
        report.max_error_latency < BUDGET + Duration::from_secs(4),
        "{report:?}"
    );
    assert_eq!(report.unacknowledged_at_end, 0, "{report:?}");
    // Exactly once: nothing lost, nothing doubled, nothing conflicting, every byte as expected.
    assert!(stored.lost.is_empty(), "lost: {:?}", stored.lost);
    assert!(stored.extra.is_empty(), "extra blobs: {:?}", stored.extra);
    assert!(
        stored.wrong_content.is_empty(),
        "wrong content: {:?}",
        stored.wrong_content
    );
    assert_eq!(stored.stored, EVENTS);
    // All three families, both envelopes.
    let has = |family: &str| stored.kinds.keys().any(|(f, _)| f == family);
    let has_schema = |schema: &str| stored.kinds.keys().any(|(_, s)| s == schema);
    assert!(
        has("sms") && has("chat") && has("advancedMessaging"),
        "{:?}",
        stored.kinds
    );
    assert!(
        has_schema("eventGrid") && has_schema("cloudEvents"),
        "{:?}",
        stored.kinds
    );
}
