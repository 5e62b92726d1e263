//! `handler report` reads every hour of its window, whatever state the hour is in: compacted long
//! ago, never compacted, recent (compaction lookback), or still open. Real Azurite, real binary.

use crate::helpers::*;
use serde_json::{json, Value};
use std::process::Stdio;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn report_event(id: &str, time: &str, status: &str) -> Value {
    json!({
        "id": id, "topic": "/t", "subject": "/phonenumber/15555555555",
        "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
        "dataVersion": "1.0", "metadataVersion": "1", "eventTime": time,
        "data": {"messageId": id, "from": "15555555555", "to": "+15555555556", "deliveryStatus": status,
                 "deliveryStatusDetails": "No error.", "receivedTimestamp": time}
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

fn run(app: &TestApp, args: &[&str]) -> String {
    let output = handler_command(app.storage_port, &app.containers)
        .args(args)
        .env("ARCHIVE_COMPACT_LOOKBACK_HOURS", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("could not run handler");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "handler {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn a_report_reads_old_never_compacted_recent_and_open_hours() {
    let app = spawn_app().await;
    let now = OffsetDateTime::now_utc();
    let recent = now - time::Duration::hours(1);
    let events = [
        report_event("old-compacted", "2026-11-01T10:15:00Z", "Delivered"),
        report_event("old-never-compacted", "2026-11-01T12:15:00Z", "Failed"),
        report_event("recent", &rfc3339(recent), "Delivered"),
        report_event("open", &rfc3339(now), "Delivered"),
    ];
    for event in &events {
        let answer = app.invoke("SmsEvents", event).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    run(
        &app,
        &[
            "compact",
            "--from",
            "2026-11-01T10:00:00Z",
            "--to",
            "2026-11-01T11:00:00Z",
        ],
    );

    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("summary.json");
    let html_path = dir.path().join("report.html");
    let to = rfc3339(now + time::Duration::hours(1));
    let stdout = run(
        &app,
        &[
            "report",
            "--from",
            "2026-11-01",
            "--to",
            &to,
            "--json",
            json_path.to_str().unwrap(),
            "--out",
            html_path.to_str().unwrap(),
        ],
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(summary["sms"]["deliveryReports"], 4, "{summary:#}");
    assert_eq!(summary["sms"]["messages"], 4);
    assert_eq!(summary["sms"]["byStatus"], json!({"Delivered": 3, "Failed": 1}));
    assert_eq!(summary["sms"]["deliveryRate"], 0.75);
    assert!(std::fs::metadata(&html_path).unwrap().len() > 0);

    // Where each hour came from: the hour compacted before from its file, the never-compacted one
    // compacted now, the open one from its records (or compacted, if the hour turned meanwhile).
    let read_of = |time: &str| -> (String, u64) {
        let t = OffsetDateTime::parse(time, &Rfc3339).unwrap();
        let range = summary["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                let from = OffsetDateTime::parse(r["from"].as_str().unwrap(), &Rfc3339).unwrap();
                let to = OffsetDateTime::parse(r["to"].as_str().unwrap(), &Rfc3339).unwrap();
                from <= t && t < to
            })
            .unwrap_or_else(|| panic!("no source range holds {time}: {:#}", summary["sources"]));
        (
            range["read"].as_str().unwrap().to_owned(),
            range["rows"].as_u64().unwrap(),
        )
    };
    assert_eq!(read_of("2026-11-01T10:15:00Z"), ("parquet".to_owned(), 1));
    assert_eq!(read_of("2026-11-01T12:15:00Z").0, "compacted");
    assert_eq!(read_of(&rfc3339(recent)).0, "compacted");
    let generated = OffsetDateTime::parse(summary["generatedAt"].as_str().unwrap(), &Rfc3339).unwrap();
    let open = read_of(&rfc3339(now)).0;
    if generated.hour() == now.hour() && generated.date() == now.date() {
        assert_eq!(open, "records");
        assert!(stdout.contains("records (hours not over yet)"), "{stdout}");
    } else {
        assert_eq!(
            open, "compacted",
            "the hour closed between archiving and reporting"
        );
    }

    // The never-compacted hour has its file now: the next report reads it as it is.
    let files = app.storage().blob_names(&app.containers.analytics).await;
    assert!(
        files.contains(
            &"smsDeliveryReportReceived/date=2026-11-01/hour=12/smsDeliveryReportReceived-2026110112.parquet"
                .to_owned()
        ),
        "{files:?}"
    );
}

#[tokio::test]
async fn a_report_window_must_be_forwards_and_at_most_ten_years() {
    for (from, to, says) in [
        ("2026-12-02", "2026-12-01", "--from must be before --to"),
        ("2000-01-01", "2026-12-01", "longer than ten years"),
        ("9998-12-31", "9999-12-31T23:30:00Z", "before the year 9999"),
    ] {
        let output = handler_command(shared_azurite(), &unique_containers())
            .args(["report", "--from", from, "--to", to])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{from}..{to}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{from}..{to}: {stderr}");
    }
}
