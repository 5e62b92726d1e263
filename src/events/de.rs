//! Lenient field deserialisers.
//!
//! ACS payloads drift (numbers sent as strings, identifiers as objects or legacy strings, enum values in
//! any casing). A field of an unexpected shape must never fail the whole event, so every field goes
//! through one of these and becomes `None` when it cannot be understood. The raw event is archived
//! verbatim next to the projection, so nothing is lost by being lenient here.

use serde::de::{DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Renames the keys of an ACS `data` object to the spelling the models use, matching them
/// case-insensitively (`MessageId`, `Tag`, `receivedTimeStamp`, `MESSAGEID` all find their field).
/// When two spellings of one key are present, the first wins: one field can never fail the event.
/// Keys the models do not read are kept as they are.
pub fn canonical_keys(object: Map<String, Value>) -> Map<String, Value> {
    let names = known_names();
    let mut out = Map::with_capacity(object.len());
    for (key, value) in object {
        let key = match names.get(&key.to_lowercase()) {
            Some(&canonical) => canonical.to_owned(),
            None => key,
        };
        out.entry(key).or_insert(value);
    }
    out
}

/// Every field name the models deserialise, by its lower-case form.
fn known_names() -> &'static HashMap<String, &'static str> {
    static NAMES: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        use super::{advanced::*, chat::*, sms::*};
        [
            field_names::<SmsReceived>(),
            field_names::<SmsDeliveryReport>(),
            field_names::<DeliveryAttempt>(),
            field_names::<ChatMessage>(),
            field_names::<ChatThread>(),
            field_names::<ChatParticipant>(),
            field_names::<Participant>(),
            field_names::<AdvancedMessageReceived>(),
            field_names::<AdvancedMessageDeliveryStatus>(),
            field_names::<AdvancedMessageAnalysis>(),
            field_names::<LanguageDetection>(),
        ]
        .into_iter()
        .flatten()
        .map(|&name| (name.to_lowercase(), name))
        .collect()
    })
}

/// The JSON field names a derived `Deserialize` struct reads, asked from serde itself so that this
/// list can never drift from the models.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut names));
    names
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only struct field names are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("only struct field names are read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// Deserialises a model from a JSON object after [`canonical_keys`].
pub fn from_object<T: DeserializeOwned>(object: Map<String, Value>) -> Option<T> {
    serde_json::from_value(Value::Object(canonical_keys(object))).ok()
}

/// A string, or a number rendered as a string.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A string, lower-cased: for open enums such as `status` that arrive as `Sent`, `sent` or `SENT`.
pub fn lowercase<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(string(d)?.map(|s| s.to_lowercase()))
}

/// An integer, from a JSON number or a string holding one (chat `version` is both).
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A float, from a JSON number or a string holding one.
pub fn float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    })
}

/// A JSON object, kept as it is (metadata maps, media, context, error, ...).
pub fn object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Map<String, Value>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(m) => Some(m),
        _ => None,
    })
}

/// A list of strings; non-string elements are dropped.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => Some(
            items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    })
}

/// A list of objects of type `T`; elements that do not fit are dropped.
pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => Some(
            items
                .into_iter()
                .filter_map(|v| match v {
                    Value::Object(m) => from_object(m),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    })
}

/// One object of type `T`, or `None` when it does not fit.
pub fn one<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(m) => from_object(m),
        _ => None,
    })
}

/// The raw id of a communication identifier.
///
/// Current payloads carry `CommunicationIdentifierModel` objects (`rawId` plus one typed member); 2020
/// payloads carry the raw id as a plain string. Both become the raw id string.
pub fn identifier<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Object(m) => raw_id(&m),
        _ => None,
    })
}

fn raw_id(m: &Map<String, Value>) -> Option<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    text(m.get("rawId"))
        .or_else(|| text(m.get("communicationUser").and_then(|u| u.get("id"))))
        .or_else(|| text(m.get("phoneNumber").and_then(|p| p.get("value"))).map(|n| format!("4:{n}")))
        .or_else(|| {
            let user = m.get("microsoftTeamsUser")?;
            let id = text(user.get("userId"))?;
            if user.get("isAnonymous").and_then(Value::as_bool) == Some(true) {
                return Some(format!("8:teamsvisitor:{id}"));
            }
            Some(format!("8:{}:{id}", teams_cloud(user)))
        })
        .or_else(|| {
            let app = m.get("microsoftTeamsApp")?;
            Some(format!("28:{}:{}", teams_cloud(app), text(app.get("appId"))?))
        })
}

/// The raw-id prefix of a Teams identifier's cloud, as the Communication SDKs write it.
fn teams_cloud(identifier: &Value) -> &'static str {
    match identifier.get("cloud").and_then(Value::as_str) {
        Some("dod") => "dod",
        Some("gcch") => "gcch",
        _ => "orgid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "int")]
        n: Option<i64>,
        #[serde(default, deserialize_with = "identifier")]
        id: Option<String>,
        #[serde(default, deserialize_with = "lowercase")]
        status: Option<String>,
    }

    fn probe(v: Value) -> Probe {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn version_is_read_from_a_number_or_a_string() {
        assert_eq!(probe(json!({"n": 1613783230064_i64})).n, Some(1613783230064));
        assert_eq!(probe(json!({"n": "1613783230064"})).n, Some(1613783230064));
        assert_eq!(probe(json!({"n": "not a number"})).n, None);
        assert_eq!(probe(json!({"n": {"nested": 1}})).n, None);
    }

    #[test]
    fn identifiers_become_raw_ids_whatever_their_shape() {
        assert_eq!(probe(json!({"id": "8:acs:a_b"})).id.as_deref(), Some("8:acs:a_b"));
        assert_eq!(
            probe(json!({"id": {"rawId": "8:acs:x", "communicationUser": {"id": "8:acs:y"}}}))
                .id
                .as_deref(),
            Some("8:acs:x")
        );
        assert_eq!(
            probe(json!({"id": {"communicationUser": {"id": "8:acs:y"}}}))
                .id
                .as_deref(),
            Some("8:acs:y")
        );
        assert_eq!(
            probe(json!({"id": {"phoneNumber": {"value": "+1555"}}}))
                .id
                .as_deref(),
            Some("4:+1555")
        );
        assert_eq!(probe(json!({"id": 17})).id, None);
    }

    #[test]
    fn open_enum_values_are_lower_cased() {
        assert_eq!(
            probe(json!({"status": "Delivered"})).status.as_deref(),
            Some("delivered")
        );
    }

    #[test]
    fn teams_identifiers_without_raw_id_get_their_raw_id_prefix() {
        assert_eq!(
            probe(json!({"id": {"microsoftTeamsUser": {"userId": "u", "cloud": "gcch"}}}))
                .id
                .as_deref(),
            Some("8:gcch:u")
        );
        assert_eq!(
            probe(json!({"id": {"microsoftTeamsUser": {"userId": "u", "isAnonymous": true}}}))
                .id
                .as_deref(),
            Some("8:teamsvisitor:u")
        );
        assert_eq!(
            probe(json!({"id": {"microsoftTeamsApp": {"appId": "a"}}}))
                .id
                .as_deref(),
            Some("28:orgid:a")
        );
    }
}
