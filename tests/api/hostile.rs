//! The hostile corpus (tests/fixtures/hostile/cases.json): every case is acknowledged, kept under a
//! valid name inside its prefix, and the handler keeps running.

use crate::helpers::*;
use serde_json::{json, Value};

struct Case {
    name: String,
    expect: String,
    /// The raw JSON text sent as `Data.event`.
    event_text: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(project_root().join("tests/fixtures/hostile/cases.json")).unwrap();
    let mut cases: Vec<Case> = serde_json::from_str::<Vec<Value>>(&text)
        .unwrap()
        .into_iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_owned(),
            expect: c["expect"].as_str().unwrap().to_owned(),
            event_text: c["eventText"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| c["event"].to_string()),
        })
        .collect();
    // Too large to keep as files.
    let big = sms_event("big-1", &"x".repeat(1024 * 1024));
    cases.push(Case {
        name: "a 1 MB event".into(),
        expect: "archived".into(),
        event_text: big.to_string(),
    });
    let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    let mut nested = sms_event("deep-1", "x");
    nested["data"] = json!("placeholder");
    let nested = nested.to_string().replace("\"placeholder\"", &deep);
    cases.push(Case {
        name: "data nested 2000 levels deep".into(),
        expect: "archived".into(),
        event_text: nested,
    });
    cases
}

/// Reads only the head of a record: records of deeply nested events exceed serde_json's default
/// depth for a full `Value`, but skipping unknown fields has no depth limit.
fn family_and_kind(record: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize)]
    struct Head {
        family: String,
        kind: String,
    }
    let head: Head = serde_json::from_slice(record).expect("every blob is a record");
    (head.family, head.kind)
}

fn valid_blob_name(name: &str) -> bool {
    name.len() <= 1024
        && name.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && !segment.ends_with('.')
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        })
}

#[tokio::test]
async fn every_hostile_input_is_acknowledged_and_kept_inside_its_prefix() {
    let cases = cases();
    assert!(cases.len() >= 40, "the corpus should hold at least 40 cases");
    let app = spawn_app().await;
    for case in &cases {
        let body = format!(
            r#"{{"Data":{{"event":{}}},"Metadata":{{"sys":{{"MethodName":"SmsEvents"}}}}}}"#,
            case.event_text
        );
        let answer = app.post("SmsEvents", body.into_bytes()).await;
        assert_eq!(answer.status, 200, "{}: {:?}", case.name, answer.body);
        let logs = answer.logs();
        match case.expect.as_str() {
            "quarantined" => {
                assert!(
                    !logs.is_empty() && logs.iter().all(|l| l.contains("quarantined input")),
                    "{}: {logs:?}",
                    case.name
                )
            }
            _ => assert!(
                logs.first().is_none_or(|l| !l.contains("quarantined input")),
                "{}: {logs:?}",
                case.name
            ),
        }
        assert!(
            logs.iter().all(|l| l.len() < 700),
            "{}: log line too long",
            case.name
        );
    }

    let all = app.all_blobs().await;
    let mut total = 0;
    for (container, blobs) in &all {
        for blob in blobs {
            total += 1;
            assert!(
                valid_blob_name(&blob.name),
                "invalid blob name {container}/{}",
                blob.name
            );
            let (family, kind) = family_and_kind(&blob.bytes);
            assert!(
                blob.name.starts_with(&format!("{kind}/")),
                "{} is outside its kind",
                blob.name
            );
            let expected_container = match family.as_str() {
                "sms" => &app.containers.sms,
                "chat" => &app.containers.chat,
                "advancedMessaging" => &app.containers.advanced_messaging,
                "other" => &app.containers.other,
                _ => &app.containers.quarantine,
            };
            assert_eq!(container, expected_container, "{}", blob.name);
            assert!(!blob.name.contains("15555555555"), "{}", blob.name);
        }
    }
    assert!(
        total >= cases.len() - 1,
        "only {total} blobs for {} cases",
        cases.len()
    );

    // Alive, and never panicked.
    assert_eq!(
        app.http
            .get(format!("{}/", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(!app.stdout_text().contains("panicked"), "{}", app.stdout_text());
}

#[tokio::test]
async fn hostile_events_are_stored_exactly_as_they_arrived() {
    let app = spawn_app().await;
    for case in cases()
        .iter()
        .filter(|c| c.expect == "archived" && c.event_text.starts_with('{'))
    {
        let body = format!(r#"{{"Data":{{"event":{}}}}}"#, case.event_text);
        assert_eq!(
            app.post("SmsEvents", body.into_bytes()).await.status,
            200,
            "{}",
            case.name
        );
    }
    let all = app.all_blobs().await;
    let stored: Vec<&StoredBlob> = all.values().flatten().collect();
    for case in cases()
        .iter()
        .filter(|c| c.expect == "archived" && c.event_text.starts_with('{'))
    {
        // The record holds the event byte for byte, duplicated keys and all.
        let needle = format!(r#","event":{}}}"#, case.event_text);
        assert!(
            stored.iter().any(|b| b.bytes.ends_with(needle.as_bytes())),
            "{} is not stored verbatim",
            case.name
        );
    }
}
