//! What makes two deliveries the same event: its content, not its bytes.
//!
//! Event Grid re-serialises events when it dead-letters them (other key order, other whitespace) and
//! adds its delivery properties at their top level, so the bytes of the same event differ between a
//! direct delivery and its dead-letter copy. The canonical hash is the SHA-256 of the event's RFC 8785
//! (JSON Canonicalization Scheme) form with those delivery properties left out: equal for every
//! rendering of one event, different as soon as any value differs.
//!
//! RFC 8785 writes every number as a double, so `1.0` and `1` are the same number. Integers beyond a
//! double's exact range (±2^53) would lose digits that way and two different events could collide:
//! they are kept whole, as a tagged string (starting with NUL) that no real event holds.

use super::layout::sha256_hex;
use serde_json::Value;

/// What Event Grid adds to each event it dead-letters, Event Grid schema.
pub const EVENT_GRID_DELIVERY_PROPERTIES: [&str; 6] = [
    "deadLetterReason",
    "deliveryAttempts",
    "lastDeliveryOutcome",
    "lastHttpStatusCode",
    "publishTime",
    "lastDeliveryAttemptTime",
];

/// The same, as CloudEvents 1.0 extension attributes (lower case).
pub const CLOUD_EVENTS_DELIVERY_PROPERTIES: [&str; 6] = [
    "deadletterreason",
    "deliveryattempts",
    "lastdeliveryoutcome",
    "lasthttpstatuscode",
    "publishtime",
    "lastdeliveryattempttime",
];

/// Whether a top-level key is a dead-letter delivery property. Both spellings are matched whatever
/// the event's schema: neither is a legitimate top-level key of the other schema (Event Grid's
/// top-level keys are fixed; CloudEvents attribute names are lower case), so this needs no schema
/// detection and cannot drop a real attribute.
pub fn is_delivery_property(key: &str) -> bool {
    EVENT_GRID_DELIVERY_PROPERTIES.contains(&key) || CLOUD_EVENTS_DELIVERY_PROPERTIES.contains(&key)
}

/// The canonical hash of an event given as JSON text (see the module documentation). Text that does
/// not parse as JSON (or nests deeper than the parser allows) hashes as its bytes: it can only ever
/// equal itself.
pub fn canonical_sha256(json: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(json) else {
        return sha256_hex(json.as_bytes());
    };
    if let Value::Object(members) = &mut value {
        members.retain(|key, _| !is_delivery_property(key));
    }
    keep_large_integers_whole(&mut value);
    match serde_json_canonicalizer::to_vec(&value) {
        Ok(canonical) => sha256_hex(&canonical),
        Err(_) => sha256_hex(json.as_bytes()),
    }
}

/// The largest integer a double holds exactly.
const EXACT_IN_A_DOUBLE: u64 = 1 << 53;

fn keep_large_integers_whole(value: &mut Value) {
    match value {
        Value::Number(n) => {
            let large = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u > EXACT_IN_A_DOUBLE,
                (None, Some(i)) => i.unsigned_abs() > EXACT_IN_A_DOUBLE,
                (None, None) => false,
            };
            if large {
                // Only a string that starts with an escaped NUL could equal this: no event has one.
                *value = Value::String(format!("\0integer:{n}"));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(keep_large_integers_whole),
        Value::Object(members) => members.values_mut().for_each(keep_large_integers_whole),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"id":"m1","topic":"/t","subject":"/phonenumber/1","data":{"messageId":"m1","message":"héllo","segmentCount":1,"deliveryAttempts":[{"n":1}]},"eventType":"Microsoft.Communication.SMSReceived","dataVersion":"1.0","metadataVersion":"1","eventTime":"2024-05-01T12:00:01Z"}"#;

    #[test]
    fn key_order_and_whitespace_do_not_change_the_canonical_hash() {
        let reordered = r#"{
            "eventTime": "2024-05-01T12:00:01Z", "eventType": "Microsoft.Communication.SMSReceived",
            "data": { "segmentCount": 1.0, "deliveryAttempts": [ { "n": 1 } ], "message": "h\u00e9llo", "messageId": "m1" },
            "subject": "/phonenumber/1", "metadataVersion": "1", "dataVersion": "1.0", "topic": "/t", "id": "m1"
        }"#;
        assert_eq!(canonical_sha256(reordered), canonical_sha256(EVENT));
    }

    #[test]
    fn dead_letter_properties_are_left_out_in_either_schema() {
        let event_grid = EVENT.replacen(
            '{',
            r#"{"deadLetterReason":"MaxDeliveryAttemptsExceeded","deliveryAttempts":30,"lastDeliveryOutcome":"Probation","lastHttpStatusCode":500,"publishTime":"2024-05-01T12:00:02Z","lastDeliveryAttemptTime":"2024-05-02T12:00:00Z","#,
            1,
        );
        assert_eq!(canonical_sha256(&event_grid), canonical_sha256(EVENT));
        let cloud = r#"{"specversion":"1.0","id":"c1","type":"T","source":"/s","data":{"a":1}}"#;
        let dead_lettered = r#"{"deadletterreason":"TimeToLiveExceeded","deliveryattempts":3,"lastdeliveryoutcome":"TimedOut","lasthttpstatuscode":503,"publishtime":"x","lastdeliveryattempttime":"y","data":{"a":1},"source":"/s","type":"T","id":"c1","specversion":"1.0"}"#;
        assert_eq!(canonical_sha256(dead_lettered), canonical_sha256(cloud));
    }

    #[test]
    fn delivery_properties_inside_data_are_content() {
        // An SMS delivery report has its own `deliveryAttempts` in `data`: that one is the event's.
        let other = EVENT.replace(r#"[{"n":1}]"#, r#"[{"n":2}]"#);
        assert_ne!(canonical_sha256(&other), canonical_sha256(EVENT));
    }

    #[test]
    fn any_other_difference_is_a_different_event() {
        assert_ne!(
            canonical_sha256(&EVENT.replace("héllo", "hello")),
            canonical_sha256(EVENT)
        );
        assert_ne!(
            canonical_sha256(&EVENT.replace(r#""segmentCount":1"#, r#""segmentCount":"1""#)),
            canonical_sha256(EVENT)
        );
        // Integers beyond a double's precision keep every digit.
        assert_ne!(
            canonical_sha256(r#"{"n":12345678901234567890}"#),
            canonical_sha256(r#"{"n":12345678901234567891}"#)
        );
    }

    #[test]
    fn text_that_is_not_json_hashes_as_its_bytes() {
        assert_eq!(canonical_sha256("not { json"), sha256_hex(b"not { json"));
        let deep = "[".repeat(2000) + &"]".repeat(2000);
        assert_eq!(canonical_sha256(&deep), sha256_hex(deep.as_bytes()));
    }
}
