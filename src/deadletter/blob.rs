//! One dead-letter blob → the records of its events, as a direct delivery would have made them.
//!
//! Event Grid writes a JSON array of the events it gave up on, each with its delivery properties
//! added at its top level (`deadLetterReason`, … in the Event Grid schema, `deadletterreason`, … in
//! CloudEvents); namespace topics write `{"event":…,"deadletterProperties":{…}}` objects instead. Each
//! event is archived without those properties (so under the name, and with the record, of a direct
//! delivery, apart from `event` holding the blob's rendering of it), and what they said goes into the
//! archived blob's metadata. What is not an event is quarantined with its own kind.

use crate::archive::envelope::NotAnEvent;
use crate::archive::events::Family;
use crate::archive::identity::{
    is_delivery_property, CLOUD_EVENTS_DELIVERY_PROPERTIES, EVENT_GRID_DELIVERY_PROPERTIES,
};
use crate::archive::record::{prepare, prepare_quarantine, Prepared};
use crate::storage::metadata_value;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// Metadata key of a recovered record: the dead-letter blob it came from (`container/name`).
pub const META_DEADLETTER_BLOB: &str = "deadletterblob";

/// What a dead-letter blob holds, ready for `ingest`.
#[derive(Debug)]
pub struct Contents {
    pub records: Vec<Prepared>,
    /// How many of `records` are events (the rest are quarantined).
    pub events: usize,
}

impl Contents {
    pub fn quarantined(&self) -> usize {
        self.records.len() - self.events
    }
}

/// The records of a dead-letter blob's bytes; `source` (`container/name`) is kept in their metadata.
pub fn contents(bytes: &[u8], source: &str) -> Contents {
    let records = match serde_json::from_slice::<Box<RawValue>>(bytes) {
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            let as_json = serde_json::to_string(&text).expect("a string always serialises");
            let raw = RawValue::from_string(as_json).expect("a serialised string is valid JSON");
            vec![prepare_quarantine(&raw, NotAnEvent::DeadLetterNotJson)]
        }
        Ok(whole) => match serde_json::from_str::<Vec<&RawValue>>(whole.get()) {
            Ok(elements) => elements.into_iter().map(element).collect(),
            // Event Grid writes arrays; a single object is read as a one-element one.
            Err(_) => vec![element(&whole)],
        },
    };
    let mut records = records;
    let source = metadata_value(source);
    for record in &mut records {
        record.metadata.push((META_DEADLETTER_BLOB, source.clone()));
    }
    let events = records.iter().filter(|r| r.family != Family::Quarantine).count();
    Contents { records, events }
}

/// The record of one element of the array.
fn element(raw: &RawValue) -> Prepared {
    let not_an_event = || prepare_quarantine(raw, NotAnEvent::DeadLetterNotAnEvent);
    let Some(top) = members(raw) else {
        return not_an_event();
    };
    let key = |k: &str| top.iter().find(|(name, _)| name == k).map(|(_, v)| *v);
    let is_event = key("eventType").is_some() || key("type").is_some();
    let (event, mut facts) = match (key("event"), key("deadletterProperties")) {
        // A namespace topic's form: the event, and its delivery properties beside it.
        (Some(event), Some(properties)) if !is_event => {
            let Some(inner) = members(event) else {
                return not_an_event();
            };
            let (event, mut facts) = without_delivery_properties(&inner);
            facts.extend(namespace_facts(properties));
            (event, facts)
        }
        _ => without_delivery_properties(&top),
    };
    let mut record = prepare(&event);
    if record.family == Family::Quarantine {
        return not_an_event();
    }
    facts.dedup_by_key(|(k, _)| *k);
    record.metadata = facts;
    record
}

/// The event without its delivery properties (every other member as the blob has it, in its order),
/// and what those properties said, as metadata.
pub fn without_delivery_properties(
    members: &[(String, &RawValue)],
) -> (Box<RawValue>, Vec<(&'static str, String)>) {
    let mut text = String::with_capacity(members.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum());
    let mut facts = vec![];
    text.push('{');
    for (key, value) in members {
        if is_delivery_property(key) {
            if let Some(meta) = metadata_key(key) {
                facts.push((meta, fact(value)));
            }
            continue;
        }
        if text.len() > 1 {
            text.push(',');
        }
        text.push_str(&serde_json::to_string(key).expect("a string always serialises"));
        text.push(':');
        text.push_str(value.get());
    }
    text.push('}');
    let event = RawValue::from_string(text).expect("members of a JSON object make a JSON object");
    (event, facts)
}

/// The metadata key for a delivery property: its lower-case (CloudEvents) spelling.
fn metadata_key(property: &str) -> Option<&'static str> {
    EVENT_GRID_DELIVERY_PROPERTIES
        .iter()
        .position(|p| *p == property)
        .or_else(|| {
            CLOUD_EVENTS_DELIVERY_PROPERTIES
                .iter()
                .position(|p| *p == property)
        })
        .map(|i| CLOUD_EVENTS_DELIVERY_PROPERTIES[i])
}

/// A namespace topic's `deadletterProperties`, under the same metadata keys as the others.
fn namespace_facts(properties: &RawValue) -> Vec<(&'static str, String)> {
    let Some(members) = members(properties) else {
        return vec![];
    };
    members
        .iter()
        .filter_map(|(key, value)| {
            let meta = match key.to_ascii_lowercase().as_str() {
                "deadletterreason" => "deadletterreason",
                "deliveryattempts" => "deliveryattempts",
                "deliveryresult" => "lastdeliveryoutcome",
                "publishutc" => "publishtime",
                "deliveryattemptutc" => "lastdeliveryattempttime",
                _ => return None,
            };
            Some((meta, fact(value)))
        })
        .collect()
}

/// A property's value as metadata: a string as its text, anything else as its JSON.
fn fact(value: &RawValue) -> String {
    let text = serde_json::from_str::<String>(value.get()).unwrap_or_else(|_| value.get().to_owned());
    metadata_value(&text)
}

/// An object's members in their order (duplicates kept), or `None` when it is not an object.
pub fn members(raw: &RawValue) -> Option<Vec<(String, &RawValue)>> {
    struct Members<'a>(Vec<(String, &'a RawValue)>);
    impl<'de> serde::Deserialize<'de> for Members<'de> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct InOrder;
            impl<'de> Visitor<'de> for InOrder {
                type Value = Members<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut members = vec![];
                    while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                        members.push(member);
                    }
                    Ok(Members(members))
                }
            }
            deserializer.deserialize_map(InOrder)
        }
    }
    serde_json::from_str::<Members<'_>>(raw.get()).ok().map(|m| m.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::layout::sha256_hex;
    use serde_json::{json, Value};

    const DIRECT: &str = r#"{"id":"Incoming_1","topic":"/t","subject":"/phonenumber/1","data":{"messageId":"Incoming_1","from":"1","to":"2","message":"hi","deliveryAttempts":[]},"eventType":"Microsoft.Communication.SMSReceived","dataVersion":"1.0","metadataVersion":"1","eventTime":"2026-12-01T09:00:00Z"}"#;

    fn direct() -> Prepared {
        prepare(&RawValue::from_string(DIRECT.to_owned()).unwrap())
    }

    fn record(p: &Prepared) -> Value {
        serde_json::from_slice(&p.body).unwrap()
    }

    #[test]
    fn an_event_grid_dead_letter_event_is_archived_as_its_direct_delivery_with_the_facts_in_metadata() {
        let blob = r#"[ {
            "eventTime": "2026-12-01T09:00:00Z", "metadataVersion": "1", "dataVersion": "1.0",
            "eventType": "Microsoft.Communication.SMSReceived",
            "deadLetterReason": "MaxDeliveryAttemptsExceeded", "deliveryAttempts": 30,
            "lastDeliveryOutcome": "Probation", "lastHttpStatusCode": 500,
            "publishTime": "2026-12-01T09:00:00.1Z", "lastDeliveryAttemptTime": "2026-12-02T08:59:00Z",
            "data": { "deliveryAttempts": [], "message": "hi", "to": "2", "from": "1", "messageId": "Incoming_1" },
            "subject": "/phonenumber/1", "topic": "/t", "id": "Incoming_1" } ]"#;
        let contents = contents(blob.as_bytes(), "acs-deadletter/ACS-SMS/2026/12/1/9/g.json");
        assert_eq!((contents.events, contents.quarantined()), (1, 0));
        let recovered = &contents.records[0];
        let direct = direct();
        assert_eq!(recovered.blob_name, direct.blob_name);
        assert_eq!(recovered.event_canonical_sha256, direct.event_canonical_sha256);
        assert_ne!(recovered.event_sha256, direct.event_sha256);
        let (mut got, mut want) = (record(recovered), record(&direct));
        // The event as the blob has it, its delivery properties left out (its own `deliveryAttempts`
        // inside `data` stays); the rest of the record is the direct delivery's.
        let event = got["event"].take();
        assert!(event.get("deadLetterReason").is_none() && event.get("deliveryAttempts").is_none());
        assert_eq!(event["data"]["deliveryAttempts"], json!([]));
        assert_eq!(event, want["event"].take());
        assert_eq!(got, want);
        let text = String::from_utf8(recovered.body.clone()).unwrap();
        assert!(text.contains(r#""event":{"eventTime":"2026-12-01T09:00:00Z","metadataVersion":"1""#));
        assert_eq!(
            recovered.metadata,
            [
                ("deadletterreason", "MaxDeliveryAttemptsExceeded".to_owned()),
                ("deliveryattempts", "30".to_owned()),
                ("lastdeliveryoutcome", "Probation".to_owned()),
                ("lasthttpstatuscode", "500".to_owned()),
                ("publishtime", "2026-12-01T09:00:00.1Z".to_owned()),
                ("lastdeliveryattempttime", "2026-12-02T08:59:00Z".to_owned()),
                (
                    META_DEADLETTER_BLOB,
                    "acs-deadletter/ACS-SMS/2026/12/1/9/g.json".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn cloud_events_and_namespace_forms_lose_their_delivery_properties_too() {
        let cloud = r#"{"specversion":"1.0","id":"c1","type":"Microsoft.Communication.SMSReceived","source":"/s","time":"2026-12-01T09:00:00Z","data":{"message":"x"}}"#;
        let direct = prepare(&RawValue::from_string(cloud.to_owned()).unwrap());
        let blob = json!([
            {"deadletterreason": "TimeToLiveExceeded", "deliveryattempts": 4, "lastdeliveryoutcome": "TimedOut",
             "lasthttpstatuscode": 0, "publishtime": "p", "lastdeliveryattempttime": "l",
             "data": {"message": "x"}, "time": "2026-12-01T09:00:00Z", "source": "/s",
             "type": "Microsoft.Communication.SMSReceived", "id": "c1", "specversion": "1.0"},
            {"event": serde_json::from_str::<Value>(cloud).unwrap(), "customDeliveryProperties": {"h": "v"},
             "deadletterProperties": {"deadletterreason": "MaxDeliveryAttemptsExceeded", "deliveryattempts": 10,
               "deliveryresult": "Forbidden", "publishutc": "2026-12-01T09:00:00Z", "deliveryattemptutc": "2026-12-01T10:00:00Z"}}
        ]);
        let contents = contents(blob.to_string().as_bytes(), "dl/x.json");
        assert_eq!(contents.events, 2);
        for recovered in &contents.records {
            assert_eq!(recovered.blob_name, direct.blob_name);
            assert_eq!(recovered.event_canonical_sha256, direct.event_canonical_sha256);
        }
        // The namespace form keeps the event's bytes exactly.
        assert_eq!(contents.records[1].event_sha256, direct.event_sha256);
        assert_eq!(
            contents.records[1].metadata[2],
            ("lastdeliveryoutcome", "Forbidden".to_owned())
        );
        assert_eq!(
            contents.records[0].metadata[0],
            ("deadletterreason", "TimeToLiveExceeded".to_owned())
        );
    }

    #[test]
    fn what_is_not_json_or_not_an_event_is_quarantined_with_its_own_kind() {
        let broken = contents(b"[{\"id\": truncated", "dl/broken.json");
        assert_eq!((broken.events, broken.quarantined()), (0, 1));
        let q = &broken.records[0];
        assert_eq!(q.kind, "deadLetterNotJson");
        assert_eq!(record(q)["event"], "[{\"id\": truncated");
        assert_eq!(q.metadata, [(META_DEADLETTER_BLOB, "dl/broken.json".to_owned())]);

        let mixed = contents(
            br#"[42, {"no":"type"}, {"event": 1, "deadletterProperties": {}}, "#
                .iter()
                .chain(DIRECT.as_bytes())
                .chain(b"]")
                .copied()
                .collect::<Vec<_>>()
                .as_slice(),
            "dl/mixed.json",
        );
        assert_eq!((mixed.events, mixed.quarantined()), (1, 3));
        let kinds: Vec<_> = mixed.records.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "deadLetterNotAnEvent",
                "deadLetterNotAnEvent",
                "deadLetterNotAnEvent",
                "smsReceived"
            ]
        );
        assert_eq!(
            mixed.records[0].blob_name,
            format!("deadLetterNotAnEvent/{}.json", sha256_hex(b"42"))
        );
    }

    #[test]
    fn an_empty_array_holds_nothing_to_recover() {
        let empty = contents(b" [ ] ", "dl/empty.json");
        assert!(empty.records.is_empty());
    }
}
