//! The Functions host protocol on the wire.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn readiness_ping_answers_at_once_with_json() {
    let app = spawn_app().await;
    let response = app.http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(app.ready_after.as_secs() < 5, "ready after {:?}", app.ready_after);
}

#[tokio::test]
async fn invocation_answer_is_the_json_object_the_host_reads() {
    let app = spawn_app().await;
    let answer = app.invoke("SmsEvents", &sms_event("Incoming_shape", "x")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(answer.body["Outputs"], json!({}));
    assert_eq!(answer.body["ReturnValue"], json!(null));
    assert_eq!(answer.logs().len(), 1);
}

#[tokio::test]
async fn requests_that_are_not_invocations_get_a_clear_client_error() {
    let app = spawn_app().await;
    for (body, expected) in [
        (b"not json".to_vec(), "request body is not JSON"),
        (b"{}".to_vec(), "request body has no Data object"),
        (
            br#"{"Data":{"other":{}}}"#.to_vec(),
            "request Data has no \"event\" binding",
        ),
        (
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            "request body is not a JSON object",
        ),
        (
            format!(r#"{{"Data":{}}}"#, "{\"a\":".repeat(100_000)).into_bytes(),
            "request body is not JSON",
        ),
        (b"[{}]".to_vec(), "request body is not a JSON object"),
    ] {
        let answer = app.post("SmsEvents", body).await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.content_type, "application/json");
        assert!(
            answer.body["error"].as_str().unwrap().starts_with(expected),
            "{:?}",
            answer.body
        );
    }
    // Still alive and serving.
    assert_eq!(
        app.invoke("SmsEvents", &sms_event("Incoming_alive", "x"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_one_megabyte_event_is_accepted_with_its_metadata_copy() {
    let app = spawn_app().await;
    let big = "x".repeat(1024 * 1024);
    let event = sms_event("Incoming_big", &big);
    let answer = app.invoke("SmsEvents", &event).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let blobs = app.storage().blobs(&app.containers.sms).await;
    assert_eq!(
        blobs[0].record["fields"]["message"].as_str().unwrap().len(),
        big.len()
    );
}

#[tokio::test]
async fn unknown_routes_answer_json_not_found() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/nope/deeper", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn logs_never_hold_message_bodies_or_secrets() {
    let app = spawn_app().await;
    let secret_message = "my-secret-message-body-7731";
    app.invoke("SmsEvents", &sms_event("Incoming_private", secret_message))
        .await;
    app.invoke(
        "SmsEvents",
        &json!("a non-json string with my-secret-message-body-7731"),
    )
    .await;
    let stdout = app
        .wait_for_log(std::time::Duration::from_secs(10), |log| {
            log.contains("archived Incoming_private") && log.contains("quarantined input")
        })
        .await;
    assert!(stdout.contains("archived Incoming_private"), "{stdout}");
    assert!(!stdout.contains(secret_message), "{stdout}");
    assert!(!stdout.contains("sig="), "{stdout}");
    assert!(
        !stdout.contains("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq"),
        "{stdout}"
    );
    assert!(!stdout.contains("15555555555"), "{stdout}");
}

#[tokio::test]
async fn a_bad_configuration_stops_the_handler_with_one_line() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_handler"))
        .env_remove("ARCHIVE_STORAGE")
        .env_remove("AzureWebJobsStorage")
        .env("ARCHIVE_STORAGE", "AccountName=a;AccountKey=not base64!")
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        stderr.trim(),
        "configuration error: ARCHIVE_STORAGE: AccountKey is not valid base64"
    );
}

#[tokio::test]
async fn chunked_invocation_like_the_real_host_is_understood() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let body = serde_json::to_vec(&host_body("SmsEvents", &sms_event("Incoming_chunked", "x"))).unwrap();
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    // The host's HttpClient sends ObjectContent: chunked, no Content-Length.
    let mut request = format!(
        "POST /SmsEvents HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json; charset=utf-8\r\n\
         X-Azure-Functions-HostVersion: 4.24.4.4\r\nX-Azure-Functions-InvocationId: 0f0e\r\n\
         User-Agent: Azure-Functions-Host/4.24.4.4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(100) {
        request.extend(format!("{:x}\r\n", chunk.len()).bytes());
        request.extend(chunk);
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    stream.write_all(&request).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{response}"
    );
    assert!(
        response.contains(r#""Logs":["archived Incoming_chunked"#),
        "{response}"
    );
}
