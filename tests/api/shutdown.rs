//! Acknowledged means stored, also while the handler shuts down.

use crate::helpers::*;
use crate::proxy::{Mode, Proxy};
use std::collections::HashSet;
use std::time::Duration;

/// Deterministic: storage answers are held by the proxy until the invocations are surely in flight,
/// the signal comes, and the listener is seen closed; only then does storage answer.
#[tokio::test]
async fn invocations_in_flight_at_sigterm_finish_and_every_answer_is_backed_by_a_stored_blob() {
    let proxy = Proxy::start(shared_azurite()).await;
    let mut app = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: vec![("ARCHIVE_BUDGET_MS".into(), "20000".into())],
    })
    .await;
    // One delivery first, so the containers exist and the next writes are the events themselves.
    let warm_up = app
        .invoke("SmsEvents", &sms_event("Incoming_shutdown-warm", "hi"))
        .await;
    assert_eq!(warm_up.status, 200, "{:?}", warm_up.body);

    proxy.set(Mode::Hold);
    let in_flight = 8;
    let mut deliveries = tokio::task::JoinSet::new();
    for i in 0..in_flight {
        let id = format!("Incoming_shutdown-{i}");
        let body = serde_json::to_vec(&host_body("SmsEvents", &sms_event(&id, "bye"))).unwrap();
        let (http, url) = (reqwest::Client::new(), format!("{}/SmsEvents", app.base));
        deliveries.spawn(async move {
            let answer = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            (id, answer.map(|r| r.status().as_u16()).ok())
        });
    }
    proxy.wait_until_held(in_flight, Duration::from_secs(20)).await;

    app.terminate();
    app.wait_for_log(Duration::from_secs(10), |log| log.contains("shutting down"))
        .await;
    // New connections are refused once the listener closes.
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the handler still accepts connections after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    proxy.set(Mode::Pass);
    let mut acknowledged = HashSet::from(["Incoming_shutdown-warm".to_owned()]);
    while let Some(result) = deliveries.join_next().await {
        let (id, status) = result.unwrap();
        assert_eq!(status, Some(200), "{id} was in flight at SIGTERM and must finish");
        acknowledged.insert(id);
    }
    let status = app
        .wait_for_exit(Duration::from_secs(30))
        .await
        .expect("handler did not exit after SIGTERM");
    assert!(
        status.success(),
        "SIGTERM should end the handler cleanly, got {status}"
    );

    let stored: HashSet<String> = app
        .storage()
        .blobs(&app.containers.sms)
        .await
        .into_iter()
        .map(|b| b.record["eventId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, acknowledged);
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
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
