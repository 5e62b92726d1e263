//! `handler send`, against a running handler and through an emulated Functions host webhook.

use crate::helpers::*;
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
/// `aeg-event-type: Notification` header, the function name, one invocation per array element. Plain
/// HTTP/1.1 over a socket, one request per connection: enough for `handler send`.
async fn serve_webhook(listener: tokio::net::TcpListener, handler: String, http: reqwest::Client) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = vec![];
        let mut buf = [0u8; 8192];
        let (head, body) = loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before sending a request");
            request.extend_from_slice(&buf[..n]);
            let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if request.len() >= end + 4 + length {
                break (head, request[end + 4..end + 4 + length].to_vec());
            }
        };
        let status = webhook(&head, &body, &handler, &http).await;
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        stream.write_all(answer.as_bytes()).await.unwrap();
    }
}

async fn webhook(head: &str, body: &[u8], handler: &str, http: &reqwest::Client) -> &'static str {
    if !head.contains("\r\naeg-event-type: notification") {
        return "400 Bad Request";
    }
    let Some(function) = head
        .split([' ', '?', '&'])
        .find_map(|part| part.strip_prefix("functionname="))
    else {
        return "404 Not Found";
    };
    // The path was lower-cased with the headers; the registry's names are what the host would use.
    let Some(function) = acs_event_archive::host::functions::FUNCTIONS
        .iter()
        .map(|f| f.name)
        .find(|name| name.eq_ignore_ascii_case(function))
    else {
        return "404 Not Found";
    };
    let Ok(events) = serde_json::from_slice::<Value>(body) else {
        return "400 Bad Request";
    };
    let events = match events {
        Value::Array(items) => items,
        one => vec![one],
    };
    for event in events {
        let response = http
            .post(format!("{handler}/{function}"))
            .json(&host_body(function, &event))
            .send()
            .await
            .unwrap();
        if !response.status().is_success() {
            return "500 Internal Server Error";
        }
    }
    "202 Accepted"
}

#[tokio::test]
async fn send_webhook_goes_through_the_event_grid_webhook_route() {
    let app = spawn_app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_webhook(listener, app.base.clone(), app.http.clone()));

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

#[test]
fn send_says_what_is_wrong_and_what_to_do() {
    let file = fixtures_dir()
        .join("docs__SMSReceived__1.json")
        .to_string_lossy()
        .into_owned();
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_handler"))
            .arg("send")
            .arg(&file)
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
    };
    // Nothing listens on port 1: the cause and a hint, not just "error sending request".
    let refused = run(&["--url", "http://127.0.0.1:1"]);
    assert!(
        refused.contains("Connection refused") && refused.contains("is the handler running"),
        "{refused}"
    );
    let no_scheme = run(&["--url", "localhost:3000"]);
    assert!(no_scheme.contains("is not an http:// URL"), "{no_scheme}");
    let unknown = run(&["--function", "Nope"]);
    assert!(
        unknown.contains("not a function of this app")
            && unknown.contains("SmsEvents, ChatEvents, AdvancedMessagingEvents"),
        "{unknown}"
    );
}
