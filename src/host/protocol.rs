//! The Functions host ⇄ custom handler protocol: what arrives in `Data`, what goes back.
//!
//! The host POSTs `{"Data":{"<binding>":…},"Metadata":{…}}` to `/{FunctionName}` and reads back
//! `{"Outputs":{},"Logs":[…],"ReturnValue":null}`. For `eventGridTrigger`, `Data.event` is a JSON
//! object in practice; a JSON string holding an event (or an array of them) and a bare array are
//! accepted too, as the host produces them for other binding shapes. For `timerTrigger`, `Data.timer`
//! holds the schedule status.

use crate::archive::envelope::NotAnEvent;
use crate::archive::record::{self, Prepared};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

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
    #[error("request Data has no \"{0}\" binding")]
    NoBinding(&'static str),
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
        .ok_or(BadInvocation::NoBinding("event"))?;
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

/// `Data.timer` of a `timerTrigger` invocation.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub struct TimerInfo {
    /// `null` when the schedule monitor is off, and on the first run.
    #[serde(rename = "ScheduleStatus", alias = "scheduleStatus", default)]
    pub schedule_status: Option<ScheduleStatus>,
    /// A run was missed (the app was down): a job should catch up on everything since `Last`.
    #[serde(rename = "IsPastDue", alias = "isPastDue", default)]
    pub is_past_due: bool,
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ScheduleStatus {
    #[serde(rename = "Last", alias = "last", default)]
    pub last: Option<String>,
    #[serde(rename = "Next", alias = "next", default)]
    pub next: Option<String>,
    #[serde(rename = "LastUpdated", alias = "lastUpdated", default)]
    pub last_updated: Option<String>,
}

/// Reads `Data.timer` of a timer invocation. A missing or unreadable timer is refused: the host
/// always sends one.
pub fn read_timer(body: &[u8]) -> Result<TimerInfo, BadInvocation> {
    #[derive(Deserialize)]
    struct Timer {
        #[serde(rename = "Data")]
        data: Option<TimerData>,
    }
    #[derive(Deserialize)]
    struct TimerData {
        timer: Option<TimerInfo>,
    }
    let invocation: Timer = serde_json::from_slice(body).map_err(|e| bad_json(&e))?;
    invocation
        .data
        .ok_or(BadInvocation::NoData)?
        .timer
        .ok_or(BadInvocation::NoBinding("timer"))
}

/// The body the Functions host sends for an `eventGridTrigger` binding named `event`: the event under
/// `Data`, and its `data` again under `Metadata` (JSON-encoded when it is not an object).
pub fn host_invocation(function: &str, event: &Value) -> Value {
    let mut metadata = serde_json::Map::new();
    match event.get("data") {
        Some(data @ Value::Object(_)) => {
            metadata.insert("data".into(), data.clone());
        }
        Some(Value::Null) | None => {}
        Some(other) => {
            metadata.insert("data".into(), Value::String(other.to_string()));
        }
    }
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    metadata.insert(
        "sys".into(),
        json!({"MethodName": function, "UtcNow": now, "RandGuid": azure_core::Uuid::new_v4().to_string()}),
    );
    json!({ "Data": { "event": event }, "Metadata": metadata })
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
    use crate::archive::events::Family;

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
            BadInvocation::NoBinding("event")
        );
    }

    #[test]
    fn timer_info_is_read_with_or_without_a_schedule_status() {
        let body = br#"{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-12-01T10:05:00.0005+00:00","Next":"2026-12-01T11:05:00+00:00","LastUpdated":"2026-12-01T10:05:00.0005+00:00"},"IsPastDue":true}},"Metadata":{"sys":{"MethodName":"CompactArchive"}}}"#;
        let timer = read_timer(body).unwrap();
        assert!(timer.is_past_due);
        assert_eq!(
            timer.schedule_status.unwrap().last.as_deref(),
            Some("2026-12-01T10:05:00.0005+00:00")
        );
        let first_run =
            read_timer(br#"{"Data":{"timer":{"ScheduleStatus":null,"IsPastDue":false}}}"#).unwrap();
        assert_eq!(first_run, TimerInfo::default());
        assert_eq!(
            read_timer(br#"{"Data":{"event":{}}}"#).unwrap_err(),
            BadInvocation::NoBinding("timer")
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
