//! `handler send`, against a running handler and through an emulated Functions host webhook.

use crate::helpers::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use std::process::Command;

fn run_send(args: Vec<String>) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_handler"))
        .arg("send")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn send_posts_sample_files_to_a_running_handler() {
    let app = spawn_app().await;
    let dir = fixtures_dir();
    let files = [
        "docs__SMSReceived__1.json",
        "docs__ChatMessageReceived__1.json",
        "docs__AdvancedMessageReceived__2.json",
    ]
    .map(|f| dir.join(f).to_string_lossy().into_owned());
    let mut args = files.to_vec();
    args.extend(["--url".to_owned(), app.base.clone()]);
    let (ok, stdout) = tokio::task::spawn_blocking(move || run_send(args)).await.unwrap();
    assert!(ok, "{stdout}");
    assert_eq!(stdout.matches("200 OK").count(), 3, "{stdout}");
    assert!(
        stdout.contains("-> SmsEvents")
            && stdout.contains("-> ChatEvents")
            && stdout.contains("-> AdvancedMessagingEvents"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("-> {}/smsReceived/2020/09/18/00/", app.containers.sms)),
        "{stdout}"
    );
    assert_eq!(app.storage().blob_names(&app.containers.chat).await.len(), 1);
}

/// The Functions host's Event Grid webhook, reduced to what `send --webhook` relies on: the
/// `aeg-event-type: Notification` header, the function name, one invocation per array element.
async fn webhook(
    State((handler, http)): State<(String, reqwest::Client)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if headers.get("aeg-event-type").and_then(|v| v.to_str().ok()) != Some("Notification") {
        return StatusCode::BAD_REQUEST;
    }
    let query = uri.query().unwrap_or_default();
    let Some(function) = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("functionName="))
    else {
        return StatusCode::NOT_FOUND;
    };
    let Ok(events) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let events = match events {
        Value::Array(items) => items,
        one => vec![one],
    };
    for event in events {
        let body = host_body(function, &event);
        let response = http
            .post(format!("{handler}/{function}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        if !response.status().is_success() {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    StatusCode::ACCEPTED
}

#[tokio::test]
async fn send_webhook_goes_through_the_event_grid_webhook_route() {
    let app = spawn_app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/runtime/webhooks/eventgrid", post(webhook))
        .with_state((app.base.clone(), app.http.clone()));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let file = fixtures_dir()
        .join("docs__AdvancedMessageDeliveryStatusUpdated__2.json")
        .to_string_lossy()
        .into_owned();
    let (ok, stdout) =
        tokio::task::spawn_blocking(move || run_send(vec![file, "--webhook".into(), "--url".into(), host]))
            .await
            .unwrap();
    assert!(ok, "{stdout}");
    assert!(stdout.contains("202 Accepted"), "{stdout}");
    assert_eq!(
        app.storage()
            .blob_names(&app.containers.advanced_messaging)
            .await
            .len(),
        1
    );
}
