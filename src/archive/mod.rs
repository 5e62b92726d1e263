//! What an event becomes, and storing it exactly once on top of at-least-once delivery.
//!
//! No HTTP framework, CLI or job lives here: the host layer, the commands and the timer jobs all hand
//! prepared records to [`ingest`], which stores them through [`Archiver`].
//!
//! Every write is create-only. When the name is taken, the hash of the stored event decides: the same
//! hash is a redelivery (success, nothing written); a different hash is a distinct event that shares
//! the id, kept beside the first under a name derived from its own hash (create-only too). Names are
//! a pure function of the event and the comparison ignores how the event was projected, so this holds
//! across retries, restarts, racing deliveries and upgrades of the handler.

pub mod envelope;
pub mod events;
pub mod ingest;
pub mod layout;
pub mod record;

use crate::config::Containers;
use crate::storage::{BlobStore, NewBlob, PutOutcome, StorageError};
use layout::conflict_blob_name;
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
        if self.store.event_sha256(container, name).await? == record.event_sha256 {
            let (container, name) = at(name);
            return Ok(Outcome::Duplicate { container, name });
        }

        let beside = conflict_blob_name(name, &record.event_sha256);
        if self
            .store
            .create_if_absent(new_blob(container, &beside, record, archived_at))
            .await?
            == PutOutcome::Created
        {
            let (container, name) = at(&beside);
            return Ok(Outcome::ArchivedBesideConflict { container, name });
        }
        if self.store.event_sha256(container, &beside).await? == record.event_sha256 {
            let (container, name) = at(&beside);
            return Ok(Outcome::Duplicate { container, name });
        }
        let (container, name) = at(name);
        Err(StorageError::Conflict { container, name })
    }
}

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
        archived_at,
        tags: &record.tags,
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
            &second.event_sha256[..16]
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
}
