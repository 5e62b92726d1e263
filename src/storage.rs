//! Blob Storage: the narrow interface the archiver needs, and its Azure implementation.
//!
//! The archiver only ever creates blobs (`If-None-Match: *`) and reads back a stored content hash, so
//! that is all [`BlobStore`] offers. Keeping it this small lets the exactly-once logic in `archive` be
//! unit-tested against an in-memory store, while the integration tests prove it against Azurite.

use crate::config::StorageAuth;
use crate::layout::sha256_hex;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{
    ClientOptions, Context, ExponentialRetryOptions, Request, RequestContent, RetryOptions, StatusCode,
    Transport, Url,
};
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use azure_storage_blob::models::{BlobClientGetPropertiesResultHeaders, BlockBlobClientUploadOptions};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Metadata key holding the SHA-256 of the blob's bytes, written with every blob.
pub const META_CONTENT_SHA256: &str = "contentsha256";
/// Metadata key holding the SHA-256 of the archived event as it arrived.
pub const META_EVENT_SHA256: &str = "eventsha256";
/// Metadata key holding when the blob was archived (RFC 3339, UTC).
pub const META_ARCHIVED_AT: &str = "archivedat";

/// A blob to create.
#[derive(Debug, Clone, Copy)]
pub struct NewBlob<'a> {
    pub container: &'a str,
    pub name: &'a str,
    pub body: &'a [u8],
    pub content_sha256: &'a str,
    pub event_sha256: &'a str,
    pub archived_at: &'a str,
    /// The `x-ms-tags` header value.
    pub tags: &'a str,
}

/// What a create-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    AlreadyExists,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage answered {status} ({code})")]
    Service { status: u16, code: String },
    #[error("storage request failed: {0}")]
    Transport(String),
    #[error("{container}/{name} and its conflict name both hold other content")]
    Conflict { container: String, name: String },
}

/// The storage operations the archiver relies on.
pub trait BlobStore: Send + Sync + 'static {
    /// Creates the blob unless one of that name exists; never overwrites.
    fn create_if_absent(
        &self,
        blob: NewBlob<'_>,
    ) -> impl Future<Output = Result<PutOutcome, StorageError>> + Send;

    /// The SHA-256 of the event an existing record holds: from its metadata, or by reading the record
    /// when the metadata is missing (a blob written by hand, or by someone else).
    fn event_sha256(
        &self,
        container: &str,
        name: &str,
    ) -> impl Future<Output = Result<String, StorageError>> + Send;
}

/// Blob Storage through `azure_storage_blob`.
pub struct AzureBlobStore {
    containers: HashMap<String, BlobContainerClient>,
    index_tags: bool,
}

/// The account SAS service version we sign with.
const SAS_VERSION: &str = "2022-11-02";
/// How long a signed account SAS is valid, and when a fresh one replaces it: a handler process can
/// run for months on a dedicated plan, so the signature is renewed rather than made to last.
const SAS_VALIDITY: time::Duration = time::Duration::hours(48);
const SAS_RENEW_AFTER: time::Duration = time::Duration::hours(24);

impl AzureBlobStore {
    /// Builds one client per container, sharing one HTTP connection pool.
    pub fn new(auth: &StorageAuth, containers: &[&str], index_tags: bool) -> Result<Self, StorageError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            // Per-try cap; the invocation budget bounds the whole operation, retries included.
            .timeout(Duration::from_secs(8))
            .pool_idle_timeout(Duration::from_secs(50))
            .build()
            .map_err(|e| StorageError::Transport(redact(&e.to_string())))?;
        let mut options = BlobContainerClientOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(http))),
                retry: RetryOptions::exponential(ExponentialRetryOptions {
                    initial_delay: time::Duration::milliseconds(100),
                    max_retries: 5,
                    max_delay: time::Duration::seconds(2),
                    max_total_elapsed: time::Duration::seconds(20),
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let (credential, query): (Option<Arc<dyn TokenCredential>>, Option<String>) = match auth {
            StorageAuth::Sas { sas, .. } => (None, Some(sas.clone())),
            StorageAuth::AccountKey {
                account,
                key,
                blob_endpoint,
            } => {
                let policy = AccountSasPolicy::new(account, key, blob_endpoint.scheme() == "http");
                options.client_options.per_call_policies.push(Arc::new(policy));
                (None, None)
            }
            StorageAuth::ManagedIdentity { client_id, .. } => {
                let options = ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    ..Default::default()
                };
                let credential = ManagedIdentityCredential::new(Some(options)).map_err(from_azure)?;
                (Some(credential as Arc<dyn TokenCredential>), None)
            }
        };
        let mut clients = HashMap::new();
        for &name in containers {
            let mut url: Url = auth.blob_endpoint().clone();
            url.path_segments_mut()
                .map_err(|_| StorageError::Transport("the blob endpoint cannot hold a path".into()))?
                .pop_if_empty()
                .push(name);
            url.set_query(query.as_deref());
            let client = BlobContainerClient::new(url, credential.clone(), Some(options.clone()))
                .map_err(from_azure)?;
            clients.insert(name.to_owned(), client);
        }
        Ok(AzureBlobStore {
            containers: clients,
            index_tags,
        })
    }

    fn container(&self, name: &str) -> &BlobContainerClient {
        self.containers
            .get(name)
            .expect("containers are fixed at start-up and only configured names are used")
    }

    /// Creates every container that does not exist yet.
    pub async fn ensure_containers(&self) -> Result<(), StorageError> {
        for name in self.containers.keys() {
            self.create_container(name).await?;
        }
        Ok(())
    }

    async fn create_container(&self, name: &str) -> Result<(), StorageError> {
        match self.container(name).create(None).await {
            Ok(_) => Ok(()),
            Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(()),
            Err(e) => Err(from_azure(e)),
        }
    }

    async fn put(&self, blob: &NewBlob<'_>) -> azure_core::Result<()> {
        let options = BlockBlobClientUploadOptions {
            // Records are one PUT each; without this the SDK asks the OS for its available
            // parallelism (several file reads) on every upload: 16 % of the handler's CPU per event.
            parallel: std::num::NonZeroUsize::new(1),
            if_none_match: Some("*".into()),
            blob_content_type: Some("application/json".into()),
            blob_tags_string: (self.index_tags && !blob.tags.is_empty()).then(|| blob.tags.to_owned()),
            metadata: Some(HashMap::from([
                (META_CONTENT_SHA256.to_owned(), blob.content_sha256.to_owned()),
                (META_EVENT_SHA256.to_owned(), blob.event_sha256.to_owned()),
                (META_ARCHIVED_AT.to_owned(), blob.archived_at.to_owned()),
            ])),
            ..Default::default()
        };
        self.container(blob.container)
            .blob_client(blob.name)
            .block_blob_client()
            .upload(RequestContent::from(blob.body.to_vec()), Some(options))
            .await
            .map(drop)
    }
}

impl BlobStore for AzureBlobStore {
    async fn create_if_absent(&self, blob: NewBlob<'_>) -> Result<PutOutcome, StorageError> {
        let mut created_container = false;
        loop {
            return match self.put(&blob).await {
                Ok(()) => Ok(PutOutcome::Created),
                // 409 BlobAlreadyExists, or 412 ConditionNotMet from some service versions.
                Err(e)
                    if matches!(
                        e.http_status(),
                        Some(StatusCode::Conflict | StatusCode::PreconditionFailed)
                    ) =>
                {
                    Ok(PutOutcome::AlreadyExists)
                }
                // Containers are created at start-up, but may not exist yet (storage was down then)
                // or may have been deleted since: create and try once more.
                Err(e) if !created_container && error_code(&e) == Some("ContainerNotFound") => {
                    self.create_container(blob.container).await?;
                    created_container = true;
                    continue;
                }
                Err(e) => Err(from_azure(e)),
            };
        }
    }

    async fn event_sha256(&self, container: &str, name: &str) -> Result<String, StorageError> {
        let blob = self.container(container).blob_client(name);
        let properties = blob.get_properties(None).await.map_err(from_azure)?;
        let metadata = properties.metadata().map_err(from_azure)?;
        if let Some(hash) = metadata.get(META_EVENT_SHA256) {
            return Ok(hash.clone());
        }
        let body = blob
            .download(None)
            .await
            .map_err(from_azure)?
            .body
            .collect()
            .await
            .map_err(from_azure)?;
        Ok(event_sha256_of_record(&body))
    }
}

/// The event hash of a stored record's bytes; a blob that is not a record hashes as a whole, which
/// never matches an event, so it is kept and the new event goes beside it.
pub fn event_sha256_of_record(record: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Stored<'a> {
        #[serde(borrow)]
        event: &'a serde_json::value::RawValue,
    }
    match serde_json::from_slice::<Stored<'_>>(record) {
        Ok(stored) => sha256_hex(stored.event.get().as_bytes()),
        Err(_) => sha256_hex(record),
    }
}

fn error_code(e: &azure_core::Error) -> Option<&str> {
    match e.kind() {
        ErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

fn from_azure(e: azure_core::Error) -> StorageError {
    match e.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => StorageError::Service {
            status: u16::from(*status),
            code: error_code.clone().unwrap_or_else(|| "no error code".into()),
        },
        _ => StorageError::Transport(redact(&format!("{e:#}"))),
    }
}

/// Signs every request with an account SAS made from the account key, renewed once a day.
struct AccountSasPolicy {
    account: String,
    key: Vec<u8>,
    allow_http: bool,
    /// The current SAS query and when to replace it.
    current: std::sync::Mutex<(String, OffsetDateTime)>,
}

impl AccountSasPolicy {
    fn new(account: &str, key: &[u8], allow_http: bool) -> Self {
        let now = OffsetDateTime::now_utc();
        AccountSasPolicy {
            account: account.to_owned(),
            key: key.to_owned(),
            allow_http,
            current: std::sync::Mutex::new((
                account_sas(account, key, now, allow_http),
                now + SAS_RENEW_AFTER,
            )),
        }
    }

    fn sas(&self) -> String {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = OffsetDateTime::now_utc();
        if now >= current.1 {
            *current = (
                account_sas(&self.account, &self.key, now, self.allow_http),
                now + SAS_RENEW_AFTER,
            );
        }
        current.0.clone()
    }
}

// The key must never reach a log through a Debug print of the pipeline.
impl std::fmt::Debug for AccountSasPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSasPolicy")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Policy for AccountSasPolicy {
    async fn send(&self, ctx: &Context, request: &mut Request, next: &[Arc<dyn Policy>]) -> PolicyResult {
        let sas = self.sas();
        let url = request.url_mut();
        let query = match url.query() {
            Some(q) if !q.is_empty() => format!("{q}&{sas}"),
            _ => sas,
        };
        url.set_query(Some(&query));
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// Transport errors quote the request URL, which holds the SAS signature: never let it reach a log.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("sig=") {
        out.push_str(&rest[..i + 4]);
        out.push_str("REDACTED");
        rest = &rest[i + 4..];
        let end = rest
            .find(|c: char| c == '&' || c == ')' || c.is_whitespace())
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// An account SAS for the blob service, signed with the account key (the documented algorithm for
/// service version 2020-12-06 and later). It allows what the archiver does: create containers, create
/// blobs with tags, read properties and content.
pub fn account_sas(account: &str, key: &[u8], now: OffsetDateTime, allow_http: bool) -> String {
    let format = |t: OffsetDateTime| {
        t.replace_nanosecond(0)
            .expect("zero nanoseconds is valid")
            .format(&Rfc3339)
            .expect("UTC times format as RFC 3339")
    };
    // Starting a little in the past tolerates clock skew between this host and storage.
    let start = format(now - time::Duration::minutes(15));
    let expiry = format(now + SAS_VALIDITY);
    let (permissions, services, resource_types) = ("rwlct", "b", "sco");
    let protocol = if allow_http { "https,http" } else { "https" };
    let string_to_sign = format!(
        "{account}\n{permissions}\n{services}\n{resource_types}\n{start}\n{expiry}\n\n{protocol}\n{SAS_VERSION}\n\n"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut query = Url::parse("http://sas.invalid/").expect("static URL");
    query
        .query_pairs_mut()
        .append_pair("sv", SAS_VERSION)
        .append_pair("ss", services)
        .append_pair("srt", resource_types)
        .append_pair("sp", permissions)
        .append_pair("st", &start)
        .append_pair("se", &expiry)
        .append_pair("spr", protocol)
        .append_pair("sig", &signature);
    query.query().expect("query was just set").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn account_sas_matches_the_documented_string_to_sign() {
        let sas = account_sas(
            "devstoreaccount1",
            b"key",
            datetime!(2026-01-01 12:00:00.5 UTC),
            true,
        );
        assert!(sas.starts_with("sv=2022-11-02&ss=b&srt=sco&sp=rwlct&st=2026-01-01T11%3A45%3A00Z&se=2026-01-03T12%3A00%3A00Z&spr=https%2Chttp&sig="), "{sas}");
        let expected = {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
            mac.update(b"devstoreaccount1\nrwlct\nb\nsco\n2026-01-01T11:45:00Z\n2026-01-03T12:00:00Z\n\nhttps,http\n2022-11-02\n\n");
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        };
        let url = Url::parse(&format!("http://h/?{sas}")).unwrap();
        let sig = url
            .query_pairs()
            .find(|(k, _)| k == "sig")
            .unwrap()
            .1
            .into_owned();
        assert_eq!(sig, expected);
    }

    #[test]
    fn signatures_never_survive_in_error_text() {
        assert_eq!(
            redact(
                "error sending request for url (http://h/c/b?sv=1&sig=abc%2Bdef&se=2) (connection refused)"
            ),
            "error sending request for url (http://h/c/b?sv=1&sig=REDACTED&se=2) (connection refused)"
        );
        assert_eq!(redact("x sig=abc"), "x sig=REDACTED");
    }
}
