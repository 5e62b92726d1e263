//! Blob Storage: the narrow interface the archive needs, and its implementations.
//!
//! The archiver only ever creates blobs (`If-None-Match: *`) and reads back stored event hashes; jobs
//! also claim a blob with a lease and mark it with metadata written `If-Match`. That is all
//! [`BlobStore`] offers. Keeping it this small lets the exactly-once logic in `archive` be
//! unit-tested against [`memory::MemoryStore`], while the integration tests prove it against Azurite.

mod azure;
pub mod memory;
mod sas;
mod transport;

pub use azure::AzureBlobStore;
pub use sas::account_sas;
pub use sas::redact;

use crate::archive::identity::canonical_sha256;
use crate::archive::layout::sha256_hex;
use std::collections::HashMap;
use std::future::Future;

/// Metadata key holding the SHA-256 of the blob's bytes, written with every blob.
pub const META_CONTENT_SHA256: &str = "contentsha256";
/// Metadata key holding the SHA-256 of the archived event as it arrived.
pub const META_EVENT_SHA256: &str = "eventsha256";
/// Metadata key holding the SHA-256 of the archived event's canonical form (RFC 8785, dead-letter
/// delivery properties left out: `archive::identity`). Records written before it existed lack it.
pub const META_EVENT_CANONICAL_SHA256: &str = "eventcanonicalsha256";
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
    pub event_canonical_sha256: &'a str,
    pub archived_at: &'a str,
    /// The `x-ms-tags` header value.
    pub tags: &'a str,
    /// Further metadata (keys are fixed names; values are made header-safe by [`metadata_value`]).
    pub metadata: &'a [(&'static str, String)],
}

/// How a stored record's event is known: what tells a redelivery from another event with its id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventHashes {
    /// `eventsha256`: the event's bytes as they arrived.
    pub sha256: String,
    /// `eventcanonicalsha256`: its content; `None` for a record written before this hash existed.
    pub canonical_sha256: Option<String>,
}

impl EventHashes {
    /// The hashes in a blob's metadata, if it has the event hash.
    pub fn from_metadata(metadata: &HashMap<String, String>) -> Option<Self> {
        Some(EventHashes {
            sha256: metadata.get(META_EVENT_SHA256)?.clone(),
            canonical_sha256: metadata.get(META_EVENT_CANONICAL_SHA256).cloned(),
        })
    }

    /// Whether the stored event is the event with these hashes: the same bytes, or the same content.
    /// `None` when that cannot be told from the hashes: the record predates the canonical hash and
    /// its bytes differ, so the stored event must be read (see [`BlobStore::read_event_hashes`]).
    pub fn same_event(&self, sha256: &str, canonical_sha256: &str) -> Option<bool> {
        if self.sha256 == sha256 {
            return Some(true);
        }
        self.canonical_sha256.as_ref().map(|c| c == canonical_sha256)
    }
}

/// A metadata value as HTTP headers carry it: printable ASCII, no surrounding spaces, at most 256
/// characters (anything else becomes `?`).
pub fn metadata_value(text: &str) -> String {
    text.trim()
        .chars()
        .take(256)
        .map(|c| if c == ' ' || c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// What trying to take a lease on a blob found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The lease is ours, with this id, until released or expired.
    Held(String),
    /// Someone else holds a lease on it.
    Busy,
    /// It changed since the ETag given (or is gone).
    Changed,
}

/// What a create-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    AlreadyExists,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// Storage answered with an error status. `message` is the service's own text, when it sent one.
    #[error("storage answered {status} ({code}){}", hint_suffix(*status, code))]
    Service { status: u16, code: String },
    /// No answer: the whole cause chain (connection refused, DNS, TLS, identity...), redacted.
    #[error("storage request failed: {0}")]
    Transport(String),
    #[error("{container}/{name} and its conflict name both hold other content")]
    Conflict { container: String, name: String },
}

impl StorageError {
    /// Whether retrying cannot help until someone changes the configuration (a role, a key, an
    /// account name). Such errors are still answered 5xx so that Event Grid keeps the event and, in
    /// the end, dead-letters it; they are logged as configuration problems.
    pub fn is_configuration_problem(&self) -> bool {
        match self {
            StorageError::Service { status, .. } => matches!(status, 401 | 403),
            StorageError::Transport(text) => text.contains("dns error") || text.contains("failed to lookup"),
            StorageError::Conflict { .. } => false,
        }
    }
}

fn hint_suffix(status: u16, code: &str) -> &'static str {
    match (status, code) {
        (403, "AuthorizationPermissionMismatch" | "AuthorizationFailure") => {
            ": check that the handler's identity has Storage Blob Data Owner on the archive account"
        }
        (403, _) | (401, _) => {
            ": check the account key, SAS (permissions r w l c t, not expired) or identity role on the archive account"
        }
        _ => "",
    }
}

/// The storage operations the archiver relies on.
pub trait BlobStore: Send + Sync + 'static {
    /// Creates the blob unless one of that name exists; never overwrites.
    fn create_if_absent(
        &self,
        blob: NewBlob<'_>,
    ) -> impl Future<Output = Result<PutOutcome, StorageError>> + Send;

    /// The hashes of the event an existing record holds: from its metadata, or by reading the record
    /// when the metadata is missing (a blob written by hand, or by someone else).
    fn event_hashes(
        &self,
        container: &str,
        name: &str,
    ) -> impl Future<Output = Result<EventHashes, StorageError>> + Send;

    /// Both hashes of the event a record holds, computed from the record itself: for records written
    /// before the canonical hash existed, when their bytes hash does not match.
    fn read_event_hashes(
        &self,
        container: &str,
        name: &str,
    ) -> impl Future<Output = Result<EventHashes, StorageError>> + Send;

    /// The event hashes of each blob under `prefix` that has them in its metadata, from at most
    /// `max_pages` pages of the listing (5,000 blobs each): one request where checking blob by blob
    /// would take two per blob. An absent container lists as empty.
    fn listed_event_hashes(
        &self,
        container: &str,
        prefix: &str,
        max_pages: usize,
    ) -> impl Future<Output = Result<HashMap<String, EventHashes>, StorageError>> + Send;

    /// Takes a lease of `seconds` (15 to 60) on a blob, only if it is unchanged since `etag`: how a
    /// job claims a blob so that a second run does not do the same work at the same time.
    fn try_lease(
        &self,
        container: &str,
        name: &str,
        etag: &str,
        seconds: u32,
    ) -> impl Future<Output = Result<Claim, StorageError>> + Send;

    /// Gives a lease back before it expires.
    fn release_lease(
        &self,
        container: &str,
        name: &str,
        lease_id: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Replaces a blob's metadata, only if it is unchanged since `etag` (and under `lease_id` when
    /// leased). `Ok(false)` when it changed meanwhile.
    fn set_metadata_if(
        &self,
        container: &str,
        name: &str,
        etag: &str,
        lease_id: Option<&str>,
        metadata: &HashMap<String, String>,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;
}

/// A blob as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    pub name: String,
    /// For conditional writes (`If-Match`) that must not overwrite a change made meanwhile.
    pub etag: String,
    pub last_modified: Option<time::OffsetDateTime>,
    pub size: u64,
    pub metadata: HashMap<String, String>,
}

/// One page of a listing, and where the next one starts.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub blobs: Vec<ListedBlob>,
    /// `None` on the last page.
    pub next: Option<String>,
}

/// A blob's bytes and its ETag.
#[derive(Debug, Clone)]
pub struct ReadBlob {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// Reading the archive back: what the jobs (compaction, dead-letter recovery, reports) need.
/// Listings come a page at a time (up to 5,000 blobs), so memory never grows with a prefix's size.
pub trait BlobSource: Send + Sync + 'static {
    /// One page of the blobs under `prefix` (name order, with metadata), starting at `marker` (the
    /// `next` of the page before, `None` for the first). An absent container lists as empty.
    fn list_page(
        &self,
        container: &str,
        prefix: &str,
        marker: Option<&str>,
    ) -> impl Future<Output = Result<ListPage, StorageError>> + Send;

    /// Whether any blob's name starts with `prefix`; one small request where the store can cap a
    /// listing at one name.
    fn any_under(
        &self,
        container: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send {
        async move { Ok(!self.list_page(container, prefix, None).await?.blobs.is_empty()) }
    }

    /// The blob's bytes, or `None` when it does not exist.
    fn read(
        &self,
        container: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<ReadBlob>, StorageError>> + Send;
}

/// When a write may take effect: the optimistic concurrency of the jobs that replace what they
/// wrote before (compaction). A write whose condition does not hold changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Only if no blob of that name exists (`If-None-Match: *`).
    Absent,
    /// Only if the blob still has this ETag (`If-Match`), i.e. nobody replaced it since it was read.
    Matches(String),
}

/// What a conditional write found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written; the blob's new ETag.
    Written { etag: String },
    /// The condition did not hold (someone else wrote first); nothing was changed.
    ConditionFailed,
}

/// A blob written whole by a job, with its content type and metadata.
#[derive(Debug, Clone, Copy)]
pub struct JobBlob<'a> {
    pub container: &'a str,
    pub name: &'a str,
    pub content_type: &'a str,
    pub metadata: &'a HashMap<String, String>,
    pub condition: &'a WriteCondition,
}

/// Writing files that the jobs build (compaction's Parquet): one request for a small file, or blocks
/// staged one by one and committed at once, so a large file never has to be held in memory whole.
/// Either way the blob changes in one step: readers see the old content or the new, never a mix.
pub trait BlobSink: Send + Sync + 'static {
    /// Writes `body` as the whole blob in one request, if `blob.condition` holds.
    fn put_whole(
        &self,
        blob: JobBlob<'_>,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<WriteOutcome, StorageError>> + Send;

    /// Uploads one block of a blob being written; nothing is visible until [`BlobSink::commit_blocks`].
    /// Block ids of one blob must all have the same length.
    fn stage_block(
        &self,
        container: &str,
        name: &str,
        block_id: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Makes the staged blocks, in this order, the blob's content, if `blob.condition` holds. A block
    /// list that storage no longer has (another writer committed the blob meanwhile, which drops every
    /// uncommitted block) is reported as [`WriteOutcome::ConditionFailed`] too.
    fn commit_blocks(
        &self,
        blob: JobBlob<'_>,
        block_ids: &[String],
    ) -> impl Future<Output = Result<WriteOutcome, StorageError>> + Send;
}

/// The event hashes of a stored record's bytes, computed from its `event`; a blob that is not a
/// record hashes as a whole, which never matches an event, so it is kept and the new event goes
/// beside it.
pub fn event_hashes_of_record(record: &[u8]) -> EventHashes {
    #[derive(serde::Deserialize)]
    struct Stored<'a> {
        #[serde(borrow)]
        event: &'a serde_json::value::RawValue,
    }
    match serde_json::from_slice::<Stored<'_>>(record) {
        Ok(stored) => EventHashes {
            sha256: sha256_hex(stored.event.get().as_bytes()),
            canonical_sha256: Some(canonical_sha256(stored.event.get())),
        },
        Err(_) => {
            let whole = sha256_hex(record);
            EventHashes {
                canonical_sha256: Some(whole.clone()),
                sha256: whole,
            }
        }
    }
}

/// An error and every error behind it, outermost first, each said once: the storage SDK wraps
/// "connection refused" three layers deep, and the outer layers alone say nothing a user can act on.
pub fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![];
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);
    #[derive(Debug, thiserror::Error)]
    #[error("connection refused")]
    struct Inner;

    #[test]
    fn cause_chain_says_every_cause_once() {
        assert_eq!(cause_chain(&Outer(Inner)), "outer: connection refused");
    }

    #[test]
    fn permission_errors_say_what_to_check() {
        let e = StorageError::Service {
            status: 403,
            code: "AuthorizationPermissionMismatch".into(),
        };
        assert!(e.is_configuration_problem());
        assert!(e.to_string().contains("Storage Blob Data Owner"), "{e}");
        let e = StorageError::Service {
            status: 503,
            code: "ServerBusy".into(),
        };
        assert!(!e.is_configuration_problem());
        assert_eq!(e.to_string(), "storage answered 503 (ServerBusy)");
    }
}
