//! The storage SDK's HTTP transport: hyper's pooled client, driven directly.
//!
//! The SDK's pipeline (retries, request ids, identity, SAS or bearer token) runs as before; only its
//! last step, sending one attempt, is this. reqwest did the same job with layers the SDK does not use
//! (redirects, its own retries and decompression), and parsed each request's URL twice more on the
//! way: about a tenth of the handler's instructions per event (BENCHMARKS.md, issue 13).

use super::sas::AccountSasSigner;
use azure_core::error::{Error, ErrorKind};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::request::{Body, Request};
use azure_core::http::{AsyncRawResponse, HttpClient, Method};
use azure_core::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

type SendError = Box<dyn std::error::Error + Send + Sync>;

/// Sends the SDK's requests over one pool of keep-alive connections.
pub(super) struct HyperTransport {
    client: Client<HttpsConnector<HttpConnector>, BoxBody<Bytes, SendError>>,
    /// Appended to every request's query when storage is reached with an account key. Done here,
    /// on the URL text, rather than in a pipeline policy: `Url::set_query` re-parses the whole query.
    sas: Option<AccountSasSigner>,
    /// Per attempt, the answer's body included; the SDK's retry policy bounds the whole operation.
    timeout: Duration,
}

impl HyperTransport {
    pub(super) fn new(
        roots: rustls::RootCertStore,
        connect_timeout: Duration,
        timeout: Duration,
        pool_idle_timeout: Duration,
        sas: Option<AccountSasSigner>,
    ) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(HyperTransport { client, sas, timeout })
    }

    fn uri(&self, request: &Request) -> Result<http::Uri, Error> {
        let url = request.url().as_str();
        let uri = match &self.sas {
            None => http::Uri::try_from(url),
            Some(signer) => {
                let sas = signer.sas();
                let mut text = String::with_capacity(url.len() + 1 + sas.len());
                text.push_str(url);
                match request.url().query() {
                    // The URL already ends in `?`.
                    Some("") => {}
                    Some(_) => text.push('&'),
                    None => text.push('?'),
                }
                text.push_str(&sas);
                http::Uri::try_from(text)
            }
        };
        uri.map_err(|e| Error::with_error(ErrorKind::Other, e, "the request URL is not a valid URI"))
    }
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport")
            .field("sas", &self.sas)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl HttpClient for HyperTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let mut builder = http::Request::builder()
            .method(method(request.method())?)
            .uri(self.uri(request)?);
        if let Some(headers) = builder.headers_mut() {
            headers.reserve(16);
            for (name, value) in request.headers().iter() {
                let name = http::HeaderName::from_bytes(name.as_str().as_bytes())
                    .map_err(|e| Error::with_error(ErrorKind::Other, e, "invalid header name"))?;
                let value = http::HeaderValue::from_str(value.as_str())
                    .map_err(|e| Error::with_error(ErrorKind::Other, e, "invalid header value"))?;
                headers.append(name, value);
            }
        }
        let body = match request.body() {
            Body::Bytes(bytes) => Full::new(bytes.clone()).map_err(|never| match never {}).boxed(),
            Body::SeekableStream(stream) => {
                let frames = stream
                    .clone()
                    .map_ok(hyper::body::Frame::data)
                    .map_err(|e| Box::new(e) as SendError);
                BodyExt::boxed(StreamBody::new(frames))
            }
        };
        let outgoing = builder
            .body(body)
            .map_err(|e| Error::with_error(ErrorKind::Other, e, "could not build the request"))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let response = match tokio::time::timeout_at(deadline, self.client.request(outgoing)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let kind = if e.is_connect() {
                    ErrorKind::Connection
                } else {
                    ErrorKind::Io
                };
                let message = format!("{} {} failed", request.method(), without_query(request));
                return Err(Error::with_error(kind, e, message));
            }
            Err(elapsed) => {
                let message = format!("{} {} timed out", request.method(), without_query(request));
                return Err(Error::with_error(ErrorKind::Io, elapsed, message));
            }
        };
        let (parts, incoming) = response.into_parts();
        let mut headers = HashMap::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            // As the SDK's own reqwest transport does: a header that is not text is left out.
            if let Ok(value) = value.to_str() {
                headers.insert(header_name(name.as_str()), HeaderValue::from(value.to_owned()));
            }
        }
        let body = BodyStream::new(incoming)
            .try_filter_map(|frame| futures::future::ready(Ok(frame.into_data().ok())));
        let body = WithDeadline {
            inner: body.map_err(|e| Error::with_error(ErrorKind::Io, e, "reading the answer failed")),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            expired: false,
        };
        Ok(AsyncRawResponse::new(
            parts.status.as_u16().into(),
            Headers::from(headers),
            Box::pin(body),
        ))
    }
}

/// The SDK's name of a header of an answer. hyper's names are lower case already; those storage
/// sends on every answer are taken from constants, without the copy and case folding of
/// `HeaderName::from(String)`.
fn header_name(name: &str) -> HeaderName {
    match name {
        "connection" => const { HeaderName::from_static("connection") },
        "content-length" => const { HeaderName::from_static("content-length") },
        "content-md5" => const { HeaderName::from_static("content-md5") },
        "content-type" => const { HeaderName::from_static("content-type") },
        "date" => const { HeaderName::from_static("date") },
        "etag" => const { HeaderName::from_static("etag") },
        "keep-alive" => const { HeaderName::from_static("keep-alive") },
        "last-modified" => const { HeaderName::from_static("last-modified") },
        "server" => const { HeaderName::from_static("server") },
        "x-ms-client-request-id" => const { HeaderName::from_static("x-ms-client-request-id") },
        "x-ms-content-crc64" => const { HeaderName::from_static("x-ms-content-crc64") },
        "x-ms-error-code" => const { HeaderName::from_static("x-ms-error-code") },
        "x-ms-request-id" => const { HeaderName::from_static("x-ms-request-id") },
        "x-ms-request-server-encrypted" => const { HeaderName::from_static("x-ms-request-server-encrypted") },
        "x-ms-version" => const { HeaderName::from_static("x-ms-version") },
        "x-ms-version-id" => const { HeaderName::from_static("x-ms-version-id") },
        other => HeaderName::from(other.to_owned()),
    }
}

/// The request's address for an error message: never its query, which may hold a signature.
fn without_query(request: &Request) -> String {
    let url = request.url();
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.path()
    )
}

fn method(method: Method) -> Result<http::Method, Error> {
    Ok(match method {
        Method::Delete => http::Method::DELETE,
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Patch => http::Method::PATCH,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        other => http::Method::from_bytes(other.as_ref().as_bytes())
            .map_err(|e| Error::with_error(ErrorKind::Other, e, "invalid method"))?,
    })
}

/// An answer's body that fails once the attempt's time is up, as the rest of the attempt does.
struct WithDeadline<S> {
    inner: S,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// The error was given: the body ends there.
    expired: bool,
}

impl<S: Stream<Item = azure_core::Result<Bytes>> + Unpin> Stream for WithDeadline<S> {
    type Item = azure_core::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(Error::with_message(
                ErrorKind::Io,
                "the answer's body did not arrive in time",
            ))));
        }
        self.inner.poll_next_unpin(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::Url;

    fn transport() -> HyperTransport {
        let signer = AccountSasSigner::new("devstoreaccount1", b"key", true);
        let second = Duration::from_secs(1);
        HyperTransport::new(
            rustls::RootCertStore::empty(),
            second,
            second,
            second,
            Some(signer),
        )
        .unwrap()
    }

    fn uri(url: &str) -> String {
        let request = Request::new(Url::parse(url).unwrap(), Method::Put);
        transport().uri(&request).unwrap().to_string()
    }

    #[test]
    fn the_account_sas_follows_whatever_query_the_request_has() {
        assert!(
            uri("http://h/c/b.json").starts_with("http://h/c/b.json?sv="),
            "{}",
            uri("http://h/c/b.json")
        );
        assert!(uri("http://h/c?restype=container").starts_with("http://h/c?restype=container&sv="));
        assert!(
            uri("http://h/c/b?").starts_with("http://h/c/b?sv="),
            "{}",
            uri("http://h/c/b?")
        );
        assert!(uri("http://h/c/b.json").contains("&sig="));
    }
}
