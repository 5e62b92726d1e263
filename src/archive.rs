//! Exactly-once archiving on top of at-least-once delivery.
//!
//! Every write is create-only. When the name is taken, the stored content hash decides: the same
//! hash is a redelivery (success, nothing written); a different hash is a distinct event that shares
//! the id, kept beside the first under a name derived from its own hash (create-only too). Because the
//! record is a pure function of the event, this holds across retries, restarts and racing deliveries.

use crate::config::Containers;
use crate::layout::conflict_blob_name;
use crate::record::Prepared;
use crate::storage::{BlobStore, NewBlob, PutOutcome, StorageError};

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

    /// Stores one prepared record exactly once. Returns only after the record is durably stored (or
    /// was already), so a success can be acknowledged to the host.
    pub async fn archive(&self, record: &Prepared, archived_at: &str) -> Result<Outcome, StorageError> {
        let container = self.containers.for_family(record.family);
        let at = |name: &str| (container.to_owned(), name.to_owned());

        let name = record.blob_name.as_str();
        if self.store.create_if_absent(new_blob(container, name, record, archived_at)).await? == PutOutcome::Created {
            let (container, name) = at(name);
            return Ok(Outcome::Archived { container, name });
        }
        if self.store.content_sha256(container, name).await? == record.content_sha256 {
            let (container, name) = at(name);
            return Ok(Outcome::Duplicate { container, name });
        }

        let beside = conflict_blob_name(name, &record.content_sha256);
        if self.store.create_if_absent(new_blob(container, &beside, record, archived_at)).await? == PutOutcome::Created {
            let (container, name) = at(&beside);
            return Ok(Outcome::ArchivedBesideConflict { container, name });
        }
        if self.store.content_sha256(container, &beside).await? == record.content_sha256 {
            let (container, name) = at(&beside);
            return Ok(Outcome::Duplicate { container, name });
        }
        let (container, name) = at(name);
        Err(StorageError::Conflict { container, name })
    }
}

fn new_blob<'a>(container: &'a str, name: &'a str, record: &'a Prepared, archived_at: &'a str) -> NewBlob<'a> {
    NewBlob {
        container,
        name,
        body: &record.body,
        content_sha256: &record.content_sha256,
        archived_at,
        tags: &record.tags,
    }
}
