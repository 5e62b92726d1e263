//! The one ingestion core: prepared records and a deadline in, one outcome per record out.
//!
//! The host layer, CLI commands and timer jobs all store records through [`ingest`], so bounded
//! fan-out, the deadline and the meaning of "stored" are decided once. Callers only map outcomes to
//! what they answer (status codes and `Logs`, exit codes, job reports).

use super::record::Prepared;
use super::{Archiver, Outcome};
use crate::storage::{BlobStore, StorageError};
use futures::stream::{self, StreamExt};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::time::Instant;

/// Storage writes kept in flight: a batch fans out, but never into thousands of simultaneous
/// connections.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// How one ingestion runs.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Records not stored by then are reported [`IngestError::OutOfTime`].
    pub deadline: Instant,
    pub concurrency: usize,
}

impl IngestOptions {
    pub fn until(deadline: Instant) -> Self {
        IngestOptions {
            deadline,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Why a record is not (known to be) stored. Either way the caller must not acknowledge it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the deadline passed before storage confirmed the write")]
    OutOfTime,
}

/// One outcome per record, in the order of the records.
#[derive(Debug)]
pub struct Ingested {
    pub outcomes: Vec<Result<Outcome, IngestError>>,
}

impl Ingested {
    /// Whether every record is durably stored (newly, or already was): only then may a delivery be
    /// acknowledged.
    pub fn all_stored(&self) -> bool {
        self.outcomes.iter().all(Result::is_ok)
    }

    /// The first failure, for the answer: a configuration problem wins over a transient one, since
    /// it is the one somebody has to act on.
    pub fn first_error(&self) -> Option<&IngestError> {
        let errors = || self.outcomes.iter().filter_map(|o| o.as_ref().err());
        errors()
            .find(|e| matches!(e, IngestError::Storage(s) if s.is_configuration_problem()))
            .or_else(|| errors().next())
    }

    pub fn stored(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_ok()).count()
    }
}

/// Stores every record exactly once, at most `options.concurrency` at a time, until the deadline.
/// A record whose write is still in flight at the deadline is reported out of time: it may or may
/// not have reached storage, and a redelivery settles which.
pub async fn ingest<S: BlobStore>(
    archiver: &Archiver<S>,
    records: &[Prepared],
    options: IngestOptions,
) -> Ingested {
    let archived_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "unknown".to_owned());
    let mut outcomes: Vec<Result<Outcome, IngestError>> =
        (0..records.len()).map(|_| Err(IngestError::OutOfTime)).collect();
    let archived_at = archived_at.as_str();
    // By index: a closure over `&Prepared` trips the compiler's higher-ranked lifetime inference.
    let mut writes = stream::iter(0..records.len())
        .map(|i| async move { (i, archiver.archive(&records[i], archived_at).await) })
        .buffer_unordered(options.concurrency.max(1));
    while let Ok(Some((i, result))) = tokio::time::timeout_at(options.deadline, writes.next()).await {
        outcomes[i] = result.map_err(IngestError::from);
    }
    Ingested { outcomes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::record::prepare;
    use crate::config::Containers;
    use crate::storage::memory::MemoryStore;
    use serde_json::value::RawValue;
    use std::time::Duration;

    fn sms(id: &str) -> Prepared {
        let raw = format!(
            r#"{{"id":"{id}","eventType":"Microsoft.Communication.SMSReceived","eventTime":"2024-01-01T10:00:00Z","data":{{}}}}"#
        );
        prepare(&RawValue::from_string(raw).unwrap())
    }

    fn archiver() -> Archiver<MemoryStore> {
        Archiver::new(MemoryStore::default(), Containers::default())
    }

    #[tokio::test]
    async fn every_record_gets_its_outcome_in_order() {
        let a = archiver();
        let records: Vec<_> = (0..40).map(|i| sms(&format!("m{i}"))).collect();
        let first = ingest(
            &a,
            &records,
            IngestOptions::until(Instant::now() + Duration::from_secs(5)),
        )
        .await;
        assert!(first.all_stored());
        for (record, outcome) in records.iter().zip(&first.outcomes) {
            assert_eq!(outcome.as_ref().unwrap().location().1, record.blob_name);
        }
        let again = ingest(
            &a,
            &records,
            IngestOptions::until(Instant::now() + Duration::from_secs(5)),
        )
        .await;
        assert!(again
            .outcomes
            .iter()
            .all(|o| matches!(o, Ok(Outcome::Duplicate { .. }))));
    }

    #[tokio::test]
    async fn one_failed_write_fails_only_its_own_record() {
        let a = archiver();
        let records = [sms("ok"), sms("bad")];
        a.store().fail_writes_to(&records[1].blob_name);
        let done = ingest(
            &a,
            &records,
            IngestOptions::until(Instant::now() + Duration::from_secs(5)),
        )
        .await;
        assert!(done.outcomes[0].is_ok());
        assert!(matches!(done.outcomes[1], Err(IngestError::Storage(_))));
        assert!(!done.all_stored());
        assert_eq!(done.stored(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn records_not_stored_by_the_deadline_are_out_of_time_and_the_rest_are_kept() {
        let a = archiver();
        a.store().set_latency(Duration::from_millis(100));
        let records: Vec<_> = (0..10).map(|i| sms(&format!("m{i}"))).collect();
        let options = IngestOptions {
            deadline: Instant::now() + Duration::from_millis(250),
            concurrency: 2,
        };
        let done = ingest(&a, &records, options).await;
        // Two at a time, 100 ms each: four are confirmed before 250 ms, the rest are not.
        assert_eq!(done.stored(), 4);
        assert!(done.outcomes[9]
            .as_ref()
            .is_err_and(|e| matches!(e, IngestError::OutOfTime)));
    }
}
