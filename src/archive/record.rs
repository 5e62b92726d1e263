//! The archive record: one JSON document per event, a pure function of what arrived.
//!
//! No arrival time or other ambient state goes into the bytes, so a redelivery produces the same
//! bytes and the same content hash; that is what makes redeliveries detectable (see `archive`).

use crate::archive::envelope::{Envelope, NotAnEvent, Schema};
use crate::archive::events::{known_type, Family, Fields};
use crate::archive::{identity, layout};
use serde::Serialize;
use serde_json::value::RawValue;

/// The record format version, bumped on any incompatible change to the record.
pub const ARCHIVE_VERSION: u32 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    archive_version: u32,
    family: Family,
    kind: &'a str,
    event_id: Option<&'a str>,
    event_type: Option<&'a str>,
    event_time: Option<&'a str>,
    source: Option<&'a str>,
    subject: Option<&'a str>,
    schema: Option<Schema>,
    fields: &'a Fields,
    event: &'a RawValue,
}

/// A record ready to be written: where, what, and what to say about it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub family: Family,
    pub kind: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub blob_name: String,
    pub body: Vec<u8>,
    /// SHA-256 of the record bytes (blob integrity).
    pub content_sha256: String,
    /// SHA-256 of the event text as it arrived: what tells a redelivery from a different event with
    /// the same id. It is independent of how this version projects the event, so a redelivery is still
    /// recognised after an upgrade changes `fields`.
    pub event_sha256: String,
    /// SHA-256 of the event's canonical form (RFC 8785, dead-letter delivery properties left out, see
    /// [`super::identity`]): what recognises the same event in other bytes (a dead-letter copy, a
    /// re-serialised redelivery). Computed once here.
    pub event_canonical_sha256: String,
    /// Further metadata written with the blob (what a dead-letter blob said about the event).
    pub metadata: Vec<(&'static str, String)>,
    /// The `x-ms-tags` header value.
    pub tags: String,
    /// Why it was quarantined, for the log.
    pub quarantine_reason: Option<&'static str>,
}

/// Builds the record of one JSON value that arrived as an event.
pub fn prepare(raw: &RawValue) -> Prepared {
    match Envelope::parse(raw) {
        Ok(envelope) => prepare_event(raw, &envelope),
        Err(why) => prepare_quarantine(raw, why),
    }
}

/// Builds the record of a string that arrived as an event but does not hold JSON.
pub fn prepare_unparseable(text: &str) -> Prepared {
    let as_json = serde_json::to_string(text).expect("a string always serialises");
    let raw = RawValue::from_string(as_json).expect("a serialised string is valid JSON");
    prepare_quarantine(&raw, NotAnEvent::NotJson)
}

fn prepare_event(raw: &RawValue, e: &Envelope<'_>) -> Prepared {
    let (family, kind, fields) = match known_type(&e.event_type) {
        Some(known) => (
            known.family,
            known.kind.to_owned(),
            Fields::project(known, e.data),
        ),
        None => (
            Family::Other,
            layout::encode_segment(&e.event_type.to_ascii_lowercase()),
            Fields::Empty,
        ),
    };
    let record = Record {
        archive_version: ARCHIVE_VERSION,
        family,
        kind: &kind,
        event_id: Some(&e.id),
        event_type: Some(&e.event_type),
        event_time: e.time.as_deref(),
        source: e.source.as_deref(),
        subject: e.subject.as_deref(),
        schema: Some(e.schema),
        fields: &fields,
        event: raw,
    };
    let body = serde_json::to_vec(&record).expect("records always serialise");
    let mut tags = vec![("family", family.as_str()), ("kind", kind.as_str())];
    tags.extend(fields.message_id().map(|id| ("messageId", id)));
    tags.extend(fields.thread_id().map(|id| ("threadId", id)));
    Prepared {
        family,
        blob_name: layout::event_blob_name(&kind, e.time.as_deref(), &e.id),
        content_sha256: layout::sha256_hex(&body),
        event_sha256: layout::sha256_hex(raw.get().as_bytes()),
        event_canonical_sha256: identity::canonical_sha256(raw.get()),
        metadata: vec![],
        tags: layout::tags_header(&tags),
        body,
        kind,
        event_id: Some(e.id.clone()),
        event_type: Some(e.event_type.clone()),
        quarantine_reason: None,
    }
}

/// Builds the quarantine record of a value that is not a usable event, for `why`.
pub fn prepare_quarantine(raw: &RawValue, why: NotAnEvent) -> Prepared {
    let kind = why.kind();
    let fields = Fields::Quarantine { reason: why.reason() };
    let record = Record {
        archive_version: ARCHIVE_VERSION,
        family: Family::Quarantine,
        kind,
        event_id: None,
        event_type: None,
        event_time: None,
        source: None,
        subject: None,
        schema: None,
        fields: &fields,
        event: raw,
    };
    let body = serde_json::to_vec(&record).expect("records always serialise");
    Prepared {
        family: Family::Quarantine,
        kind: kind.to_owned(),
        event_id: None,
        event_type: None,
        blob_name: layout::quarantine_blob_name(kind, raw.get().as_bytes()),
        content_sha256: layout::sha256_hex(&body),
        event_sha256: layout::sha256_hex(raw.get().as_bytes()),
        event_canonical_sha256: identity::canonical_sha256(raw.get()),
        metadata: vec![],
        tags: layout::tags_header(&[("family", "quarantine"), ("kind", kind)]),
        body,
        quarantine_reason: Some(why.reason()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn record(event: &str) -> (Prepared, Value) {
        let raw = RawValue::from_string(event.to_owned()).unwrap();
        let p = prepare(&raw);
        let v = serde_json::from_slice(&p.body).unwrap();
        (p, v)
    }

    #[test]
    fn record_keeps_the_event_verbatim_and_is_reproducible() {
        let event = r#"{"id":"x1", "eventType":"Microsoft.Communication.SMSReceived","eventTime":"2020-09-18T00:27:47Z","data":{"From":"1555","brandNew":true}}"#;
        let (p, v) = record(event);
        assert!(String::from_utf8(p.body.clone())
            .unwrap()
            .ends_with(&format!(r#""event":{event}}}"#)));
        assert_eq!(v["archiveVersion"], 1);
        assert_eq!(v["family"], "sms");
        assert_eq!(v["kind"], "smsReceived");
        assert_eq!(v["schema"], "eventGrid");
        assert_eq!(v["fields"], json!({"from": "1555"}));
        assert_eq!(p.blob_name, "smsReceived/2020/09/18/00/x1.json");
        assert_eq!(record(event).0.body, p.body);
    }

    #[test]
    fn unmodelled_type_is_archived_as_other_by_its_lower_cased_type() {
        let (p, v) = record(
            r#"{"id":"b","eventType":"Microsoft.Storage.BlobCreated","eventTime":"2017-06-26T18:41:00.9584103Z","data":{}}"#,
        );
        assert_eq!(p.family, Family::Other);
        assert_eq!(v["kind"], "microsoft.storage.blobcreated");
        assert_eq!(v["fields"], json!({}));
        assert_eq!(p.blob_name, "microsoft.storage.blobcreated/2017/06/26/18/b.json");
    }

    #[test]
    fn quarantine_keeps_what_arrived_and_names_it_by_hash() {
        let (p, v) = record("[1,2]");
        assert_eq!(p.family, Family::Quarantine);
        assert_eq!(v["kind"], "notAnObject");
        assert_eq!(v["event"], json!([1, 2]));
        assert_eq!(v["fields"]["reason"], "not a JSON object");
        assert!(
            p.blob_name.starts_with("notAnObject/") && p.blob_name.len() == "notAnObject/".len() + 64 + 5
        );

        let q = prepare_unparseable("not { json");
        let v: Value = serde_json::from_slice(&q.body).unwrap();
        assert_eq!(v["event"], "not { json");
        assert_eq!(v["kind"], "notJson");
    }

    #[test]
    fn tags_carry_family_kind_and_main_ids() {
        let (p, _) = record(
            r#"{"id":"c","eventType":"Microsoft.Communication.ChatMessageReceivedInThread","data":{"messageId":"16","threadId":"19:a@thread.v2"}}"#,
        );
        assert_eq!(
            p.tags,
            "family=chat&kind=chatMessageReceivedInThread&messageId=16&threadId=19%3Aa%3D40thread.v2"
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::host::protocol::prepare_event_value;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::hash_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Objects that look like events, with every envelope field drawn from arbitrary JSON.
    fn event_like() -> impl Strategy<Value = Value> {
        let event_type = prop_oneof![
            Just(json!("Microsoft.Communication.SMSReceived")),
            Just(json!("Microsoft.Communication.ChatThreadCreatedWithUser")),
            Just(json!("Microsoft.Communication.ChatMemberAddedToThreadWithUser")),
            Just(json!("Microsoft.Communication.AdvancedMessageAnalysisCompleted")),
            any_json(),
        ];
        (any_json(), event_type, any_json(), any_json(), any::<bool>()).prop_map(|(id, t, time, data, cloud)| {
            if cloud {
                json!({"specversion": "1.0", "id": id, "type": t, "time": time, "source": "/s", "data": data})
            } else {
                json!({"id": id, "eventType": t, "eventTime": time, "topic": "/t", "data": data})
            }
        })
    }

    fn assert_well_formed(p: &Prepared) {
        assert!(p.blob_name.len() <= 1024, "{}", p.blob_name);
        assert!(
            p.blob_name.starts_with(&format!("{}/", p.kind)),
            "{}",
            p.blob_name
        );
        for segment in p.blob_name.split('/') {
            assert!(!segment.is_empty() && segment != "." && segment != ".." && !segment.ends_with('.'));
            assert!(
                segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)),
                "{segment}"
            );
        }
        let record: Value = serde_json::from_slice(&p.body).expect("records are JSON");
        assert_eq!(record["family"], json!(p.family));
        assert_eq!(layout::sha256_hex(&p.body), p.content_sha256);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_json_value_becomes_well_formed_records(value in any_json()) {
            let raw = RawValue::from_string(value.to_string()).unwrap();
            for p in prepare_event_value(&raw) {
                assert_well_formed(&p);
            }
        }

        #[test]
        fn any_event_like_object_is_named_inside_its_prefix_and_reproducibly(event in event_like()) {
            let raw = RawValue::from_string(event.to_string()).unwrap();
            let first = prepare(&raw);
            assert_well_formed(&first);
            let again = prepare(&raw);
            prop_assert_eq!(&first.blob_name, &again.blob_name);
            prop_assert_eq!(&first.body, &again.body);
        }

        #[test]
        fn any_string_delivered_as_the_event_is_kept(text in any::<String>()) {
            let raw = RawValue::from_string(Value::String(text).to_string()).unwrap();
            for p in prepare_event_value(&raw) {
                assert_well_formed(&p);
            }
        }
    }
}
