//! Dead-letter recovery against a real Azurite and the real binary: what Event Grid dead-letters
//! (re-serialised, with its delivery properties added) is archived exactly once, through the
//! `RecoverDeadLetters` timer function and through `handler recover`, and is recognised as the same
//! event as its direct delivery whichever comes first.

use crate::helpers::*;
use crate::proxy::{Mode, Proxy};
use acs_event_archive::archive::record::prepare;
use acs_event_archive::config::Containers;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn sms(id: &str) -> Value {
    sms_event(id, &format!("message of {id}"))
}

fn chat(id: &str) -> Value {
    json!({
        "id": id,
        "topic": "/subscriptions/s/resourcegroups/rg/providers/microsoft.communication/communicationservices/acs",
        "subject": "thread/19:dl@thread.v2/sender/8:acs:1/recipient/8:acs:2",
        "data": {"messageBody": "hi", "messageId": id, "threadId": "19:dl@thread.v2", "type": "Text",
                 "senderCommunicationIdentifier": {"rawId": "8:acs:1"}, "version": "1",
                 "composeTime": "2026-12-01T10:00:00Z"},
        "eventType": "Microsoft.Communication.ChatMessageReceivedInThread",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": "2026-12-01T10:00:00.5Z"
    })
}

fn cloud_sms(id: &str) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": "/subscriptions/s/resourcegroups/rg/providers/microsoft.communication/communicationservices/acs",
        "subject": "/phonenumber/15555555555",
        "type": "Microsoft.Communication.SMSReceived",
        "time": "2026-12-01T09:30:00Z",
        "datacontenttype": "application/json",
        "data": {"messageId": id, "from": "15555555555", "to": "15555555556", "message": "cloud", "receivedTimestamp": "2026-12-01T09:30:00Z"}
    })
}

/// The event as Event Grid dead-letters it in its own schema: another key order, and the delivery
/// properties added among its keys.
fn dead_lettered(event: &Value) -> Value {
    let properties = if event.get("specversion").is_some() {
        json!({"deadletterreason": "MaxDeliveryAttemptsExceeded", "deliveryattempts": 30,
               "lastdeliveryoutcome": "Probation", "lasthttpstatuscode": 500,
               "publishtime": "2026-12-01T09:30:00.1234567Z", "lastdeliveryattempttime": "2026-12-02T09:25:00Z"})
    } else {
        json!({"deadLetterReason": "MaxDeliveryAttemptsExceeded", "deliveryAttempts": 30,
               "lastDeliveryOutcome": "Probation", "lastHttpStatusCode": 500,
               "publishTime": "2026-12-01T09:00:00.1234567Z", "lastDeliveryAttemptTime": "2026-12-02T08:55:00Z"})
    };
    let members: Vec<_> = event.as_object().unwrap().iter().rev().collect();
    let (first, rest) = members.split_at(members.len() / 2);
    let mut out = Map::new();
    out.extend(first.iter().map(|(k, v)| ((*k).clone(), (*v).clone())));
    out.extend(properties.as_object().unwrap().clone());
    out.extend(rest.iter().map(|(k, v)| ((*k).clone(), (*v).clone())));
    Value::Object(out)
}

/// The form an Event Grid namespace topic dead-letters in.
fn namespace_form(event: &Value) -> Value {
    json!({
        "event": event,
        "customDeliveryProperties": {"x-archive": "1"},
        "deadletterProperties": {"deadletterreason": "MaxDeliveryAttemptsExceeded", "deliveryattempts": 10,
            "deliveryresult": "Forbidden", "publishutc": "2026-12-01T09:30:00Z", "deliveryattemptutc": "2026-12-01T10:30:00Z"}
    })
}

/// A dead-letter blob name as Event Grid writes it: upper-cased subscription, hour not zero-padded.
fn dead_letter_name(subscription: &str, hour: u8) -> String {
    format!(
        "{subscription}/2026/12/1/{hour}/{}.json",
        azure_core::Uuid::new_v4()
    )
}

/// The body the host sends for a timer run.
fn timer_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false}},
        "Metadata": {"sys": {"MethodName": "RecoverDeadLetters", "UtcNow": "2026-12-01T10:10:00.012Z",
                             "RandGuid": "0f8fad5b-d9cb-469f-a165-70867728950e"}}
    }))
    .unwrap()
}

/// Where a direct delivery of the event is archived, and its record.
fn direct(containers: &Containers, event: &Value) -> (String, String, Value) {
    let record = prepare(&RawValue::from_string(event.to_string()).unwrap());
    let body = serde_json::from_slice(&record.body).unwrap();
    (
        containers.for_family(record.family).to_owned(),
        record.blob_name,
        body,
    )
}

/// Every archived blob, by container, read back over REST.
async fn archive(app: &TestApp) -> BTreeMap<String, Vec<StoredBlob>> {
    app.all_blobs().await
}

/// How many blobs of the archive hold the event with this id: 1 when it is stored exactly once.
fn copies(all: &BTreeMap<String, Vec<StoredBlob>>, id: &str) -> usize {
    all.values()
        .flatten()
        .filter(|b| b.record["eventId"] == id)
        .count()
}

fn count(all: &BTreeMap<String, Vec<StoredBlob>>) -> usize {
    all.values().map(Vec::len).sum()
}

/// `handler recover` as an operator runs it, with the app's settings.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn handler_recover(containers: &Containers, storage_port: u16, args: &[&str]) -> Ran {
    let mut command = handler_command(storage_port, containers);
    command.arg("recover").args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("could not run handler recover");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn lines_starting(text: &str, start: &str) -> usize {
    text.lines().filter(|l| l.starts_with(start)).count()
}

async fn is_marked_recovered(storage: &Storage, container: &str, name: &str) -> bool {
    storage
        .blob(container, name)
        .await
        .metadata
        .contains_key("recoveredat")
}

#[tokio::test]
async fn dead_lettered_events_are_archived_once_by_the_timer_and_a_later_direct_delivery_is_a_duplicate() {
    let app = spawn_app().await;
    let storage = app.storage();
    let dl = app.containers.deadletter.clone();
    let (a, b, c) = (sms("Incoming_dl-a"), sms("Incoming_dl-b"), sms("Incoming_dl-c"));
    let (chat1, chat2) = (chat("chat-dl-1"), chat("chat-dl-2"));
    let (ce1, ce2) = (cloud_sms("Incoming_dl-ce1"), cloud_sms("Incoming_dl-ce2"));
    let (ns1, ns2) = (cloud_sms("Incoming_dl-ns1"), cloud_sms("Incoming_dl-ns2"));
    // Archived through the host before they were dead-lettered (the write landed, the answers did not).
    for event in [&a, &chat1, &ce1, &ns1] {
        let answer = app.invoke(function_for(event), event).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    let pretty = |events: &[Value]| serde_json::to_vec_pretty(&events).unwrap();
    let compact = |events: &[Value]| serde_json::to_vec(&events).unwrap();
    let blobs = [
        (
            dead_letter_name("ACS-SMS", 9),
            pretty(&[dead_lettered(&a), dead_lettered(&b)]),
        ),
        (dead_letter_name("ACS-SMS", 9), compact(&[dead_lettered(&c)])),
        (
            dead_letter_name("ACS-CHAT", 10),
            compact(&[dead_lettered(&chat1), dead_lettered(&chat2)]),
        ),
        (
            dead_letter_name("ACS-SMS-CLOUDEVENTS", 9),
            pretty(&[dead_lettered(&ce1), dead_lettered(&ce2)]),
        ),
        (
            format!(
                "acs-namespace/sms-topic/archive/2026/12/1/9/{}.json",
                azure_core::Uuid::new_v4()
            ),
            pretty(&[namespace_form(&ns1), namespace_form(&ns2)]),
        ),
    ];
    for (name, bytes) in &blobs {
        storage.put_blob(&dl, name, bytes, &[]).await;
    }

    let run = app.post("RecoverDeadLetters", timer_body()).await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    let logs = run.logs().join("\n");
    assert_eq!(lines_starting(&logs, "recovered "), 5, "{logs}");
    assert!(
        logs.contains(
            "5 blobs recovered (9 events: 5 archived, 4 already archived, 0 beside; 0 quarantined)"
        ),
        "{logs}"
    );

    let all = archive(&app).await;
    let events = [&a, &b, &c, &chat1, &chat2, &ce1, &ce2, &ns1, &ns2];
    let recovered_only = [&b, &c, &chat2, &ce2, &ns2];
    for event in events {
        let id = event["id"].as_str().unwrap();
        assert_eq!(copies(&all, id), 1, "{id} is stored exactly once");
        let (container, name, _) = direct(&app.containers, event);
        assert!(
            all[&container].iter().any(|blob| blob.name == name),
            "{id} at {name}"
        );
    }
    assert_eq!(count(&all), 9, "nothing else was written");
    for event in recovered_only {
        let (container, name, mut want) = direct(&app.containers, event);
        let stored = storage.blob(&container, &name).await;
        // The record of a direct delivery, apart from `event`: the blob's rendering of the event,
        // without its delivery properties.
        let mut got = stored.record.clone();
        assert_eq!(got["event"].take(), *event);
        want["event"].take();
        assert_eq!(got, want);
        assert_eq!(stored.metadata["deadletterreason"], "MaxDeliveryAttemptsExceeded");
        assert!(stored.metadata.contains_key("deliveryattempts"));
        assert!(stored.metadata.contains_key("lastdeliveryoutcome"));
        assert!(stored.metadata["deadletterblob"].starts_with(&format!("{dl}/")));
        assert_eq!(stored.metadata["eventcanonicalsha256"].len(), 64);
    }
    let ns2_stored = {
        let (container, name, _) = direct(&app.containers, &ns2);
        storage.blob(&container, &name).await
    };
    assert_eq!(ns2_stored.metadata["lastdeliveryoutcome"], "Forbidden");
    for (name, _) in &blobs {
        assert!(is_marked_recovered(&storage, &dl, name).await, "{name} is marked");
    }

    // A direct delivery afterwards is a redelivery.
    for event in events {
        let answer = app.invoke(function_for(event), event).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert!(answer.logs()[0].starts_with("duplicate "), "{:?}", answer.logs());
    }
    // A second run finds every blob recovered and writes nothing.
    let again = app.post("RecoverDeadLetters", timer_body()).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert!(
        again.logs().join("\n").contains("0 blobs recovered (0 events: 0 archived, 0 already archived, 0 beside; 0 quarantined), 5 already recovered earlier"),
        "{:?}",
        again.logs()
    );
    let after = archive(&app).await;
    assert_eq!(count(&after), 9);
    let doubled = events
        .iter()
        .filter(|e| copies(&after, e["id"].as_str().unwrap()) > 1)
        .count();
    let lost = events
        .iter()
        .filter(|e| copies(&after, e["id"].as_str().unwrap()) == 0)
        .count();
    println!(
        "FIGURES timer: {} events dead-lettered in {} blobs, {} recovered into the archive, {} found already archived, doubled {doubled}, lost {lost}",
        events.len(),
        blobs.len(),
        recovered_only.len(),
        events.len() - recovered_only.len()
    );
}

#[tokio::test]
async fn handler_recover_prints_a_line_per_blob_and_a_dry_run_changes_nothing() {
    let app = spawn_app().await;
    let storage = app.storage();
    let dl = app.containers.deadletter.clone();
    let (x1, x2, y1) = (
        sms("Incoming_cli-x1"),
        sms("Incoming_cli-x2"),
        chat("chat-cli-y1"),
    );
    let answer = app.invoke("SmsEvents", &x1).await;
    assert_eq!(answer.status, 200);
    let sms_blob = dead_letter_name("ACS-SMS", 9);
    let chat_blob = dead_letter_name("ACS-CHAT", 10);
    storage
        .put_blob(
            &dl,
            &sms_blob,
            &serde_json::to_vec_pretty(&[dead_lettered(&x1), dead_lettered(&x2)]).unwrap(),
            &[],
        )
        .await;
    storage
        .put_blob(
            &dl,
            &chat_blob,
            &serde_json::to_vec(&[dead_lettered(&y1)]).unwrap(),
            &[],
        )
        .await;

    let dry = handler_recover(&app.containers, app.storage_port, &["--dry-run"]).await;
    assert_eq!(dry.code, Some(0), "{}{}", dry.stdout, dry.stderr);
    assert_eq!(lines_starting(&dry.stdout, "would recover "), 2, "{}", dry.stdout);
    assert!(
        dry.stdout
            .contains(&format!("would recover {sms_blob}: 2 events, 0 to quarantine")),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(
            "2 blobs to recover (3 events, 0 to quarantine), 0 already recovered; nothing was changed"
        ),
        "{}",
        dry.stdout
    );
    assert_eq!(count(&archive(&app).await), 1, "a dry run writes nothing");
    assert!(!is_marked_recovered(&storage, &dl, &sms_blob).await);
    assert!(
        storage.blob(&dl, &sms_blob).await.metadata.is_empty(),
        "a dry run marks nothing"
    );

    let sms_only = handler_recover(&app.containers, app.storage_port, &["--prefix", "ACS-SMS/"]).await;
    assert_eq!(sms_only.code, Some(0), "{}{}", sms_only.stdout, sms_only.stderr);
    assert!(
        sms_only.stdout.contains(&format!("recovered {sms_blob}: 2 events (1 archived, 1 already archived, 0 beside another event with the same id), 0 quarantined")),
        "{}",
        sms_only.stdout
    );
    assert_eq!(lines_starting(&sms_only.stdout, "recovered "), 1);
    assert!(
        storage.blob_names(&app.containers.chat).await.is_empty(),
        "--prefix leaves the rest"
    );

    let rest = handler_recover(&app.containers, app.storage_port, &[]).await;
    assert_eq!(rest.code, Some(0), "{}{}", rest.stdout, rest.stderr);
    assert_eq!(lines_starting(&rest.stdout, "recovered "), 1, "{}", rest.stdout);
    assert!(
        rest.stdout.contains(&format!("recovered {chat_blob}: 1 events")),
        "{}",
        rest.stdout
    );
    assert!(
        rest.stdout.contains("1 already recovered earlier"),
        "{}",
        rest.stdout
    );

    let all = archive(&app).await;
    for id in ["Incoming_cli-x1", "Incoming_cli-x2", "chat-cli-y1"] {
        assert_eq!(copies(&all, id), 1, "{id}");
    }
    assert_eq!(count(&all), 3);
    let answer = app.invoke("ChatEvents", &y1).await;
    assert!(answer.logs()[0].starts_with("duplicate "), "{:?}", answer.logs());
}

#[tokio::test]
async fn a_recovery_interrupted_half_way_by_storage_and_run_again_completes_without_doubles() {
    let azurite = shared_azurite();
    let proxy = Proxy::start(azurite).await;
    let mut app = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: vec![("ARCHIVE_BUDGET_MS".into(), "1000".into())],
    })
    .await;
    // Reads and writes of the test itself go straight to Azurite.
    app.storage_port = azurite;
    let storage = app.storage();
    let dl = app.containers.deadletter.clone();
    let events: Vec<Value> = (0..60)
        .map(|i| sms(&format!("Incoming_interrupted-{i:02}")))
        .collect();
    let name = dead_letter_name("ACS-SMS", 9);
    let dead: Vec<Value> = events.iter().map(dead_lettered).collect();
    storage
        .put_blob(&dl, &name, &serde_json::to_vec_pretty(&dead).unwrap(), &[])
        .await;

    // Storage is slow, then refuses once part of the blob's events are stored.
    proxy.set_latency(Duration::from_millis(150));
    let sms_container = app.containers.sms.clone();
    let refuse_midway = async {
        let started = Instant::now();
        loop {
            if storage.blob_names(&sms_container).await.len() >= 8 {
                proxy.set(Mode::Refuse);
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "nothing was stored");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let (first, ()) = tokio::join!(app.post("RecoverDeadLetters", timer_body()), refuse_midway);
    assert_eq!(first.status, 500, "{:?}", first.body);
    assert!(
        first.body["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("not recovered {name}")),
        "{:?}",
        first.body
    );
    let stored_first = storage.blob_names(&sms_container).await.len();
    assert!(
        stored_first < events.len(),
        "the run was interrupted half-way ({stored_first} stored)"
    );
    assert!(
        !is_marked_recovered(&storage, &dl, &name).await,
        "not every event is stored: not marked"
    );

    // Storage is back; the command waits for the interrupted run's claim to end if it could not be
    // released, and completes the blob.
    proxy.set_latency(Duration::ZERO);
    proxy.set(Mode::Pass);
    let again = handler_recover(&app.containers, proxy.port, &[]).await;
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains(&format!("recovered {name}: 60 events")),
        "{}",
        again.stdout
    );
    let all = archive(&app).await;
    for event in &events {
        assert_eq!(copies(&all, event["id"].as_str().unwrap()), 1, "{}", event["id"]);
    }
    assert_eq!(count(&all), events.len());
    assert!(is_marked_recovered(&storage, &dl, &name).await);
    println!(
        "FIGURES interrupted: {} events dead-lettered, {stored_first} stored before storage refused, {} after the second run, doubled 0, lost 0",
        events.len(),
        count(&all)
    );
}

#[tokio::test]
async fn two_recoveries_racing_each_other_store_each_event_once_and_take_each_blob_once() {
    let azurite = shared_azurite();
    let proxy = Proxy::start(azurite).await;
    let mut app = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: vec![],
    })
    .await;
    app.storage_port = azurite;
    let storage = app.storage();
    let dl = app.containers.deadletter.clone();
    let mut events = vec![];
    let mut names = vec![];
    for blob in 0..8 {
        let batch: Vec<Value> = (0..3)
            .map(|i| sms(&format!("Incoming_race-{blob}-{i}")))
            .collect();
        let name = dead_letter_name("ACS-SMS", 9);
        let dead: Vec<Value> = batch.iter().map(dead_lettered).collect();
        storage
            .put_blob(&dl, &name, &serde_json::to_vec(&dead).unwrap(), &[])
            .await;
        events.extend(batch);
        names.push(name);
    }
    // Slow storage, so that the two runs overlap.
    proxy.set_latency(Duration::from_millis(20));
    let (timer, command) = tokio::join!(
        app.post("RecoverDeadLetters", timer_body()),
        handler_recover(&app.containers, proxy.port, &[])
    );
    assert_eq!(timer.status, 200, "{:?}", timer.body);
    assert_eq!(command.code, Some(0), "{}{}", command.stdout, command.stderr);
    let timer_logs = timer.logs().join("\n");
    let by_timer = lines_starting(&timer_logs, "recovered ");
    let by_command = lines_starting(&command.stdout, "recovered ");
    assert_eq!(
        by_timer + by_command,
        names.len(),
        "each blob is recovered by one run:\n{timer_logs}\n{}",
        command.stdout
    );
    let all = archive(&app).await;
    for event in &events {
        assert_eq!(copies(&all, event["id"].as_str().unwrap()), 1, "{}", event["id"]);
    }
    assert_eq!(count(&all), events.len());
    for name in &names {
        assert!(is_marked_recovered(&storage, &dl, name).await, "{name}");
    }
    println!(
        "FIGURES race: {} events in {} blobs, timer recovered {by_timer} blobs, command {by_command}, doubled 0, lost 0\n  timer: {}\n  command: {}",
        events.len(),
        names.len(),
        timer.logs().last().unwrap(),
        command.stdout.lines().last().unwrap()
    );
}

#[tokio::test]
async fn a_poison_dead_letter_blob_is_quarantined_with_its_own_kind_and_marked() {
    let app = spawn_app().await;
    let storage = app.storage();
    let dl = app.containers.deadletter.clone();
    let not_json = dead_letter_name("ACS-SMS", 9);
    let mixed = dead_letter_name("ACS-SMS", 9);
    storage
        .put_blob(&dl, &not_json, b"[{\"id\": \"cut off in the midd", &[])
        .await;
    let good = sms("Incoming_poison-neighbour");
    let elements = json!([42, {"not": "an event"}, dead_lettered(&good)]);
    storage
        .put_blob(&dl, &mixed, elements.to_string().as_bytes(), &[])
        .await;

    let run = app.post("RecoverDeadLetters", timer_body()).await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    let logs = run.logs().join("\n");
    assert!(logs.contains(&format!("recovered {not_json}: 0 events (0 archived, 0 already archived, 0 beside another event with the same id), 1 quarantined")), "{logs}");
    assert!(logs.contains(&format!("recovered {mixed}: 1 events (1 archived, 0 already archived, 0 beside another event with the same id), 2 quarantined")), "{logs}");

    let quarantine = storage.blobs(&app.containers.quarantine).await;
    let kinds: Vec<_> = quarantine
        .iter()
        .map(|b| b.name.split('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "deadLetterNotJson").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "deadLetterNotAnEvent").count(),
        2,
        "{kinds:?}"
    );
    let broken = quarantine
        .iter()
        .find(|b| b.name.starts_with("deadLetterNotJson/"))
        .unwrap();
    assert_eq!(broken.record["event"], "[{\"id\": \"cut off in the midd");
    assert_eq!(
        broken.record["fields"]["reason"],
        "a dead-letter blob that is not valid JSON"
    );
    assert_eq!(broken.metadata["deadletterblob"], format!("{dl}/{not_json}"));
    assert_eq!(copies(&archive(&app).await, "Incoming_poison-neighbour"), 1);
    for name in [&not_json, &mixed] {
        assert!(is_marked_recovered(&storage, &dl, name).await, "{name}");
    }
    assert_eq!(
        storage.blob(&dl, &mixed).await.metadata["recoveredquarantined"],
        "2"
    );

    let again = app.post("RecoverDeadLetters", timer_body()).await;
    assert_eq!(again.status, 200);
    assert_eq!(storage.blob_names(&app.containers.quarantine).await.len(), 3);
}

#[tokio::test]
async fn pretty_printed_and_key_reordered_redeliveries_through_the_host_are_duplicates() {
    let app = spawn_app().await;
    let storage = app.storage();
    let event = sms("Incoming_rendered-twice");
    let first = app.invoke("SmsEvents", &event).await;
    assert!(first.logs()[0].starts_with("archived "), "{:?}", first.logs());

    fn reordered(value: &Value) -> Value {
        match value {
            Value::Object(members) => Value::Object(
                members
                    .iter()
                    .rev()
                    .map(|(k, v)| (k.clone(), reordered(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let again = app.invoke("SmsEvents", &reordered(&event)).await;
    assert_eq!(again.status, 200);
    assert!(again.logs()[0].starts_with("duplicate "), "{:?}", again.logs());
    let pretty = format!(
        "{{\"Data\": {{\"event\": {}}}, \"Metadata\": {{}}}}",
        serde_json::to_string_pretty(&event).unwrap()
    );
    let again = app.post("SmsEvents", pretty.into_bytes()).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert!(again.logs()[0].starts_with("duplicate "), "{:?}", again.logs());
    assert_eq!(storage.blob_names(&app.containers.sms).await.len(), 1);

    // A record an earlier version wrote carries only the bytes hash: it is read to tell.
    let old = sms("Incoming_earlier-version");
    let record = prepare(&RawValue::from_string(old.to_string()).unwrap());
    storage
        .put_blob(
            &app.containers.sms,
            &record.blob_name,
            &record.body,
            &[
                ("contentsha256", &record.content_sha256),
                ("eventsha256", &record.event_sha256),
                ("archivedat", "2026-11-30T00:00:00Z"),
            ],
        )
        .await;
    let again = app.invoke("SmsEvents", &reordered(&old)).await;
    assert!(again.logs()[0].starts_with("duplicate "), "{:?}", again.logs());
    assert_eq!(storage.blob_names(&app.containers.sms).await.len(), 2);
}
