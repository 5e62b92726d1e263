//! An in-memory [`BlobStore`] with create-only semantics, for unit tests of pure logic (the archive
//! algorithm, the ingestion core, the host layer). The proof against real storage is `tests/api`.

use super::{
    event_sha256_of_record, BlobSource, BlobStore, ListPage, ListedBlob, NewBlob, PutOutcome, ReadBlob,
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
                etag: super::super::archive::layout::sha256_hex(body),
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
                etag: super::super::archive::layout::sha256_hex(bytes),
                bytes: bytes.clone(),
            }))
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
