//! Lenient field deserialisers.
//!
//! ACS payloads drift (numbers sent as strings, identifiers as objects or legacy strings, enum values in
//! any casing). A field of an unexpected shape must never fail the whole event, so every field goes
//! through one of these and becomes `None` when it cannot be understood. The raw event is archived
//! verbatim next to the projection, so nothing is lost by being lenient here.

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::{Map, Value};

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
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect(),
        ),
        _ => None,
    })
}

/// One object of type `T`, or `None` when it does not fit.
pub fn one<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        v @ Value::Object(_) => serde_json::from_value(v).ok(),
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
        .or_else(|| text(m.get("microsoftTeamsUser").and_then(|u| u.get("userId"))))
        .or_else(|| text(m.get("microsoftTeamsApp").and_then(|u| u.get("appId"))))
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
}
