//! Rows in, figures out: the counting rules of [`super::summary`], kept apart from storage and
//! Parquet so they are tested on plain values.
//!
//! Memory grows with distinct messages, threads and pairs (what must be remembered to count each
//! once), not with events: a report event is folded into its message's entry and dropped.

use super::privacy::Privacy;
use super::summary::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use time::OffsetDateTime;

/// What "latest" compares: `receivedTimestamp` (absent first), then `eventTime`, then `eventId`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Order {
    received: Option<i64>,
    event_time: i64,
    event_id: Box<str>,
}

/// One row of the columns the report reads; absent values are `None`. Times are microseconds since
/// the epoch, UTC.
#[derive(Debug, Default, Clone)]
pub struct Row<'a> {
    pub event_id: &'a str,
    pub event_time: i64,
    pub message_id: Option<&'a str>,
    pub status: Option<&'a str>,
    pub details: Option<&'a str>,
    pub received: Option<i64>,
    pub message_type: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub language: Option<&'a str>,
    pub confidence: Option<f64>,
    pub intent: Option<&'a str>,
    pub thread_id: Option<&'a str>,
    pub participant_id: Option<&'a str>,
    /// The record's `fields` JSON, for what has no column (content kinds, key phrases, sentiment).
    pub fields: Option<&'a str>,
}

/// The report's kinds, as the archive names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SmsReceived,
    SmsDeliveryReport,
    MessageReceived,
    MessageStatus,
    MessageAnalysis,
    ChatMessage,
    ChatEdited,
    ChatDeleted,
    ChatAdded,
    ChatRemoved,
    /// Any other chat kind: counts for threads only.
    ChatOther,
}

impl Kind {
    /// The kind of an archive kind name; `None` for kinds the report does not read.
    pub fn of(kind: &str) -> Option<Kind> {
        Some(match kind {
            "smsReceived" => Kind::SmsReceived,
            "smsDeliveryReportReceived" => Kind::SmsDeliveryReport,
            "advancedMessageReceived" => Kind::MessageReceived,
            "advancedMessageDeliveryStatusUpdated" => Kind::MessageStatus,
            "advancedMessageAnalysisCompleted" => Kind::MessageAnalysis,
            "chatMessageReceived" | "chatMessageReceivedInThread" => Kind::ChatMessage,
            "chatMessageEdited" | "chatMessageEditedInThread" => Kind::ChatEdited,
            "chatMessageDeleted" | "chatMessageDeletedInThread" => Kind::ChatDeleted,
            "chatThreadParticipantAdded"
            | "chatParticipantAddedToThreadWithUser"
            | "chatMemberAddedToThreadWithUser" => Kind::ChatAdded,
            "chatThreadParticipantRemoved"
            | "chatParticipantRemovedFromThreadWithUser"
            | "chatMemberRemovedFromThreadWithUser" => Kind::ChatRemoved,
            k if k.starts_with("chat") => Kind::ChatOther,
            _ => return None,
        })
    }
}

/// The latest report of one SMS message.
struct SmsMessage {
    latest: Order,
    status: Box<str>,
    details: Option<Box<str>>,
}

/// One outbound WhatsApp message: how far it got, when it was first seen, its latest status.
struct Outbound {
    first: i64,
    reached: u8,
    latest: Order,
    status: Box<str>,
    code: Option<Box<str>>,
    message: Option<Box<str>>,
}

const SENT: u8 = 1;
const DELIVERED: u8 = 2;
const READ: u8 = 4;

#[derive(Default)]
struct LanguageTotals {
    events: u64,
    confidence_sum: f64,
    confident: u64,
}

/// Folds rows into the figures.
#[derive(Default)]
pub struct Figures {
    privacy: Privacy,
    sms_received: u64,
    sms_reports: u64,
    sms_messages: HashMap<Box<str>, SmsMessage>,
    sms_days: BTreeMap<i32, BTreeMap<String, u64>>,
    inbound: HashMap<Box<str>, i64>,
    inbound_types: BTreeMap<String, u64>,
    outbound: HashMap<Box<str>, Outbound>,
    analysed: u64,
    languages: BTreeMap<String, LanguageTotals>,
    phrases: HashMap<String, u64>,
    intents: HashMap<String, u64>,
    sentiment: BTreeMap<String, LanguageTotals>,
    chat_messages: HashMap<Box<str>, (i64, Option<Box<str>>)>,
    threads: HashSet<Box<str>>,
    edited: HashSet<Box<str>>,
    deleted: HashSet<Box<str>>,
    added: HashSet<(Box<str>, Box<str>)>,
    removed: HashSet<(Box<str>, Box<str>)>,
}

impl Figures {
    /// Figures that will show identifiers and texts as `privacy` allows.
    pub fn new(privacy: Privacy) -> Self {
        Figures {
            privacy,
            ..Default::default()
        }
    }

    pub fn add(&mut self, kind: Kind, row: &Row<'_>) {
        match kind {
            Kind::SmsReceived => self.sms_received += 1,
            Kind::SmsDeliveryReport => self.sms_report(row),
            Kind::MessageReceived => self.inbound(row),
            Kind::MessageStatus => self.status(row),
            Kind::MessageAnalysis => self.analysis(row),
            Kind::ChatMessage
            | Kind::ChatEdited
            | Kind::ChatDeleted
            | Kind::ChatAdded
            | Kind::ChatRemoved
            | Kind::ChatOther => self.chat(kind, row),
        }
    }

    fn sms_report(&mut self, row: &Row<'_>) {
        self.sms_reports += 1;
        let status = row.status.unwrap_or("Unknown");
        *self
            .sms_days
            .entry(day_number(row.event_time))
            .or_default()
            .entry(status.to_owned())
            .or_default() += 1;
        let Some(id) = row.message_id else { return };
        let order = order_of(row);
        match self.sms_messages.get_mut(id) {
            Some(m) if m.latest >= order => {}
            Some(m) => {
                m.latest = order;
                m.status = status.into();
                m.details = row.details.map(Into::into);
            }
            None => {
                self.sms_messages.insert(
                    id.into(),
                    SmsMessage {
                        latest: order,
                        status: status.into(),
                        details: row.details.map(Into::into),
                    },
                );
            }
        }
    }

    fn inbound(&mut self, row: &Row<'_>) {
        let id = row.message_id.unwrap_or(row.event_id);
        if let Some(first) = self.inbound.get_mut(id) {
            *first = (*first).min(row.event_time);
            return;
        }
        self.inbound.insert(id.into(), row.event_time);
        *self.inbound_types.entry(message_type(row)).or_default() += 1;
    }

    fn status(&mut self, row: &Row<'_>) {
        let Some(id) = row.message_id else { return };
        let status = row.status.unwrap_or("unknown").to_lowercase();
        let reached = match status.as_str() {
            "sent" => SENT,
            "delivered" => SENT | DELIVERED,
            "read" => SENT | DELIVERED | READ,
            _ => 0,
        };
        let order = order_of(row);
        let latest = |o: &mut Outbound, order: Order, status: String| {
            o.latest = order;
            o.status = status.into();
            o.code = row.error_code.map(Into::into);
            o.message = row.error_message.map(Into::into);
        };
        match self.outbound.get_mut(id) {
            Some(o) => {
                o.first = o.first.min(row.event_time);
                o.reached |= reached;
                if order > o.latest {
                    latest(o, order, status);
                }
            }
            None => {
                let mut o = Outbound {
                    first: row.event_time,
                    reached,
                    latest: order.clone(),
                    status: "".into(),
                    code: None,
                    message: None,
                };
                latest(&mut o, order, status);
                self.outbound.insert(id.into(), o);
            }
        }
    }

    fn analysis(&mut self, row: &Row<'_>) {
        self.analysed += 1;
        if let Some(language) = row.language {
            let totals = self.languages.entry(language.to_owned()).or_default();
            totals.events += 1;
            if let Some(c) = row.confidence {
                totals.confidence_sum += c;
                totals.confident += 1;
            }
        }
        if let Some(intent) = row.intent {
            let intent = intent.split(':').next().unwrap_or(intent).trim();
            if !intent.is_empty() {
                *self.intents.entry(intent.to_owned()).or_default() += 1;
            }
        }
        let Some(fields) = row
            .fields
            .and_then(|f| serde_json::from_str::<AnalysisFields>(f).ok())
        else {
            return;
        };
        let mut seen: Vec<String> = fields
            .key_phrases
            .iter()
            .map(|p| self.privacy.text(&p.trim().to_lowercase()))
            .filter(|p| !p.is_empty())
            .collect();
        seen.sort();
        seen.dedup();
        for phrase in seen {
            *self.phrases.entry(phrase).or_default() += 1;
        }
        if let Some(sentiment) = fields.sentiment {
            let description = sentiment
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("(none)");
            let totals = self.sentiment.entry(description.to_owned()).or_default();
            totals.events += 1;
            if let Some(score) = sentiment.get("score").and_then(number) {
                totals.confidence_sum += score;
                totals.confident += 1;
            }
        }
    }

    fn chat(&mut self, kind: Kind, row: &Row<'_>) {
        if let Some(thread) = row.thread_id {
            if !self.threads.contains(thread) {
                self.threads.insert(thread.into());
            }
        }
        let pair = || Some((row.thread_id?.into(), row.participant_id?.into()));
        match kind {
            Kind::ChatMessage => {
                let Some(id) = row.message_id else { return };
                match self.chat_messages.get_mut(id) {
                    Some((first, thread)) => {
                        *first = (*first).min(row.event_time);
                        if thread.is_none() {
                            *thread = row.thread_id.map(Into::into);
                        }
                    }
                    None => {
                        self.chat_messages
                            .insert(id.into(), (row.event_time, row.thread_id.map(Into::into)));
                    }
                }
            }
            Kind::ChatEdited => insert(&mut self.edited, row.message_id),
            Kind::ChatDeleted => insert(&mut self.deleted, row.message_id),
            Kind::ChatAdded => {
                if let Some(p) = pair() {
                    self.added.insert(p);
                }
            }
            Kind::ChatRemoved => {
                if let Some(p) = pair() {
                    self.removed.insert(p);
                }
            }
            _ => {}
        }
    }

    /// The figures, with identifiers and texts as the privacy allows.
    pub fn finish(self) -> (Sms, AdvancedMessaging, Chat) {
        let privacy = self.privacy;
        (
            self.sms(&privacy),
            self.messaging(&privacy),
            self.chat_figures(&privacy),
        )
    }

    fn sms(&self, privacy: &Privacy) -> Sms {
        let mut by_status = BTreeMap::new();
        let mut failures = HashMap::new();
        for m in self.sms_messages.values() {
            *by_status.entry(m.status.to_string()).or_default() += 1;
            if &*m.status == "Failed" {
                let details = m.details.as_deref().unwrap_or("(none)");
                *failures.entry(privacy.text(details)).or_default() += 1;
            }
        }
        let messages = self.sms_messages.len() as u64;
        Sms {
            received: self.sms_received,
            delivery_reports: self.sms_reports,
            messages,
            delivery_rate: ratio(by_status.get("Delivered").copied().unwrap_or(0), messages),
            by_status: masked_keys(&by_status, privacy),
            failure_details: top(failures),
            per_day: self
                .sms_days
                .iter()
                .map(|(day, by_status)| SmsDay {
                    date: date_text(*day),
                    reports: by_status.values().sum(),
                    by_status: masked_keys(by_status, privacy),
                })
                .collect(),
        }
    }

    fn messaging(&self, privacy: &Privacy) -> AdvancedMessaging {
        #[derive(Default)]
        struct Day {
            inbound: u64,
            sent: u64,
            delivered: u64,
            read: u64,
            failed: u64,
        }
        let mut days: BTreeMap<i32, Day> = BTreeMap::new();
        for first in self.inbound.values() {
            days.entry(day_number(*first)).or_default().inbound += 1;
        }
        let mut reached = Reached::default();
        let mut failed = 0;
        let mut errors: HashMap<(Option<String>, Option<String>), u64> = HashMap::new();
        for o in self.outbound.values() {
            let day = days.entry(day_number(o.first)).or_default();
            let flags = [
                (SENT, &mut reached.sent, &mut day.sent),
                (DELIVERED, &mut reached.delivered, &mut day.delivered),
                (READ, &mut reached.read, &mut day.read),
            ];
            for (flag, total, daily) in flags {
                if o.reached & flag != 0 {
                    *total += 1;
                    *daily += 1;
                }
            }
            if &*o.status == "failed" {
                failed += 1;
                day.failed += 1;
                let key = (
                    o.code.as_deref().map(|c| privacy.text(c)),
                    o.message.as_deref().map(|m| privacy.text(m)),
                );
                *errors.entry(key).or_default() += 1;
            }
        }
        let mut errors: Vec<ChannelError> = errors
            .into_iter()
            .map(|((channel_code, channel_message), messages)| ChannelError {
                channel_code,
                channel_message,
                messages,
            })
            .collect();
        errors.sort_by(|a, b| {
            b.messages
                .cmp(&a.messages)
                .then_with(|| a.channel_code.cmp(&b.channel_code))
                .then_with(|| a.channel_message.cmp(&b.channel_message))
        });
        errors.truncate(TOP);
        let mut languages: Vec<Language> = masked_totals(&self.languages, privacy)
            .iter()
            .map(|(language, t)| Language {
                language: language.clone(),
                events: t.events,
                mean_confidence: mean(t),
            })
            .collect();
        languages.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.language.cmp(&b.language)));
        let mut sentiment: Vec<Sentiment> = masked_totals(&self.sentiment, privacy)
            .iter()
            .map(|(description, t)| Sentiment {
                description: description.clone(),
                events: t.events,
                mean_score: mean(t),
            })
            .collect();
        sentiment.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then_with(|| a.description.cmp(&b.description))
        });
        let masked = |counts: &HashMap<String, u64>| {
            let mut merged: HashMap<String, u64> = HashMap::new();
            for (text, n) in counts {
                *merged.entry(privacy.text(text)).or_default() += n;
            }
            top(merged)
        };
        AdvancedMessaging {
            received: self.inbound.len() as u64,
            received_by_type: masked_keys(&self.inbound_types, privacy),
            outbound: self.outbound.len() as u64,
            reached,
            failed,
            errors,
            per_day: days
                .into_iter()
                .map(|(day, d)| MessagingDay {
                    date: date_text(day),
                    inbound: d.inbound,
                    sent: d.sent,
                    delivered: d.delivered,
                    read: d.read,
                    failed: d.failed,
                })
                .collect(),
            analysis: Analysis {
                analysed: self.analysed,
                languages,
                key_phrases: masked(&self.phrases),
                intents: masked(&self.intents),
                sentiment,
            },
        }
    }

    fn chat_figures(&self, privacy: &Privacy) -> Chat {
        let mut days: BTreeMap<i32, u64> = BTreeMap::new();
        let mut per_thread: HashMap<&str, u64> = HashMap::new();
        for (first, thread) in self.chat_messages.values() {
            *days.entry(day_number(*first)).or_default() += 1;
            if let Some(thread) = thread {
                *per_thread.entry(thread).or_default() += 1;
            }
        }
        let mut busiest: Vec<Thread> = per_thread
            .into_iter()
            .map(|(thread, messages)| Thread {
                thread: privacy.thread(thread),
                messages,
            })
            .collect();
        busiest.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.thread.cmp(&b.thread)));
        busiest.truncate(TOP);
        Chat {
            messages: self.chat_messages.len() as u64,
            threads: self.threads.len() as u64,
            edited: self.edited.len() as u64,
            deleted: self.deleted.len() as u64,
            participants_added: self.added.len() as u64,
            participants_removed: self.removed.len() as u64,
            per_day: days
                .into_iter()
                .map(|(day, messages)| ChatDay {
                    date: date_text(day),
                    messages,
                })
                .collect(),
            busiest_threads: busiest,
        }
    }
}

/// What an analysis carries outside the columns.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnalysisFields {
    #[serde(default, deserialize_with = "strings")]
    key_phrases: Vec<String>,
    #[serde(default)]
    sentiment: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Key phrases as the record holds them; a value that is not a list of texts counts as none.
fn strings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let value: serde_json::Value = serde::Deserialize::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    })
}

fn number(v: &serde_json::Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())
}

fn order_of(row: &Row<'_>) -> Order {
    Order {
        received: row.received,
        event_time: row.event_time,
        event_id: row.event_id.into(),
    }
}

fn insert(set: &mut HashSet<Box<str>>, id: Option<&str>) {
    if let Some(id) = id {
        if !set.contains(id) {
            set.insert(id.into());
        }
    }
}

/// An inbound message's type: its `messageType`, or what its content says.
fn message_type(row: &Row<'_>) -> String {
    if let Some(t) = row.message_type.filter(|t| !t.trim().is_empty()) {
        return t.trim().to_lowercase();
    }
    let fields: serde_json::Map<String, serde_json::Value> = row
        .fields
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or_default();
    let present = |key: &str| fields.get(key).is_some_and(|v| !v.is_null());
    for key in ["media", "button", "interactive", "reaction"] {
        if present(key) {
            return key.to_owned();
        }
    }
    if present("content") {
        "text".to_owned()
    } else {
        "unknown".to_owned()
    }
}

/// Counts under keys masked as `privacy` allows (two keys that mask alike are added up).
fn masked_keys(counts: &BTreeMap<String, u64>, privacy: &Privacy) -> BTreeMap<String, u64> {
    let mut masked = BTreeMap::new();
    for (key, n) in counts {
        *masked.entry(privacy.text(key)).or_default() += n;
    }
    masked
}

fn masked_totals(
    totals: &BTreeMap<String, LanguageTotals>,
    privacy: &Privacy,
) -> BTreeMap<String, LanguageTotals> {
    let mut masked: BTreeMap<String, LanguageTotals> = BTreeMap::new();
    for (key, t) in totals {
        let m = masked.entry(privacy.text(key)).or_default();
        m.events += t.events;
        m.confidence_sum += t.confidence_sum;
        m.confident += t.confident;
    }
    masked
}

fn top(counts: HashMap<String, u64>) -> Vec<Counted> {
    let mut list: Vec<Counted> = counts
        .into_iter()
        .map(|(text, count)| Counted { text, count })
        .collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
    list.truncate(TOP);
    list
}

fn mean(t: &LanguageTotals) -> Option<f64> {
    (t.confident > 0).then(|| round4(t.confidence_sum / t.confident as f64))
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round4(part as f64 / whole as f64))
}

pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Days since the epoch of a time in microseconds (UTC).
fn day_number(micros: i64) -> i32 {
    micros.div_euclid(86_400_000_000) as i32
}

fn date_text(day: i32) -> String {
    let date = OffsetDateTime::UNIX_EPOCH + time::Duration::days(i64::from(day));
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    fn row(event_id: &'static str, event_time: i64) -> Row<'static> {
        Row {
            event_id,
            event_time,
            ..Default::default()
        }
    }

    fn figures(rows: &[(Kind, Row<'static>)]) -> (Sms, AdvancedMessaging, Chat) {
        let mut f = Figures::default();
        for (kind, row) in rows {
            f.add(*kind, row);
        }
        f.finish()
    }

    #[test]
    fn an_sms_message_counts_once_by_its_latest_report() {
        let report = |id, t, received, status| Row {
            message_id: Some("m1"),
            received,
            status: Some(status),
            details: Some("carrier said no"),
            ..row(id, t)
        };
        let (sms, ..) = figures(&[
            // The failure arrived first but happened later: receivedTimestamp decides.
            (Kind::SmsDeliveryReport, report("b", HOUR, Some(20), "Failed")),
            (
                Kind::SmsDeliveryReport,
                report("a", 2 * HOUR, Some(10), "Delivered"),
            ),
            (
                Kind::SmsDeliveryReport,
                Row {
                    message_id: Some("m2"),
                    status: Some("Delivered"),
                    ..row("c", HOUR)
                },
            ),
            (Kind::SmsReceived, row("d", HOUR)),
        ]);
        assert_eq!(sms.received, 1);
        assert_eq!(sms.delivery_reports, 3);
        assert_eq!(sms.messages, 2);
        assert_eq!(
            sms.by_status,
            BTreeMap::from([("Delivered".into(), 1), ("Failed".into(), 1)])
        );
        assert_eq!(sms.delivery_rate, Some(0.5));
        assert_eq!(
            sms.failure_details,
            [Counted {
                text: "carrier said no".into(),
                count: 1
            }]
        );
        assert_eq!(sms.per_day.len(), 1);
        assert_eq!(sms.per_day[0].date, "1970-01-01");
        assert_eq!(sms.per_day[0].reports, 3);
    }

    #[test]
    fn the_whatsapp_funnel_counts_any_status_reached_and_fails_by_the_latest() {
        let status = |id, t, message, status, code| Row {
            message_id: Some(message),
            status: Some(status),
            error_code: code,
            ..row(id, t)
        };
        let (_, am, _) = figures(&[
            (Kind::MessageStatus, status("1", 1, "a", "Sent", None)),
            (Kind::MessageStatus, status("2", 2, "a", "delivered", None)),
            (Kind::MessageStatus, status("3", 3, "a", "READ", None)),
            (Kind::MessageStatus, status("4", 1, "b", "sent", None)),
            (Kind::MessageStatus, status("5", 2, "b", "Failed", Some("131026"))),
            (Kind::MessageStatus, status("6", 1, "c", "failed", Some("131026"))),
            (
                Kind::MessageReceived,
                Row {
                    fields: Some(r#"{"media":{"id":"x"}}"#),
                    message_id: Some("in"),
                    ..row("7", 1)
                },
            ),
        ]);
        assert_eq!(am.outbound, 3);
        assert_eq!(
            am.reached,
            Reached {
                sent: 2,
                delivered: 1,
                read: 1
            }
        );
        assert_eq!(am.failed, 2);
        assert_eq!(am.errors[0].channel_code.as_deref(), Some("131026"));
        assert_eq!(am.errors[0].messages, 2);
        assert_eq!(am.received_by_type, BTreeMap::from([("media".into(), 1)]));
        assert_eq!(am.per_day[0].inbound, 1);
        assert_eq!(am.per_day[0].failed, 2);
    }

    #[test]
    fn analyses_count_languages_phrases_intents_and_sentiment() {
        let analysis = |id, language, fields| Row {
            language: Some(language),
            confidence: Some(0.9),
            intent: Some("Order request: flowers"),
            fields: Some(fields),
            ..row(id, 1)
        };
        let (_, am, _) = figures(&[
            (
                Kind::MessageAnalysis,
                analysis("1", "English", r#"{"keyPhrases":["Order","order","Flowers"]}"#),
            ),
            (
                Kind::MessageAnalysis,
                analysis(
                    "2",
                    "English",
                    r#"{"keyPhrases":"oops","sentiment":{"score":"2","description":"positive"}}"#,
                ),
            ),
        ]);
        let a = am.analysis;
        assert_eq!(a.analysed, 2);
        assert_eq!(a.languages[0].events, 2);
        assert_eq!(a.languages[0].mean_confidence, Some(0.9));
        assert_eq!(
            a.key_phrases
                .iter()
                .map(|c| (c.text.as_str(), c.count))
                .collect::<Vec<_>>(),
            [("flowers", 1), ("order", 1)]
        );
        assert_eq!(
            a.intents[0],
            Counted {
                text: "Order request".into(),
                count: 2
            }
        );
        assert_eq!(a.sentiment[0].description, "positive");
        assert_eq!(a.sentiment[0].mean_score, Some(2.0));
    }

    #[test]
    fn chat_messages_seen_by_thread_and_recipients_count_once() {
        let message = |id, t| Row {
            message_id: Some("m"),
            thread_id: Some("19:thread"),
            ..row(id, t)
        };
        let pair = |id, who| Row {
            thread_id: Some("19:thread"),
            participant_id: Some(who),
            ..row(id, 1)
        };
        let (.., chat) = figures(&[
            (Kind::ChatMessage, message("1", 1)),
            (Kind::ChatMessage, message("2", 2)),
            (Kind::ChatEdited, message("3", 3)),
            (Kind::ChatAdded, pair("4", "8:acs:a")),
            (Kind::ChatAdded, pair("5", "8:acs:a")),
            (Kind::ChatRemoved, pair("6", "8:acs:a")),
            (
                Kind::ChatOther,
                Row {
                    thread_id: Some("19:other"),
                    ..row("7", 1)
                },
            ),
        ]);
        assert_eq!(chat.messages, 1);
        assert_eq!(chat.threads, 2);
        assert_eq!(chat.edited, 1);
        assert_eq!(chat.deleted, 0);
        assert_eq!(chat.participants_added, 1);
        assert_eq!(chat.participants_removed, 1);
        assert_eq!(chat.busiest_threads.len(), 1);
        assert!(chat.busiest_threads[0].thread.starts_with("thread-"));
    }

    #[test]
    fn numbers_in_any_text_the_figures_quote_are_masked() {
        let number = "+14255550100";
        let (sms, am, _) = figures(&[
            (
                Kind::SmsDeliveryReport,
                Row {
                    message_id: Some("m"),
                    status: Some("Failed to +14255550100"),
                    ..row("1", 1)
                },
            ),
            (
                Kind::MessageReceived,
                Row {
                    message_type: Some("+14255550100"),
                    ..row("2", 1)
                },
            ),
            (
                Kind::MessageAnalysis,
                Row {
                    language: Some("Call +1 425 555 0100"),
                    fields: Some(
                        r#"{"keyPhrases":["call +1 425 555 0100","call +1 425 555 0199"],"sentiment":{"description":"mentions +14255550100"}}"#,
                    ),
                    ..row("3", 1)
                },
            ),
        ]);
        let json = serde_json::to_string(&(&sms, &am)).unwrap();
        assert!(!json.contains(number) && !json.contains("555 0100"), "{json}");
        assert_eq!(
            am.analysis.key_phrases,
            [Counted {
                text: "call [number]".into(),
                count: 1
            }],
            "one event, one count"
        );
    }

    #[test]
    fn kinds_outside_the_report_are_not_read() {
        assert_eq!(Kind::of("smsReceived"), Some(Kind::SmsReceived));
        assert_eq!(Kind::of("chatThreadCreated"), Some(Kind::ChatOther));
        assert_eq!(Kind::of("microsoft.communication.callstarted"), None);
    }
}
