//! The host layer on actix-web: connection hygiene, the function registry, what the logs say.

use crate::helpers::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn port_of(app: &TestApp) -> u16 {
    app.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// Waits until the server closes `stream` (EOF or reset), within `limit`.
fn closed_by_server(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return true,
            // An error answer (408) before the close is fine too.
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn slow_and_idle_connections_neither_block_invocations_nor_accumulate() {
    let app = spawn_app().await;
    let port = port_of(&app);
    // Idle connections that never send a byte, and slow-loris ones that trickle a request head.
    let mut idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let mut trickling: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"POST /SmsEvents HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    // Meanwhile the host's invocations are served as usual.
    for i in 0..5 {
        let answer = app
            .invoke("SmsEvents", &sms_event(&format!("Incoming_loris-{i}"), "x"))
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    for s in &mut trickling {
        s.write_all(b"X-Slow: 1\r\n").unwrap();
    }
    // The handler closes every one of them by itself; none stays open forever.
    let all = tokio::task::spawn_blocking(move || {
        idle.iter_mut()
            .chain(trickling.iter_mut())
            .all(|s| closed_by_server(s, Duration::from_secs(30)))
    })
    .await
    .unwrap();
    assert!(all, "a slow or idle connection was kept open");
    assert_eq!(
        app.invoke("SmsEvents", &sms_event("Incoming_loris-after", "x"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_body_that_trickles_in_past_the_budget_is_cut_off_with_a_json_answer() {
    let app = spawn_app_with(AppOptions {
        storage_port: shared_azurite(),
        env: vec![("ARCHIVE_BUDGET_MS".into(), "500".into())],
    })
    .await;
    let port = port_of(&app);
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(
            b"POST /SmsEvents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let started = Instant::now();
        let mut answer = vec![];
        let mut buf = [0u8; 1024];
        // Keep trickling until the handler answers (the writes start failing once it closes).
        loop {
            let _ = s.write_all(b" ");
            s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(_) if !answer.is_empty() => break,
                Err(_) => {}
            }
            assert!(started.elapsed() < Duration::from_secs(20), "no answer to a trickling body");
        }
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
    assert!(
        answer.contains("did not arrive within the invocation budget"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_as_json_before_it_is_read() {
    let app = spawn_app().await;
    let port = port_of(&app);
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"POST /SmsEvents HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("application/json") && answer.contains("larger than"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_unknown_function_name_is_still_archived_by_event_type_and_the_log_says_so() {
    let app = spawn_app().await;
    let answer = app
        .invoke("NotAFunction", &sms_event("Incoming_unrouted", "x"))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        app.storage().blob_names(&app.containers.sms).await,
        ["smsReceived/2024/05/01/12/Incoming_unrouted.json"]
    );
    app.wait_for_log(Duration::from_secs(10), |log| {
        log.contains("NotAFunction") && log.contains("no function of this name is registered")
    })
    .await;
}

#[tokio::test]
async fn ids_that_look_like_phone_numbers_are_hashed_in_logs_and_answers() {
    let app = spawn_app().await;
    let mut event = sms_event("+14255550123", "x");
    event["data"]["messageId"] = json!("m-1");
    let answer = app.invoke("SmsEvents", &event).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let logs = answer.logs().join("\n");
    assert!(logs.contains("archived ~p"), "{logs}");
    let log = app
        .wait_for_log(Duration::from_secs(10), |log| log.contains("archived ~p"))
        .await;
    for text in [&logs, &log] {
        assert!(!text.contains("4255550123"), "{text}");
    }
}
