//! Event Grid and CloudEvents envelopes.
//!
//! Detection follows the rule that holds on the whole reference corpus: an object with `eventType` is
//! an Event Grid event; otherwise one with `type` is a CloudEvent (`specversion`, its non-standard
//! `specVersion` spelling and extra top-level keys are all accepted). Anything else is not a usable
//! event and is quarantined with the reason.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Which envelope an event arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Schema {
    #[serde(rename = "eventGrid")]
    EventGrid,
    #[serde(rename = "cloudEvents")]
    CloudEvents,
}

/// The envelope fields of one event, borrowing `data` from the raw event text.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub schema: Schema,
    pub id: String,
    pub event_type: String,
    pub time: Option<String>,
    pub source: Option<String>,
    pub subject: Option<String>,
    pub data: Option<&'a RawValue>,
}

/// Why an input is not a usable event. The name is the quarantine `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotAnEvent {
    #[error("not valid JSON")]
    NotJson,
    #[error("not a JSON object")]
    NotAnObject,
    #[error("event has no id")]
    NoId,
    #[error("event has no type")]
    NoType,
    #[error("an empty array of events")]
    EmptyBatch,
    #[error("an array of more events than one delivery can carry")]
    BatchTooLarge,
    #[error("a dead-letter blob that is not valid JSON")]
    DeadLetterNotJson,
    #[error("an element of a dead-letter blob that is not an event")]
    DeadLetterNotAnEvent,
}

impl NotAnEvent {
    /// The quarantine `kind`, also the first segment of the quarantine blob name.
    pub fn kind(self) -> &'static str {
        match self {
            NotAnEvent::NotJson => "notJson",
            NotAnEvent::NotAnObject => "notAnObject",
            NotAnEvent::NoId => "noId",
            NotAnEvent::NoType => "noType",
            NotAnEvent::EmptyBatch => "emptyBatch",
            NotAnEvent::BatchTooLarge => "batchTooLarge",
            NotAnEvent::DeadLetterNotJson => "deadLetterNotJson",
            NotAnEvent::DeadLetterNotAnEvent => "deadLetterNotAnEvent",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            NotAnEvent::NotJson => "not valid JSON",
            NotAnEvent::NotAnObject => "not a JSON object",
            NotAnEvent::NoId => "event has no id",
            NotAnEvent::NoType => "event has no type",
            NotAnEvent::EmptyBatch => "an empty array of events",
            NotAnEvent::BatchTooLarge => "an array of more events than one delivery can carry",
            NotAnEvent::DeadLetterNotJson => "a dead-letter blob that is not valid JSON",
            NotAnEvent::DeadLetterNotAnEvent => "an element of a dead-letter blob that is not an event",
        }
    }
}

impl<'a> Envelope<'a> {
    /// Reads the envelope of one event given as raw JSON text.
    pub fn parse(raw: &'a RawValue) -> Result<Self, NotAnEvent> {
        if !raw.get().starts_with('{') {
            return Err(NotAnEvent::NotAnObject);
        }
        // Members rather than a struct: duplicate keys must not turn an event into an error, and the
        // CloudEvents `specversion` key is matched case-insensitively.
        let fields: Members<'a> = serde_json::from_str(raw.get()).map_err(|_| NotAnEvent::NotAnObject)?;
        let get = |key: &str| fields.get(key);
        let (schema, type_key, time_key, source_key) = if get("eventType").is_some() {
            (Schema::EventGrid, "eventType", "eventTime", "topic")
        } else if get("type").is_some() || fields.keys().any(|k| k.eq_ignore_ascii_case("specversion")) {
            (Schema::CloudEvents, "type", "time", "source")
        } else {
            return Err(NotAnEvent::NoType);
        };
        let id = get("id")
            .and_then(scalar_text)
            .filter(|s| !s.is_empty())
            .ok_or(NotAnEvent::NoId)?;
        let event_type = get(type_key)
            .and_then(string)
            .filter(|s| !s.trim().is_empty())
            .ok_or(NotAnEvent::NoType)?;
        Ok(Envelope {
            schema,
            id,
            event_type,
            time: get(time_key).and_then(string),
            source: get(source_key).and_then(string),
            subject: get("subject").and_then(string),
            data: get("data").filter(|d| d.get() != "null"),
        })
    }
}

/// An object's members in order, keys borrowed from the text when they hold no escapes. An event has
/// a dozen top-level keys: a scan finds one faster than hashing and owning every key would.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Members<'a> {
    /// The value of `key`; of duplicate keys the last, as a map keeps it.
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(16);
                while let Some(JsonKey(key)) = map.next_key()? {
                    members.push((key, map.next_value()?));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Object)
    }
}

/// An object key, borrowed from the JSON text when it holds no escapes.
pub(crate) struct JsonKey<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for JsonKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = JsonKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<JsonKey<'de>, E> {
                Ok(JsonKey(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<JsonKey<'de>, E> {
                Ok(JsonKey(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

fn string(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(raw.get()).ok()
}

/// Ids are strings by spec; a number is taken at its textual value rather than quarantined.
fn scalar_text(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    if text.starts_with('"') {
        string(raw)
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(text.to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn event_grid_event_is_detected_by_event_type() {
        let r = raw(
            r#"{"id":"a","eventType":"T","eventTime":"2024-01-01T00:00:00Z","topic":"/t","subject":"s","data":{"x":1}}"#,
        );
        let e = Envelope::parse(&r).unwrap();
        assert_eq!(e.schema, Schema::EventGrid);
        assert_eq!((e.id.as_str(), e.event_type.as_str()), ("a", "T"));
        assert_eq!(e.time.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(e.source.as_deref(), Some("/t"));
        assert_eq!(e.data.unwrap().get(), r#"{"x":1}"#);
    }

    #[test]
    fn cloud_event_is_detected_with_either_specversion_spelling() {
        for key in ["specversion", "specVersion"] {
            let r = raw(&format!(
                r#"{{"{key}":"1.0","id":"a","type":"T","source":"/s","time":"t","operationId":"x"}}"#
            ));
            let e = Envelope::parse(&r).unwrap();
            assert_eq!(e.schema, Schema::CloudEvents);
            assert_eq!(e.source.as_deref(), Some("/s"));
            assert_eq!(e.time.as_deref(), Some("t"));
        }
    }

    #[test]
    fn hybrid_event_with_both_key_sets_is_read_as_event_grid() {
        let r =
            raw(r#"{"id":"a","eventType":"EG","type":"CE","specversion":"1.0","topic":"/t","source":"/s"}"#);
        let e = Envelope::parse(&r).unwrap();
        assert_eq!(
            (e.schema, e.event_type.as_str(), e.source.as_deref()),
            (Schema::EventGrid, "EG", Some("/t"))
        );
    }

    #[test]
    fn unusable_inputs_say_why() {
        assert_eq!(Envelope::parse(&raw("[1]")).unwrap_err(), NotAnEvent::NotAnObject);
        assert_eq!(
            Envelope::parse(&raw("null")).unwrap_err(),
            NotAnEvent::NotAnObject
        );
        assert_eq!(
            Envelope::parse(&raw(r#"{"eventType":"T"}"#)).unwrap_err(),
            NotAnEvent::NoId
        );
        assert_eq!(
            Envelope::parse(&raw(r#"{"eventType":"T","id":""}"#)).unwrap_err(),
            NotAnEvent::NoId
        );
        assert_eq!(
            Envelope::parse(&raw(r#"{"eventType":"T","id":{}}"#)).unwrap_err(),
            NotAnEvent::NoId
        );
        assert_eq!(
            Envelope::parse(&raw(r#"{"id":"a"}"#)).unwrap_err(),
            NotAnEvent::NoType
        );
        assert_eq!(
            Envelope::parse(&raw(r#"{"id":"a","eventType":7}"#)).unwrap_err(),
            NotAnEvent::NoType
        );
    }

    #[test]
    fn numeric_id_is_kept_as_its_text() {
        let r = raw(r#"{"id":42,"eventType":"T"}"#);
        let e = Envelope::parse(&r).unwrap();
        assert_eq!(e.id, "42");
    }
}
