//! An in-memory [`BlobStore`] with create-only semantics, for unit tests of pure logic (the archive
//! algorithm, the ingestion core, the host layer). The proof against real storage is `tests/api`.

use super::{
    event_sha256_of_record, BlobSink, BlobSource, BlobStore, JobBlob, ListPage, ListedBlob, NewBlob,
    PutOutcome, ReadBlob, WriteCondition, WriteOutcome,
};
use super::{StorageError, META_EVENT_SHA256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct MemoryStore {
    blobs: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    /// Metadata written with each blob.
    metadata: Mutex<HashMap<(String, String), HashMap<String, String>>>,
    /// Blob names whose writes fail with a 503, to test partial failure.
    failing: Mutex<HashSet<String>>,
    /// How long every request takes.
    latency: Mutex<Duration>,
    requests: AtomicUsize,
    /// ETags of blobs written through [`BlobSink`]: a new one on every write, as storage does.
    etags: Mutex<HashMap<(String, String), String>>,
    /// Staged, uncommitted blocks by (container, name, block id).
    blocks: Mutex<HashMap<(String, String, String), Vec<u8>>>,
    writes: AtomicUsize,
}

impl MemoryStore {
    pub fn fail_writes_to(&self, name: &str) {
        self.failing.lock().unwrap().insert(name.to_owned());
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().unwrap() = latency;
    }

    /// Every stored blob name, by container.
    pub fn names(&self) -> Vec<(String, String)> {
        self.blobs.lock().unwrap().keys().cloned().collect()
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The metadata of a stored blob.
    pub fn metadata_of(&self, container: &str, name: &str) -> Option<HashMap<String, String>> {
        let key = (container.to_owned(), name.to_owned());
        self.metadata.lock().unwrap().get(&key).cloned()
    }

    /// A stored blob's bytes.
    pub fn bytes_of(&self, container: &str, name: &str) -> Option<Vec<u8>> {
        let key = (container.to_owned(), name.to_owned());
        self.blobs.lock().unwrap().get(&key).cloned()
    }

    /// Writes that went through [`BlobSink`] and took effect.
    pub fn job_writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// Writes a record with the metadata the archive gives it, for tests of the jobs that read it.
    pub fn insert_record(&self, container: &str, name: &str, body: &[u8], archived_at: &str) {
        let key = (container.to_owned(), name.to_owned());
        // Locks in the order every other method takes them: blobs, then metadata.
        let mut blobs = self.blobs.lock().unwrap();
        self.metadata.lock().unwrap().insert(
            key.clone(),
            HashMap::from([
                (META_EVENT_SHA256.to_owned(), event_sha256_of_record(body)),
                (super::META_ARCHIVED_AT.to_owned(), archived_at.to_owned()),
            ]),
        );
        blobs.insert(key, body.to_vec());
    }

    fn etag_of(&self, key: &(String, String), body: &[u8]) -> String {
        self.etags
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_else(|| super::super::archive::layout::sha256_hex(body))
    }

    /// Stores `body` if `condition` holds for the blob as it is now, all under one lock.
    fn write_if(&self, blob: JobBlob<'_>, body: Vec<u8>) -> WriteOutcome {
        let key = (blob.container.to_owned(), blob.name.to_owned());
        let mut blobs = self.blobs.lock().unwrap();
        let current = blobs.get(&key).map(|b| self.etag_of(&key, b));
        let holds = match blob.condition {
            WriteCondition::Absent => current.is_none(),
            WriteCondition::Matches(etag) => current.as_deref() == Some(etag.as_str()),
        };
        if !holds {
            return WriteOutcome::ConditionFailed;
        }
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        let etag = format!(
            "0x{n:04}{}",
            &super::super::archive::layout::sha256_hex(&body)[..12]
        );
        self.etags.lock().unwrap().insert(key.clone(), etag.clone());
        self.metadata
            .lock()
            .unwrap()
            .insert(key.clone(), blob.metadata.clone());
        blobs.insert(key, body);
        WriteOutcome::Written { etag }
    }

    async fn request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
}

impl BlobStore for MemoryStore {
    async fn create_if_absent(&self, blob: NewBlob<'_>) -> Result<PutOutcome, StorageError> {
        self.request().await;
        if self.failing.lock().unwrap().contains(blob.name) {
            return Err(StorageError::Service {
                status: 503,
                code: "ServerBusy".into(),
            });
        }
        let mut blobs = self.blobs.lock().unwrap();
        let key = (blob.container.to_owned(), blob.name.to_owned());
        if blobs.contains_key(&key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        self.metadata.lock().unwrap().insert(
            key.clone(),
            HashMap::from([(META_EVENT_SHA256.to_owned(), blob.event_sha256.to_owned())]),
        );
        blobs.insert(key, blob.body.to_vec());
        Ok(PutOutcome::Created)
    }

    async fn event_sha256(&self, container: &str, name: &str) -> Result<String, StorageError> {
        self.request().await;
        let blobs = self.blobs.lock().unwrap();
        let body = blobs
            .get(&(container.to_owned(), name.to_owned()))
            .ok_or_else(|| StorageError::Service {
                status: 404,
                code: "BlobNotFound".into(),
            })?;
        Ok(event_sha256_of_record(body))
    }

    async fn listed_event_hashes(
        &self,
        container: &str,
        prefix: &str,
        _max_pages: usize,
    ) -> Result<HashMap<String, String>, StorageError> {
        self.request().await;
        let blobs = self.blobs.lock().unwrap();
        Ok(blobs
            .iter()
            .filter(|((c, name), _)| c == container && name.starts_with(prefix))
            .map(|((_, name), body)| (name.clone(), event_sha256_of_record(body)))
            .collect())
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
        let metadata = self.metadata.lock().unwrap();
        let mut page: Vec<ListedBlob> = blobs
            .iter()
            .filter(|((c, name), _)| {
                c == container && name.starts_with(prefix) && marker.is_none_or(|m| name.as_str() >= m)
            })
            .take(MEMORY_PAGE + 1)
            .map(|((c, name), body)| ListedBlob {
                name: name.clone(),
                etag: self.etag_of(&(c.clone(), name.clone()), body),
                last_modified: None,
                size: body.len() as u64,
                metadata: metadata
                    .get(&(c.clone(), name.clone()))
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect();
        let next = (page.len() > MEMORY_PAGE).then(|| page.pop().unwrap().name);
        Ok(ListPage { blobs: page, next })
    }

    async fn read(&self, container: &str, name: &str) -> Result<Option<ReadBlob>, StorageError> {
        self.request().await;
        let blobs = self.blobs.lock().unwrap();
        Ok(blobs
            .get(&(container.to_owned(), name.to_owned()))
            .map(|bytes| ReadBlob {
                etag: self.etag_of(&(container.to_owned(), name.to_owned()), bytes),
                bytes: bytes.clone(),
            }))
    }
}

impl BlobSink for MemoryStore {
    async fn put_whole(&self, blob: JobBlob<'_>, body: Vec<u8>) -> Result<WriteOutcome, StorageError> {
        self.request().await;
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
        if self.failing.lock().unwrap().contains(name) {
            return Err(StorageError::Service {
                status: 503,
                code: "ServerBusy".into(),
            });
        }
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
                archived_at: "",
                tags: "",
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
