//! Acknowledged means stored, also while the handler shuts down.

use crate::helpers::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn every_answer_given_during_shutdown_is_backed_by_a_stored_blob() {
    let mut app = spawn_app().await;
    let total = 300;
    let answered = Arc::new(AtomicUsize::new(0));
    let mut deliveries = tokio::task::JoinSet::new();
    for i in 0..total {
        let id = format!("Incoming_shutdown-{i}");
        let body = serde_json::to_vec(&host_body("SmsEvents", &sms_event(&id, "bye"))).unwrap();
        let (http, url, answered) = (
            app.http.clone(),
            format!("{}/SmsEvents", app.base),
            answered.clone(),
        );
        deliveries.spawn(async move {
            // Spread the burst so that some deliveries are in flight, and some start, after the signal.
            tokio::time::sleep(Duration::from_millis(i as u64 * 10)).await;
            let answer = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            answered.fetch_add(1, Ordering::SeqCst);
            (id, answer.map(|r| r.status().as_u16()).ok())
        });
    }
    while answered.load(Ordering::SeqCst) < total / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    app.terminate();

    let mut acknowledged = HashSet::new();
    let mut failed = 0;
    while let Some(result) = deliveries.join_next().await {
        match result.unwrap() {
            (id, Some(200)) => {
                acknowledged.insert(id);
            }
            // A refused or dropped connection is a failed invocation: Event Grid redelivers.
            _ => failed += 1,
        }
    }
    let status = app
        .wait_for_exit(Duration::from_secs(15))
        .await
        .expect("handler did not exit after SIGTERM");
    assert!(
        status.success(),
        "SIGTERM should end the handler cleanly, got {status}"
    );
    assert!(
        acknowledged.len() >= total / 3,
        "too few acknowledged: {}",
        acknowledged.len()
    );
    assert!(
        failed > 0,
        "the signal came too late to test anything: {}",
        app.stdout_text()
    );

    let stored: HashSet<String> = app
        .storage()
        .blobs(&app.containers.sms)
        .await
        .into_iter()
        .map(|b| b.record["eventId"].as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged but not stored: {missing:?}");
    assert_eq!(acknowledged.len() + failed, total);
}

#[tokio::test]
async fn a_handler_that_cannot_listen_exits_non_zero() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_handler"))
        .env("ARCHIVE_STORAGE", connection_string(shared_azurite()))
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "exit 0 would stop the host from restarting the handler"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("could not listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}
