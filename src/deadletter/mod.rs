//! Dead-letter recovery: events Event Grid gave up on (after 24 hours or 30 attempts) and wrote into
//! the dead-letter container are archived as a direct delivery would have archived them.
//!
//! One run lists the container a page at a time and takes every blob not marked recovered yet:
//! claims it with a lease (taken only if the blob is unchanged since it was listed, so two runs, the
//! timer on two instances or the command beside the timer, never work on one blob at once), reads
//! it, stores its events through [`ingest`] (create-only: recovering twice, or recovering an event
//! that was archived after all, writes nothing twice), and only when every one of them is stored marks
//! the blob recovered in its metadata, written `If-Match` on its ETag under the lease. A blob whose
//! events are not all stored stays unmarked and is taken again by the next run. Nothing is deleted.

pub mod blob;

use crate::archive::ingest::{ingest, IngestError, IngestOptions};
use crate::archive::{Archiver, Outcome};
use crate::storage::{BlobSource, BlobStore, Claim, ListedBlob, StorageError};
use std::fmt;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::time::Instant;

/// Metadata key on a dead-letter blob whose every event is archived: when that was (RFC 3339).
pub const META_RECOVERED_AT: &str = "recoveredat";
/// Metadata key on a recovered dead-letter blob: how many events it held.
pub const META_RECOVERED_EVENTS: &str = "recoveredevents";
/// Metadata key on a recovered dead-letter blob: how many of its elements were quarantined.
pub const META_RECOVERED_QUARANTINED: &str = "recoveredquarantined";

/// How long a claim on one blob lasts (storage allows 15 to 60 s). A run that dies holding one only
/// delays that blob by this much.
pub const LEASE_SECONDS: u32 = 15;
/// The time one blob's events get to be stored, well inside the lease: a blob not done by then is
/// left unmarked, and the next run gets further (what is stored is recognised from a listing).
const BLOB_TIME: Duration = Duration::from_secs(10);
/// A run starts no new blob with less time than this left.
const MIN_TIME_FOR_A_BLOB: Duration = Duration::from_secs(2);
/// How often a run that waits for a blob another run holds looks again.
const BUSY_POLL: Duration = Duration::from_millis(500);

/// What one run does.
#[derive(Debug, Clone)]
pub struct RecoverOptions {
    /// The dead-letter container.
    pub container: String,
    /// Only blobs whose names start with this (`""`: all).
    pub prefix: String,
    /// Read and say what would be done; write nothing, claim nothing.
    pub dry_run: bool,
    /// The run stops starting blobs when this nears, and leaves the rest for the next run.
    pub deadline: Instant,
    /// Wait for a blob another run holds (until its claim ends) instead of skipping it: for the
    /// command, which an operator expects to leave nothing behind.
    pub wait_for_busy: bool,
}

/// How the events of one blob were stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// Newly written.
    pub archived: usize,
    /// Already archived (delivered after all, or recovered by an earlier run).
    pub already: usize,
    /// Newly written beside a different event with the same id.
    pub beside: usize,
    /// Elements that are not events, quarantined.
    pub quarantined: usize,
}

/// What happened to one dead-letter blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobResult {
    /// Every event is stored and the blob is marked recovered.
    Recovered(Stored),
    /// Dry run: what recovering it would store.
    WouldRecover { events: usize, quarantined: usize },
    /// Another run holds it; that run recovers it.
    Busy,
    /// It changed (or was recovered by another run) since it was listed; the next run looks again.
    Changed,
    /// Not every event could be stored; the blob stays unmarked for the next run.
    Failed {
        stored: usize,
        of: usize,
        error: String,
        /// Retrying cannot help until someone fixes a setting or a role.
        configuration_problem: bool,
    },
    /// The run's time ran out before every event was confirmed; the next run resumes.
    OutOfTime { stored: usize, of: usize },
}

#[derive(Debug, Clone)]
pub struct BlobLine {
    pub name: String,
    pub result: BlobResult,
}

impl fmt::Display for BlobLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.result {
            BlobResult::Recovered(s) => write!(
                f,
                "recovered {name}: {} events ({} archived, {} already archived, {} beside another event with the same id), {} quarantined",
                s.archived + s.already + s.beside,
                s.archived,
                s.already,
                s.beside,
                s.quarantined
            ),
            BlobResult::WouldRecover {
                events,
                quarantined,
            } => write!(
                f,
                "would recover {name}: {events} events, {quarantined} to quarantine"
            ),
            BlobResult::Busy => write!(f, "skipped {name}: another recovery is at work on it"),
            BlobResult::Changed => write!(
                f,
                "skipped {name}: it changed or was recovered by another run since it was listed"
            ),
            BlobResult::Failed {
                stored, of, error, ..
            } => write!(
                f,
                "not recovered {name}: {stored} of {of} events stored: {error}; the next run takes it again"
            ),
            BlobResult::OutOfTime { stored, of } => write!(
                f,
                "not recovered {name}: time ran out with {stored} of {of} events stored; the next run resumes it"
            ),
        }
    }
}

/// Why a run stopped before the end of the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    OutOfTime,
    StorageFailed,
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub container: String,
    pub dry_run: bool,
    /// One line per blob taken, in listing order.
    pub blobs: Vec<BlobLine>,
    /// Blobs already marked recovered by an earlier run.
    pub already_recovered: usize,
    pub stopped: Option<Stopped>,
}

impl Recovery {
    /// Whether a blob could not be recovered for a reason other than time (the run failed).
    pub fn failed(&self) -> Option<&BlobLine> {
        self.blobs
            .iter()
            .find(|b| matches!(b.result, BlobResult::Failed { .. }))
    }

    /// Totals over the blobs this run recovered.
    pub fn stored(&self) -> Stored {
        let mut total = Stored::default();
        for line in &self.blobs {
            if let BlobResult::Recovered(s) = line.result {
                total.archived += s.archived;
                total.already += s.already;
                total.beside += s.beside;
                total.quarantined += s.quarantined;
            }
        }
        total
    }

    fn count(&self, wanted: fn(&BlobResult) -> bool) -> usize {
        self.blobs.iter().filter(|b| wanted(&b.result)).count()
    }

    /// One line: what the run did, for the command's last line and the timer's log.
    pub fn summary(&self) -> String {
        let container = &self.container;
        let skipped = self.count(|r| matches!(r, BlobResult::Busy | BlobResult::Changed));
        let not_done = self.count(|r| matches!(r, BlobResult::Failed { .. } | BlobResult::OutOfTime { .. }));
        let stopped = match self.stopped {
            None => "",
            Some(Stopped::OutOfTime) => "; stopped: time is up, the rest is left for the next run",
            Some(Stopped::StorageFailed) => "; stopped: storage failed, the rest is left for the next run",
        };
        if self.dry_run {
            let (mut events, mut quarantined) = (0, 0);
            for line in &self.blobs {
                if let BlobResult::WouldRecover {
                    events: e,
                    quarantined: q,
                } = line.result
                {
                    events += e;
                    quarantined += q;
                }
            }
            return format!(
                "dry run of dead-letter recovery in {container}: {} blobs to recover ({events} events, {quarantined} to quarantine), {} already recovered; nothing was changed{stopped}",
                self.count(|r| matches!(r, BlobResult::WouldRecover { .. })),
                self.already_recovered,
            );
        }
        let s = self.stored();
        format!(
            "dead-letter recovery in {container}: {} blobs recovered ({} events: {} archived, {} already archived, {} beside; {} quarantined), {} already recovered earlier, {skipped} skipped, {not_done} not recovered{stopped}",
            self.count(|r| matches!(r, BlobResult::Recovered(_))),
            s.archived + s.already + s.beside,
            s.archived,
            s.already,
            s.beside,
            s.quarantined,
            self.already_recovered,
        )
    }
}

/// One recovery run over the dead-letter container (see the module documentation). `Err` only when
/// the container cannot be listed; what happened to each blob is in the [`Recovery`].
pub async fn recover<S: BlobStore + BlobSource>(
    archiver: &Archiver<S>,
    options: &RecoverOptions,
) -> Result<Recovery, StorageError> {
    let mut run = Recovery {
        container: options.container.clone(),
        dry_run: options.dry_run,
        blobs: vec![],
        already_recovered: 0,
        stopped: None,
    };
    let mut marker: Option<String> = None;
    'pages: loop {
        if time_left(options.deadline) < MIN_TIME_FOR_A_BLOB {
            run.stopped = Some(Stopped::OutOfTime);
            break;
        }
        let page = archiver
            .store()
            .list_page(&options.container, &options.prefix, marker.as_deref())
            .await?;
        for listed in page.blobs {
            if listed.metadata.contains_key(META_RECOVERED_AT) {
                run.already_recovered += 1;
                continue;
            }
            if time_left(options.deadline) < MIN_TIME_FOR_A_BLOB {
                run.stopped = Some(Stopped::OutOfTime);
                break 'pages;
            }
            let result = recover_blob(archiver, options, &listed).await;
            let stop = match result {
                BlobResult::Failed { .. } => Some(Stopped::StorageFailed),
                BlobResult::OutOfTime { .. } => Some(Stopped::OutOfTime),
                _ => None,
            };
            run.blobs.push(BlobLine {
                name: listed.name,
                result,
            });
            if stop.is_some() {
                run.stopped = stop;
                break 'pages;
            }
        }
        match page.next {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    Ok(run)
}

fn time_left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

async fn recover_blob<S: BlobStore + BlobSource>(
    archiver: &Archiver<S>,
    options: &RecoverOptions,
    listed: &ListedBlob,
) -> BlobResult {
    let store = archiver.store();
    let (container, name) = (options.container.as_str(), listed.name.as_str());
    let failed = |error: StorageError| BlobResult::Failed {
        stored: 0,
        of: 0,
        configuration_problem: error.is_configuration_problem(),
        error: error.to_string(),
    };
    if options.dry_run {
        return match store.read(container, name).await {
            Ok(Some(read)) => {
                let contents = blob::contents(&read.bytes, &format!("{container}/{name}"));
                BlobResult::WouldRecover {
                    events: contents.events,
                    quarantined: contents.quarantined(),
                }
            }
            Ok(None) => BlobResult::Changed,
            Err(e) => failed(e),
        };
    }
    let lease = match claim(archiver, options, listed).await {
        Ok(Claim::Held(lease)) => lease,
        Ok(Claim::Busy) => return BlobResult::Busy,
        Ok(Claim::Changed) => return BlobResult::Changed,
        Err(e) => return failed(e),
    };
    let result = recover_claimed(archiver, options, listed, &lease).await;
    if let Err(e) = store.release_lease(container, name, &lease).await {
        // The claim then ends by itself within LEASE_SECONDS.
        tracing::warn!(blob = %name, error = %e, "could not release the claim on a dead-letter blob");
    }
    result
}

/// Takes the blob's lease; the command waits for a blob another run holds, until that run's claim
/// would have ended.
async fn claim<S: BlobStore + BlobSource>(
    archiver: &Archiver<S>,
    options: &RecoverOptions,
    listed: &ListedBlob,
) -> Result<Claim, StorageError> {
    let store = archiver.store();
    let give_up = Instant::now() + Duration::from_secs(u64::from(LEASE_SECONDS) + 5);
    loop {
        let claim = store
            .try_lease(&options.container, &listed.name, &listed.etag, LEASE_SECONDS)
            .await?;
        let waited_enough = Instant::now() + BUSY_POLL >= give_up.min(options.deadline);
        if claim != Claim::Busy || !options.wait_for_busy || waited_enough {
            return Ok(claim);
        }
        tokio::time::sleep(BUSY_POLL).await;
    }
}

async fn recover_claimed<S: BlobStore + BlobSource>(
    archiver: &Archiver<S>,
    options: &RecoverOptions,
    listed: &ListedBlob,
    lease: &str,
) -> BlobResult {
    let store = archiver.store();
    let (container, name) = (options.container.as_str(), listed.name.as_str());
    let read = match store.read(container, name).await {
        Ok(Some(read)) => read,
        Ok(None) => return BlobResult::Changed,
        Err(e) => {
            return BlobResult::Failed {
                stored: 0,
                of: 0,
                configuration_problem: e.is_configuration_problem(),
                error: e.to_string(),
            }
        }
    };
    let contents = blob::contents(&read.bytes, &format!("{container}/{name}"));
    let of = contents.records.len();
    let deadline = options.deadline.min(Instant::now() + BLOB_TIME);
    let done = ingest(archiver, &contents.records, IngestOptions::until(deadline)).await;
    match done.first_error() {
        None => {}
        Some(IngestError::OutOfTime) => {
            return BlobResult::OutOfTime {
                stored: done.stored(),
                of,
            }
        }
        Some(IngestError::Storage(e)) => {
            return BlobResult::Failed {
                stored: done.stored(),
                of,
                configuration_problem: e.is_configuration_problem(),
                error: e.to_string(),
            }
        }
    }
    let mut stored = Stored {
        quarantined: contents.quarantined(),
        ..Stored::default()
    };
    for (record, outcome) in contents.records.iter().zip(&done.outcomes) {
        if record.family == crate::archive::events::Family::Quarantine {
            continue;
        }
        match outcome {
            Ok(Outcome::Archived { .. }) => stored.archived += 1,
            Ok(Outcome::Duplicate { .. }) => stored.already += 1,
            Ok(Outcome::ArchivedBesideConflict { .. }) => stored.beside += 1,
            Err(_) => unreachable!("every outcome is Ok when there is no first error"),
        }
    }
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "unknown".to_owned());
    let mut metadata = listed.metadata.clone();
    metadata.insert(META_RECOVERED_AT.to_owned(), now);
    metadata.insert(META_RECOVERED_EVENTS.to_owned(), contents.events.to_string());
    metadata.insert(
        META_RECOVERED_QUARANTINED.to_owned(),
        contents.quarantined().to_string(),
    );
    match store
        .set_metadata_if(container, name, &read.etag, Some(lease), &metadata)
        .await
    {
        Ok(true) => BlobResult::Recovered(stored),
        // Its events are stored all the same; the next run takes it again and finds them archived.
        Ok(false) => BlobResult::Changed,
        Err(e) => BlobResult::Failed {
            stored: of,
            of,
            configuration_problem: e.is_configuration_problem(),
            error: format!("could not mark it recovered: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::record::prepare;
    use crate::config::Containers;
    use crate::storage::memory::MemoryStore;
    use serde_json::value::RawValue;

    const DL: &str = "acs-deadletter";

    fn sms(id: &str) -> String {
        format!(
            r#"{{"id":"{id}","eventType":"Microsoft.Communication.SMSReceived","eventTime":"2026-12-01T09:00:00Z","data":{{"message":"m"}}}}"#
        )
    }

    fn dead_lettered(id: &str) -> String {
        sms(id).replacen(
            '{',
            r#"{"deadLetterReason":"MaxDeliveryAttemptsExceeded","deliveryAttempts":30,"#,
            1,
        )
    }

    fn options() -> RecoverOptions {
        RecoverOptions {
            container: DL.into(),
            prefix: String::new(),
            dry_run: false,
            deadline: Instant::now() + Duration::from_secs(30),
            wait_for_busy: false,
        }
    }

    fn archiver() -> Archiver<MemoryStore> {
        Archiver::new(MemoryStore::default(), Containers::default())
    }

    fn sms_names(a: &Archiver<MemoryStore>) -> Vec<String> {
        a.store()
            .names()
            .into_iter()
            .filter(|(c, _)| c == "acs-sms")
            .map(|(_, n)| n)
            .collect()
    }

    #[tokio::test]
    async fn every_event_is_archived_once_and_the_blob_is_marked_only_then() {
        let a = archiver();
        let blob = format!("[{},{}]", dead_lettered("a"), dead_lettered("b"));
        a.store()
            .put(DL, "ACS-SMS/2026/12/1/9/g1.json", blob.as_bytes(), &[]);
        // "a" was archived by a direct delivery after all.
        let direct = prepare(&RawValue::from_string(sms("a")).unwrap());
        a.archive(&direct, "t").await.unwrap();

        // Storage fails for "b": nothing is marked, the run says so and stops.
        a.store().fail_writes_to("smsReceived/2026/12/01/09/b.json");
        let first = recover(&a, &options()).await.unwrap();
        assert!(
            matches!(first.blobs[0].result, BlobResult::Failed { stored: 1, of: 2, .. }),
            "{first:?}"
        );
        assert_eq!(first.stopped, Some(Stopped::StorageFailed));
        assert!(!a
            .store()
            .metadata(DL, "ACS-SMS/2026/12/1/9/g1.json")
            .contains_key(META_RECOVERED_AT));

        a.store().heal();
        let second = recover(&a, &options()).await.unwrap();
        assert_eq!(
            second.blobs[0].result,
            BlobResult::Recovered(Stored {
                archived: 1,
                already: 1,
                beside: 0,
                quarantined: 0
            })
        );
        assert_eq!(
            sms_names(&a),
            [
                "smsReceived/2026/12/01/09/a.json",
                "smsReceived/2026/12/01/09/b.json"
            ]
        );
        let mark = a.store().metadata(DL, "ACS-SMS/2026/12/1/9/g1.json");
        assert_eq!(mark[META_RECOVERED_EVENTS], "2");
        let b = a.store().metadata("acs-sms", "smsReceived/2026/12/01/09/b.json");
        assert_eq!(b["deadletterreason"], "MaxDeliveryAttemptsExceeded");
        assert_eq!(b["deliveryattempts"], "30");

        // A third run finds it marked and does nothing.
        let third = recover(&a, &options()).await.unwrap();
        assert!(third.blobs.is_empty());
        assert_eq!(third.already_recovered, 1);
    }

    #[tokio::test]
    async fn a_blob_another_run_holds_is_skipped_and_a_dry_run_changes_nothing() {
        let a = archiver();
        a.store().put(
            DL,
            "x/1.json",
            format!("[{}]", dead_lettered("c")).as_bytes(),
            &[],
        );
        a.store().put(DL, "y/1.json", b"not json", &[]);
        let listed = a.store().list_page(DL, "x/", None).await.unwrap().blobs.remove(0);
        let Claim::Held(_) = a
            .store()
            .try_lease(DL, "x/1.json", &listed.etag, 15)
            .await
            .unwrap()
        else {
            panic!("no lease");
        };
        let dry = recover(
            &a,
            &RecoverOptions {
                dry_run: true,
                ..options()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            dry.blobs[0].result,
            BlobResult::WouldRecover {
                events: 1,
                quarantined: 0
            }
        );
        assert_eq!(
            dry.blobs[1].result,
            BlobResult::WouldRecover {
                events: 0,
                quarantined: 1
            }
        );
        assert_eq!(a.store().names().len(), 2, "a dry run writes nothing");

        let run = recover(&a, &options()).await.unwrap();
        assert_eq!(run.blobs[0].result, BlobResult::Busy);
        assert!(matches!(
            run.blobs[1].result,
            BlobResult::Recovered(Stored { quarantined: 1, .. })
        ));
        assert!(run.summary().contains("1 skipped"), "{}", run.summary());
        let quarantined: Vec<_> = a
            .store()
            .names()
            .into_iter()
            .filter(|(c, _)| c == "acs-quarantine")
            .map(|(_, n)| n)
            .collect();
        assert_eq!(quarantined.len(), 1);
        assert!(quarantined[0].starts_with("deadLetterNotJson/"));
    }

    #[tokio::test]
    async fn the_prefix_limits_the_run_to_matching_blobs() {
        let a = archiver();
        a.store().put(
            DL,
            "ACS-SMS/1.json",
            format!("[{}]", dead_lettered("s")).as_bytes(),
            &[],
        );
        a.store().put(
            DL,
            "ACS-CHAT/1.json",
            format!("[{}]", dead_lettered("t")).as_bytes(),
            &[],
        );
        let run = recover(
            &a,
            &RecoverOptions {
                prefix: "ACS-SMS/".into(),
                ..options()
            },
        )
        .await
        .unwrap();
        assert_eq!(run.blobs.len(), 1);
        assert_eq!(sms_names(&a), ["smsReceived/2026/12/01/09/s.json"]);
    }
}
