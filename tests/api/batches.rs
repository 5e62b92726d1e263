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

/// Delivers `events` in chunks, each redelivered until acknowledged, as Event Grid would.
async fn store_all(app: &TestApp, events: &Value) {
    for chunk in events.as_array().unwrap().chunks(250) {
        let chunk = Value::Array(chunk.to_vec());
        let mut tries = 0;
        while app.invoke("SmsEvents", &chunk).await.status != 200 {
            tries += 1;
            assert!(tries < 20, "a chunk of the set-up was never acknowledged");
        }
    }
}

#[tokio::test]
async fn a_stored_batch_of_5000_is_acknowledged_within_the_default_budget_at_40_ms_per_request() {
    let events = batch("stored", 5000, 3);
    // A storage account of its own: the listing's cost is this batch's, not the whole suite's.
    let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let azurite = Azurite::start(folder.path());
    let first = spawn_app_with(AppOptions {
        storage_port: azurite.port,
        env: vec![],
    })
    .await;
    store_all(&first, &events).await;

    // Redelivered whole through storage 40 ms away, to a handler with the default 10 s budget.
    let proxy = Proxy::start(azurite.port).await;
    proxy.set_latency(Duration::from_millis(40));
    let again = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: container_env(&first.containers),
    })
    .await;
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
    let events = batch("partly", 2000, 4);
    let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let azurite = Azurite::start(folder.path());
    let proxy = Proxy::start(azurite.port).await;
    let mut app = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: vec![("ARCHIVE_BUDGET_MS".into(), "4000".into())],
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
    for _ in 0..20 {
        let answer = app.invoke("SmsEvents", &events).await;
        let count = app.storage().blob_names(&app.containers.sms).await.len() - 1;
        stored.push(count);
        if answer.status == 200 {
            assert_eq!(count, 2000);
            break;
        }
        assert_eq!(answer.status, 503, "{:?}", answer.body);
    }
    assert_eq!(
        stored.last(),
        Some(&2000),
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
