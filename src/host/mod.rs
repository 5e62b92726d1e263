//! The Functions host side: the only module that knows actix-web.
//!
//! The host starts `handler` with `FUNCTIONS_CUSTOMHANDLER_PORT`, polls `GET /` until it answers, then
//! POSTs one invocation per event (or timer run) to `/{FunctionName}`. The registry in [`functions`]
//! decides how each is read; [`event_grid`] and [`timer`] answer them.

pub mod event_grid;
pub mod functions;
pub mod protocol;
pub mod timer;

use crate::archive::Archiver;
use crate::config::Config;
use crate::storage::{AzureBlobStore, BlobSink, BlobSource, BlobStore};
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use functions::Trigger;
use futures::StreamExt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Request bodies up to this size are read. The host sends the event *and* a copy of its `data` in
/// `Metadata`, so a 1 MB event (Event Grid's limit) needs about 2.1 MB; 16 MiB leaves room for
/// batches. Larger bodies are refused with 413 before they are read whole.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The host keeps pooled connections open and reuses them; .NET drops idle ones after 60 s. A longer
/// keep-alive means the handler never closes a connection the host is about to reuse.
const KEEP_ALIVE: Duration = Duration::from_secs(75);
/// A peer has this long to send a request head on a new or idle-then-active connection: loopback
/// hosts send it at once, while a peer trickling headers byte by byte must not hold a connection.
/// (Bodies are bounded by the invocation budget, see [`read_body`].)
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing connection may take to shut down before it is dropped.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Connections one worker keeps at once: well above the host's concurrency for one instance, low
/// enough that a flood of idle sockets cannot exhaust file descriptors.
const MAX_CONNECTIONS: usize = 2_048;

pub struct AppState<S> {
    pub archiver: Archiver<S>,
    /// The time one invocation may take, reading its body and storage retries included.
    pub budget: Duration,
    /// What the `CompactArchive` timer covers and how long it may run.
    pub compaction: timer::CompactionSettings,
}

/// The routes, for the server and for in-process tests: `GET /` for the host's readiness ping,
/// `POST /{function}` for invocations, JSON everywhere else too. Dispatched by hand rather than by
/// actix's router, whose pattern matching costs a regex search per request (BENCHMARKS.md).
pub fn routes<S: BlobStore + BlobSource + BlobSink>(cfg: &mut web::ServiceConfig) {
    cfg.default_service(web::to(dispatch::<S>));
}

async fn dispatch<S: BlobStore + BlobSource + BlobSink>(
    state: web::Data<AppState<S>>,
    request: actix_web::HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let function = request.path().strip_prefix('/').unwrap_or_default();
    match *request.method() {
        Method::GET if function.is_empty() => ping().await,
        Method::POST if !function.is_empty() && !function.contains('/') => {
            let function = function.to_owned();
            invoke(state, function, request, payload).await
        }
        _ => not_found().await,
    }
}

/// The host polls this every 25 ms until it answers, and later to check the worker: keep it trivial.
async fn ping() -> HttpResponse {
    json_body(StatusCode::OK, r#"{"status":"ready"}"#.to_owned())
}

async fn not_found() -> HttpResponse {
    json_error(
        StatusCode::NOT_FOUND,
        "no such route: invocations are POST /{FunctionName}",
    )
}

async fn invoke<S: BlobStore + BlobSource + BlobSink>(
    state: web::Data<AppState<S>>,
    function: String,
    request: actix_web::HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    // The budget covers the whole invocation, reading the body included.
    let deadline = Instant::now() + state.budget;
    let registered = functions::find(&function);
    // Names come from the request path: escaped and bounded before they reach a log.
    let function = crate::archive::layout::loggable_id(&function);
    let body = match read_body(&request, payload, deadline).await {
        Ok(body) => body,
        Err(refusal) => {
            tracing::warn!(%function, "refused: {}", refusal.message);
            return json_error(refusal.status, &refusal.message);
        }
    };
    match registered.map(|f| f.trigger) {
        Some(Trigger::Timer { job, .. }) => timer::invoke(&state, &function, job, &body).await,
        Some(Trigger::EventGrid { .. }) | None => {
            event_grid::invoke(&state, &function, registered, body, deadline).await
        }
    }
}

struct Refusal {
    status: StatusCode,
    message: String,
}

/// Reads the body up to [`MAX_REQUEST_BYTES`] and the deadline: a body that is too large is refused
/// without being read whole, and one that trickles in is cut off when the budget is spent.
async fn read_body(
    request: &actix_web::HttpRequest,
    mut payload: web::Payload,
    deadline: Instant,
) -> Result<web::Bytes, Refusal> {
    let too_large = || Refusal {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("request body is larger than {MAX_REQUEST_BYTES} bytes"),
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(8 * 1024));
    loop {
        let chunk = tokio::time::timeout_at(deadline, payload.next())
            .await
            .map_err(|_| Refusal {
                status: StatusCode::REQUEST_TIMEOUT,
                message: "the request body did not arrive within the invocation budget".into(),
            })?;
        match chunk {
            None => return Ok(body.freeze()),
            Some(Ok(bytes)) if body.len() + bytes.len() > MAX_REQUEST_BYTES => return Err(too_large()),
            Some(Ok(bytes)) => body.extend_from_slice(&bytes),
            Some(Err(e)) => {
                return Err(Refusal {
                    status: StatusCode::BAD_REQUEST,
                    message: format!("the request body could not be read: {e}"),
                })
            }
        }
    }
}

pub(crate) fn json_response(status: StatusCode, value: &impl serde::Serialize) -> HttpResponse {
    json_body(
        status,
        serde_json::to_string(value).expect("answers always serialise"),
    )
}

pub(crate) fn json_error(status: StatusCode, message: &str) -> HttpResponse {
    json_response(status, &serde_json::json!({ "error": message }))
}

fn json_body(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body)
}

/// The handler as started by the host: bound, but not serving yet.
pub struct Application {
    listener: TcpListener,
    state: Arc<AppState<AzureBlobStore>>,
    /// How long in-flight invocations may run on after SIGTERM.
    grace: Duration,
}

impl Application {
    /// Binds the port and prepares storage clients; no network call to storage happens here, so the
    /// handler answers the host's readiness ping at once even when storage is slow or down.
    pub fn build(config: &Config) -> anyhow::Result<Self> {
        // Retries end at 3/4 of the budget, leaving the rest for the answer and a conflict check.
        let retry_within = config.budget * 3 / 4;
        let store = AzureBlobStore::new(
            &config.storage,
            &config.containers.every(),
            config.index_tags,
            retry_within,
        )
        .context("could not set up the storage client")?;
        let state = Arc::new(AppState {
            archiver: Archiver::new(store, config.containers.clone()),
            budget: config.budget,
            compaction: timer::CompactionSettings {
                lookback_hours: config.compact_lookback_hours,
                time_limit: config.compact_time_limit,
            },
        });
        // The host only ever calls 127.0.0.1; nothing else should reach the handler. Port 0 (tests)
        // takes a free port, which the ready line reports.
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
        let listener =
            TcpListener::bind(address).with_context(|| format!("could not listen on {address}"))?;
        // Every invocation ends within its budget; the margin covers writing the answers.
        let grace = config.budget + Duration::from_secs(2);
        Ok(Application {
            listener,
            state,
            grace,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight invocations finish within the grace period.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let state = self.state.clone();
        // Containers are created lazily on first write too; doing it early just saves that round trip.
        actix_web::rt::spawn(async move {
            if let Err(e) = state.archiver.store().ensure_containers().await {
                tracing::warn!(error = %e, "could not create the containers yet; will create them on first write");
            }
        });
        let server = serve(self.listener, self.state, self.grace)?;
        let handle = server.handle();
        actix_web::rt::spawn(stop_on_signal(handle));
        server.await.context("the HTTP server failed")
    }
}

/// One worker: the handler waits on storage almost all the time, and on 1–2 cores a second worker
/// costs more in cross-thread wake-ups than it gains (BENCHMARKS.md). actix's own signal handling is
/// off: [`stop_on_signal`] drives the shutdown, so its grace period is ours.
fn serve<S: BlobStore + BlobSource + BlobSink>(
    listener: TcpListener,
    state: Arc<AppState<S>>,
    grace: Duration,
) -> anyhow::Result<Server> {
    let data = web::Data::from(state);
    let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(routes::<S>))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(grace.as_secs_f64().ceil() as u64)
        .keep_alive(KEEP_ALIVE)
        .client_request_timeout(REQUEST_HEAD_TIMEOUT)
        .client_disconnect_timeout(DISCONNECT_TIMEOUT)
        .max_connections(MAX_CONNECTIONS)
        .listen(listener)
        .context("could not serve on the bound port")?
        .run();
    Ok(server)
}

/// After SIGTERM the listener closes at once; in-flight invocations finish (and are acknowledged only
/// if stored) unless the grace period runs out, in which case their connections drop and the host
/// reports them failed, so Event Grid redelivers.
async fn stop_on_signal(handle: ServerHandle) {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; stopping on Ctrl-C only");
            let _ = ctrl_c.await;
        }
    }
    tracing::info!("shutting down: no new connections; finishing in-flight invocations");
    handle.stop(true).await;
}
