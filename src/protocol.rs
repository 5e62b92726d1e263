//! The Functions host ⇄ custom handler protocol for `eventGridTrigger` invocations.
//!
//! The host POSTs `{"Data":{"event":…},"Metadata":{…}}` to `/{FunctionName}` and reads back
//! `{"Outputs":{},"Logs":[…],"ReturnValue":null}`. `Data.event` is a JSON object in practice; a JSON
//! string holding an event (or an array of them) and a bare array are accepted too, as the host
//! produces them for other binding shapes.

use crate::envelope::NotAnEvent;
use crate::record::{self, Prepared};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The name of the trigger binding in every `function.json`.
pub const BINDING: &str = "event";

#[derive(Deserialize)]
struct Invocation<'a> {
    #[serde(rename = "Data", borrow)]
    data: Option<InvocationData<'a>>,
}

#[derive(Deserialize)]
struct InvocationData<'a> {
    #[serde(rename = "event", borrow, default, deserialize_with = "present")]
    event: Option<&'a RawValue>,
}

/// `Some` for any value, `null` included: a null event is quarantined, only a missing one is refused.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A request that is not a host invocation of an `event` trigger.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadInvocation {
    #[error("request body is not JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("request body is not a host invocation (line {line}, column {column})")]
    NotAnInvocation { line: usize, column: usize },
    #[error("request body is not a JSON object")]
    NotAnObject,
    #[error("request body has no Data object")]
    NoData,
    #[error("request Data has no \"event\" binding")]
    NoEvent,
}

/// Reads a host invocation and prepares a record for each event it carries.
pub fn prepare_invocation(body: &[u8]) -> Result<Vec<Prepared>, BadInvocation> {
    // serde would happily read a struct from an array; the host only ever sends an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => BadInvocation::NotAnObject,
            Err(e) => bad_json(&e),
        });
    }
    let invocation: Invocation<'_> = serde_json::from_slice(body).map_err(|e| bad_json(&e))?;
    let event = invocation
        .data
        .ok_or(BadInvocation::NoData)?
        .event
        .ok_or(BadInvocation::NoEvent)?;
    Ok(prepare_event_value(event))
}

/// Only the position: serde's own messages quote the offending input, which may be a message body.
fn bad_json(e: &serde_json::Error) -> BadInvocation {
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        serde_json::error::Category::Data => BadInvocation::NotAnInvocation { line, column },
        _ => BadInvocation::NotJson { line, column },
    }
}

/// Prepares the records of one `Data.event` value: an object, an array of them, or a JSON string
/// holding either. Whatever is not a usable event becomes a quarantine record.
pub fn prepare_event_value(event: &RawValue) -> Vec<Prepared> {
    let text = event.get();
    if text.starts_with('"') {
        let Ok(inner) = serde_json::from_str::<String>(text) else {
            return vec![record::prepare(event)];
        };
        return match serde_json::from_str::<Box<RawValue>>(&inner) {
            // One level of decoding only: a string inside the string is quarantined, not unwrapped.
            Ok(parsed) if !parsed.get().starts_with('"') => prepare_events(&parsed),
            Ok(_) | Err(_) => vec![record::prepare_unparseable(&inner)],
        };
    }
    prepare_events(event)
}

/// Event Grid batches hold at most 5,000 events; an array beyond that is kept whole in quarantine
/// rather than fanned out into more storage writes than one invocation's budget can carry.
pub const MAX_EVENTS_PER_INVOCATION: usize = 5_000;

fn prepare_events(value: &RawValue) -> Vec<Prepared> {
    if value.get().starts_with('[') {
        if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(value.get()) {
            return match items.len() {
                0 => vec![record::prepare_quarantine(value, NotAnEvent::EmptyBatch)],
                n if n > MAX_EVENTS_PER_INVOCATION => {
                    vec![record::prepare_quarantine(value, NotAnEvent::BatchTooLarge)]
                }
                _ => items.into_iter().map(record::prepare).collect(),
            };
        }
    }
    vec![record::prepare(value)]
}

/// The response body the host expects. Always a non-empty JSON object: an empty 2xx body hangs the
/// invocation until the function timeout.
#[derive(Serialize)]
pub struct InvocationResult {
    #[serde(rename = "Outputs")]
    pub outputs: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "Logs")]
    pub logs: Vec<String>,
    #[serde(rename = "ReturnValue")]
    pub return_value: Option<()>,
}

impl InvocationResult {
    pub fn with_logs(logs: Vec<String>) -> Self {
        InvocationResult {
            outputs: Default::default(),
            logs,
            return_value: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Family;

    fn families(body: &str) -> Vec<(Family, String)> {
        prepare_invocation(body.as_bytes())
            .unwrap()
            .into_iter()
            .map(|p| (p.family, p.kind))
            .collect()
    }

    const SMS: &str = r#"{"id":"1","eventType":"Microsoft.Communication.SMSReceived","data":{}}"#;

    #[test]
    fn an_event_object_is_one_record() {
        assert_eq!(
            families(&format!(r#"{{"Data":{{"event":{SMS}}},"Metadata":{{}}}}"#)),
            [(Family::Sms, "smsReceived".into())]
        );
    }

    #[test]
    fn a_json_string_holding_an_event_is_parsed() {
        let encoded = serde_json::to_string(SMS).unwrap();
        assert_eq!(
            families(&format!(r#"{{"Data":{{"event":{encoded}}}}}"#)),
            [(Family::Sms, "smsReceived".into())]
        );
    }

    #[test]
    fn an_array_gives_one_record_per_element() {
        let body = format!(r#"{{"Data":{{"event":[{SMS},7]}}}}"#);
        assert_eq!(
            families(&body),
            [
                (Family::Sms, "smsReceived".into()),
                (Family::Quarantine, "notAnObject".into())
            ]
        );
        let encoded = serde_json::to_string(&format!("[{SMS},{SMS}]")).unwrap();
        assert_eq!(families(&format!(r#"{{"Data":{{"event":{encoded}}}}}"#)).len(), 2);
    }

    #[test]
    fn non_json_strings_and_scalars_are_quarantined() {
        assert_eq!(
            families(r#"{"Data":{"event":"hello"}}"#),
            [(Family::Quarantine, "notJson".into())]
        );
        assert_eq!(
            families(r#"{"Data":{"event":null}}"#),
            [(Family::Quarantine, "notAnObject".into())]
        );
        assert_eq!(
            families(r#"{"Data":{"event":3}}"#),
            [(Family::Quarantine, "notAnObject".into())]
        );
    }

    #[test]
    fn requests_that_are_not_invocations_are_refused() {
        assert!(matches!(
            prepare_invocation(b"nope"),
            Err(BadInvocation::NotJson { .. })
        ));
        assert_eq!(
            prepare_invocation(b"[{}]").unwrap_err(),
            BadInvocation::NotAnObject
        );
        assert_eq!(prepare_invocation(b"{}").unwrap_err(), BadInvocation::NoData);
        assert_eq!(
            prepare_invocation(br#"{"Data":{}}"#).unwrap_err(),
            BadInvocation::NoEvent
        );
    }

    #[test]
    fn result_is_the_shape_the_host_reads() {
        let json = serde_json::to_string(&InvocationResult::with_logs(vec!["a".into()])).unwrap();
        assert_eq!(json, r#"{"Outputs":{},"Logs":["a"],"ReturnValue":null}"#);
    }

    #[test]
    fn empty_and_oversized_arrays_are_quarantined_whole() {
        assert_eq!(
            families(r#"{"Data":{"event":[]}}"#),
            [(Family::Quarantine, "emptyBatch".into())]
        );
        let many = format!("[{}0]", "0,".repeat(MAX_EVENTS_PER_INVOCATION));
        assert_eq!(
            families(&format!(r#"{{"Data":{{"event":{many}}}}}"#)),
            [(Family::Quarantine, "batchTooLarge".into())]
        );
    }

    #[test]
    fn refusals_name_the_position_never_the_content() {
        let e = prepare_invocation(br#"{"Data":"my secret message"}"#).unwrap_err();
        assert!(matches!(e, BadInvocation::NotAnInvocation { .. }), "{e:?}");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
