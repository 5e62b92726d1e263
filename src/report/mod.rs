//! `handler report`: the archive's answers for a window of time, as figures ([`summary`]), a JSON
//! file for scripts and a self-contained HTML page with charts ([`page`]).
//!
//! The figures come from the hourly Parquet of [`crate::analytics`] ([`read`] folds each file into
//! [`figures`]). Which hours are read how ([`SourceKind`]):
//! - the open hour (not over yet) from its records, encoded in memory by the same Parquet writer,
//!   so one reader serves every hour;
//! - closed hours inside the compaction lookback, where late and redelivered events still land,
//!   compacted first (a compaction of an unchanged hour only lists it and writes nothing);
//! - older hours from their files; an older hour with no file of any kind was never compacted
//!   (the timer was not deployed yet, say) and is compacted first too.
//!
//! So a report is never silently partial: what it read, from where, is in its `sources`.

pub mod figures;
pub mod page;
pub mod privacy;
pub mod read;
pub mod summary;

use crate::analytics::compact::{CompactError, Compactor, Outcome};
use crate::analytics::parquet::{FileWriter, RowGroupLimits};
use crate::analytics::{hour_start, known_kinds, scan, Partition};
use crate::archive::events::Family;
use crate::config::Containers;
use crate::storage::{BlobSink, BlobSource, StorageError};
use figures::{Figures, Kind};
use futures::StreamExt;
use privacy::Privacy;
use std::collections::{BTreeMap, BTreeSet};
use summary::{Identifiers, SourceKind, SourceRange, Summary, Window, REPORT_VERSION};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// What to report on, and how.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Inclusive.
    pub from: OffsetDateTime,
    /// Exclusive.
    pub to: OffsetDateTime,
    pub now: OffsetDateTime,
    /// Closed hours this close to `now` are compacted before they are read (the compaction
    /// timer's `ARCHIVE_COMPACT_LOOKBACK_HOURS`).
    pub lookback_hours: u32,
    pub privacy: Privacy,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("could not list what the window holds: {0}")]
    Listing(#[source] StorageError),
    #[error("could not compact {partition} before reading it: {cause}")]
    Compact {
        partition: String,
        #[source]
        cause: CompactError,
    },
    #[error("could not read {name}: {cause}")]
    Read {
        name: String,
        #[source]
        cause: StorageError,
    },
    #[error(
        "{name} was listed but is gone (deleted while the report read the window): run the report again"
    )]
    Vanished { name: String },
    #[error("{name} is not a readable Parquet file: {cause}")]
    Parquet {
        name: String,
        #[source]
        cause: parquet::errors::ParquetError,
    },
}

/// Files fetched at once.
const CONCURRENCY: usize = 8;

/// The figures of the window. `progress` hears of each step (for the command's output).
pub async fn build<S: BlobSource + BlobSink>(
    store: &S,
    containers: &Containers,
    options: &ReportOptions,
    mut progress: impl FnMut(&str),
) -> Result<Summary, ReportError> {
    let kinds = report_kinds();
    let hours = hours_of(options.from, options.to);
    let files = analytics_files(store, containers, &kinds, &hours).await?;
    let open_from = hour_start(options.now);
    let recent_from = open_from - Duration::hours(i64::from(options.lookback_hours));
    let mut plan: Vec<(OffsetDateTime, SourceKind)> = hours
        .iter()
        .map(|&h| {
            let read = if h >= open_from {
                SourceKind::Records
            } else if h >= recent_from {
                SourceKind::Compacted
            } else {
                SourceKind::Parquet
            };
            (h, read)
        })
        .collect();

    // Compact what needs it; then every closed hour is read from its files. In the lookback every
    // kind is compacted (an unchanged hour costs a listing). Before it, a kind's hour that has no
    // file is compacted if the kind has records that day (one capped listing per kind and month,
    // then day), so a quiet night costs no listing per kind and hour, and a kind that a compaction
    // run did not reach is not silently left out.
    let compactor = Compactor::new(store, containers);
    let mut to_compact: Vec<Partition> = vec![];
    let mut days = DayProbe::default();
    for (h, read) in plan.iter_mut() {
        if *read == SourceKind::Records {
            continue;
        }
        for (family, kind) in &kinds {
            let p = partition(*family, kind, *h);
            if *read == SourceKind::Parquet
                && (files.contains(&(kind.clone(), *h)) || !days.has_records(store, containers, &p).await?)
            {
                continue;
            }
            to_compact.push(p);
        }
        if to_compact.last().is_some_and(|p| p.hour == Some(*h)) {
            *read = SourceKind::Compacted;
        }
    }
    if !to_compact.is_empty() {
        progress(&format!(
            "compacting {} partitions first (hours not compacted yet)",
            to_compact.len()
        ));
    }
    let far = tokio::time::Instant::now() + std::time::Duration::from_secs(366 * 24 * 3600);
    let mut compacted: BTreeSet<(String, OffsetDateTime)> = BTreeSet::new();
    let mut results = futures::stream::iter(to_compact.iter())
        .map(|p| {
            let compactor = &compactor;
            async move { (p, compactor.compact(p, far).await) }
        })
        .buffer_unordered(CONCURRENCY / 2);
    while let Some((p, result)) = results.next().await {
        match result {
            Ok(Outcome::NoRecords) => {}
            Ok(Outcome::Written { .. } | Outcome::Unchanged | Outcome::WrittenByAnother) => {
                compacted.insert((p.kind.clone(), p.hour.expect("a dated partition")));
            }
            Err(cause) => {
                return Err(ReportError::Compact {
                    partition: p.label(),
                    cause,
                })
            }
        }
    }
    drop(results);

    let window = (micros(options.from), micros(options.to));
    let mut figures = Figures::new(options.privacy);
    let mut rows_by_hour: BTreeMap<OffsetDateTime, u64> = BTreeMap::new();
    let mut to_read: Vec<(Family, String, OffsetDateTime)> = vec![];
    for (h, read) in &plan {
        // A file that was there, or one the report just compacted (then it is read as it is now).
        let available = |kind: &str| {
            let key = (kind.to_owned(), *h);
            *read != SourceKind::Records && (files.contains(&key) || compacted.contains(&key))
        };
        for (family, kind) in &kinds {
            if available(kind) {
                to_read.push((*family, kind.clone(), *h));
            }
        }
    }
    let mut fetched = futures::stream::iter(to_read.iter())
        .map(|(family, kind, h)| async move {
            let name = partition(*family, kind, *h).target_name();
            let blob = store.read(&containers.analytics, &name).await;
            (kind, *h, name, blob)
        })
        .buffered(CONCURRENCY);
    while let Some((kind, h, name, blob)) = fetched.next().await {
        let bytes = match blob {
            Ok(Some(blob)) => blob.bytes,
            // Compaction replaces a file in one write under the same name, so a file that is gone
            // was deleted: its hour would be missing from the figures.
            Ok(None) => return Err(ReportError::Vanished { name }),
            Err(cause) => return Err(ReportError::Read { name, cause }),
        };
        *rows_by_hour.entry(h).or_default() += fold(kind, bytes, name, window, &mut figures)?;
    }
    drop(fetched);

    for (h, read) in &plan {
        if *read != SourceKind::Records {
            continue;
        }
        for (family, kind) in &kinds {
            let p = partition(*family, kind, *h);
            // Hours after the open one hold only events stamped in the future (a sender's clock):
            // rare, so a day is looked into only when it has any.
            if *h > open_from && !days.has_records(store, containers, &p).await? {
                continue;
            }
            let name = format!("{} (records)", p.label());
            let Some(bytes) =
                encode_records(store, containers, &p)
                    .await
                    .map_err(|cause| ReportError::Read {
                        name: name.clone(),
                        cause,
                    })?
            else {
                continue;
            };
            *rows_by_hour.entry(*h).or_default() += fold(kind, bytes, name, window, &mut figures)?;
        }
    }

    let (sms, advanced_messaging, chat) = figures.finish();
    Ok(Summary {
        report_version: REPORT_VERSION,
        window: Window {
            from: rfc3339(options.from),
            to: rfc3339(options.to),
        },
        // To the second: what a reader wants in a header, and what scripts can compare.
        generated_at: rfc3339(options.now.replace_nanosecond(0).unwrap_or(options.now)),
        identifiers: if options.privacy.shows_identifiers() {
            Identifiers::Shown
        } else {
            Identifiers::Hashed
        },
        sources: ranges(&plan, &rows_by_hour),
        sms,
        advanced_messaging,
        chat,
    })
}

/// Whether a kind has records on a day, asked once per kind and month and then per day, each with
/// a listing capped at one name: how hours that have no file (or are still to come) are skipped
/// without a listing each, and a window of years without a probe per day.
#[derive(Default)]
struct DayProbe {
    /// By prefix (`{kind}/{yyyy}/{MM}/` or `…/{dd}/`); a kind is always in its family's container.
    seen: BTreeMap<String, bool>,
}

impl DayProbe {
    async fn has_records<S: BlobSource>(
        &mut self,
        store: &S,
        containers: &Containers,
        p: &Partition,
    ) -> Result<bool, ReportError> {
        let hour = p.hour.expect("a dated partition");
        let month = format!("{}/{:04}/{:02}/", p.kind, hour.year(), u8::from(hour.month()));
        let day = format!("{month}{:02}/", hour.day());
        for prefix in [month, day] {
            if !self
                .any_under(store, containers.for_family(p.family), prefix)
                .await?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn any_under<S: BlobSource>(
        &mut self,
        store: &S,
        container: &str,
        prefix: String,
    ) -> Result<bool, ReportError> {
        if let Some(has) = self.seen.get(&prefix) {
            return Ok(*has);
        }
        let has = store
            .any_under(container, &prefix)
            .await
            .map_err(ReportError::Listing)?;
        self.seen.insert(prefix, has);
        Ok(has)
    }
}

/// Folds the rows of one file of `kind` in `window` (microseconds) into the figures.
fn fold(
    kind: &str,
    bytes: Vec<u8>,
    name: String,
    window: (i64, i64),
    figures: &mut Figures,
) -> Result<u64, ReportError> {
    let kind = Kind::of(kind).expect("a report kind");
    read::fold_file(bytes.into(), kind, window.0, window.1, figures)
        .map_err(|cause| ReportError::Parquet { name, cause })
}

/// The kinds the report reads, with their families.
fn report_kinds() -> Vec<(Family, String)> {
    [Family::Sms, Family::AdvancedMessaging, Family::Chat]
        .into_iter()
        .flat_map(|f| known_kinds(f).into_iter().map(move |k| (f, k)))
        .filter(|(_, k)| Kind::of(k).is_some())
        .map(|(f, k)| (f, k.to_owned()))
        .collect()
}

/// Every hour that overlaps `[from, to)`.
fn hours_of(from: OffsetDateTime, to: OffsetDateTime) -> Vec<OffsetDateTime> {
    let mut hours = vec![];
    let mut h = hour_start(from);
    while h < to {
        hours.push(h);
        h += Duration::HOUR;
    }
    hours
}

fn partition(family: Family, kind: &str, hour: OffsetDateTime) -> Partition {
    Partition {
        family,
        kind: kind.to_owned(),
        hour: Some(hour),
    }
}

/// The analytics files of these kinds in these hours: one listing per kind (a file per hour).
async fn analytics_files<S: BlobSource>(
    store: &S,
    containers: &Containers,
    kinds: &[(Family, String)],
    hours: &[OffsetDateTime],
) -> Result<BTreeSet<(String, OffsetDateTime)>, ReportError> {
    let (Some(first), Some(last)) = (hours.first(), hours.last()) else {
        return Ok(BTreeSet::new());
    };
    // Only the dates the window spans: the longest prefix its first and last day share
    // (`date=2026-09-` for September, `date=2026-` for a year).
    let date = |h: &OffsetDateTime| format!("date={:04}-{:02}-{:02}", h.year(), u8::from(h.month()), h.day());
    let (first_day, last_day) = (date(first), date(last));
    let shared = first_day
        .bytes()
        .zip(last_day.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let mut found = BTreeSet::new();
    for (family, kind) in kinds {
        let prefix = format!("{kind}/{}", &first_day[..shared]);
        let mut marker: Option<String> = None;
        loop {
            let page = store
                .list_page(&containers.analytics, &prefix, marker.as_deref())
                .await
                .map_err(ReportError::Listing)?;
            for blob in &page.blobs {
                if let Some(h) = hour_of_file(&blob.name) {
                    if h >= *first && h <= *last && partition(*family, kind, h).target_name() == blob.name {
                        found.insert((kind.clone(), h));
                    }
                }
            }
            match page.next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
    }
    Ok(found)
}

/// The hour of `{kind}/date=YYYY-MM-DD/hour=H/…`.
fn hour_of_file(name: &str) -> Option<OffsetDateTime> {
    let mut parts = name.split('/');
    let _kind = parts.next()?;
    let date = parts.next()?.strip_prefix("date=")?;
    let hour: u8 = parts.next()?.strip_prefix("hour=")?.parse().ok()?;
    let date = time::Date::parse(date, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.with_hms(hour, 0, 0).ok()?.assume_utc())
}

/// The records of a partition as one in-memory Parquet file, `None` when it has none.
async fn encode_records<S: BlobSource>(
    store: &S,
    containers: &Containers,
    p: &Partition,
) -> Result<Option<Vec<u8>>, StorageError> {
    let listing = scan::list_hour(store, containers.for_family(p.family), &p.source_prefix()).await?;
    if listing.is_empty() {
        return Ok(None);
    }
    let mut writer =
        FileWriter::new(p.family, vec![], RowGroupLimits::default()).expect("the family's schema is valid");
    let mut bytes = vec![];
    let mut records = scan::fetch(store, &listing, CONCURRENCY);
    while let Some(record) = records.next().await {
        let record = record?;
        writer
            .push(&record.name, record.archived_at, &record.bytes)
            .expect("an in-memory file takes every row");
        bytes.extend(writer.take_output());
    }
    bytes.extend(writer.finish().expect("an in-memory file finishes"));
    Ok(Some(bytes))
}

/// Consecutive hours read the same way, as ranges.
fn ranges(plan: &[(OffsetDateTime, SourceKind)], rows: &BTreeMap<OffsetDateTime, u64>) -> Vec<SourceRange> {
    let mut out: Vec<(OffsetDateTime, OffsetDateTime, SourceKind, u64)> = vec![];
    for (h, read) in plan {
        let n = rows.get(h).copied().unwrap_or(0);
        match out.last_mut() {
            Some(last) if last.2 == *read && last.1 == *h => {
                last.1 = *h + Duration::HOUR;
                last.3 += n;
            }
            _ => out.push((*h, *h + Duration::HOUR, *read, n)),
        }
    }
    out.into_iter()
        .map(|(from, to, read, rows)| SourceRange {
            from: rfc3339(from),
            to: rfc3339(to),
            read,
            rows,
        })
        .collect()
}

fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000)).unwrap_or(i64::MAX)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::record::prepare;
    use crate::storage::memory::MemoryStore;
    use serde_json::json;
    use time::macros::datetime;

    fn containers() -> Containers {
        crate::config::Config::from_lookup(|k| {
            (k == "AzureWebJobsStorage").then(|| "UseDevelopmentStorage=true".to_owned())
        })
        .unwrap()
        .containers
    }

    fn archive(store: &MemoryStore, containers: &Containers, event: serde_json::Value) {
        let raw = serde_json::value::to_raw_value(&event).unwrap();
        let p = prepare(&raw);
        store.insert_record(
            containers.for_family(p.family),
            &p.blob_name,
            &p.body,
            "2026-12-01T10:00:05Z",
        );
    }

    fn report(id: &str, status: &str, time: &str) -> serde_json::Value {
        json!({"id": id, "topic": "/t", "subject": "/phonenumber/1", "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
               "eventTime": time, "dataVersion": "1.0", "metadataVersion": "1",
               "data": {"messageId": id, "from": "+1555", "to": "+1556", "deliveryStatus": status, "receivedTimestamp": time}})
    }

    fn options(now: OffsetDateTime) -> ReportOptions {
        ReportOptions {
            from: datetime!(2026-12-01 00:00 UTC),
            to: datetime!(2026-12-02 00:00 UTC),
            now,
            lookback_hours: 2,
            privacy: Privacy::hashed(),
        }
    }

    #[tokio::test]
    async fn every_hour_is_read_compacted_old_recent_and_open_alike() {
        let store = MemoryStore::default();
        let c = containers();
        archive(&store, &c, report("a", "Delivered", "2026-12-01T01:10:00Z"));
        archive(&store, &c, report("b", "Failed", "2026-12-01T08:10:00Z"));
        archive(&store, &c, report("c", "Delivered", "2026-12-01T10:10:00Z"));
        archive(
            &store,
            &c,
            report("stamped-ahead", "Delivered", "2026-12-01T20:10:00Z"),
        );
        // Hour 1 was compacted long ago; 8 is in the lookback; 10 is open; 20 is still to come.
        let compactor = Compactor::new(&store, &c);
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        compactor
            .compact(
                &partition(
                    Family::Sms,
                    "smsDeliveryReportReceived",
                    datetime!(2026-12-01 01:00 UTC),
                ),
                far,
            )
            .await
            .unwrap();
        let summary = build(&store, &c, &options(datetime!(2026-12-01 10:30 UTC)), |_| {})
            .await
            .unwrap();
        assert_eq!(summary.sms.messages, 4);
        assert_eq!(summary.sms.by_status["Delivered"], 3);
        let reads: Vec<_> = summary
            .sources
            .iter()
            .map(|s| (s.from.as_str(), s.read, s.rows))
            .collect();
        assert_eq!(
            reads,
            [
                // Hour 0 has no file at all: compacted (and found empty).
                ("2026-12-01T00:00:00Z", SourceKind::Compacted, 0),
                ("2026-12-01T01:00:00Z", SourceKind::Parquet, 1),
                ("2026-12-01T02:00:00Z", SourceKind::Compacted, 1),
                ("2026-12-01T10:00:00Z", SourceKind::Records, 2),
            ],
            "{:#?}",
            summary.sources
        );
        assert_eq!(summary.sources[2].to, "2026-12-01T10:00:00Z");
    }

    #[tokio::test]
    async fn an_old_hour_compacted_for_one_kind_is_still_read_for_the_others() {
        let store = MemoryStore::default();
        let c = containers();
        archive(&store, &c, report("a", "Delivered", "2026-12-01T01:10:00Z"));
        let received = json!({"id": "r", "topic": "/t", "subject": "/phonenumber/1",
            "eventType": "Microsoft.Communication.SMSReceived", "eventTime": "2026-12-01T01:20:00Z",
            "dataVersion": "1.0", "metadataVersion": "1",
            "data": {"messageId": "r", "from": "+1555", "to": "+1556", "message": "hi"}});
        archive(&store, &c, received);
        // A compaction run that stopped after one kind of the hour.
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        Compactor::new(&store, &c)
            .compact(
                &partition(Family::Sms, "smsReceived", datetime!(2026-12-01 01:00 UTC)),
                far,
            )
            .await
            .unwrap();
        let summary = build(&store, &c, &options(datetime!(2026-12-05 00:00 UTC)), |_| {})
            .await
            .unwrap();
        assert_eq!(summary.sms.received, 1);
        assert_eq!(
            summary.sms.delivery_reports, 1,
            "the kind without a file was compacted first"
        );
    }

    #[tokio::test]
    async fn the_window_edges_cut_inside_an_hour() {
        let store = MemoryStore::default();
        let c = containers();
        archive(&store, &c, report("a", "Delivered", "2026-12-01T01:10:00Z"));
        archive(&store, &c, report("b", "Delivered", "2026-12-01T01:50:00Z"));
        let mut o = options(datetime!(2026-12-03 00:00 UTC));
        o.from = datetime!(2026-12-01 01:30 UTC);
        let summary = build(&store, &c, &o, |_| {}).await.unwrap();
        assert_eq!(summary.sms.delivery_reports, 1);
        assert_eq!(summary.window.from, "2026-12-01T01:30:00Z");
    }
}
