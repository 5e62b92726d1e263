//! Tolerance of wrongly-typed fields, as a property of a type.
//!
//! ACS payloads drift: numbers sent as strings, identifiers as objects or legacy strings, enum values
//! in any casing. A field of an unexpected shape must never fail the whole event, so every model field
//! is a [`Lenient<T>`], whose deserialisation cannot fail: a value that does not fit `T` becomes empty.
//! The [`model!`](crate::model) macro declares every field that way (and leaves empty ones out of the
//! record), so no field can be forgotten. The raw event is archived verbatim next to the projection,
//! so nothing is lost by being lenient here.

use serde::de::{Deserialize, DeserializeOwned, Deserializer, Visitor};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::ops::{Deref, DerefMut};

/// A field value that is `None` when the event had none, or had one of a shape `T` cannot take.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T>(pub Option<T>);

impl<T> Lenient<T> {
    /// For `skip_serializing_if`: empty fields are left out of the record.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<T> From<Option<T>> for Lenient<T> {
    fn from(value: Option<T>) -> Self {
        Lenient(value)
    }
}

impl<T> Deref for Lenient<T> {
    type Target = Option<T>;
    fn deref(&self) -> &Option<T> {
        &self.0
    }
}

impl<T> DerefMut for Lenient<T> {
    fn deref_mut(&mut self) -> &mut Option<T> {
        &mut self.0
    }
}

impl<'de, T: FromValue> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Lenient(T::from_value(Value::deserialize(d)?)))
    }
}

impl<T: Serialize> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(value) => value.serialize(s),
            None => s.serialize_none(),
        }
    }
}

/// How a JSON value becomes a `T`, or nothing when it does not fit.
pub trait FromValue: Sized {
    fn from_value(value: Value) -> Option<Self>;

    /// The same, as an element of a list: lists keep only the elements that really are of the type.
    fn from_element(value: Value) -> Option<Self> {
        Self::from_value(value)
    }
}

/// A string, or a number rendered as a string.
impl FromValue for String {
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn from_element(value: Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// An integer, from a JSON number or a string holding one (chat `version` is both).
impl FromValue for i64 {
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                    .map(|f| f as i64)
            }),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// A float, from a JSON number or a string holding a finite one.
impl FromValue for f64 {
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
            _ => None,
        }
    }
}

/// A JSON object, kept as it is (metadata maps, media, context, error, ...).
impl FromValue for Map<String, Value> {
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
}

/// A list; elements that do not fit are dropped.
impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Array(items) => Some(items.into_iter().filter_map(T::from_element).collect()),
            _ => None,
        }
    }
}

/// A string, lower-cased: for open enums such as `status` that arrive as `Sent`, `sent` or `SENT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LowerCase(pub String);

impl FromValue for LowerCase {
    fn from_value(value: Value) -> Option<Self> {
        String::from_value(value).map(|s| LowerCase(s.to_lowercase()))
    }
}

impl Deref for LowerCase {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// The raw id of a communication identifier.
///
/// Current payloads carry `CommunicationIdentifierModel` objects (`rawId` plus one typed member); 2020
/// payloads carry the raw id as a plain string. Both become the raw id string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RawId(pub String);

impl FromValue for RawId {
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(RawId(s)),
            Value::Object(m) => raw_id(&m).map(RawId),
            _ => None,
        }
    }
}

impl Deref for RawId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// The JSON field names a derived `Deserialize` struct reads, asked from serde itself so that the
/// table of known names can never drift from the models.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
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

/// Declares a model of an event's `data`: every field a [`Lenient`] (so a wrongly-typed value
/// empties that field only), left out of the record when empty, keys in camelCase, and the model
/// itself readable as a nested [`FromValue`] (with keys matched case-insensitively).
macro_rules! model {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
        #[serde(default, rename_all = "camelCase")]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[serde(skip_serializing_if = "crate::archive::events::lenient::Lenient::is_none")]
                pub $field: $crate::archive::events::lenient::Lenient<$ty>,
            )*
        }

        impl $crate::archive::events::lenient::FromValue for $name {
            fn from_value(value: serde_json::Value) -> Option<Self> {
                $crate::archive::events::from_value(value)
            }
        }
    };
}
pub(crate) use model;

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

    super::model! {
        pub struct Probe {
            pub n: i64,
            pub id: RawId,
            pub status: LowerCase,
            pub text: String,
        }
    }

    fn probe(v: Value) -> Probe {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn version_is_read_from_a_number_or_a_string() {
        assert_eq!(probe(json!({"n": 1613783230064_i64})).n.0, Some(1613783230064));
        assert_eq!(probe(json!({"n": "1613783230064"})).n.0, Some(1613783230064));
        assert_eq!(probe(json!({"n": "not a number"})).n.0, None);
        assert_eq!(probe(json!({"n": {"nested": 1}})).n.0, None);
    }

    #[test]
    fn a_wrongly_typed_field_empties_only_that_field() {
        let p = probe(json!({"n": [1], "id": 17, "status": {"x": 1}, "text": "kept"}));
        assert_eq!(p.text.as_deref(), Some("kept"));
        assert!(p.n.is_none() && p.id.is_none() && p.status.is_none());
        assert_eq!(serde_json::to_value(&p).unwrap(), json!({"text": "kept"}));
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
        assert_eq!(probe(json!({"id": 17})).id.0, None);
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
