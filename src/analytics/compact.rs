//! Which hours changed, and replacing their files atomically.
//!
//! For one partition: list its records once; compare the digest of their names and ETags with the
//! one in the existing file's metadata (and the analytics version); if both match, nothing is
//! written. Otherwise fetch the records (bounded concurrency), write row groups as they fill, upload
//! the file in one request when it is small or as staged blocks committed at once, with `If-Match`
//! on the ETag of the file that was there (or `If-None-Match: *` when there was none). A compaction
//! that loses that race looks again: if the winner built the same sources, the result is the same and
//! it is done; if not, it starts over, so the newest sources always win in the end.

use super::parquet::{FileWriter, RowGroupLimits};
use super::scan::{self, HourListing};
use super::{hour_start, known_kinds, Partition, ANALYTICS_VERSION, COMPACTED_FAMILIES};
use crate::archive::events::Family;
use crate::config::Containers;
use crate::storage::{BlobSink, BlobSource, JobBlob, ListedBlob, StorageError, WriteCondition, WriteOutcome};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;
use tokio::time::Instant;

/// Blob metadata of every analytics file (what it was built from), also in the Parquet metadata.
pub const META_ANALYTICS_VERSION: &str = "analyticsversion";
pub const META_SOURCE_COUNT: &str = "sourcecount";
pub const META_SOURCES_DIGEST: &str = "sourcesdigest";

/// The content type of every analytics file.
pub const PARQUET_CONTENT_TYPE: &str = "application/vnd.apache.parquet";

/// The blob metadata of an analytics file built from `source_count` records with this digest.
pub fn file_metadata(source_count: usize, digest: &str) -> HashMap<String, String> {
    HashMap::from([
        (META_ANALYTICS_VERSION.to_owned(), ANALYTICS_VERSION.to_string()),
        (META_SOURCE_COUNT.to_owned(), source_count.to_string()),
        (META_SOURCES_DIGEST.to_owned(), digest.to_owned()),
    ])
}

/// How a compaction uses memory and storage.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records fetched at once.
    pub concurrency: usize,
    pub row_groups: RowGroupLimits,
    /// Encoded bytes gathered before they are staged as a block; a file smaller than this is one PUT.
    pub block_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            concurrency: 16,
            row_groups: RowGroupLimits::default(),
            block_bytes: 8 * 1024 * 1024,
        }
    }
}

/// What compacting one partition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No records in the hour: nothing to do.
    NoRecords,
    /// The file already holds exactly these records: nothing written.
    Unchanged,
    /// Written (or replaced) with this many rows.
    Written { rows: u64, bytes: u64, replaced: bool },
    /// Another compaction wrote the same result first.
    WrittenByAnother,
}

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("could not encode Parquet: {0}")]
    Parquet(#[from] ::parquet::errors::ParquetError),
    #[error("stopped at the time limit")]
    OutOfTime,
    #[error("other compactions kept replacing the file with other sources; it is compacted again next run")]
    KeptLosing,
}

pub struct Compactor<'a, S> {
    store: &'a S,
    containers: &'a Containers,
    pub limits: Limits,
}

impl<'a, S: BlobSource + BlobSink> Compactor<'a, S> {
    pub fn new(store: &'a S, containers: &'a Containers) -> Self {
        Compactor {
            store,
            containers,
            limits: Limits::default(),
        }
    }

    /// Every partition of the closed hours in `[from, to)` (hours that end after `now` are left out),
    /// oldest hour first, then each kind's undated records when `undated` is set. The kinds of the
    /// modelled families are fixed; those of `other` are read from its container.
    pub async fn partitions(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        now: OffsetDateTime,
        undated: bool,
    ) -> Result<Vec<Partition>, StorageError> {
        let mut kinds: Vec<(Family, String)> = vec![];
        for family in COMPACTED_FAMILIES {
            if family == Family::Other {
                let container = self.containers.for_family(family);
                for kind in scan::kinds_in(self.store, container).await? {
                    kinds.push((family, kind));
                }
            } else {
                kinds.extend(known_kinds(family).into_iter().map(|k| (family, k.to_owned())));
            }
        }
        let to = to.min(hour_start(now));
        let mut hour = hour_start(from);
        // An hour that starts before `from` is only partly asked for: start at the next whole hour
        // unless `from` is exactly on the hour.
        if hour < from {
            hour += time::Duration::HOUR;
        }
        let mut partitions = vec![];
        while hour < to {
            for (family, kind) in &kinds {
                partitions.push(Partition {
                    family: *family,
                    kind: kind.clone(),
                    hour: Some(hour),
                });
            }
            hour += time::Duration::HOUR;
        }
        if undated {
            for (family, kind) in kinds {
                partitions.push(Partition {
                    family,
                    kind,
                    hour: None,
                });
            }
        }
        Ok(partitions)
    }

    /// Compacts one partition (see the module doc). `deadline` stops a long hour before it is
    /// written; nothing of it is visible then.
    pub async fn compact(&self, partition: &Partition, deadline: Instant) -> Result<Outcome, CompactError> {
        let source_container = self.containers.for_family(partition.family);
        for _ in 0..3 {
            let listing = scan::list_hour(self.store, source_container, &partition.source_prefix()).await?;
            if listing.is_empty() {
                return Ok(Outcome::NoRecords);
            }
            let digest = listing.digest();
            let existing = self.existing(partition).await?;
            if let Some(file) = &existing {
                if built_from(file, &digest) {
                    return Ok(Outcome::Unchanged);
                }
            }
            let condition = match &existing {
                Some(file) => WriteCondition::Matches(file.etag.clone()),
                None => WriteCondition::Absent,
            };
            match self
                .write(partition, &listing, &digest, &condition, deadline)
                .await?
            {
                (WriteOutcome::Written { .. }, rows, bytes) => {
                    return Ok(Outcome::Written {
                        rows,
                        bytes,
                        replaced: existing.is_some(),
                    })
                }
                (WriteOutcome::ConditionFailed, ..) => {
                    if let Some(now) = self.existing(partition).await? {
                        if built_from(&now, &digest) {
                            return Ok(Outcome::WrittenByAnother);
                        }
                    }
                    // Someone wrote other sources (older or newer): look at the hour again.
                }
            }
        }
        Err(CompactError::KeptLosing)
    }

    /// The partition's file as the analytics container lists it, if there is one.
    async fn existing(&self, partition: &Partition) -> Result<Option<ListedBlob>, StorageError> {
        let name = partition.target_name();
        let page = self
            .store
            .list_page(&self.containers.analytics, &partition.target_folder(), None)
            .await?;
        Ok(page.blobs.into_iter().find(|b| b.name == name))
    }

    async fn write(
        &self,
        partition: &Partition,
        listing: &HourListing,
        digest: &str,
        condition: &WriteCondition,
        deadline: Instant,
    ) -> Result<(WriteOutcome, u64, u64), CompactError> {
        let source_container = self.containers.for_family(partition.family);
        let described = vec![
            ("family".to_owned(), partition.family.as_str().to_owned()),
            ("kind".to_owned(), partition.kind.clone()),
            ("sourceContainer".to_owned(), source_container.to_owned()),
            ("sourcePrefix".to_owned(), partition.source_prefix()),
            ("sourceCount".to_owned(), listing.len().to_string()),
            ("sourcesDigest".to_owned(), digest.to_owned()),
        ];
        let mut file = FileWriter::new(partition.family, described, self.limits.row_groups)?;
        let name = partition.target_name();
        let container = self.containers.analytics.as_str();
        let writer_id = writer_id();
        let mut blocks: Vec<String> = vec![];
        let mut bytes = 0u64;
        let mut records = scan::fetch(self.store, listing, self.limits.concurrency);
        while let Some(record) = records.next().await {
            if Instant::now() >= deadline {
                return Err(CompactError::OutOfTime);
            }
            let record = record?;
            file.push(&record.name, record.archived_at, &record.bytes)?;
            if file.pending_output() >= self.limits.block_bytes {
                let block = file.take_output();
                bytes += block.len() as u64;
                let id = format!("{writer_id}{:06}", blocks.len());
                self.store.stage_block(container, &name, &id, block).await?;
                blocks.push(id);
            }
        }
        drop(records);
        let rows = file.rows();
        let rest = file.finish()?;
        bytes += rest.len() as u64;
        let metadata = file_metadata(listing.len(), digest);
        let blob = JobBlob {
            container,
            name: &name,
            content_type: PARQUET_CONTENT_TYPE,
            metadata: &metadata,
            condition,
        };
        let outcome = if blocks.is_empty() {
            self.store.put_whole(blob, rest).await?
        } else {
            let id = format!("{writer_id}{:06}", blocks.len());
            self.store.stage_block(container, &name, &id, rest).await?;
            blocks.push(id);
            self.store.commit_blocks(blob, &blocks).await?
        };
        Ok((outcome, rows, bytes))
    }
}

/// Whether a listed analytics file was built from exactly these sources by this version.
fn built_from(file: &ListedBlob, digest: &str) -> bool {
    file.metadata.get(META_SOURCES_DIGEST).map(String::as_str) == Some(digest)
        && file.metadata.get(META_ANALYTICS_VERSION).map(String::as_str)
            == Some(ANALYTICS_VERSION.to_string().as_str())
}

/// 16 hex characters that differ between writers (process, time, sequence), so that two
/// compactions staging blocks of one blob never use each other's block ids. Same length always.
fn writer_id() -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let mixed = nanos
        ^ (u64::from(std::process::id()) << 40)
        ^ SEQUENCE
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{mixed:016x}")
}

/// What a run over many partitions did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub partitions: usize,
    pub written: usize,
    pub unchanged: usize,
    pub empty: usize,
    pub rows: u64,
    pub bytes: u64,
    /// Partitions not reached (or abandoned) at the time limit: the next run does them.
    pub left: usize,
    /// `(partition, cause)` of each that failed.
    pub failed: Vec<(String, String)>,
    /// The run stopped after consecutive failures (storage down) rather than at the time limit.
    pub gave_up: bool,
}

impl RunReport {
    pub fn summary(&self) -> String {
        let mut line = format!(
            "compacted {} of {} partitions: {} written ({} rows, {} bytes), {} unchanged, {} without records",
            self.written + self.unchanged + self.empty,
            self.partitions,
            self.written,
            self.rows,
            self.bytes,
            self.unchanged,
            self.empty
        );
        if self.gave_up {
            line.push_str(&format!(
                "; stopped after {GIVE_UP_AFTER} failures in a row with {} left",
                self.left
            ));
        } else if self.left > 0 {
            line.push_str(&format!(
                "; stopped at the time limit with {} left for the next run",
                self.left
            ));
        }
        if !self.failed.is_empty() {
            line.push_str(&format!("; {} failed", self.failed.len()));
        }
        line
    }
}

/// Consecutive failures after which a run stops: storage is down, and every further partition would
/// spend the retry budget to fail the same way.
const GIVE_UP_AFTER: usize = 3;

impl<S: BlobSource + BlobSink> Compactor<'_, S> {
    /// Compacts `partitions` in order until done or `deadline`; `each` sees every result as it comes.
    pub async fn run(
        &self,
        partitions: &[Partition],
        deadline: Instant,
        mut each: impl FnMut(&Partition, &Result<Outcome, CompactError>),
    ) -> RunReport {
        let mut report = RunReport {
            partitions: partitions.len(),
            ..Default::default()
        };
        let mut failing = 0;
        for (i, partition) in partitions.iter().enumerate() {
            if Instant::now() >= deadline {
                report.left = partitions.len() - i;
                break;
            }
            let result = self.compact(partition, deadline).await;
            each(partition, &result);
            match result {
                Ok(Outcome::NoRecords) => report.empty += 1,
                Ok(Outcome::Unchanged | Outcome::WrittenByAnother) => report.unchanged += 1,
                Ok(Outcome::Written { rows, bytes, .. }) => {
                    report.written += 1;
                    report.rows += rows;
                    report.bytes += bytes;
                }
                Err(CompactError::OutOfTime) => {
                    report.left = partitions.len() - i;
                    break;
                }
                Err(e) => {
                    report.failed.push((partition.label(), e.to_string()));
                    failing += 1;
                    if failing >= GIVE_UP_AFTER {
                        report.gave_up = true;
                        report.left = partitions.len() - i - 1;
                        break;
                    }
                    continue;
                }
            }
            failing = 0;
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::record::prepare;
    use crate::storage::memory::MemoryStore;
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    use ::parquet::record::Field;
    use serde_json::json;
    use time::macros::datetime;

    fn far() -> Instant {
        Instant::now() + std::time::Duration::from_secs(600)
    }

    fn archive(store: &MemoryStore, containers: &Containers, event: serde_json::Value) {
        let raw = serde_json::value::to_raw_value(&event).unwrap();
        let prepared = prepare(&raw);
        let container = containers.for_family(prepared.family);
        store.insert_record(
            container,
            &prepared.blob_name,
            &prepared.body,
            "2026-12-01T10:00:05Z",
        );
    }

    fn sms(id: &str, time: &str) -> serde_json::Value {
        json!({"id": id, "topic": "/t", "subject": "/phonenumber/1", "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
               "eventTime": time, "dataVersion": "1.0", "metadataVersion": "1",
               "data": {"messageId": id, "from": "+1555", "to": "+1556", "deliveryStatus": "Delivered", "segmentCount": "2",
                        "receivedTimestamp": "2026-12-01T09:15:00.1234567Z", "deliveryAttempts": [{"timestamp": "x", "segmentsSucceeded": 1, "segmentsFailed": 0}]}})
    }

    fn hour9() -> Partition {
        Partition {
            family: Family::Sms,
            kind: "smsDeliveryReportReceived".into(),
            hour: Some(datetime!(2026-12-01 09:00 UTC)),
        }
    }

    /// Rows of a Parquet file as (column, value) maps, by the crate's own reader.
    fn rows(bytes: Vec<u8>) -> Vec<HashMap<String, Field>> {
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        reader
            .get_row_iter(None)
            .unwrap()
            .map(|row| {
                row.unwrap()
                    .get_column_iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .collect()
    }

    #[tokio::test]
    async fn an_hour_becomes_one_file_with_a_row_per_record_and_typed_columns() {
        let (store, containers) = (MemoryStore::default(), Containers::default());
        for i in 0..5 {
            archive(&store, &containers, sms(&format!("m{i}"), "2026-12-01T09:30:00Z"));
        }
        archive(&store, &containers, sms("later", "2026-12-01T10:30:00Z"));
        let compactor = Compactor::new(&store, &containers);
        let outcome = compactor.compact(&hour9(), far()).await.unwrap();
        assert!(
            matches!(
                outcome,
                Outcome::Written {
                    rows: 5,
                    replaced: false,
                    ..
                }
            ),
            "{outcome:?}"
        );
        let name = hour9().target_name();
        let rows = rows(store.bytes_of("acs-analytics", &name).unwrap());
        assert_eq!(rows.len(), 5);
        let row = &rows[0];
        assert_eq!(row["eventId"], Field::Str("m0".into()));
        assert_eq!(row["deliveryStatus"], Field::Str("Delivered".into()));
        assert_eq!(
            row["segmentCount"],
            Field::Null,
            "delivery reports have no segmentCount"
        );
        assert_eq!(row["message"], Field::Null);
        assert!(
            matches!(row["receivedTimestamp"], Field::TimestampMicros(_)),
            "{:?}",
            row["receivedTimestamp"]
        );
        assert!(matches!(row["archivedAt"], Field::TimestampMicros(_)));
        let Field::Str(event) = &row["event"] else {
            panic!()
        };
        let record: serde_json::Value = serde_json::from_slice(
            &store
                .bytes_of("acs-sms", "smsDeliveryReportReceived/2026/12/01/09/m0.json")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(event).unwrap(),
            record["event"]
        );
        let meta = store.metadata_of("acs-analytics", &name).unwrap();
        assert_eq!(meta[META_SOURCE_COUNT], "5");
        assert_eq!(meta[META_ANALYTICS_VERSION], "1");
    }

    #[tokio::test]
    async fn an_unchanged_hour_writes_nothing_and_a_late_event_replaces_it_with_one_more_row() {
        let (store, containers) = (MemoryStore::default(), Containers::default());
        archive(&store, &containers, sms("a", "2026-12-01T09:00:00Z"));
        let compactor = Compactor::new(&store, &containers);
        compactor.compact(&hour9(), far()).await.unwrap();
        let writes = store.job_writes();
        assert_eq!(
            compactor.compact(&hour9(), far()).await.unwrap(),
            Outcome::Unchanged
        );
        assert_eq!(store.job_writes(), writes);
        archive(&store, &containers, sms("b", "2026-12-01T09:59:59Z"));
        let outcome = compactor.compact(&hour9(), far()).await.unwrap();
        assert!(
            matches!(
                outcome,
                Outcome::Written {
                    rows: 2,
                    replaced: true,
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert_eq!(
            rows(store.bytes_of("acs-analytics", &hour9().target_name()).unwrap()).len(),
            2
        );
    }

    #[tokio::test]
    async fn a_large_hour_is_uploaded_in_blocks_with_small_row_groups_and_reads_back_whole() {
        let (store, containers) = (MemoryStore::default(), Containers::default());
        for i in 0..300 {
            archive(
                &store,
                &containers,
                sms(&format!("m{i:03}"), "2026-12-01T09:30:00Z"),
            );
        }
        let mut compactor = Compactor::new(&store, &containers);
        compactor.limits.row_groups = RowGroupLimits {
            rows: 40,
            bytes: 1 << 30,
        };
        compactor.limits.block_bytes = 4096;
        compactor.compact(&hour9(), far()).await.unwrap();
        let bytes = store.bytes_of("acs-analytics", &hour9().target_name()).unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes.clone())).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 8);
        let ids: Vec<_> = rows(bytes).into_iter().map(|r| r["eventId"].clone()).collect();
        assert_eq!(ids.len(), 300);
        assert_eq!(ids[299], Field::Str("m299".into()));
    }

    #[tokio::test]
    async fn two_compactions_of_one_hour_at_once_end_with_one_result() {
        let (store, containers) = (MemoryStore::default(), Containers::default());
        for i in 0..20 {
            archive(&store, &containers, sms(&format!("m{i}"), "2026-12-01T09:30:00Z"));
        }
        store.set_latency(std::time::Duration::from_millis(2));
        let compactor = Compactor::new(&store, &containers);
        let hour = hour9();
        let (a, b) = tokio::join!(compactor.compact(&hour, far()), compactor.compact(&hour, far()));
        let outcomes = [a.unwrap(), b.unwrap()];
        assert!(outcomes.contains(&Outcome::WrittenByAnother), "{outcomes:?}");
        assert_eq!(store.job_writes(), 1);
    }

    #[tokio::test]
    async fn the_window_has_closed_hours_only_and_other_kinds_come_from_its_container() {
        let (store, containers) = (MemoryStore::default(), Containers::default());
        archive(
            &store,
            &containers,
            json!({"id": "x", "topic": "/t", "subject": "s", "eventType": "Contoso.Thing", "eventTime": "2026-12-01T08:00:00Z", "data": {}, "dataVersion": "1", "metadataVersion": "1"}),
        );
        let compactor = Compactor::new(&store, &containers);
        let parts = compactor
            .partitions(
                datetime!(2026-12-01 08:00 UTC),
                datetime!(2026-12-02 00:00 UTC),
                datetime!(2026-12-01 10:05 UTC),
                false,
            )
            .await
            .unwrap();
        let hours: std::collections::BTreeSet<_> = parts.iter().map(|p| p.hour).collect();
        assert_eq!(hours.len(), 2, "08 and 09; 10 is still open");
        assert!(parts.iter().any(|p| p.kind == "contoso.thing"));
        assert_eq!(parts.len(), 2 * (2 + 20 + 3 + 1));
    }

    #[tokio::test]
    async fn a_run_stops_at_its_deadline_and_says_how_many_are_left() {
        let (store, containers) = (MemoryStore::default(), Containers::default());
        let compactor = Compactor::new(&store, &containers);
        let parts = vec![hour9(), hour9()];
        let report = compactor.run(&parts, Instant::now(), |_, _| {}).await;
        assert_eq!(report.left, 2);
        assert!(
            report.summary().contains("time limit with 2 left"),
            "{}",
            report.summary()
        );
    }
}
