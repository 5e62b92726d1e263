//! Storage failures turn into retriable 5xx answers within the budget, never into false successes.

use crate::helpers::*;
use crate::proxy::{Mode, Proxy};
use std::time::Duration;

fn budget_env(ms: u64) -> Vec<(String, String)> {
    vec![("ARCHIVE_BUDGET_MS".into(), ms.to_string())]
}

#[tokio::test]
async fn unreachable_storage_gives_5xx_within_the_budget_and_success_after_it_returns() {
    // Storage that has never seen this app (no containers yet), down at first.
    let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let azurite = Azurite::start(folder.path());
    let proxy = Proxy::start(azurite.port).await;
    proxy.set(Mode::Refuse);
    let mut app = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: budget_env(2000),
    })
    .await;
    app.storage_port = azurite.port;
    let event = sms_event("Incoming_outage", "kept for later");

    let down = app.invoke("SmsEvents", &event).await;
    assert_eq!(down.status, 503, "{:?}", down.body);
    assert!(
        down.elapsed < Duration::from_millis(3500),
        "answered after {:?}",
        down.elapsed
    );
    let text = down.body["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains("budget") || text.contains("could not archive"),
        "{text}"
    );
    app.wait_for_log(Duration::from_secs(5), |log| log.contains("answering 503"))
        .await;

    // Storage comes back (empty: the container is created on first write).
    proxy.set(Mode::Pass);
    let up = app.invoke("SmsEvents", &event).await;
    assert_eq!(up.status, 200, "{:?}", up.body);
    assert_eq!(
        app.storage().blob_names(&app.containers.sms).await,
        ["smsReceived/2024/05/01/12/Incoming_outage.json"]
    );
}

#[tokio::test]
async fn storage_that_never_answers_gives_5xx_within_the_budget() {
    // Accepts connections into the backlog and never reads them: a black hole.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let storage_port = black_hole.local_addr().unwrap().port();
    let app = spawn_app_with(AppOptions {
        storage_port,
        env: budget_env(1500),
    })
    .await;
    let answer = app
        .invoke("SmsEvents", &sms_event("Incoming_black-hole", "x"))
        .await;
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert!(
        answer.elapsed >= Duration::from_millis(1400),
        "{:?}",
        answer.elapsed
    );
    assert!(
        answer.elapsed < Duration::from_millis(3000),
        "{:?}",
        answer.elapsed
    );
    drop(black_hole);
}
