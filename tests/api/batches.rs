//! Large batches converge on redelivery, at realistic storage latency: a batch whose events are all
//! stored is acknowledged within the budget, and a partly stored one gets further on each delivery.

use crate::helpers::*;
use crate::proxy::Proxy;
use serde_json::Value;
use std::time::Duration;

fn batch(prefix: &str, n: usize, hour: u32) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                let mut e = sms_event(&format!("Incoming_{prefix}-{i:05}"), "x");
                e["eventTime"] = format!("2024-05-01T{hour:02}:00:01Z").into();
                e
            })
            .collect(),
    )
}

fn same_containers(app: &TestApp) -> Vec<(String, String)> {
    let c = &app.containers;
    [
        ("ARCHIVE_CONTAINER_SMS", &c.sms),
        ("ARCHIVE_CONTAINER_CHAT", &c.chat),
        ("ARCHIVE_CONTAINER_ADVANCED_MESSAGING", &c.advanced_messaging),
        ("ARCHIVE_CONTAINER_OTHER", &c.other),
        ("ARCHIVE_CONTAINER_QUARANTINE", &c.quarantine),
    ]
    .map(|(k, v)| (k.to_owned(), v.clone()))
    .to_vec()
}

#[tokio::test]
async fn a_stored_batch_of_5000_is_acknowledged_within_the_default_budget_at_40_ms_per_request() {
    let events = batch("stored", 5000, 3);
    // Stored first, with time to spare.
    let first = spawn_app_with(AppOptions {
        storage_port: shared_azurite(),
        env: vec![("ARCHIVE_BUDGET_MS".into(), "25000".into())],
    })
    .await;
    let stored = first.invoke("SmsEvents", &events).await;
    assert_eq!(stored.status, 200, "{:?}", stored.body);

    // Redelivered through storage 40 ms away, to a handler with the default 10 s budget.
    let proxy = Proxy::start(shared_azurite()).await;
    proxy.set_latency(Duration::from_millis(40));
    let mut again = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: same_containers(&first),
    })
    .await;
    again.storage_port = shared_azurite();
    let answer = again.invoke("SmsEvents", &events).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let logs = answer.logs();
    assert_eq!(logs.iter().filter(|l| l.starts_with("duplicate ")).count(), 5000);
    assert_eq!(
        first.storage().blob_names(&first.containers.sms).await.len(),
        5000
    );
}

#[tokio::test]
async fn a_partly_stored_batch_gets_further_on_each_delivery_at_20_ms_per_request() {
    let events = batch("partly", 1500, 4);
    // A storage account of its own: a busy suite's shared one would slow the listing down.
    let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let azurite = Azurite::start(folder.path());
    let proxy = Proxy::start(azurite.port).await;
    let mut app = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: vec![("ARCHIVE_BUDGET_MS".into(), "2000".into())],
    })
    .await;
    app.storage_port = azurite.port;
    // The container first, so that every delivery below is about the events.
    assert_eq!(
        app.invoke("SmsEvents", &sms_event("Incoming_partly-warm", "x"))
            .await
            .status,
        200
    );
    proxy.set_latency(Duration::from_millis(20));
    let mut stored = vec![];
    for _ in 0..30 {
        let answer = app.invoke("SmsEvents", &events).await;
        let count = app.storage().blob_names(&app.containers.sms).await.len() - 1;
        if answer.status == 200 {
            assert_eq!(count, 1500);
            stored.push(count);
            break;
        }
        assert_eq!(answer.status, 503, "{:?}", answer.body);
        stored.push(count);
    }
    assert_eq!(
        stored.last(),
        Some(&1500),
        "never acknowledged: stored after each delivery {stored:?}"
    );
    assert!(
        stored.len() > 1,
        "the batch was meant to overrun one budget: {stored:?}"
    );
    assert!(
        stored.windows(2).all(|w| w[0] < w[1]),
        "a delivery made no progress: stored after each delivery {stored:?}"
    );
}
