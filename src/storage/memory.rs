//! An in-memory [`BlobStore`] with create-only semantics, for unit tests of pure logic (the archive
//! algorithm, the ingestion core, the host layer). The proof against real storage is `tests/api`.

use super::{
    event_hashes_of_record, BlobSink, BlobSource, BlobStore, Claim, EventHashes, JobBlob, ListPage,
    ListedBlob, NewBlob, PutOutcome, ReadBlob, WriteCondition, WriteOutcome,
};
use super::{
    StorageError, META_ARCHIVED_AT, META_CONTENT_SHA256, META_EVENT_CANONICAL_SHA256, META_EVENT_SHA256,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone)]
struct Blob {
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
    etag: String,
    lease: Option<String>,
}

#[derive(Default)]
pub struct MemoryStore {
    blobs: Mutex<BTreeMap<(String, String), Blob>>,
    /// Blob names whose writes fail with a 503, to test partial failure.
    failing: Mutex<HashSet<String>>,
    /// How long every request takes.
    latency: Mutex<Duration>,
    requests: AtomicUsize,
    /// Source of ETags and lease ids.
    versions: AtomicUsize,
    /// Staged, uncommitted blocks by (container, name, block id).
    blocks: Mutex<HashMap<(String, String, String), Vec<u8>>>,
    /// Writes through [`BlobSink`] that took effect.
    writes: AtomicUsize,
}

impl MemoryStore {
    pub fn fail_writes_to(&self, name: &str) {
        self.failing.lock().unwrap().insert(name.to_owned());
    }

    /// Writes stop failing.
    pub fn heal(&self) {
        self.failing.lock().unwrap().clear();
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().unwrap() = latency;
    }

    /// Every stored blob name, by container.
    pub fn names(&self) -> Vec<(String, String)> {
        self.blobs.lock().unwrap().keys().cloned().collect()
    }

    /// A blob's bytes, if it exists.
    pub fn bytes(&self, container: &str, name: &str) -> Option<Vec<u8>> {
        self.get(container, name).map(|b| b.bytes)
    }

    /// A blob's metadata (empty if it does not exist).
    pub fn metadata(&self, container: &str, name: &str) -> HashMap<String, String> {
        self.get(container, name).map(|b| b.metadata).unwrap_or_default()
    }

    /// Puts a blob as someone else would (Event Grid dead-lettering, an earlier version of the
    /// handler): overwriting, with exactly the metadata given.
    pub fn put(&self, container: &str, name: &str, bytes: &[u8], metadata: &[(&str, &str)]) {
        let blob = Blob {
            bytes: bytes.to_vec(),
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            etag: self.next_version(),
            lease: None,
        };
        self.blobs
            .lock()
            .unwrap()
            .insert((container.to_owned(), name.to_owned()), blob);
    }

    /// A stored blob's metadata, if it exists.
    pub fn metadata_of(&self, container: &str, name: &str) -> Option<HashMap<String, String>> {
        self.get(container, name).map(|b| b.metadata)
    }

    /// A stored blob's bytes, if it exists.
    pub fn bytes_of(&self, container: &str, name: &str) -> Option<Vec<u8>> {
        self.bytes(container, name)
    }

    /// Writes that went through [`BlobSink`] and took effect.
    pub fn job_writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// Writes a record with the metadata the archive gives it, for tests of the jobs that read it.
    pub fn insert_record(&self, container: &str, name: &str, body: &[u8], archived_at: &str) {
        let hashes = event_hashes_of_record(body);
        let canonical = hashes.canonical_sha256.unwrap_or_default();
        self.put(
            container,
            name,
            body,
            &[
                (META_EVENT_SHA256, &hashes.sha256),
                (META_EVENT_CANONICAL_SHA256, &canonical),
                (META_ARCHIVED_AT, archived_at),
            ],
        );
    }

    /// Stores `body` if `condition` holds for the blob as it is now, all under one lock.
    fn write_if(&self, blob: JobBlob<'_>, body: Vec<u8>) -> WriteOutcome {
        let key = (blob.container.to_owned(), blob.name.to_owned());
        let mut blobs = self.blobs.lock().unwrap();
        let current = blobs.get(&key).map(|b| b.etag.clone());
        let holds = match blob.condition {
            WriteCondition::Absent => current.is_none(),
            WriteCondition::Matches(etag) => current.as_deref() == Some(etag.as_str()),
        };
        if !holds {
            return WriteOutcome::ConditionFailed;
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        let etag = self.next_version();
        blobs.insert(
            key,
            Blob {
                bytes: body,
                metadata: blob.metadata.clone(),
                etag: etag.clone(),
                lease: None,
            },
        );
        WriteOutcome::Written { etag }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn get(&self, container: &str, name: &str) -> Option<Blob> {
        self.blobs
            .lock()
            .unwrap()
            .get(&(container.to_owned(), name.to_owned()))
            .cloned()
    }

    fn next_version(&self) -> String {
        format!("0x{:x}", self.versions.fetch_add(1, Ordering::SeqCst) + 1)
    }

    async fn request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    fn fails(&self, name: &str) -> Result<(), StorageError> {
        if self.failing.lock().unwrap().contains(name) {
            return Err(StorageError::Service {
                status: 503,
                code: "ServerBusy".into(),
            });
        }
        Ok(())
    }
}

fn not_found() -> StorageError {
    StorageError::Service {
        status: 404,
        code: "BlobNotFound".into(),
    }
}

impl BlobStore for MemoryStore {
    async fn create_if_absent(&self, blob: NewBlob<'_>) -> Result<PutOutcome, StorageError> {
        self.request().await;
        self.fails(blob.name)?;
        let mut blobs = self.blobs.lock().unwrap();
        let key = (blob.container.to_owned(), blob.name.to_owned());
        if blobs.contains_key(&key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        let mut metadata = HashMap::from([
            (META_CONTENT_SHA256.to_owned(), blob.content_sha256.to_owned()),
            (META_EVENT_SHA256.to_owned(), blob.event_sha256.to_owned()),
            (
                META_EVENT_CANONICAL_SHA256.to_owned(),
                blob.event_canonical_sha256.to_owned(),
            ),
            (META_ARCHIVED_AT.to_owned(), blob.archived_at.to_owned()),
        ]);
        metadata.extend(blob.metadata.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let stored = Blob {
            bytes: blob.body.to_vec(),
            metadata,
            etag: self.next_version(),
            lease: None,
        };
        blobs.insert(key, stored);
        Ok(PutOutcome::Created)
    }

    async fn event_hashes(&self, container: &str, name: &str) -> Result<EventHashes, StorageError> {
        self.request().await;
        let blob = self.get(container, name).ok_or_else(not_found)?;
        Ok(EventHashes::from_metadata(&blob.metadata).unwrap_or_else(|| event_hashes_of_record(&blob.bytes)))
    }

    async fn read_event_hashes(&self, container: &str, name: &str) -> Result<EventHashes, StorageError> {
        self.request().await;
        let blob = self.get(container, name).ok_or_else(not_found)?;
        Ok(event_hashes_of_record(&blob.bytes))
    }

    async fn listed_event_hashes(
        &self,
        container: &str,
        prefix: &str,
        _max_pages: usize,
    ) -> Result<HashMap<String, EventHashes>, StorageError> {
        self.request().await;
        let blobs = self.blobs.lock().unwrap();
        Ok(blobs
            .iter()
            .filter(|((c, name), _)| c == container && name.starts_with(prefix))
            .filter_map(|((_, name), blob)| Some((name.clone(), EventHashes::from_metadata(&blob.metadata)?)))
            .collect())
    }

    async fn try_lease(
        &self,
        container: &str,
        name: &str,
        etag: &str,
        _seconds: u32,
    ) -> Result<Claim, StorageError> {
        self.request().await;
        let lease_id = self.next_version();
        let mut blobs = self.blobs.lock().unwrap();
        let Some(blob) = blobs.get_mut(&(container.to_owned(), name.to_owned())) else {
            return Ok(Claim::Changed);
        };
        if blob.etag != etag {
            return Ok(Claim::Changed);
        }
        if blob.lease.is_some() {
            return Ok(Claim::Busy);
        }
        blob.lease = Some(lease_id.clone());
        Ok(Claim::Held(lease_id))
    }

    async fn release_lease(&self, container: &str, name: &str, lease_id: &str) -> Result<(), StorageError> {
        self.request().await;
        let mut blobs = self.blobs.lock().unwrap();
        if let Some(blob) = blobs.get_mut(&(container.to_owned(), name.to_owned())) {
            if blob.lease.as_deref() == Some(lease_id) {
                blob.lease = None;
            }
        }
        Ok(())
    }

    async fn set_metadata_if(
        &self,
        container: &str,
        name: &str,
        etag: &str,
        lease_id: Option<&str>,
        metadata: &HashMap<String, String>,
    ) -> Result<bool, StorageError> {
        self.request().await;
        self.fails(name)?;
        let etag_after = self.next_version();
        let mut blobs = self.blobs.lock().unwrap();
        let Some(blob) = blobs.get_mut(&(container.to_owned(), name.to_owned())) else {
            return Ok(false);
        };
        if blob.etag != etag || (blob.lease.is_some() && blob.lease.as_deref() != lease_id) {
            return Ok(false);
        }
        blob.metadata = metadata.clone();
        blob.etag = etag_after;
        Ok(true)
    }
}

/// Pages of two blobs, so that tests go through more than one page.
const MEMORY_PAGE: usize = 2;

impl BlobSource for MemoryStore {
    async fn list_page(
        &self,
        container: &str,
        prefix: &str,
        marker: Option<&str>,
    ) -> Result<ListPage, StorageError> {
        self.request().await;
        let blobs = self.blobs.lock().unwrap();
        let mut page: Vec<ListedBlob> = blobs
            .iter()
            .filter(|((c, name), _)| {
                c == container && name.starts_with(prefix) && marker.is_none_or(|m| name.as_str() >= m)
            })
            .take(MEMORY_PAGE + 1)
            .map(|((_, name), blob)| ListedBlob {
                name: name.clone(),
                etag: blob.etag.clone(),
                last_modified: None,
                size: blob.bytes.len() as u64,
                metadata: blob.metadata.clone(),
            })
            .collect();
        let next = (page.len() > MEMORY_PAGE).then(|| page.pop().unwrap().name);
        Ok(ListPage { blobs: page, next })
    }

    async fn read(&self, container: &str, name: &str) -> Result<Option<ReadBlob>, StorageError> {
        self.request().await;
        Ok(self.get(container, name).map(|blob| ReadBlob {
            etag: blob.etag,
            bytes: blob.bytes,
        }))
    }
}

impl BlobSink for MemoryStore {
    async fn put_whole(&self, blob: JobBlob<'_>, body: Vec<u8>) -> Result<WriteOutcome, StorageError> {
        self.request().await;
        self.fails(blob.name)?;
        Ok(self.write_if(blob, body))
    }

    async fn stage_block(
        &self,
        container: &str,
        name: &str,
        block_id: &str,
        body: Vec<u8>,
    ) -> Result<(), StorageError> {
        self.request().await;
        self.fails(name)?;
        let key = (container.to_owned(), name.to_owned(), block_id.to_owned());
        self.blocks.lock().unwrap().insert(key, body);
        Ok(())
    }

    async fn commit_blocks(
        &self,
        blob: JobBlob<'_>,
        block_ids: &[String],
    ) -> Result<WriteOutcome, StorageError> {
        self.request().await;
        let mut blocks = self.blocks.lock().unwrap();
        let key = |id: &String| (blob.container.to_owned(), blob.name.to_owned(), id.clone());
        let mut body = vec![];
        for id in block_ids {
            match blocks.get(&key(id)) {
                Some(block) => body.extend_from_slice(block),
                None => return Ok(WriteOutcome::ConditionFailed),
            }
        }
        let outcome = self.write_if(blob, body);
        if matches!(outcome, WriteOutcome::Written { .. }) {
            // Committing drops every uncommitted block of the blob, as storage does.
            blocks.retain(|(c, n, _), _| !(c == blob.container && n == blob.name));
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listing_pages_cover_every_blob_once() {
        let store = MemoryStore::default();
        for name in ["a/1", "a/2", "a/3", "a/4", "a/5", "b/1"] {
            let blob = NewBlob {
                container: "c",
                name,
                body: b"{}",
                content_sha256: "",
                event_sha256: "h",
                event_canonical_sha256: "h",
                archived_at: "",
                tags: "",
                metadata: &[],
            };
            store.create_if_absent(blob).await.unwrap();
        }
        let (mut names, mut marker) = (vec![], None::<String>);
        loop {
            let page = store.list_page("c", "a/", marker.as_deref()).await.unwrap();
            names.extend(page.blobs.into_iter().map(|b| b.name));
            match page.next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        assert_eq!(names, ["a/1", "a/2", "a/3", "a/4", "a/5"]);
    }
}
