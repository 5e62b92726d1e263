//! At-least-once delivery: redeliveries, races, id collisions, and inputs that are not events.

use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn redelivered_event_is_stored_once() {
    let app = spawn_app().await;
    let event = sms_event("Incoming_redelivery-1", "hello");
    let first = app.invoke("SmsEvents", &event).await;
    let names_after_first = app.storage().blob_names(&app.containers.sms).await;
    let first_blob = app
        .storage()
        .blob(&app.containers.sms, &names_after_first[0])
        .await;

    let second = app.invoke("SmsEvents", &event).await;
    assert_eq!((first.status, second.status), (200, 200));
    assert!(
        first.logs()[0].starts_with("archived Incoming_redelivery-1 Microsoft.Communication.SMSReceived -> "),
        "{:?}",
        first.logs()
    );
    assert!(
        second.logs()[0].starts_with("duplicate Incoming_redelivery-1"),
        "{:?}",
        second.logs()
    );

    let names = app.storage().blob_names(&app.containers.sms).await;
    assert_eq!(names, ["smsReceived/2024/05/01/12/Incoming_redelivery-1.json"]);
    let blob = app.storage().blob(&app.containers.sms, &names[0]).await;
    // Nothing was rewritten: same bytes, same archive time.
    assert_eq!(blob.bytes, first_blob.bytes);
    assert_eq!(blob.metadata["archivedat"], first_blob.metadata["archivedat"]);
}

#[tokio::test]
async fn full_redelivery_of_every_fixture_writes_nothing_new() {
    let app = spawn_app().await;
    let events: Vec<Value> = fixture_names()
        .iter()
        .filter(|n| n.ends_with(".json"))
        .flat_map(|n| fixture_events(n))
        .collect();
    for event in &events {
        assert_eq!(app.invoke(function_for(event), event).await.status, 200);
    }
    let before = app.all_blobs().await;
    for event in &events {
        let again = app.invoke(function_for(event), event).await;
        assert_eq!(again.status, 200);
        assert!(again.logs()[0].starts_with("duplicate "), "{:?}", again.logs());
    }
    let after = app.all_blobs().await;
    let summary =
        |all: &std::collections::BTreeMap<String, Vec<StoredBlob>>| -> Vec<(String, String, Vec<u8>)> {
            all.iter()
                .flat_map(|(c, blobs)| {
                    blobs
                        .iter()
                        .map(move |b| (c.clone(), b.metadata["archivedat"].clone(), b.bytes.clone()))
                })
                .collect()
        };
    assert_eq!(summary(&before), summary(&after));
}

#[tokio::test]
async fn same_id_with_different_content_keeps_both() {
    let app = spawn_app().await;
    let one = sms_event("Incoming_shared-id", "first message");
    let two = sms_event("Incoming_shared-id", "second message");
    assert_eq!(app.invoke("SmsEvents", &one).await.status, 200);
    let answer = app.invoke("SmsEvents", &two).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.logs()[0].contains("another event already has this id"),
        "{:?}",
        answer.logs()
    );
    // Both redelivered: still two blobs.
    app.invoke("SmsEvents", &one).await;
    app.invoke("SmsEvents", &two).await;

    let blobs = app.storage().blobs(&app.containers.sms).await;
    assert_eq!(blobs.len(), 2);
    let messages: Vec<&str> = blobs
        .iter()
        .map(|b| b.record["fields"]["message"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&"first message") && messages.contains(&"second message"));
    assert!(blobs
        .iter()
        .any(|b| b.name == "smsReceived/2024/05/01/12/Incoming_shared-id.json"));
    assert!(blobs.iter().any(|b| b
        .name
        .starts_with("smsReceived/2024/05/01/12/Incoming_shared-id~c")));
}

#[tokio::test]
async fn eight_concurrent_identical_deliveries_give_one_blob() {
    let app = spawn_app().await;
    for round in 0..3 {
        let event = sms_event(&format!("Incoming_race-{round}"), "racing");
        let answers = futures::future::join_all((0..8).map(|_| app.invoke("SmsEvents", &event))).await;
        assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
        let archived = answers
            .iter()
            .filter(|a| a.logs()[0].starts_with("archived "))
            .count();
        let duplicates = answers
            .iter()
            .filter(|a| a.logs()[0].starts_with("duplicate "))
            .count();
        // Create-only writes: exactly one delivery wrote, the seven others found it there.
        assert_eq!((archived, duplicates), (1, 7), "{answers:?}");
    }
    assert_eq!(app.storage().blob_names(&app.containers.sms).await.len(), 3);
}

#[tokio::test]
async fn cloud_events_and_event_grid_forms_of_one_event_are_both_kept() {
    let app = spawn_app().await;
    let eg = fixture_events("specs-example__SMSReceived__1.json").remove(0);
    let ce = fixture_events("cloudevents-specs-example__SMSReceived__1.json").remove(0);
    assert_eq!(eg["id"], ce["id"]);
    assert_eq!(app.invoke("SmsEvents", &eg).await.status, 200);
    assert_eq!(app.invoke("SmsEvents", &ce).await.status, 200);
    let blobs = app.storage().blobs(&app.containers.sms).await;
    let mut schemas: Vec<&str> = blobs
        .iter()
        .map(|b| b.record["schema"].as_str().unwrap())
        .collect();
    schemas.sort();
    assert_eq!(schemas, ["cloudEvents", "eventGrid"]);
    // Same event time, same id: both in the same hour folder, under distinct names.
    assert!(blobs.iter().all(|b| b.name.starts_with(
        "smsReceived/2020/09/18/00/Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e"
    )));
}

#[tokio::test]
async fn inputs_that_are_not_events_are_quarantined_with_the_reason() {
    let app = spawn_app().await;
    let invalid_json = fixture_text("learn-ko-2020__ChatThreadCreatedWithUser__1.json.invalid-json");
    let cases = [
        (json!(invalid_json), "notJson"),
        (
            json!({"eventType": "Microsoft.Communication.SMSReceived", "data": {}}),
            "noId",
        ),
        (json!({"id": "x"}), "noType"),
        (json!(42), "notAnObject"),
        (Value::Null, "notAnObject"),
    ];
    for (event, kind) in &cases {
        let answer = app.invoke("ChatEvents", event).await;
        assert_eq!(answer.status, 200, "{kind}: {:?}", answer.body);
        assert!(
            answer.logs()[0].contains("quarantined input"),
            "{:?}",
            answer.logs()
        );
    }
    let blobs = app.storage().blobs(&app.containers.quarantine).await;
    assert_eq!(blobs.len(), cases.len());
    for (event, kind) in &cases {
        let blob = blobs
            .iter()
            .find(|b| &b.record["event"] == event)
            .unwrap_or_else(|| panic!("{kind} not kept"));
        assert_eq!(blob.record["family"], "quarantine");
        assert_eq!(blob.record["kind"], *kind);
        assert!(blob.record["fields"]["reason"].is_string());
        assert!(blob.name.starts_with(&format!("{kind}/")));
    }
    // The invalid JSON text is kept as the string that arrived.
    assert_eq!(
        blobs
            .iter()
            .find(|b| b.record["kind"] == "notJson")
            .unwrap()
            .record["event"],
        json!(invalid_json)
    );
    // Quarantine is idempotent too.
    app.invoke("ChatEvents", &cases[0].0).await;
    assert_eq!(
        app.storage().blob_names(&app.containers.quarantine).await.len(),
        cases.len()
    );
}

#[tokio::test]
async fn an_array_delivery_archives_each_element() {
    let app = spawn_app().await;
    let batch = json!([
        sms_event("Incoming_batch-1", "a"),
        sms_event("Incoming_batch-2", "b"),
        "not an event"
    ]);
    let answer = app.invoke("SmsEvents", &batch).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.logs().len(), 3, "{:?}", answer.logs());
    assert_eq!(app.storage().blob_names(&app.containers.sms).await.len(), 2);
    assert_eq!(
        app.storage().blob_names(&app.containers.quarantine).await.len(),
        1
    );
}

#[tokio::test]
async fn event_given_as_a_json_string_is_parsed() {
    let app = spawn_app().await;
    let event = sms_event("Incoming_as-string", "hi");
    let answer = app.invoke("SmsEvents", &json!(event.to_string())).await;
    assert_eq!(answer.status, 200);
    let blobs = app.storage().blobs(&app.containers.sms).await;
    assert_eq!(blobs.len(), 1);
    assert_eq!(blobs[0].record["event"], event);
}

#[tokio::test]
async fn hostile_ids_stay_inside_their_prefix() {
    let app = spawn_app().await;
    let ids = [
        "../../escape",
        "a/b/../c",
        "?x#y%z",
        "\u{202e}evil\u{0007}",
        "😀",
        &"z".repeat(2000),
        ".",
    ];
    for id in ids {
        let answer = app.invoke("SmsEvents", &sms_event(id, "x")).await;
        assert_eq!(answer.status, 200, "{id:?}: {:?}", answer.body);
    }
    let blobs = app.storage().blobs(&app.containers.sms).await;
    assert_eq!(blobs.len(), ids.len());
    for blob in &blobs {
        assert!(
            blob.name.starts_with("smsReceived/2024/05/01/12/"),
            "{}",
            blob.name
        );
        let leaf = blob.name.trim_start_matches("smsReceived/2024/05/01/12/");
        assert!(!leaf.contains('/') && leaf.len() <= 170, "{leaf}");
        assert!(ids.contains(&blob.record["eventId"].as_str().unwrap()));
    }
}
