//! The HTTP side: the routes the Functions host calls.

use crate::archive::{Archiver, Outcome};
use crate::layout::{encode_segment, looks_like_phone_number};
use crate::protocol::{prepare_invocation, InvocationResult};
use crate::record::Prepared;
use crate::storage::{BlobStore, StorageError};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::stream::{self, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Storage writes one invocation keeps in flight: a batch fans out, but never into thousands of
/// simultaneous connections.
const STORE_CONCURRENCY: usize = 16;
/// Bodies above this are parsed off the (single) async thread: a few milliseconds of JSON work.
const LARGE_BODY_BYTES: usize = 256 * 1024;

pub struct AppState<S> {
    pub archiver: Archiver<S>,
    /// The time one invocation may spend on storage, retries included.
    pub budget: Duration,
}

/// The handler's routes: `GET /` for the host's readiness ping, `POST /{function}` for invocations.
pub fn router<S: BlobStore>(state: Arc<AppState<S>>, max_request_bytes: usize) -> Router {
    Router::new()
        .route("/", get(ping))
        .route("/{function}", post(invoke::<S>))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_request_bytes))
        .with_state(state)
}

/// The host polls this every 25 ms until it answers, and later to check the worker: keep it trivial.
async fn ping() -> Response {
    json(StatusCode::OK, r#"{"status":"ready"}"#.to_owned())
}

async fn not_found() -> Response {
    json(
        StatusCode::NOT_FOUND,
        r#"{"error":"no such route: invocations are POST /{FunctionName}"}"#.to_owned(),
    )
}

async fn invoke<S: BlobStore>(
    State(state): State<Arc<AppState<S>>>,
    Path(function): Path<String>,
    body: Bytes,
) -> Response {
    let function = printable(&function);
    // The budget covers the whole invocation, parsing included.
    let deadline = tokio::time::Instant::now() + state.budget;
    let prepared = if body.len() > LARGE_BODY_BYTES {
        tokio::task::spawn_blocking(move || prepare_invocation(&body)).await
    } else {
        Ok(prepare_invocation(&body))
    };
    let Ok(prepared) = prepared else {
        tracing::error!(%function, "preparing the records failed unexpectedly");
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "preparing the records failed");
    };
    let records = match prepared {
        Ok(records) => records,
        Err(e) => {
            tracing::warn!(%function, error = %e, "refused a request that is not a host invocation");
            return error_response(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let archived_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("UTC times format as RFC 3339");
    let stored = tokio::time::timeout_at(
        deadline,
        // By index: a closure over `&Prepared` trips the compiler's higher-ranked lifetime inference.
        stream::iter(0..records.len())
            .map(|i| state.archiver.archive(&records[i], &archived_at))
            .buffered(STORE_CONCURRENCY)
            .collect::<Vec<_>>(),
    )
    .await;
    let Ok(results) = stored else {
        let message = format!(
            "storage did not answer within the {} ms budget",
            state.budget.as_millis()
        );
        tracing::error!(%function, events = records.len(), "{message}; answering 503 so Event Grid redelivers");
        return error_response(StatusCode::SERVICE_UNAVAILABLE, &message);
    };
    let mut logs = Vec::with_capacity(results.len());
    let mut failure: Option<StorageError> = None;
    for (record, result) in records.iter().zip(results) {
        match result {
            Ok(outcome) => {
                let line = log_line(record, &outcome);
                tracing::info!(%function, "{line}");
                logs.push(line);
            }
            Err(e) => {
                tracing::error!(%function, event = %describe(record), error = %e, "could not archive; answering 503 so Event Grid redelivers");
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("could not archive: {e}"),
        );
    }
    let body = serde_json::to_string(&InvocationResult::with_logs(logs)).expect("results always serialise");
    json(StatusCode::OK, body)
}

/// One short line per event: never the message body, never a phone number, only ids and places.
fn log_line(record: &Prepared, outcome: &Outcome) -> String {
    let (container, name) = outcome.location();
    let what = describe(record);
    match outcome {
        Outcome::Archived { .. } => format!("archived {what} -> {container}/{name}"),
        Outcome::Duplicate { .. } => format!("duplicate {what} already at {container}/{name}"),
        Outcome::ArchivedBesideConflict { .. } => {
            format!("archived {what} -> {container}/{name} (another event already has this id)")
        }
    }
}

fn describe(record: &Prepared) -> String {
    match (&record.event_id, &record.event_type, record.quarantine_reason) {
        // An id that could be a phone number is logged as it is named: hashed.
        (Some(id), Some(event_type), _) if looks_like_phone_number(id) => {
            format!("{} {}", encode_segment(id), printable(event_type))
        }
        (Some(id), Some(event_type), _) => format!("{} {}", printable(id), printable(event_type)),
        (_, _, Some(reason)) => format!("quarantined input ({reason})"),
        _ => "input".to_owned(),
    }
}

/// Ids come from the outside: bound them and escape control characters before they reach a log.
fn printable(text: &str) -> String {
    const MAX: usize = 120;
    let mut out: String = text.chars().take(MAX).flat_map(char::escape_debug).collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

fn error_response(status: StatusCode, message: &str) -> Response {
    json(status, serde_json::json!({ "error": message }).to_string())
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
