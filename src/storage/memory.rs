//! An in-memory [`BlobStore`] with create-only semantics, for unit tests of pure logic (the archive
//! algorithm, the ingestion core, the host layer). The proof against real storage is `tests/api`.

use super::{event_sha256_of_record, BlobStore, NewBlob, PutOutcome, StorageError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct MemoryStore {
    blobs: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    /// Blob names whose writes fail with a 503, to test partial failure.
    failing: Mutex<HashSet<String>>,
    /// How long every request takes.
    latency: Mutex<Duration>,
    requests: AtomicUsize,
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
