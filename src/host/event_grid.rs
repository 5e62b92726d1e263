//! `eventGridTrigger` invocations: `Data.event` → prepared records → [`ingest`] → status and `Logs`.
//!
//! 200 only when every record of the invocation is stored (or already was); otherwise 503, so the
//! host fails the invocation and Event Grid redelivers. Requests that are not invocations get a 400.

use super::functions::Function;
use super::protocol::{prepare_invocation, InvocationResult};
use super::{json_error, json_response, AppState};
use crate::archive::ingest::{ingest, IngestError, IngestOptions};
use crate::archive::layout::loggable_id;
use crate::archive::record::Prepared;
use crate::archive::Outcome;
use crate::storage::{BlobSink, BlobSource, BlobStore};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use tokio::time::Instant;

/// Bodies above this are parsed off the (single) async thread: a few milliseconds of JSON work.
const LARGE_BODY_BYTES: usize = 256 * 1024;

/// `registered` is `None` for a function name the app does not have: its events are archived by
/// their type all the same, and the log says so.
pub async fn invoke<S: BlobStore + BlobSource + BlobSink>(
    state: &AppState<S>,
    function: &str,
    registered: Option<&Function>,
    body: Bytes,
    deadline: Instant,
) -> HttpResponse {
    let prepared = if body.len() > LARGE_BODY_BYTES {
        actix_web::web::block(move || prepare_invocation(&body)).await
    } else {
        Ok(prepare_invocation(&body))
    };
    let Ok(prepared) = prepared else {
        tracing::error!(%function, "preparing the records failed unexpectedly");
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, "preparing the records failed");
    };
    let records = match prepared {
        Ok(records) => records,
        Err(e) => {
            tracing::warn!(%function, error = %e, "refused a request that is not a host invocation");
            return json_error(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    if registered.is_none() {
        tracing::warn!(%function, events = records.len(), "no function of this name is registered; archiving its events by their type");
    }
    let done = ingest(&state.archiver, &records, IngestOptions::until(deadline)).await;
    let mut logs = Vec::with_capacity(records.len());
    for (record, outcome) in records.iter().zip(&done.outcomes) {
        match outcome {
            Ok(outcome) => {
                let line = log_line(record, outcome);
                tracing::info!(%function, "{line}");
                logs.push(line);
            }
            Err(IngestError::OutOfTime) => {}
            Err(IngestError::Storage(e)) if e.is_configuration_problem() => {
                tracing::error!(%function, event = %describe(record), error = %e, "could not archive: a configuration problem; answering 503 so Event Grid retries and, in the end, dead-letters");
            }
            Err(e) => {
                tracing::error!(%function, event = %describe(record), error = %e, "could not archive; answering 503 so Event Grid redelivers");
            }
        }
    }
    match done.first_error() {
        None => json_response(StatusCode::OK, &InvocationResult::with_logs(logs)),
        Some(IngestError::OutOfTime) => {
            let message = format!(
                "storage did not confirm {} of {} events within the {} ms budget",
                records.len() - done.stored(),
                records.len(),
                state.budget.as_millis()
            );
            tracing::error!(%function, events = records.len(), "{message}; answering 503 so Event Grid redelivers");
            json_error(StatusCode::SERVICE_UNAVAILABLE, &message)
        }
        Some(IngestError::Storage(e)) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("could not archive: {e}"),
        ),
    }
}

/// One short line per event: never the message body, never a phone number, only ids and places.
/// Built by appending into one buffer: every event pays for it.
fn log_line(record: &Prepared, outcome: &Outcome) -> String {
    let (container, name) = outcome.location();
    let (verb, arrow, note) = match outcome {
        Outcome::Archived { .. } => ("archived ", " -> ", ""),
        Outcome::Duplicate { .. } => ("duplicate ", " already at ", ""),
        Outcome::ArchivedBesideConflict { .. } => {
            ("archived ", " -> ", " (another event already has this id)")
        }
    };
    let mut line = String::with_capacity(96 + container.len() + name.len());
    line.push_str(verb);
    write_description(&mut line, record);
    line.push_str(arrow);
    line.push_str(container);
    line.push('/');
    line.push_str(name);
    line.push_str(note);
    line
}

fn describe(record: &Prepared) -> String {
    let mut out = String::new();
    write_description(&mut out, record);
    out
}

fn write_description(out: &mut String, record: &Prepared) {
    match (&record.event_id, &record.event_type, record.quarantine_reason) {
        // Ids are logged as they are named: hashed when they could hold a phone number.
        (Some(id), Some(event_type), _) => {
            out.push_str(&loggable_id(id));
            out.push(' ');
            out.push_str(&loggable_id(event_type));
        }
        (_, _, Some(reason)) => {
            out.push_str("quarantined input (");
            out.push_str(reason);
            out.push(')');
        }
        _ => out.push_str("input"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::record::prepare;
    use serde_json::value::RawValue;

    fn outcome(name: &str) -> [Outcome; 3] {
        let (container, name) = ("acs-sms".to_owned(), name.to_owned());
        [
            Outcome::Archived {
                container: container.clone(),
                name: name.clone(),
            },
            Outcome::Duplicate {
                container: container.clone(),
                name: name.clone(),
            },
            Outcome::ArchivedBesideConflict { container, name },
        ]
    }

    #[test]
    fn log_lines_name_the_event_and_where_it_is() {
        let raw = RawValue::from_string(
            r#"{"id":"m1","eventType":"Microsoft.Communication.SMSReceived","data":{}}"#.to_owned(),
        )
        .unwrap();
        let record = prepare(&raw);
        let [archived, duplicate, beside] = outcome("smsReceived/undated/m1.json");
        assert_eq!(
            log_line(&record, &archived),
            "archived m1 Microsoft.Communication.SMSReceived -> acs-sms/smsReceived/undated/m1.json"
        );
        assert_eq!(
            log_line(&record, &duplicate),
            "duplicate m1 Microsoft.Communication.SMSReceived already at acs-sms/smsReceived/undated/m1.json"
        );
        assert_eq!(
            log_line(&record, &beside),
            "archived m1 Microsoft.Communication.SMSReceived -> acs-sms/smsReceived/undated/m1.json (another event already has this id)"
        );
        let quarantined = prepare(&RawValue::from_string("[1]".to_owned()).unwrap());
        assert!(
            log_line(&quarantined, &archived)
                .starts_with("archived quarantined input (not a JSON object) -> "),
            "{}",
            log_line(&quarantined, &archived)
        );
    }
}
