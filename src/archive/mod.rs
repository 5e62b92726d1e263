//! What an event becomes, and storing it exactly once on top of at-least-once delivery.
//!
//! No HTTP framework, CLI or job lives here: the host layer, the commands and the timer jobs all hand
//! prepared records to [`ingest`], which stores them through [`Archiver`].
//!
//! Every write is create-only. When the name is taken, the stored event's hashes decide: the same
//! bytes or the same content ([`identity`]: key order, whitespace and dead-letter delivery properties
//! aside) is a redelivery (success, nothing written); anything else is a distinct event that shares
//! the id, kept beside the first under a name derived from its own canonical hash (create-only too).
//! Names are a pure function of the event and the comparison ignores how the event was projected, so
//! this holds across retries, restarts, racing deliveries, dead-letter recovery and upgrades of the
//! handler.

pub mod envelope;
pub mod events;
pub mod identity;
pub mod ingest;
pub mod layout;
pub mod record;

use crate::config::Containers;
use crate::storage::{BlobStore, EventHashes, NewBlob, PutOutcome, StorageError};
use layout::{conflict_blob_name, conflict_prefix};
use record::Prepared;

/// Where an event ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Newly written.
    Archived { container: String, name: String },
    /// Already there with identical content: a redelivery.
    Duplicate { container: String, name: String },
    /// Newly written beside a different event that has the same id.
    ArchivedBesideConflict { container: String, name: String },
}

impl Outcome {
    pub fn location(&self) -> (&str, &str) {
        match self {
            Outcome::Archived { container, name }
            | Outcome::Duplicate { container, name }
            | Outcome::ArchivedBesideConflict { container, name } => (container, name),
        }
    }
}

pub struct Archiver<S> {
    store: S,
    containers: Containers,
}

impl<S: BlobStore> Archiver<S> {
    pub fn new(store: S, containers: Containers) -> Self {
        Archiver { store, containers }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn containers(&self) -> &Containers {
        &self.containers
    }

    /// Stores one prepared record exactly once. Returns only after the record is durably stored (or
    /// was already), so a success can be acknowledged to the host.
    pub async fn archive(&self, record: &Prepared, archived_at: &str) -> Result<Outcome, StorageError> {
        let container = self.containers.for_family(record.family);
        let at = |name: &str| (container.to_owned(), name.to_owned());

        let name = record.blob_name.as_str();
        if self
            .store
            .create_if_absent(new_blob(container, name, record, archived_at))
            .await?
            == PutOutcome::Created
        {
            let (container, name) = at(name);
            return Ok(Outcome::Archived { container, name });
        }
        if self.holds(container, name, record).await? {
            let (container, name) = at(name);
            return Ok(Outcome::Duplicate { container, name });
        }

        // Another event has this id. Copies beside it are named by the canonical hash now, by the
        // bytes hash in earlier versions (and a dead-letter copy has other bytes): every copy beside
        // the name is looked at before a new one is written.
        if let Some(copy) = self.find_beside(container, name, record).await? {
            let (container, name) = at(&copy);
            return Ok(Outcome::Duplicate { container, name });
        }
        let beside = conflict_blob_name(name, &record.event_canonical_sha256);
        if self
            .store
            .create_if_absent(new_blob(container, &beside, record, archived_at))
            .await?
            == PutOutcome::Created
        {
            let (container, name) = at(&beside);
            return Ok(Outcome::ArchivedBesideConflict { container, name });
        }
        // Written meanwhile by a concurrent delivery of this event, most likely.
        if self.holds(container, &beside, record).await? {
            let (container, name) = at(&beside);
            return Ok(Outcome::Duplicate { container, name });
        }
        let (container, name) = at(name);
        Err(StorageError::Conflict { container, name })
    }

    /// Whether the stored blob holds this record's event: the same bytes or the same content. A
    /// record written before the canonical hash existed is read to tell, when its bytes differ.
    async fn holds(&self, container: &str, name: &str, record: &Prepared) -> Result<bool, StorageError> {
        let stored = self.store.event_hashes(container, name).await?;
        self.same(container, name, &stored, record).await
    }

    async fn same(
        &self,
        container: &str,
        name: &str,
        stored: &EventHashes,
        record: &Prepared,
    ) -> Result<bool, StorageError> {
        match stored.same_event(&record.event_sha256, &record.event_canonical_sha256) {
            Some(same) => Ok(same),
            None => Ok(self
                .store
                .read_event_hashes(container, name)
                .await?
                .same_event(&record.event_sha256, &record.event_canonical_sha256)
                == Some(true)),
        }
    }

    /// The copy beside `name` (`…~c{hash}.json`) that holds this record's event, if any.
    async fn find_beside(
        &self,
        container: &str,
        name: &str,
        record: &Prepared,
    ) -> Result<Option<String>, StorageError> {
        let prefix = conflict_prefix(name);
        let listed = self
            .store
            .listed_event_hashes(container, &prefix, BESIDE_MAX_PAGES)
            .await?;
        let mut copies: Vec<_> = listed.into_iter().collect();
        copies.sort_by(|a, b| a.0.cmp(&b.0));
        for (copy, stored) in copies {
            if self.same(container, &copy, &stored, record).await? {
                return Ok(Some(copy));
            }
        }
        Ok(None)
    }
}

/// Copies beside one name are listed from one page: thousands of different events sharing one id do
/// not happen, and a copy not listed is still never overwritten (writes are create-only).
const BESIDE_MAX_PAGES: usize = 1;

fn new_blob<'a>(
    container: &'a str,
    name: &'a str,
    record: &'a Prepared,
    archived_at: &'a str,
) -> NewBlob<'a> {
    NewBlob {
        container,
        name,
        body: &record.body,
        content_sha256: &record.content_sha256,
        event_sha256: &record.event_sha256,
        event_canonical_sha256: &record.event_canonical_sha256,
        archived_at,
        tags: &record.tags,
        metadata: &record.metadata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::record::prepare;
    use crate::storage::memory::MemoryStore;
    use serde_json::value::RawValue;

    fn event(message: &str) -> Prepared {
        let raw = format!(
            r#"{{"id":"m1","eventType":"Microsoft.Communication.SMSReceived","eventTime":"2024-01-01T10:00:00Z","data":{{"message":"{message}"}}}}"#
        );
        prepare(&RawValue::from_string(raw).unwrap())
    }

    fn archiver() -> Archiver<MemoryStore> {
        Archiver::new(MemoryStore::default(), Containers::default())
    }

    #[tokio::test]
    async fn redelivered_event_is_stored_once() {
        let a = archiver();
        let first = a.archive(&event("hi"), "t1").await.unwrap();
        let again = a.archive(&event("hi"), "t2").await.unwrap();
        let name = "smsReceived/2024/01/01/10/m1.json".to_owned();
        assert_eq!(
            first,
            Outcome::Archived {
                container: "acs-sms".into(),
                name: name.clone()
            }
        );
        assert_eq!(
            again,
            Outcome::Duplicate {
                container: "acs-sms".into(),
                name
            }
        );
        assert_eq!(a.store.names().len(), 1);
    }

    #[tokio::test]
    async fn different_event_with_the_same_id_is_kept_beside_the_first() {
        let a = archiver();
        a.archive(&event("one"), "t").await.unwrap();
        let second = event("two");
        let outcome = a.archive(&second, "t").await.unwrap();
        let beside = format!(
            "smsReceived/2024/01/01/10/m1~c{}.json",
            &second.event_canonical_sha256[..16]
        );
        assert_eq!(
            outcome,
            Outcome::ArchivedBesideConflict {
                container: "acs-sms".into(),
                name: beside.clone()
            }
        );
        // The second event redelivered is recognised at its own name.
        assert_eq!(
            a.archive(&second, "t").await.unwrap(),
            Outcome::Duplicate {
                container: "acs-sms".into(),
                name: beside
            }
        );
        assert_eq!(a.store.names().len(), 2);
    }

    #[tokio::test]
    async fn redelivery_is_recognised_after_an_upgrade_changes_the_projection() {
        let a = archiver();
        let old = event("hi");
        a.archive(&old, "t").await.unwrap();
        // The same event, projected differently by a newer version of the handler.
        let mut new = event("hi");
        new.body = String::from_utf8(new.body)
            .unwrap()
            .replace(r#""fields":{"#, r#""fields":{"extra":1,"#)
            .into_bytes();
        new.content_sha256 = crate::archive::layout::sha256_hex(&new.body);
        let outcome = a.archive(&new, "t").await.unwrap();
        assert!(matches!(outcome, Outcome::Duplicate { .. }), "{outcome:?}");
        assert_eq!(a.store.names().len(), 1);
    }
    fn raw_event(text: &str) -> Prepared {
        prepare(&RawValue::from_string(text.to_owned()).unwrap())
    }

    const COMPACT: &str = r#"{"id":"m1","eventType":"Microsoft.Communication.SMSReceived","eventTime":"2024-01-01T10:00:00Z","data":{"message":"hi","from":"1"}}"#;
    const REWRITTEN: &str = r#"{ "data": { "from": "1", "message": "hi" },
        "eventTime": "2024-01-01T10:00:00Z", "eventType": "Microsoft.Communication.SMSReceived", "id": "m1" }"#;

    #[tokio::test]
    async fn the_same_event_in_other_bytes_is_a_redelivery() {
        let a = archiver();
        a.archive(&raw_event(COMPACT), "t").await.unwrap();
        let outcome = a.archive(&raw_event(REWRITTEN), "t").await.unwrap();
        assert!(matches!(outcome, Outcome::Duplicate { .. }), "{outcome:?}");
        assert_eq!(a.store.names().len(), 1);
    }

    #[tokio::test]
    async fn a_record_of_an_earlier_version_is_read_to_recognise_its_event_in_other_bytes() {
        let a = archiver();
        let old = raw_event(COMPACT);
        // Written by a version that knew only the bytes hash.
        a.store.put(
            "acs-sms",
            &old.blob_name,
            &old.body,
            &[(crate::storage::META_EVENT_SHA256, &old.event_sha256)],
        );
        let outcome = a.archive(&raw_event(REWRITTEN), "t").await.unwrap();
        assert!(matches!(outcome, Outcome::Duplicate { .. }), "{outcome:?}");
        // The same bytes are still recognised from the metadata alone.
        let before = a.store.requests();
        let outcome = a.archive(&old, "t").await.unwrap();
        assert!(matches!(outcome, Outcome::Duplicate { .. }), "{outcome:?}");
        assert_eq!(a.store.requests() - before, 2, "a create attempt and a HEAD");
        assert_eq!(a.store.names().len(), 1);
    }

    #[tokio::test]
    async fn a_copy_an_earlier_version_kept_beside_by_its_bytes_hash_is_still_found() {
        let a = archiver();
        a.archive(&event("one"), "t").await.unwrap();
        let second = raw_event(&COMPACT.replace("hi", "two"));
        let first_name = "smsReceived/2024/01/01/10/m1.json";
        let old_beside = conflict_blob_name(first_name, &second.event_sha256);
        a.store.put(
            "acs-sms",
            &old_beside,
            &second.body,
            &[(crate::storage::META_EVENT_SHA256, &second.event_sha256)],
        );
        let rewritten = raw_event(&REWRITTEN.replace("hi", "two"));
        let outcome = a.archive(&rewritten, "t").await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Duplicate {
                container: "acs-sms".into(),
                name: old_beside
            }
        );
        assert_eq!(a.store.names().len(), 2);
    }
}
