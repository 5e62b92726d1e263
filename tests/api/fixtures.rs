//! Every public sample event lands once, in the right container, with the right kind and fields.

use crate::helpers::*;
use acs_event_archive::archive::events::known_type;

use serde_json::{json, Value};

/// Where an event is expected: (container, kind), worked out from the event type by the documented
/// naming rule rather than from the handler's own table, so a wrong row in the table fails here.
fn expected(app: &TestApp, event: &Value) -> (String, String) {
    let event_type = event
        .get("eventType")
        .or_else(|| event.get("type"))
        .and_then(Value::as_str)
        .unwrap();
    let name = event_type.strip_prefix("Microsoft.Communication.").unwrap_or("");
    let lower_camel = |s: &str| match s.strip_prefix("SMS") {
        Some(rest) => format!("sms{rest}"),
        None => s[..1].to_ascii_lowercase() + &s[1..],
    };
    let container = if name.starts_with("SMS") {
        &app.containers.sms
    } else if name.starts_with("Chat") {
        &app.containers.chat
    } else if name.starts_with("AdvancedMessage") {
        &app.containers.advanced_messaging
    } else {
        return (app.containers.other.clone(), event_type.to_ascii_lowercase());
    };
    (container.clone(), lower_camel(name))
}

#[tokio::test]
async fn every_fixture_event_lands_once_with_its_family_and_kind() {
    let app = spawn_app().await;
    let mut sent = vec![];
    for name in fixture_names().into_iter().filter(|n| n.ends_with(".json")) {
        for event in fixture_events(&name) {
            let answer = app.invoke(function_for(&event), &event).await;
            assert_eq!(answer.status, 200, "{name}: {:?}", answer.body);
            let logs = answer.logs();
            assert_eq!(logs.len(), 1, "{name}: {logs:?}");
            // A few samples are copied between pages word for word: those are redeliveries.
            let seen = sent.iter().any(|(_, e)| e == &event);
            let expected = if seen { "duplicate " } else { "archived " };
            assert!(logs[0].starts_with(expected), "{name}: {logs:?}");
            if !seen {
                sent.push((name.clone(), event));
            }
        }
    }
    assert!(sent.len() >= 60, "only {} fixture events", sent.len());

    let blobs = app.all_blobs().await;
    let total: usize = blobs.values().map(Vec::len).sum();
    assert_eq!(total, sent.len(), "one blob per distinct event");
    for (name, event) in &sent {
        let (container, kind) = expected(&app, event);
        let holding: Vec<_> = blobs[&container]
            .iter()
            .filter(|b| &b.record["event"] == event)
            .collect();
        assert_eq!(
            holding.len(),
            1,
            "{name} should be stored exactly once in {container}"
        );
        let blob = holding[0];
        assert_eq!(blob.record["kind"], kind.as_str(), "{name}");
        assert_eq!(blob.record["eventId"], event["id"], "{name}");
        assert_eq!(blob.record["archiveVersion"], 1);
        assert_eq!(blob.content_type, "application/json");
        assert!(
            blob.name.starts_with(&format!("{kind}/")),
            "{name}: {}",
            blob.name
        );
        assert_eq!(
            blob.metadata["contentsha256"],
            acs_event_archive::archive::layout::sha256_hex(&blob.bytes)
        );
        assert!(blob.metadata.contains_key("archivedat"));
        assert_eq!(
            blob.tags.get("kind").map(String::as_str),
            Some(kind.as_str()),
            "{name}"
        );
        if known_type(blob.record["eventType"].as_str().unwrap()).is_some() {
            let fields = blob.record["fields"].as_object().unwrap();
            assert!(!fields.is_empty(), "{name}: modelled event with no fields");
        }
        for phone in ["15555555555", "14255550123", "12345678910"] {
            assert!(
                !blob.name.contains(phone),
                "phone number in blob name {}",
                blob.name
            );
        }
    }
}

/// Archives the events of one fixture on a fresh app and returns their records.
async fn records_of(fixture: &str) -> Vec<Value> {
    let app = spawn_app().await;
    let mut records = vec![];
    for event in fixture_events(fixture) {
        let answer = app.invoke(function_for(&event), &event).await;
        assert_eq!(answer.status, 200, "{fixture}: {:?}", answer.body);
        let (container, _) = expected(&app, &event);
        let blobs = app.storage().blobs(&container).await;
        records.push(
            blobs
                .into_iter()
                .find(|b| b.record["event"] == event)
                .unwrap()
                .record,
        );
    }
    records
}

async fn fields_of(fixture: &str) -> Value {
    records_of(fixture).await.remove(0)["fields"].clone()
}

#[tokio::test]
async fn pascal_case_sms_is_normalised_to_camel_case() {
    let f = fields_of("specs-example__SMSReceived__1.json").await;
    assert_eq!(
        f,
        json!({
            "messageId": "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
            "from": "15555555555",
            "to": "15555555555",
            "message": "Great to connect with ACS events",
            "segmentCount": 1,
            "receivedTimestamp": "2020-09-18T00:27:45.32Z"
        })
    );
}

#[tokio::test]
async fn sms_delivery_report_keeps_attempts_and_the_capitalised_tag() {
    let f = fields_of("docs__SMSDeliveryReportReceived__1.json").await;
    assert_eq!(f["deliveryStatus"], "Delivered");
    assert!(f["tag"].is_string(), "{f}");
    assert!(f["deliveryAttempts"][0]["segmentsSucceeded"].is_i64(), "{f}");
    let old = fields_of("learn-ko-2020__SMSDeliveryReportReceived__1.json").await;
    assert!(old["deliveryAttempts"][0]["timestamp"].is_string(), "{old}");
    assert!(
        old["messageId"].as_str().unwrap().starts_with("Outgoing_"),
        "{old}"
    );
}

#[tokio::test]
async fn chat_version_sent_as_a_string_becomes_an_integer() {
    let f = fields_of("docs__ChatMessageReceivedInThread__1.json").await;
    assert_eq!(f["version"], 1613783230064_i64);
    assert_eq!(
        f["senderId"],
        "8:acs:109f0644-b956-4cd9-87b1-71024f6e2f44_00000008-5cdb-4916-07fd-084822002624"
    );
    assert_eq!(f["threadId"], "19:5b3809e80e4a439d92c3316e273f4a2b@thread.v2");
    assert_eq!(
        f["messageBody"],
        "Talk about new Thread Events in communication services"
    );
}

#[tokio::test]
async fn chat_identifiers_are_raw_ids_from_objects_or_legacy_strings() {
    let current = fields_of("docs__ChatMessageReceived__1.json").await;
    assert_eq!(
        current["senderId"],
        "8:acs:109f0644-b956-4cd9-87b1-71024f6e2f44_00000008-578d-7caf-07fd-084822001724"
    );
    assert_eq!(
        current["recipientId"],
        "8:acs:109f0644-b956-4cd9-87b1-71024f6e2f44_00000008-578d-7d05-83fe-084822000f6d"
    );
    let legacy = fields_of("learn-ko-2020__ChatMessageReceived__1.json").await;
    assert!(
        legacy["senderId"].as_str().unwrap().starts_with("8:acs:"),
        "{legacy}"
    );
    assert!(
        legacy["recipientId"].as_str().unwrap().starts_with("8:acs:"),
        "{legacy}"
    );
}

#[tokio::test]
async fn legacy_members_and_current_participants_give_one_participants_list() {
    let both = fields_of("specs-example__ChatThreadCreatedWithUser__1.json").await;
    let participants = both["participants"].as_array().unwrap();
    assert!(!participants.is_empty());
    assert!(participants.iter().all(|p| p["id"].is_string()), "{both}");
    assert!(both["createdBy"].is_string(), "{both}");

    let added = fields_of("learn-ko-2020__ChatMemberAddedToThreadWithUser__1.json").await;
    assert_eq!(
        added["participant"],
        json!({"id": "8:acs:5354158b-17b7-489c-9380-95d8821ff76b_00000005-3e5f-1bc6-f40f-343a0d0003fe", "displayName": "John Smith"})
    );
    assert_eq!(
        added["addedBy"],
        "8:acs:5354158b-17b7-489c-9380-95d8821ff76b_00000005-3e5f-1bc6-f40f-343a0d0003f1"
    );
    assert_eq!(added["version"], 1600390033176_i64);

    let in_thread = fields_of("docs__ChatThreadParticipantAdded__1.json").await;
    assert!(
        in_thread["participant"]["id"]
            .as_str()
            .unwrap()
            .starts_with("8:acs:"),
        "{in_thread}"
    );
    assert!(in_thread["addedBy"].is_string(), "{in_thread}");
}

#[tokio::test]
async fn advanced_message_status_is_lower_cased_and_both_timestamp_spellings_are_read() {
    let docs = fields_of("docs__AdvancedMessageDeliveryStatusUpdated__1.json").await;
    assert_eq!(docs["status"], "sent");
    assert_eq!(docs["receivedTimestamp"], "2023-07-06T18:42:28+00:00");
    let drift = fields_of("constructed__AdvancedMessageDeliveryStatusUpdated__1.json").await;
    assert_eq!(drift["status"], "read");
    assert_eq!(drift["receivedTimestamp"], "2026-04-02T09:15:00+00:00");
    assert_eq!(drift["toBSUID"], "US.13491208655302741918");
    assert_eq!(drift["to"], "");
}

#[tokio::test]
async fn whatsapp_username_message_with_hidden_number_is_archived_with_its_bsuid() {
    // The docs show only the `data` of this event; wrap it in an envelope as Event Grid would.
    let fragment: Value = serde_json::from_str(&format!(
        "{{{}}}",
        fixture_text("docs-datafragment__AdvancedMessageReceived__2.json-fragment")
    ))
    .unwrap();
    let event = json!({
        "id": "bsuid-1", "eventType": "Microsoft.Communication.AdvancedMessageReceived",
        "subject": "advancedMessage/sender/US.13491208655302741918/recipient/{channel-id}",
        "eventTime": "2026-04-01T10:00:00Z", "dataVersion": "1.0", "data": fragment["data"]
    });
    let app = spawn_app().await;
    assert_eq!(app.invoke("AdvancedMessagingEvents", &event).await.status, 200);
    let blobs = app.storage().blobs(&app.containers.advanced_messaging).await;
    let f = &blobs[0].record["fields"];
    assert_eq!(f["fromBSUID"], "US.13491208655302741918");
    assert_eq!(f["from"], "");
    assert_eq!(f["messageType"], "text");
    assert_eq!(
        blobs[0].name,
        "advancedMessageReceived/2026/04/01/10/bsuid-1.json"
    );
}

#[tokio::test]
async fn analysis_key_phrases_are_read_under_either_name() {
    let docs = fields_of("docs__AdvancedMessageAnalysisCompleted__1.json").await;
    let spec = fields_of("specs-example__AdvancedMessageAnalysisCompleted__1.json").await;
    for f in [&docs, &spec] {
        assert!(!f["keyPhrases"].as_array().unwrap().is_empty(), "{f}");
        assert!(f["language"].is_string(), "{f}");
        assert!(f["confidenceScore"].is_f64(), "{f}");
        assert!(f["originalMessage"].is_string(), "{f}");
    }
    assert_eq!(spec["keyPhrases"], json!(["Sara Parker", "package", "Kalamazoo"]));
}

#[tokio::test]
async fn received_whatsapp_content_objects_are_kept() {
    let f = fields_of("specs-example__AdvancedMessageReceived__1.json").await;
    for key in [
        "media",
        "context",
        "button",
        "interactive",
        "channelType",
        "from",
        "to",
    ] {
        assert!(!f[key].is_null(), "{key} missing from {f}");
    }
}

#[tokio::test]
async fn cloud_events_are_recorded_with_their_schema_and_source() {
    let r = records_of("cloudevents-specs-example__SMSReceived__1.json")
        .await
        .remove(0);
    assert_eq!(r["schema"], "cloudEvents");
    assert_eq!(r["eventType"], "Microsoft.Communication.SMSReceived");
    assert!(r["source"].as_str().unwrap().starts_with("/subscriptions/"));
    assert_eq!(r["eventTime"], "2020-09-18T00:27:47.0000000Z");
    assert_eq!(
        r["fields"]["messageId"],
        "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e"
    );

    let bot = records_of("constructed__ChatAzureBotCommandReceivedInThread__1.json")
        .await
        .remove(0);
    assert_eq!(bot["kind"], "chatAzureBotCommandReceivedInThread");
    assert_eq!(
        bot["fields"]["senderId"],
        "28:acs:00000000-0000-0000-0000-000000000001"
    );
    assert_eq!(bot["fields"]["version"], 1747217472123_i64);
}

#[tokio::test]
async fn record_matches_the_documented_shape() {
    let r = records_of("docs__SMSReceived__1.json").await.remove(0);
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "archiveVersion",
        "family",
        "kind",
        "eventId",
        "eventType",
        "eventTime",
        "source",
        "subject",
        "schema",
        "fields",
        "event",
    ];
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
    assert_eq!(r["family"], "sms");
    assert_eq!(r["schema"], "eventGrid");
    assert_eq!(r["subject"], "/phonenumber/15555555555");
}

#[tokio::test]
async fn unmodelled_events_are_archived_as_other() {
    let r = records_of("docs__CallStarted__1.json").await.remove(0);
    assert_eq!(r["family"], "other");
    assert_eq!(r["kind"], "microsoft.communication.callstarted");
    assert_eq!(r["fields"], json!({}));
}
