//! What makes two deliveries the same event: its content, not its bytes.
//!
//! Event Grid re-serialises events when it dead-letters them (other key order, other whitespace) and
//! adds its delivery properties at their top level, so the bytes of the same event differ between a
//! direct delivery and its dead-letter copy. The canonical hash is the SHA-256 of the event's RFC 8785
//! (JSON Canonicalization Scheme) form with those delivery properties left out: equal for every
//! rendering of one event, different as soon as any value differs.
//!
//! The form is written in one pass over the event's text (no `Value` tree, no second buffer per
//! object), because every event pays for it: members sorted by their UTF-16 code units, strings
//! escaped as RFC 8785 says (as `serde_json` does), numbers in ECMAScript form (`ryu-js`, the
//! formatter RFC 8785 implementations use), so `1.0`, `1` and `1e0` are the same number. One
//! deliberate difference: integers beyond a double's exact range (±2^53) keep all their digits instead
//! of being rounded to a double, so two events that differ only there never collide. The tests check
//! the output against `serde_json_canonicalizer`, a complete RFC 8785 implementation.

use super::envelope::JsonKey;
use super::layout::sha256_hex;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::ops::Range;

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
    match canonical_json(json) {
        Some(canonical) => sha256_hex(&canonical),
        None => sha256_hex(json.as_bytes()),
    }
}

/// The canonical form itself, delivery properties left out; `None` when the text is not JSON.
pub fn canonical_json(json: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(json.len());
    let mut deserializer = serde_json::Deserializer::from_str(json);
    Canonical {
        out: &mut out,
        top: true,
    }
    .deserialize(&mut deserializer)
    .ok()?;
    deserializer.end().ok()?;
    Some(out)
}

/// Writes the canonical form of the value it deserialises; `top` leaves out delivery properties.
struct Canonical<'a> {
    out: &'a mut Vec<u8>,
    top: bool,
}

impl<'de> DeserializeSeed<'de> for Canonical<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("writing to a Vec cannot fail");
}

/// The largest integer a double holds exactly.
const EXACT_IN_A_DOUBLE: u64 = 1 << 53;

impl<'de> Visitor<'de> for Canonical<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_bool<E>(self, value: bool) -> Result<(), E> {
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_u64<E>(self, value: u64) -> Result<(), E> {
        // Exact integers print the same as their double; larger ones keep their digits.
        let _ = write!(self.out, "{value}");
        Ok(())
    }

    fn visit_i64<E>(self, value: i64) -> Result<(), E> {
        let _ = write!(self.out, "{value}");
        Ok(())
    }

    fn visit_f64<E>(self, value: f64) -> Result<(), E> {
        if value == 0.0 {
            // -0 prints as 0 in ECMAScript.
            self.out.push(b'0');
        } else if value.fract() == 0.0 && value.abs() <= EXACT_IN_A_DOUBLE as f64 {
            // An integral double prints as that integer: the same as the integer's own form.
            let _ = write!(self.out, "{}", value as i64);
        } else {
            self.out
                .extend_from_slice(ryu_js::Buffer::new().format_finite(value).as_bytes());
        }
        Ok(())
    }

    fn visit_str<E>(self, value: &str) -> Result<(), E> {
        write_string(self.out, value);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(b',');
            }
            let element = Canonical {
                out: &mut *self.out,
                top: false,
            };
            if seq.next_element_seed(element)?.is_none() {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Values are written where the object will go, in arrival order, and then moved once into
        // key order: one buffer per object rather than one per member, keys borrowed from the text.
        let start = self.out.len();
        let mut members: Vec<Member<'de>> = Vec::with_capacity(16);
        while let Some(JsonKey(key)) = map.next_key()? {
            if self.top && is_delivery_property(&key) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let from = self.out.len();
            map.next_value_seed(Canonical {
                out: &mut *self.out,
                top: false,
            })?;
            members.push(Member {
                bytewise: sorts_bytewise(&key),
                key,
                value: from..self.out.len(),
            });
        }
        // By UTF-16 code units (RFC 8785). The sort is stable, so of duplicate keys the last is the
        // one kept below, as parsers do.
        members.sort_by(|a, b| {
            if a.bytewise && b.bytewise {
                a.key.cmp(&b.key)
            } else {
                a.key.encode_utf16().cmp(b.key.encode_utf16())
            }
        });
        let values = self.out.split_off(start);
        self.out.push(b'{');
        let mut first = true;
        for (i, Member { key, value, .. }) in members.iter().enumerate() {
            if members.get(i + 1).is_some_and(|next| next.key == *key) {
                continue;
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            write_string(self.out, key);
            self.out.push(b':');
            self.out
                .extend_from_slice(&values[value.start - start..value.end - start]);
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// One member of an object being written: its key and where its canonical value is.
struct Member<'a> {
    key: Cow<'a, str>,
    /// Whether UTF-16 order is byte order for this key, see [`sorts_bytewise`].
    bytewise: bool,
    value: Range<usize>,
}

/// UTF-16 code unit order is the byte order of UTF-8 except between characters above U+FFFF (UTF-8
/// lead bytes F0-F4) and those of U+E000-U+FFFF (lead bytes EE, EF): keys without those bytes, nearly
/// all of them, are compared as bytes. Decided once per key, not per comparison.
fn sorts_bytewise(key: &str) -> bool {
    key.bytes().all(|b| b < 0xEE)
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

    /// The reference: a complete RFC 8785 implementation, over a parsed value.
    fn reference(json: &str) -> Vec<u8> {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        serde_json_canonicalizer::to_vec(&value).unwrap()
    }

    #[test]
    fn the_canonical_form_is_rfc_8785() {
        for json in [
            EVENT,
            r#"{"b":[1,2.5,-0.0,1e21,1E-7,0.000001,123.456e5,-1.5e300],"a":{"z":null,"y":true,"x":false}}"#,
            r#"{"\u20ac":1,"\r":2,"1":3,"\ud83d\ude00":4,"\ue000":5,"\u0080":6,"a\u0000b":"\u001f\t\"\\/\u007f"}"#,
            r#"[[],{},"",0,-1,9007199254740992,-9007199254740992,[{"k":[]}]]"#,
            "  \"just a string\"  ",
        ] {
            assert_eq!(
                String::from_utf8(canonical_json(json).unwrap()).unwrap(),
                String::from_utf8(reference(json)).unwrap(),
                "{json}"
            );
        }
    }

    #[test]
    fn every_sample_event_has_the_rfc_8785_form() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                continue;
            }
            assert_eq!(
                canonical_json(&text).unwrap(),
                reference(&text),
                "{}",
                path.display()
            );
            checked += 1;
        }
        assert!(checked > 60, "{checked}");
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_as_parsers_do() {
        assert_eq!(
            canonical_json(r#"{"a":1,"b":0,"a":2}"#).unwrap(),
            br#"{"a":2,"b":0}"#
        );
    }

    #[test]
    fn text_that_is_not_json_hashes_as_its_bytes() {
        assert_eq!(canonical_sha256("not { json"), sha256_hex(b"not { json"));
        let deep = "[".repeat(2000) + &"]".repeat(2000);
        assert_eq!(canonical_sha256(&deep), sha256_hex(deep.as_bytes()));
    }
}
