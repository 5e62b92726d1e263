//! The records of one hour, read back through [`BlobSource`]: listed once (a page at a time, kept as
//! one compact arena so that 200,000 names cost a few MB, not a `ListedBlob` each), summarised as a
//! digest of names and ETags, and fetched in name order with bounded concurrency.

use crate::storage::{BlobSource, StorageError, META_ARCHIVED_AT};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The blobs directly under one hour prefix: names (without the prefix), ETags and archive times.
#[derive(Debug)]
pub struct HourListing {
    pub container: String,
    pub prefix: String,
    /// Every name suffix and ETag, back to back.
    text: String,
    entries: Vec<Entry>,
    digest: Sha256,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    name_len: u32,
    etag_len: u32,
    /// `archivedat` metadata in microseconds since the epoch, `i64::MIN` when absent.
    archived_at: i64,
}

/// One listed record.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The name under the hour prefix, e.g. `{event-id}.json`.
    pub suffix: &'a str,
    pub etag: &'a str,
    /// When the handler first wrote it (from `archivedat`), in microseconds since the epoch.
    pub archived_at: Option<i64>,
}

impl HourListing {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// SHA-256 over every `name\netag\n`, in name order: it changes when a record is added, removed
    /// or rewritten, and only then.
    pub fn digest(&self) -> String {
        let digest = self.digest.clone().finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn sources(&self) -> impl Iterator<Item = Source<'_>> + '_ {
        self.entries.iter().map(|e| {
            let start = e.start as usize;
            let name_end = start + e.name_len as usize;
            Source {
                suffix: &self.text[start..name_end],
                etag: &self.text[name_end..name_end + e.etag_len as usize],
                archived_at: (e.archived_at != i64::MIN).then_some(e.archived_at),
            }
        })
    }
}

/// Lists `prefix` once, every page. Only blobs directly in the folder count (not deeper names).
pub async fn list_hour<S: BlobSource>(
    store: &S,
    container: &str,
    prefix: &str,
) -> Result<HourListing, StorageError> {
    let mut listing = HourListing {
        container: container.to_owned(),
        prefix: prefix.to_owned(),
        text: String::new(),
        entries: vec![],
        digest: Sha256::new(),
    };
    let mut marker: Option<String> = None;
    loop {
        let page = store.list_page(container, prefix, marker.as_deref()).await?;
        for blob in page.blobs {
            let Some(suffix) = blob.name.strip_prefix(prefix) else {
                continue;
            };
            if suffix.is_empty() || suffix.contains('/') {
                continue;
            }
            listing.digest.update(blob.name.as_bytes());
            listing.digest.update(b"\n");
            listing.digest.update(blob.etag.as_bytes());
            listing.digest.update(b"\n");
            let archived_at = blob
                .metadata
                .get(META_ARCHIVED_AT)
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .map_or(i64::MIN, |t| (t.unix_timestamp_nanos() / 1_000) as i64);
            listing.entries.push(Entry {
                start: listing.text.len() as u32,
                name_len: suffix.len() as u32,
                etag_len: blob.etag.len() as u32,
                archived_at,
            });
            listing.text.push_str(suffix);
            listing.text.push_str(&blob.etag);
        }
        match page.next {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    listing.text.shrink_to_fit();
    listing.entries.shrink_to_fit();
    Ok(listing)
}

/// A fetched record.
#[derive(Debug)]
pub struct Fetched {
    /// The full blob name.
    pub name: String,
    pub archived_at: Option<i64>,
    pub bytes: Vec<u8>,
}

/// The records of a listing, in name order, at most `concurrency` requests in flight. A record that
/// was listed but is gone is an error: the hour is compacted again on the next run.
pub fn fetch<'a, S: BlobSource>(
    store: &'a S,
    listing: &'a HourListing,
    concurrency: usize,
) -> impl Stream<Item = Result<Fetched, StorageError>> + 'a {
    futures::stream::iter(listing.sources())
        .map(move |source| async move {
            let name = format!("{}{}", listing.prefix, source.suffix);
            match store.read(&listing.container, &name).await? {
                Some(blob) => Ok(Fetched {
                    name,
                    archived_at: source.archived_at,
                    bytes: blob.bytes,
                }),
                None => Err(StorageError::Service {
                    status: 404,
                    code: format!("BlobNotFound: {name} was listed, then gone"),
                }),
            }
        })
        .buffered(concurrency.max(1))
}

/// The first name segments (kinds) in a container: how the kinds of `other`, which are any
/// lower-cased event type, are found. Reads the whole listing a page at a time, keeping only the
/// distinct kinds; `other` holds only unmodelled or mis-routed events, so it stays small.
pub async fn kinds_in<S: BlobSource>(store: &S, container: &str) -> Result<BTreeSet<String>, StorageError> {
    let mut kinds = BTreeSet::new();
    let mut marker: Option<String> = None;
    loop {
        let page = store.list_page(container, "", marker.as_deref()).await?;
        for blob in &page.blobs {
            if let Some((kind, _)) = blob.name.split_once('/') {
                if !kinds.contains(kind) {
                    kinds.insert(kind.to_owned());
                }
            }
        }
        match page.next {
            Some(next) => marker = Some(next),
            None => return Ok(kinds),
        }
    }
}

/// A short fingerprint of a digest for log lines.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}
