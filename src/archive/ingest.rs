//! The one ingestion core: prepared records and a deadline in, one outcome per record out.
//!
//! The host layer, CLI commands and timer jobs all store records through [`ingest`], so bounded
//! fan-out, the deadline and the meaning of "stored" are decided once. Callers only map outcomes to
//! what they answer (status codes and `Logs`, exit codes, job reports).

use super::events::Family;
use super::layout::conflict_blob_name;
use super::record::Prepared;
use super::{Archiver, Outcome};
use crate::storage::{BlobStore, StorageError};
use futures::stream::{self, StreamExt};
use std::collections::BTreeMap;
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

/// Batches at least this large first look for records that are already stored (see
/// [`recognise_stored`]); smaller ones go straight to the writes.
pub const LISTING_MIN_RECORDS: usize = 32;
/// A listing is worth its request for at least this many records of one hour.
const LISTING_MIN_GROUP: usize = 8;
/// Listing pages per hour prefix (5,000 blobs each): bounds what one hour of a busy resource costs.
const LISTING_MAX_PAGES: usize = 4;
/// Hour prefixes listed at once.
const LISTING_CONCURRENCY: usize = 4;

/// Stores every record exactly once, at most `options.concurrency` at a time, until the deadline.
/// A record whose write is still in flight at the deadline is reported out of time: it may or may
/// not have reached storage, and a redelivery settles which.
///
/// A redelivered large batch converges: records already stored are recognised from one listing per
/// hour prefix instead of a create attempt and a read each, so the budget goes to the records that
/// still need writing, and every delivery gets further than the one before.
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
    // The listing may take half of what is left: the writes must keep time to make progress.
    let now = Instant::now();
    let listing_deadline = now + options.deadline.saturating_duration_since(now) / 2;
    let mut to_write = Vec::with_capacity(records.len());
    let mut recognised = 0;
    for (i, known) in recognise_stored(archiver, records, listing_deadline)
        .await
        .into_iter()
        .enumerate()
    {
        match known {
            Some(outcome) => {
                outcomes[i] = Ok(outcome);
                recognised += 1;
            }
            None => to_write.push(i),
        }
    }
    // A large batch nothing was recognised of starts writing at a varying place: if it was partly
    // stored by an earlier delivery (in order), the budget is not spent re-confirming the same first
    // records on every delivery.
    if records.len() >= LISTING_MIN_RECORDS && recognised == 0 {
        let offset = now.elapsed().subsec_nanos() as usize ^ OffsetDateTime::now_utc().nanosecond() as usize;
        let len = to_write.len();
        to_write.rotate_left(offset % len.max(1));
    }
    let archived_at = archived_at.as_str();
    // By index: a closure over `&Prepared` trips the compiler's higher-ranked lifetime inference.
    let mut writes = stream::iter(to_write)
        .map(|i| async move { (i, archiver.archive(&records[i], archived_at).await) })
        .buffer_unordered(options.concurrency.max(1));
    while let Ok(Some((i, result))) = tokio::time::timeout_at(options.deadline, writes.next()).await {
        outcomes[i] = result.map_err(IngestError::from);
    }
    Ingested { outcomes }
}

/// For a large batch, the records whose event is already stored under their name (or beside it, for
/// a different event with the same id), found by listing each hour prefix once with metadata and
/// comparing the event hashes there (bytes, or content: [`super::identity`]). Only an optimisation: a
/// record not recognised here (the listing failed, ran out of pages or time, or the blob's hashes
/// cannot tell) goes through the create-only write as usual, which decides for sure.
async fn recognise_stored<S: BlobStore>(
    archiver: &Archiver<S>,
    records: &[Prepared],
    deadline: Instant,
) -> Vec<Option<Outcome>> {
    let mut known: Vec<Option<Outcome>> = vec![None; records.len()];
    if records.len() < LISTING_MIN_RECORDS {
        return known;
    }
    let mut hours: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        // Quarantine names are not dated: its prefixes are whole kinds, far too large to list.
        if record.family == Family::Quarantine {
            continue;
        }
        if let Some(slash) = record.blob_name.rfind('/') {
            let container = archiver.containers().for_family(record.family);
            hours
                .entry((container, &record.blob_name[..=slash]))
                .or_default()
                .push(i);
        }
    }
    let listings = stream::iter(
        hours
            .into_iter()
            .filter(|(_, members)| members.len() >= LISTING_MIN_GROUP),
    )
    .map(|((container, prefix), members)| async move {
        let listed = archiver
            .store()
            .listed_event_hashes(container, prefix, LISTING_MAX_PAGES)
            .await;
        (container, members, listed)
    })
    .buffer_unordered(LISTING_CONCURRENCY);
    let mut listings = std::pin::pin!(listings);
    while let Ok(Some((container, members, listed))) =
        tokio::time::timeout_at(deadline, listings.next()).await
    {
        let Ok(listed) = listed else { continue };
        for i in members {
            let record = &records[i];
            // The name, and the names beside it this version and earlier ones give the event (by
            // its canonical hash, by its bytes hash). A record whose stored copy is only known by a
            // bytes hash that differs is left to the write, which reads the copy to tell.
            let candidates = [
                record.blob_name.clone(),
                conflict_blob_name(&record.blob_name, &record.event_canonical_sha256),
                conflict_blob_name(&record.blob_name, &record.event_sha256),
            ];
            known[i] = candidates
                .into_iter()
                .find(|name| {
                    listed.get(name.as_str()).and_then(|stored| {
                        stored.same_event(&record.event_sha256, &record.event_canonical_sha256)
                    }) == Some(true)
                })
                .map(|name| Outcome::Duplicate {
                    container: container.to_owned(),
                    name,
                });
        }
    }
    known
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

    #[tokio::test]
    async fn a_redelivered_large_batch_is_recognised_from_one_listing_per_hour() {
        let a = archiver();
        let records: Vec<_> = (0..200).map(|i| sms(&format!("m{i}"))).collect();
        let deadline = || Instant::now() + Duration::from_secs(5);
        assert!(ingest(&a, &records, IngestOptions::until(deadline()))
            .await
            .all_stored());
        let before = a.store().requests();
        let again = ingest(&a, &records, IngestOptions::until(deadline())).await;
        assert!(again
            .outcomes
            .iter()
            .all(|o| matches!(o, Ok(Outcome::Duplicate { .. }))));
        // One hour, one listing: not a write and a read for each of the 200.
        assert_eq!(a.store().requests() - before, 1);
    }

    #[tokio::test]
    async fn a_partly_stored_batch_writes_only_what_is_missing() {
        let a = archiver();
        let records: Vec<_> = (0..100).map(|i| sms(&format!("m{i}"))).collect();
        let deadline = || Instant::now() + Duration::from_secs(5);
        assert!(ingest(&a, &records[..60], IngestOptions::until(deadline()))
            .await
            .all_stored());
        let before = a.store().requests();
        let done = ingest(&a, &records, IngestOptions::until(deadline())).await;
        assert!(done.all_stored());
        assert!(matches!(done.outcomes[0], Ok(Outcome::Duplicate { .. })));
        assert!(matches!(done.outcomes[99], Ok(Outcome::Archived { .. })));
        assert_eq!(a.store().requests() - before, 1 + 40);
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
