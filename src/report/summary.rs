//! The report's figures, as the JSON summary (`--json`) writes them and the page shows them. Key
//! names are part of the contract with scripts: add keys, never rename them (`reportVersion` says
//! which set a file has).
//!
//! How each figure is counted, so a script or a test can recompute it from the events:
//! - An event is in the window when its `eventTime` is in `[from, to)`; undated events are in none.
//!   A day is the UTC date of `eventTime`.
//! - "Latest" status of a message: its events ordered by `receivedTimestamp` (absent first), then
//!   `eventTime`, then `eventId`; the last one wins.
//! - Top lists are ordered by count (descending), then by their text (ascending), and cut at
//!   [`TOP`] entries. Ratios and means are rounded to 4 decimals.
//! - Per-day figures of messages count each message on the day of its first event of the kind
//!   counted (so the days add up to the totals); per-day figures of events count events.
//! - Texts that come from customers or channels (failure details, error messages, key phrases,
//!   intents, and every status, type, language or sentiment key) have what reads as a phone number
//!   (a `+` or `%2B` and 7 or more digits, or 9 or more digits; neighbouring digits at most three
//!   spaces, no-break spaces, dots, dashes, slashes or brackets apart; digits of any script)
//!   replaced by `[number]`, unless identifiers are shown ([`super::privacy::mask_numbers`]). Key
//!   phrases are masked before they are counted once per event.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the summary's keys.
pub const REPORT_VERSION: u32 = 1;

/// Length of every top list.
pub const TOP: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub report_version: u32,
    pub window: Window,
    /// RFC 3339, UTC.
    pub generated_at: String,
    /// `hashed` (the default) or `shown` (`--show-identifiers`).
    pub identifiers: Identifiers,
    /// Where each hour of the window was read from, as ranges of consecutive hours.
    pub sources: Vec<SourceRange>,
    pub sms: Sms,
    pub advanced_messaging: AdvancedMessaging,
    pub chat: Chat,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive, RFC 3339 UTC.
    pub from: String,
    /// Exclusive, RFC 3339 UTC.
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Identifiers {
    Hashed,
    Shown,
}

/// Hours `[from, to)` read the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRange {
    pub from: String,
    pub to: String,
    pub read: SourceKind,
    /// Rows read in these hours (every kind).
    pub rows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SourceKind {
    /// Parquet files that were there (older than the compaction lookback: trusted as compacted).
    Parquet,
    /// Closed hours compacted (or checked unchanged) by the report before it read their files.
    Compacted,
    /// The open hour, read from its records (it cannot be compacted yet).
    Records,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sms {
    /// `SMSReceived` events.
    pub received: u64,
    /// `SMSDeliveryReportReceived` events.
    pub delivery_reports: u64,
    /// Distinct `messageId` with a report.
    pub messages: u64,
    /// Messages by the `deliveryStatus` of their latest report (as written; absent: `Unknown`).
    pub by_status: BTreeMap<String, u64>,
    /// `Delivered` messages / `messages`; `null` with no messages.
    pub delivery_rate: Option<f64>,
    /// Messages whose latest report's status is `Failed`, by its `deliveryStatusDetails` (absent:
    /// `(none)`), top [`TOP`].
    pub failure_details: Vec<Counted>,
    /// Reports (events) per day, by status.
    pub per_day: Vec<SmsDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub reports: u64,
    pub by_status: BTreeMap<String, u64>,
}

/// A text and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub text: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedMessaging {
    /// Inbound messages: distinct `messageId` of `AdvancedMessageReceived` (the event id where a
    /// message has none).
    pub received: u64,
    /// Inbound messages by `messageType` (lower-cased), or where it is absent by content: `media`,
    /// `button`, `interactive`, `reaction` (the first of those present), else `text` with `content`,
    /// else `unknown`.
    pub received_by_type: BTreeMap<String, u64>,
    /// Distinct `messageId` with a delivery status.
    pub outbound: u64,
    pub reached: Reached,
    /// Messages whose latest status is `failed` (statuses compared case-insensitively).
    pub failed: u64,
    /// Failed messages by the `error` of their latest status, most frequent first, top [`TOP`].
    pub errors: Vec<ChannelError>,
    /// Inbound messages and the outbound funnel per day (each outbound message on the day of its
    /// first status).
    pub per_day: Vec<MessagingDay>,
    pub analysis: Analysis,
}

/// Outbound messages that got at least this far (any of their statuses, not only the latest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    /// Any of `sent`, `delivered`, `read`.
    pub sent: u64,
    /// `delivered` or `read`.
    pub delivered: u64,
    pub read: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelError {
    /// `error.channelCode`; `null` when the failed status had none.
    pub channel_code: Option<String>,
    /// `error.channelMessage`; `null` when absent.
    pub channel_message: Option<String>,
    pub messages: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagingDay {
    pub date: String,
    pub inbound: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// `AdvancedMessageAnalysisCompleted` events.
    pub analysed: u64,
    /// Events per detected language, most frequent first (every language, not cut).
    pub languages: Vec<Language>,
    /// Key phrases, case-folded, counted once per event, top [`TOP`].
    pub key_phrases: Vec<Counted>,
    /// `intentAnalysis` up to its first `:` (trimmed), counted, top [`TOP`].
    pub intents: Vec<Counted>,
    /// Events with a `sentiment`, by its `description` (absent: `(none)`); empty when no event has one.
    pub sentiment: Vec<Sentiment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Language {
    pub language: String,
    pub events: u64,
    /// Mean `confidenceScore` of the events that have one; `null` when none has.
    pub mean_confidence: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sentiment {
    pub description: String,
    pub events: u64,
    /// Mean `score` of those events that have one.
    pub mean_score: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    /// Distinct `messageId` of `ChatMessageReceived` and `ChatMessageReceivedInThread` (one message
    /// reaches each recipient and the thread: counted once).
    pub messages: u64,
    /// Distinct `threadId` of every chat event.
    pub threads: u64,
    /// Distinct messages edited (`ChatMessageEdited`, `…InThread`).
    pub edited: u64,
    /// Distinct messages deleted (`ChatMessageDeleted`, `…InThread`).
    pub deleted: u64,
    /// Distinct (thread, participant) pairs added (`ChatThreadParticipantAdded`,
    /// `ChatParticipantAddedToThreadWithUser`, the 2020 `ChatMemberAddedToThreadWithUser`).
    pub participants_added: u64,
    /// The same for removals.
    pub participants_removed: u64,
    /// Messages per day.
    pub per_day: Vec<ChatDay>,
    /// Threads with the most messages, top [`TOP`]; `thread` is hashed unless identifiers are shown.
    pub busiest_threads: Vec<Thread>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatDay {
    pub date: String,
    pub messages: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    /// `thread-` and the first 12 hex digits of the SHA-256 of the thread id, or the id itself with
    /// `--show-identifiers`.
    pub thread: String,
    pub messages: u64,
}
