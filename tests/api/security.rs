//! Security hygiene: loopback only, bounded requests, nothing secret or private in the logs.

use crate::helpers::*;
use serde_json::json;

/// The listening sockets for `port` from /proc/net/tcp{,6}: local addresses in kernel hex form.
fn listening_addresses(port: u16) -> Vec<String> {
    let port_hex = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    // State 0A is LISTEN.
                    (fields.get(3) == Some(&"0A") && fields[1].ends_with(&port_hex))
                        .then(|| fields[1].to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn the_handler_listens_on_loopback_only() {
    let app = spawn_app().await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let addresses = listening_addresses(port);
    assert_eq!(
        addresses,
        [format!("0100007F:{port:04X}")],
        "listening on {addresses:?}"
    );
}

#[tokio::test]
async fn oversized_requests_are_refused_and_the_handler_lives_on() {
    let app = spawn_app().await;
    let huge = format!(r#"{{"Data":{{"event":"{}"}}}}"#, "x".repeat(17 * 1024 * 1024));
    // A client of its own: the handler closes this connection, which must not poison the shared pool.
    let sent = reqwest::Client::new()
        .post(format!("{}/SmsEvents", app.base))
        .body(huge)
        .send()
        .await;
    // The handler answers 413 as soon as the limit is passed and closes the connection; a client still
    // uploading may see the reset before it reads the answer.
    match sent {
        Ok(response) => assert_eq!(response.status(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    assert_eq!(
        app.invoke("SmsEvents", &sms_event("Incoming_after-huge", "x"))
            .await
            .status,
        200
    );
}

fn assert_clean(stdout: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !stdout.contains(secret),
            "{secret:?} leaked into the log:\n{stdout}"
        );
    }
    // A SAS signature may be named, never shown.
    for (i, _) in stdout.match_indices("sig=") {
        assert!(
            stdout[i..].starts_with("sig=REDACTED"),
            "a signature leaked: {}",
            &stdout[i..(i + 60).min(stdout.len())]
        );
    }
}

#[tokio::test]
async fn logs_hold_no_keys_signatures_bodies_or_phone_numbers_under_load_and_failure() {
    const KEY_PART: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq";
    let body = "confidential-body-9931";
    let healthy = spawn_app().await;
    let down = crate::proxy::Proxy::refusing().await;
    let broken = spawn_app_with(AppOptions {
        storage_port: down.port,
        env: vec![("ARCHIVE_BUDGET_MS".into(), "300".into())],
    })
    .await;
    let events: Vec<_> = (0..200)
        .map(|i| {
            let mut e = sms_event(&format!("Incoming_private-{i}"), body);
            e["data"]["from"] = json!("+14255550123");
            e
        })
        .collect();
    let answers = futures::future::join_all(events.iter().map(|e| healthy.invoke("SmsEvents", e))).await;
    assert!(answers.iter().all(|a| a.status == 200));
    let failures =
        futures::future::join_all(events.iter().take(20).map(|e| broken.invoke("SmsEvents", e))).await;
    assert!(failures.iter().all(|a| a.status == 503));
    healthy
        .invoke("SmsEvents", &json!(format!("not json {body}")))
        .await;
    let limit = std::time::Duration::from_secs(10);
    let ok_log = healthy
        .wait_for_log(limit, |log| {
            log.matches("archived Incoming_private-").count() == 200 && log.contains("quarantined input")
        })
        .await;
    let failed_log = broken
        .wait_for_log(limit, |log| log.matches("answering 503").count() >= 20)
        .await;
    for log in [&ok_log, &failed_log] {
        assert_clean(log, &[KEY_PART, body, "14255550123", "15555555555"]);
    }
}

#[tokio::test]
async fn a_sas_from_the_connection_string_never_reaches_the_log() {
    let down = crate::proxy::Proxy::refusing().await;
    let port = down.port;
    let secret = "KNOWNSECRETSIGNATURE0123456789";
    let connection = format!(
        "BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;SharedAccessSignature=sv=2022-11-02&ss=b&srt=sco&sp=rwlct&se=2099-01-01T00:00:00Z&sig={secret}"
    );
    let app = spawn_app_with(AppOptions {
        storage_port: port,
        env: vec![
            ("ARCHIVE_STORAGE".into(), connection),
            ("ARCHIVE_BUDGET_MS".into(), "300".into()),
        ],
    })
    .await;
    assert_eq!(
        app.invoke("SmsEvents", &sms_event("Incoming_sas", "x"))
            .await
            .status,
        503
    );
    let log = app
        .wait_for_log(std::time::Duration::from_secs(10), |log| {
            log.contains("answering 503")
        })
        .await;
    assert!(log.contains("handler ready"), "{log}");
    assert_clean(&log, &[secret]);
}
