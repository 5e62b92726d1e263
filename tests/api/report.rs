//! `handler report`'s figures, end to end: a generated day of traffic is archived through the real
//! handler, compacted by `handler compact`, reported by `handler report --json`, and the JSON is
//! compared exactly with the figures this file computes on its own from the events as they were
//! sent.
//!
//! [`expected_summary`] is written from the doc comments of `src/report/summary.rs` and uses nothing
//! of the archive or the report: it reads the raw events (both envelopes, keys in any case, both
//! `receivedTimestamp` spellings, statuses in any case) and drops redeliveries by event id. Where
//! the contract leaves a choice open, the choice made here is said where it is made.

use crate::helpers::*;
use acs_event_archive::report::privacy::mask_numbers;
use acs_event_archive::traffic::{generate, TrafficOptions};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::LazyLock;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const TOP: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identifiers {
    Hashed,
    Shown,
}

/// One event of the window, read the way the contract describes.
struct Event<'a> {
    id: String,
    /// The type without `Microsoft.Communication.`, lower-cased (types match in any case).
    kind: String,
    /// Cut to microseconds, as the Parquet columns keep times.
    time: OffsetDateTime,
    data: &'a Map<String, Value>,
}

static NO_DATA: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

impl Event<'_> {
    /// A key of `data`, matched in any case (`MessageId`, `receivedTimeStamp`); the first wins.
    fn field(&self, name: &str) -> Option<&Value> {
        field(self.data, name)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.field(name).and_then(text)
    }

    fn received(&self) -> Option<OffsetDateTime> {
        self.text("receivedTimestamp").as_deref().and_then(parse_time)
    }

    /// The contract's order for "latest": `receivedTimestamp` (absent first), `eventTime`, `eventId`.
    fn order(&self) -> (Option<OffsetDateTime>, OffsetDateTime, String) {
        (self.received(), self.time, self.id.clone())
    }

    fn date(&self) -> String {
        date_of(self.time)
    }
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000).ok()
}

fn date_of(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The events whose event time is in `[from, to)`, each id once (a redelivery is the same event).
fn window(events: &[Value], from: OffsetDateTime, to: OffsetDateTime) -> Vec<Event<'_>> {
    let mut seen = HashSet::new();
    let mut out = vec![];
    for event in events {
        let (type_key, time_key) = if event.get("eventType").is_some() {
            ("eventType", "eventTime")
        } else {
            ("type", "time")
        };
        let (Some(id), Some(event_type)) = (event["id"].as_str(), event[type_key].as_str()) else {
            continue;
        };
        let Some(time) = event[time_key].as_str().and_then(parse_time) else {
            continue;
        };
        if time < from || time >= to || !seen.insert(id.to_owned()) {
            continue;
        }
        let event_type = event_type.to_lowercase();
        out.push(Event {
            id: id.to_owned(),
            kind: event_type
                .strip_prefix("microsoft.communication.")
                .unwrap_or(&event_type)
                .to_owned(),
            time,
            data: event["data"].as_object().unwrap_or(&NO_DATA),
        });
    }
    out
}

/// What reads as a phone number becomes `[number]` (summary.rs): a `+` or `%2B` and 7 or more
/// digits, or 9 or more digits, neighbouring digits at most three separators (space, no-break
/// space, `.`, `-`, `/`, brackets) apart; digits of any script.
fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let is_separator = |c: char| " \u{a0}.-/()".contains(c);
    let mut out = String::new();
    let mut at = 0;
    while at < chars.len() {
        let rest: String = chars[at..].iter().take(3).collect();
        let marker = if chars[at] == '+' {
            1
        } else if rest.eq_ignore_ascii_case("%2b") {
            3
        } else {
            0
        };
        let mut digits = 0;
        let mut last_digit_end = None;
        let mut separators = 0;
        for (k, c) in chars.iter().enumerate().skip(at + marker) {
            if c.is_numeric() {
                digits += 1;
                separators = 0;
                last_digit_end = Some(k + 1);
            } else if is_separator(*c) && separators < 3 && (digits > 0 || marker > 0 || chars[at] == '(') {
                separators += 1;
            } else {
                break;
            }
        }
        let starts_here = marker > 0 || chars[at].is_numeric() || chars[at] == '(';
        match last_digit_end {
            Some(end) if starts_here && ((marker > 0 && digits >= 7) || digits >= 9) => {
                out.push_str("[number]");
                at = end;
            }
            _ => {
                out.push(chars[at]);
                at += 1;
            }
        }
    }
    out
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn mean(values: &[f64]) -> Value {
    if values.is_empty() {
        Value::Null
    } else {
        json!(round4(values.iter().sum::<f64>() / values.len() as f64))
    }
}

/// Count (descending), then text (ascending), cut at [`TOP`].
fn top(counts: BTreeMap<String, u64>) -> Value {
    let mut list: Vec<(String, u64)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.truncate(TOP);
    Value::Array(
        list.into_iter()
            .map(|(text, count)| json!({"text": text, "count": count}))
            .collect(),
    )
}

/// The events of one message, by message id, among `events` of the given kinds.
fn by_message<'a, 'b>(events: &'b [Event<'a>], kinds: &[&str]) -> BTreeMap<String, Vec<&'b Event<'a>>> {
    let mut messages: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for e in events.iter().filter(|e| kinds.contains(&e.kind.as_str())) {
        if let Some(id) = e.text("messageId") {
            messages.entry(id).or_default().push(e);
        }
    }
    messages
}

fn latest<'a, 'b>(events: &[&'b Event<'a>]) -> &'b Event<'a> {
    events
        .iter()
        .max_by_key(|e| e.order())
        .expect("a message has events")
}

fn first_date(events: &[&Event]) -> String {
    events.iter().map(|e| e.time).min().map(date_of).expect("events")
}

fn expected_summary(events: &[Value], from: OffsetDateTime, to: OffsetDateTime) -> Value {
    expected_summary_with(events, from, to, Identifiers::Hashed)
}

/// The summary's JSON as `src/report/summary.rs` defines each figure, without `generatedAt` and
/// `sources` (when and how it was read, not what the events say).
fn expected_summary_with(
    events: &[Value],
    from: OffsetDateTime,
    to: OffsetDateTime,
    identifiers: Identifiers,
) -> Value {
    let events = window(events, from, to);
    json!({
        "reportVersion": 1,
        "window": {"from": from.format(&Rfc3339).unwrap(), "to": to.format(&Rfc3339).unwrap()},
        "identifiers": match identifiers { Identifiers::Hashed => "hashed", Identifiers::Shown => "shown" },
        "sms": sms(&events),
        "advancedMessaging": advanced_messaging(&events),
        "chat": chat(&events, identifiers),
    })
}

fn sms(events: &[Event]) -> Value {
    let received = events.iter().filter(|e| e.kind == "smsreceived").count();
    let reports: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == "smsdeliveryreportreceived")
        .collect();
    let status = |e: &Event| e.text("deliveryStatus").unwrap_or_else(|| "Unknown".into());
    let messages = by_message(events, &["smsdeliveryreportreceived"]);
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    for reports in messages.values() {
        let last = latest(reports);
        let status = status(last);
        if status == "Failed" {
            let details = last
                .text("deliveryStatusDetails")
                .map_or_else(|| "(none)".to_owned(), |d| redact(&d));
            *failures.entry(details).or_default() += 1;
        }
        *by_status.entry(status).or_default() += 1;
    }
    let delivered = by_status.get("Delivered").copied().unwrap_or(0);
    let mut days: BTreeMap<String, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for report in &reports {
        let day = days.entry(report.date()).or_default();
        day.0 += 1;
        *day.1.entry(status(report)).or_default() += 1;
    }
    json!({
        "received": received,
        "deliveryReports": reports.len(),
        "messages": messages.len(),
        "byStatus": by_status,
        "deliveryRate": (!messages.is_empty()).then(|| round4(delivered as f64 / messages.len() as f64)),
        "failureDetails": top(failures),
        "perDay": days.into_iter().map(|(date, (reports, by_status))| json!({"date": date, "reports": reports, "byStatus": by_status})).collect::<Vec<_>>(),
    })
}

/// `messageType` lower-cased, or what the content says when it is absent.
fn inbound_type(e: &Event) -> String {
    if let Some(t) = e.text("messageType") {
        return t.to_lowercase();
    }
    for key in ["media", "button", "interactive", "reaction"] {
        if e.field(key).is_some() {
            return key.to_owned();
        }
    }
    if e.field("content").is_some() {
        "text".into()
    } else {
        "unknown".into()
    }
}

fn advanced_messaging(events: &[Event]) -> Value {
    // Inbound messages: by message id, or the event's id when it has none.
    let mut inbound: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == "advancedmessagereceived") {
        let key = e.text("messageId").unwrap_or_else(|| e.id.clone());
        inbound.entry(key).or_default().push(e);
    }
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    // Per day: inbound, sent, delivered, read, failed.
    let mut days: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    for received in inbound.values() {
        let first = received.iter().min_by_key(|e| e.order()).expect("events");
        *by_type.entry(inbound_type(first)).or_default() += 1;
        days.entry(first_date(received)).or_default()[0] += 1;
    }
    let outbound = by_message(events, &["advancedmessagedeliverystatusupdated"]);
    let status = |e: &Event| e.text("status").unwrap_or_default().to_lowercase();
    let (mut sent, mut delivered, mut read, mut failed) = (0, 0, 0, 0);
    let mut errors: BTreeMap<(Option<String>, Option<String>), u64> = BTreeMap::new();
    for statuses in outbound.values() {
        let seen: BTreeSet<String> = statuses.iter().map(|e| status(e)).collect();
        let reached = [
            ["sent", "delivered", "read"].iter().any(|s| seen.contains(*s)),
            ["delivered", "read"].iter().any(|s| seen.contains(*s)),
            seen.contains("read"),
        ];
        let last = latest(statuses);
        let is_failed = status(last) == "failed";
        let day = days.entry(first_date(statuses)).or_default();
        for (i, reached) in reached.into_iter().enumerate() {
            day[1 + i] += u64::from(reached);
        }
        day[4] += u64::from(is_failed);
        sent += u64::from(reached[0]);
        delivered += u64::from(reached[1]);
        read += u64::from(reached[2]);
        if is_failed {
            failed += 1;
            let error = last.field("error").and_then(Value::as_object);
            let code = error.and_then(|e| field(e, "channelCode")).and_then(text);
            let message = error
                .and_then(|e| field(e, "channelMessage"))
                .and_then(text)
                .map(|m| redact(&m));
            *errors.entry((code, message)).or_default() += 1;
        }
    }
    // Ties: by code, then message (absent first); the contract says "by their text".
    let mut errors: Vec<_> = errors.into_iter().collect();
    errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    errors.truncate(TOP);
    json!({
        "received": inbound.len(),
        "receivedByType": by_type,
        "outbound": outbound.len(),
        "reached": {"sent": sent, "delivered": delivered, "read": read},
        "failed": failed,
        "errors": errors.into_iter().map(|((code, message), n)| json!({"channelCode": code, "channelMessage": message, "messages": n})).collect::<Vec<_>>(),
        "perDay": days.into_iter().map(|(date, [inbound, sent, delivered, read, failed])| json!({"date": date, "inbound": inbound, "sent": sent, "delivered": delivered, "read": read, "failed": failed})).collect::<Vec<_>>(),
        "analysis": analysis(events),
    })
}

fn analysis(events: &[Event]) -> Value {
    let analyses: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == "advancedmessageanalysiscompleted")
        .collect();
    let mut languages: BTreeMap<String, (u64, Vec<f64>)> = BTreeMap::new();
    let mut phrases: BTreeMap<String, u64> = BTreeMap::new();
    let mut intents: BTreeMap<String, u64> = BTreeMap::new();
    let mut sentiments: BTreeMap<String, (u64, Vec<f64>)> = BTreeMap::new();
    for e in &analyses {
        let detection = e.field("languageDetection").and_then(Value::as_object);
        // An event without a detected language is in no language's count (the contract names none).
        if let Some(language) = detection.and_then(|d| field(d, "language")).and_then(text) {
            let entry = languages.entry(language).or_default();
            entry.0 += 1;
            entry.1.extend(
                detection
                    .and_then(|d| field(d, "confidenceScore"))
                    .and_then(Value::as_f64),
            );
        }
        let list = e
            .field("extractedKeyPhrases")
            .or_else(|| e.field("keyphraseExtraction"))
            .and_then(Value::as_array);
        let folded: BTreeSet<String> = list
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|p| redact(&p.to_lowercase()))
            .collect();
        for phrase in folded {
            *phrases.entry(phrase).or_default() += 1;
        }
        if let Some(intent) = e.text("intentAnalysis") {
            let label = intent.split(':').next().unwrap_or_default().trim();
            *intents.entry(redact(label)).or_default() += 1;
        }
        if let Some(sentiment) = e.field("sentiment").and_then(Value::as_object) {
            let description = field(sentiment, "description")
                .and_then(text)
                .unwrap_or_else(|| "(none)".into());
            let entry = sentiments.entry(description).or_default();
            entry.0 += 1;
            entry.1.extend(field(sentiment, "score").and_then(Value::as_f64));
        }
    }
    let mut languages: Vec<_> = languages.into_iter().collect();
    languages.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
    // Sentiments are not called a top list: every description, in the top lists' order.
    let mut sentiments: Vec<_> = sentiments.into_iter().collect();
    sentiments.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
    json!({
        "analysed": analyses.len(),
        "languages": languages.into_iter().map(|(language, (n, scores))| json!({"language": language, "events": n, "meanConfidence": mean(&scores)})).collect::<Vec<_>>(),
        "keyPhrases": top(phrases),
        "intents": top(intents),
        "sentiment": sentiments.into_iter().map(|(description, (n, scores))| json!({"description": description, "events": n, "meanScore": mean(&scores)})).collect::<Vec<_>>(),
    })
}

/// `thread-` and the first 12 hex digits of the SHA-256 of the thread id.
fn hashed_thread(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("thread-{}", &hex[..12])
}

/// The participant of an added/removed event: current and 2020 shapes.
fn participant(e: &Event, current: &str, legacy: &str) -> Option<String> {
    if let Some(p) = e.field(current).and_then(Value::as_object) {
        return field(p, "participantCommunicationIdentifier")
            .and_then(Value::as_object)
            .and_then(|id| field(id, "rawId"))
            .and_then(text);
    }
    let p = e.field(legacy).and_then(Value::as_object)?;
    field(p, "memberId").and_then(text)
}

fn chat(events: &[Event], identifiers: Identifiers) -> Value {
    let chat: Vec<&Event> = events.iter().filter(|e| e.kind.starts_with("chat")).collect();
    let threads: BTreeSet<String> = chat.iter().filter_map(|e| e.text("threadId")).collect();
    let messages = by_message(events, &["chatmessagereceived", "chatmessagereceivedinthread"]);
    let edited = by_message(events, &["chatmessageedited", "chatmessageeditedinthread"]).len();
    let deleted = by_message(events, &["chatmessagedeleted", "chatmessagedeletedinthread"]).len();
    let pairs = |kinds: &[&str], current: &str, legacy: &str| -> usize {
        chat.iter()
            .filter(|e| kinds.contains(&e.kind.as_str()))
            .filter_map(|e| Some((e.text("threadId")?, participant(e, current, legacy)?)))
            .collect::<BTreeSet<_>>()
            .len()
    };
    let added = pairs(
        &[
            "chatthreadparticipantadded",
            "chatparticipantaddedtothreadwithuser",
            "chatmemberaddedtothreadwithuser",
        ],
        "participantAdded",
        "memberAdded",
    );
    let removed = pairs(
        &[
            "chatthreadparticipantremoved",
            "chatparticipantremovedfromthreadwithuser",
            "chatmemberremovedfromthreadwithuser",
        ],
        "participantRemoved",
        "memberRemoved",
    );
    let mut days: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_thread: BTreeMap<String, u64> = BTreeMap::new();
    for received in messages.values() {
        *days.entry(first_date(received)).or_default() += 1;
        if let Some(thread) = received.iter().find_map(|e| e.text("threadId")) {
            let label = match identifiers {
                Identifiers::Hashed => hashed_thread(&thread),
                Identifiers::Shown => thread,
            };
            *per_thread.entry(label).or_default() += 1;
        }
    }
    // Ties are ordered by the thread as shown (hashed by default).
    let mut busiest: Vec<(String, u64)> = per_thread.into_iter().collect();
    busiest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    busiest.truncate(TOP);
    json!({
        "messages": messages.len(),
        "threads": threads.len(),
        "edited": edited,
        "deleted": deleted,
        "participantsAdded": added,
        "participantsRemoved": removed,
        "perDay": days.into_iter().map(|(date, messages)| json!({"date": date, "messages": messages})).collect::<Vec<_>>(),
        "busiestThreads": busiest.into_iter().map(|(thread, messages)| json!({"thread": thread, "messages": messages})).collect::<Vec<_>>(),
    })
}

/// Where two JSON values first differ, as a path, for a failure message one can act on.
fn first_difference(actual: &Value, expected: &Value, path: &str) -> Option<String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let keys: BTreeSet<&String> = a.keys().chain(e.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (a, e) = (a.get(k).unwrap_or(&Value::Null), e.get(k).unwrap_or(&Value::Null));
                first_difference(a, e, &format!("{path}.{k}"))
            })
        }
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => a
            .iter()
            .zip(e)
            .enumerate()
            .find_map(|(i, (a, e))| first_difference(a, e, &format!("{path}[{i}]"))),
        _ if actual == expected => None,
        _ => Some(format!("{path}: report {actual}, expected {expected}")),
    }
}

fn assert_figures(mut actual: Value, expected: &Value) {
    let object = actual.as_object_mut().expect("the summary is an object");
    assert!(object.remove("generatedAt").is_some(), "no generatedAt");
    assert!(object.remove("sources").is_some(), "no sources");
    if let Some(difference) = first_difference(&actual, expected, "summary") {
        panic!(
            "{difference}\nreport:   {}\nexpected: {}",
            serde_json::to_string_pretty(&actual).unwrap(),
            serde_json::to_string_pretty(expected).unwrap()
        );
    }
}

/// A day whose hours are all closed and older than the compaction lookback.
fn a_past_day() -> OffsetDateTime {
    (OffsetDateTime::now_utc() - Duration::days(4)).replace_time(time::Time::MIDNIGHT)
}

fn day_arg(t: OffsetDateTime) -> String {
    date_of(t)
}

/// Delivers the events as Event Grid would: per subscription (function), in batches, each batch
/// redelivered until it is acknowledged.
async fn archive(app: &TestApp, events: &[Value]) {
    let mut by_function: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for event in events {
        by_function
            .entry(function_for(event))
            .or_default()
            .push(event.clone());
    }
    for (function, events) in by_function {
        for chunk in events.chunks(250) {
            let batch = Value::Array(chunk.to_vec());
            let mut tries = 0;
            loop {
                let answer = app.invoke(function, &batch).await;
                if answer.status == 200 {
                    break;
                }
                tries += 1;
                assert!(tries < 20, "a batch was never acknowledged: {:?}", answer.body);
            }
        }
    }
}

fn run_handler(app: &TestApp, args: &[String], folder: &std::path::Path) {
    let output = handler_command(app.storage_port, &app.containers)
        .args(args)
        .current_dir(folder)
        .output()
        .expect("could not run the handler");
    assert!(
        output.status.success(),
        "handler {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Archives `events`, compacts the day and returns `handler report`'s JSON for it, with `extra`
/// arguments.
struct Reported {
    app: TestApp,
    folder: tempfile::TempDir,
    day: OffsetDateTime,
}

impl Reported {
    async fn archived(events: &[Value], day: OffsetDateTime) -> Reported {
        let app = spawn_app().await;
        archive(&app, events).await;
        let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let (from, to) = (day_arg(day), day_arg(day + Duration::DAY));
        run_handler(
            &app,
            &["compact".into(), "--from".into(), from, "--to".into(), to],
            folder.path(),
        );
        Reported { app, folder, day }
    }

    fn report(&self, extra: &[&str]) -> Value {
        let json_file = self.folder.path().join(format!("summary{}.json", extra.join("")));
        let page = self.folder.path().join(format!("report{}.html", extra.join("")));
        let mut args: Vec<String> = [
            "report",
            "--from",
            &day_arg(self.day),
            "--to",
            &day_arg(self.day + Duration::DAY),
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(["--json".into(), json_file.display().to_string()]);
        args.extend(["--out".into(), page.display().to_string()]);
        args.extend(extra.iter().map(|a| a.to_string()));
        run_handler(&self.app, &args, self.folder.path());
        let text = std::fs::read_to_string(&json_file).expect("handler report wrote no JSON file");
        serde_json::from_str(&text).expect("the summary is JSON")
    }
}

#[tokio::test]
async fn report_figures_match_the_generated_traffic() {
    let day = a_past_day();
    let events = generate(&TrafficOptions {
        seed: 11,
        start: day,
        hours: 24,
        events: 3_000,
    });
    let reported = Reported::archived(&events, day).await;
    let expected = expected_summary(&events, day, day + Duration::DAY);
    assert_figures(reported.report(&[]), &expected);
}

#[tokio::test]
async fn the_report_names_no_person_unless_asked_and_its_page_works_offline() {
    let day = a_past_day();
    let events = generate(&TrafficOptions {
        seed: 12,
        start: day,
        hours: 24,
        events: 800,
    });
    let reported = Reported::archived(&events, day).await;
    let (from, to) = (day, day + Duration::DAY);
    let hashed = reported.report(&[]);
    let shown = reported.report(&["--show-identifiers"]);
    assert_eq!(hashed["identifiers"], "hashed");
    assert_eq!(shown["identifiers"], "shown");
    let threads = |summary: &Value| summary["chat"]["busiestThreads"].clone();
    let expected_shown = threads(&expected_summary_with(&events, from, to, Identifiers::Shown));
    assert!(
        expected_shown.as_array().is_some_and(|t| !t.is_empty()),
        "the traffic has chat threads"
    );
    assert_eq!(threads(&shown), expected_shown);
    assert_eq!(threads(&hashed), threads(&expected_summary(&events, from, to)));
    for thread in threads(&shown).as_array().unwrap() {
        assert!(
            thread["thread"].as_str().unwrap().ends_with("@thread.v2"),
            "{thread}"
        );
    }
    // Nothing that names a person, in the JSON or on the page: no phone number, message body or
    // display name of the events sent.
    let page_path = reported.folder.path().join("report.html");
    let page = crate::browser::check_page(&page_path, &reported.folder.path().join("report.png"));
    let json = hashed.to_string();
    let html = std::fs::read_to_string(&page_path).unwrap();
    let mut personal: BTreeSet<String> = BTreeSet::new();
    for event in &events {
        let data = &event["data"];
        for key in ["from", "to", "From", "To"] {
            if let Some(v) = data[key]
                .as_str()
                .filter(|v| v.trim_start_matches('+').len() >= 7)
            {
                personal.insert(v.to_owned());
            }
        }
        for key in ["message", "content", "messageBody", "originalMessage"] {
            if let Some(v) = data[key].as_str().filter(|v| v.len() >= 20) {
                personal.insert(v.to_owned());
            }
        }
        for v in [
            &data["senderDisplayName"],
            &data["participantAdded"]["displayName"],
        ] {
            if let Some(v) = v.as_str().filter(|v| v.len() >= 5) {
                personal.insert(v.to_owned());
            }
        }
    }
    assert!(
        personal.len() > 50,
        "the traffic has people in it: {}",
        personal.len()
    );
    for text in &personal {
        assert!(!json.contains(text.as_str()), "the JSON shows {text:?}");
        assert!(!html.contains(text.as_str()), "the page shows {text:?}");
        assert!(!page.text.contains(text.as_str()), "the page shows {text:?}");
    }

    // The real command's page, in a real Chromium: no error, no request, a mark per table row.
    assert_eq!(page.console_errors, Vec::<String>::new());
    assert_eq!(page.requests, Vec::<String>::new());
    assert!(page.charts.len() >= 10, "{:?}", page.charts);
    for chart in &page.charts {
        assert_eq!(chart.marks, (0..chart.rows).collect::<Vec<_>>(), "{}", chart.id);
    }
}

/// A hand-made window whose figures were worked out on paper: it checks the expected figures
/// themselves, case by case.
#[test]
fn expected_figures_of_a_small_hand_made_window_are_the_ones_worked_out_by_hand() {
    fn eg(id: &str, kind: &str, time: &str, data: Value) -> Value {
        json!({"id": id, "topic": "/t", "subject": "s", "eventType": format!("Microsoft.Communication.{kind}"),
               "eventTime": time, "data": data, "dataVersion": "1.0", "metadataVersion": "1"})
    }
    fn ce(id: &str, kind: &str, time: &str, data: Value) -> Value {
        json!({"id": id, "source": "/t", "subject": "s", "type": format!("Microsoft.Communication.{kind}"),
               "time": time, "data": data, "specversion": "1.0"})
    }
    let participant =
        |id: &str| json!({"displayName": "P", "participantCommunicationIdentifier": {"rawId": id}});
    let d2 = eg(
        "d2",
        "SMSDeliveryReportReceived",
        "2026-11-10T09:00:04Z",
        json!({"messageId": "m1", "deliveryStatus": "Delivered", "receivedTimestamp": "2026-11-10T09:00:03Z"}),
    );
    let events = vec![
        // SMS: one text in the window, one the second before it.
        eg(
            "r1",
            "SMSReceived",
            "2026-11-10T08:00:00Z",
            json!({"messageId": "i1", "message": "hi"}),
        ),
        ce(
            "r2",
            "SMSReceived",
            "2026-11-09T23:59:59.9999999Z",
            json!({"messageId": "i2"}),
        ),
        // m1: the report without receivedTimestamp sorts first although its event time is later.
        eg(
            "d1",
            "SMSDeliveryReportReceived",
            "2026-11-10T09:10:00Z",
            json!({"messageId": "m1", "deliveryStatus": "Sent"}),
        ),
        d2.clone(),
        // m2: two failures, the later receivedTimestamp wins; PascalCase keys; numbers redacted.
        eg(
            "d3",
            "SMSDeliveryReportReceived",
            "2026-11-10T10:00:05Z",
            json!({"messageId": "m2", "deliveryStatus": "Failed", "deliveryStatusDetails": "Blocked", "receivedTimestamp": "2026-11-10T10:00:00Z"}),
        ),
        ce(
            "d4",
            "smsdeliveryreportreceived",
            "2026-11-10T10:00:02Z",
            json!({"MessageId": "m2", "DeliveryStatus": "Failed", "DeliveryStatusDetails": "Rejected to 555-010-9999: not reachable", "ReceivedTimestamp": "2026-11-10T10:00:05Z"}),
        ),
        // m3: failed without details; m4: no status at all.
        eg(
            "d5",
            "SMSDeliveryReportReceived",
            "2026-11-10T11:00:00Z",
            json!({"messageId": "m3", "deliveryStatus": "Failed"}),
        ),
        eg(
            "d6",
            "SMSDeliveryReportReceived",
            "2026-11-10T12:00:00Z",
            json!({"messageId": "m4"}),
        ),
        // A redelivery of d2, and a report at the window's end (exclusive).
        d2,
        eg(
            "d7",
            "SMSDeliveryReportReceived",
            "2026-11-11T00:00:00Z",
            json!({"messageId": "m5", "deliveryStatus": "Delivered"}),
        ),
        // WhatsApp inbound: a type in capitals, and three without a type.
        eg(
            "a1",
            "AdvancedMessageReceived",
            "2026-11-10T09:00:00Z",
            json!({"messageId": "w1", "messageType": "Text", "content": "hola"}),
        ),
        ce(
            "a2",
            "AdvancedMessageReceived",
            "2026-11-10T09:01:00Z",
            json!({"media": {"id": "x"}}),
        ),
        eg(
            "a3",
            "AdvancedMessageReceived",
            "2026-11-10T09:02:00Z",
            json!({"content": "hi", "reaction": {"emoji": "👍"}}),
        ),
        eg(
            "a4",
            "AdvancedMessageReceived",
            "2026-11-10T09:03:00Z",
            json!({"messageId": "w4", "error": {"channelCode": "131051"}}),
        ),
        // o1: Sent, delivered (other spelling), READ whose event time comes before delivered's.
        eg(
            "s1",
            "AdvancedMessageDeliveryStatusUpdated",
            "2026-11-10T09:00:02Z",
            json!({"messageId": "o1", "status": "Sent", "receivedTimestamp": "2026-11-10T09:00:01+00:00"}),
        ),
        eg(
            "s2",
            "AdvancedMessageDeliveryStatusUpdated",
            "2026-11-10T09:06:00Z",
            json!({"messageId": "o1", "status": "delivered", "receivedTimeStamp": "2026-11-10T09:00:05+00:00"}),
        ),
        ce(
            "s3",
            "AdvancedMessageDeliveryStatusUpdated",
            "2026-11-10T09:05:30Z",
            json!({"messageId": "o1", "status": "READ", "receivedTimestamp": "2026-11-10T09:05:00+00:00"}),
        ),
        // o2: sent then failed; o3: failed at once; o4: failed, then a delivered without a time.
        eg(
            "s4",
            "AdvancedMessageDeliveryStatusUpdated",
            "2026-11-10T10:00:01Z",
            json!({"messageId": "o2", "status": "sent", "receivedTimestamp": "2026-11-10T10:00:00+00:00"}),
        ),
        eg(
            "s5",
            "AdvancedMessageDeliveryStatusUpdated",
            "2026-11-10T10:00:04Z",
            json!({"messageId": "o2", "status": "Failed", "receivedTimestamp": "2026-11-10T10:00:03+00:00",
                  "error": {"channelCode": "131026", "channelMessage": "Message undeliverable: 15550001111 is not a WhatsApp user"}}),
        ),
        eg(
            "s6",
            "AdvancedMessageDeliveryStatusUpdated",
            "2026-11-10T11:00:01Z",
            json!({"messageId": "o3", "status": "failed", "receivedTimestamp": "2026-11-10T11:00:00+00:00",
                  "error": {"channelCode": "131047", "channelMessage": "Re-engagement message"}}),
        ),
        eg(
            "s7",
            "AdvancedMessageDeliveryStatusUpdated",
            "2026-11-10T12:00:01Z",
            json!({"messageId": "o4", "status": "FAILED", "receivedTimestamp": "2026-11-10T12:00:00+00:00",
                  "error": {"channelCode": "131026", "channelMessage": "Message undeliverable: 1 555 000 2222 is not a WhatsApp user"}}),
        ),
        eg(
            "s8",
            "AdvancedMessageDeliveryStatusUpdated",
            "2026-11-10T12:00:10Z",
            json!({"messageId": "o4", "status": "Delivered"}),
        ),
        // Analyses.
        eg(
            "n1",
            "AdvancedMessageAnalysisCompleted",
            "2026-11-10T09:00:05Z",
            json!({"languageDetection": {"language": "English", "confidenceScore": 0.9}, "intentAnalysis": "Order tracking: where is it",
                  "extractedKeyPhrases": ["Order", "order", "Tracking"], "sentiment": {"score": 2, "description": "negative"}}),
        ),
        eg(
            "n2",
            "AdvancedMessageAnalysisCompleted",
            "2026-11-10T09:10:00Z",
            json!({"languageDetection": {"language": "English", "confidenceScore": 0.8}, "intentAnalysis": "Order tracking : again",
                  "keyphraseExtraction": ["order", "555-013-2211"]}),
        ),
        ce(
            "n3",
            "AdvancedMessageAnalysisCompleted",
            "2026-11-10T09:20:00Z",
            json!({"languageDetection": {"language": "Spanish"}, "intentAnalysis": "The customer asks to be called back at 555-013-2211.",
                  "extractedKeyPhrases": ["pedido"], "sentiment": {"description": "negative"}}),
        ),
        eg(
            "n4",
            "AdvancedMessageAnalysisCompleted",
            "2026-11-10T09:30:00Z",
            json!({"languageDetection": {"language": "Spanish", "confidenceScore": 0.95}, "intentAnalysis": "Complaint: late", "sentiment": {"score": 4}}),
        ),
        // Chat: thread a has messages 100 (in thread and per user) and 101, thread b has 200, c none.
        eg(
            "c1",
            "ChatThreadCreated",
            "2026-11-10T08:00:00Z",
            json!({"threadId": "19:a@thread.v2"}),
        ),
        eg(
            "c2",
            "ChatMessageReceivedInThread",
            "2026-11-10T08:01:00Z",
            json!({"threadId": "19:a@thread.v2", "messageId": "100"}),
        ),
        eg(
            "c3",
            "ChatMessageReceived",
            "2026-11-10T08:01:01Z",
            json!({"threadId": "19:a@thread.v2", "messageId": "100", "recipientId": "u2"}),
        ),
        ce(
            "c4",
            "ChatMessageReceived",
            "2026-11-10T08:02:00Z",
            json!({"threadId": "19:a@thread.v2", "messageId": "101"}),
        ),
        eg(
            "c5",
            "ChatMessageEditedInThread",
            "2026-11-10T08:03:00Z",
            json!({"threadId": "19:a@thread.v2", "messageId": "100"}),
        ),
        eg(
            "c6",
            "ChatMessageEdited",
            "2026-11-10T08:03:01Z",
            json!({"threadId": "19:a@thread.v2", "messageId": "100"}),
        ),
        eg(
            "c7",
            "ChatMessageDeleted",
            "2026-11-10T08:04:00Z",
            json!({"threadId": "19:a@thread.v2", "messageId": "101"}),
        ),
        ce(
            "c8",
            "ChatMessageReceivedInThread",
            "2026-11-10T09:00:00Z",
            json!({"threadId": "19:b@thread.v2", "messageId": "200"}),
        ),
        eg(
            "c9",
            "ChatThreadParticipantAdded",
            "2026-11-10T08:05:00Z",
            json!({"threadId": "19:a@thread.v2", "participantAdded": participant("u3")}),
        ),
        eg(
            "c10",
            "ChatParticipantAddedToThreadWithUser",
            "2026-11-10T08:05:01Z",
            json!({"threadId": "19:a@thread.v2", "participantAdded": participant("u3"), "recipientId": "u1"}),
        ),
        eg(
            "c11",
            "ChatMemberAddedToThreadWithUser",
            "2026-11-10T09:05:00Z",
            json!({"threadId": "19:b@thread.v2", "memberAdded": {"displayName": "Q", "memberId": "u4"}}),
        ),
        eg(
            "c12",
            "ChatThreadParticipantRemoved",
            "2026-11-10T08:06:00Z",
            json!({"threadId": "19:a@thread.v2", "participantRemoved": participant("u2")}),
        ),
        eg(
            "c13",
            "ChatThreadCreated",
            "2026-11-10T10:00:00Z",
            json!({"threadId": "19:c@thread.v2"}),
        ),
    ];
    let (from, to) = (
        time::macros::datetime!(2026-11-10 00:00 UTC),
        time::macros::datetime!(2026-11-11 00:00 UTC),
    );
    let expected = json!({
        "reportVersion": 1,
        "window": {"from": "2026-11-10T00:00:00Z", "to": "2026-11-11T00:00:00Z"},
        "identifiers": "shown",
        "sms": {
            "received": 1, "deliveryReports": 6, "messages": 4,
            "byStatus": {"Delivered": 1, "Failed": 2, "Unknown": 1},
            "deliveryRate": 0.25,
            "failureDetails": [{"text": "(none)", "count": 1}, {"text": "Rejected to [number]: not reachable", "count": 1}],
            "perDay": [{"date": "2026-11-10", "reports": 6, "byStatus": {"Sent": 1, "Delivered": 1, "Failed": 3, "Unknown": 1}}],
        },
        "advancedMessaging": {
            "received": 4,
            "receivedByType": {"text": 1, "media": 1, "reaction": 1, "unknown": 1},
            "outbound": 4,
            "reached": {"sent": 3, "delivered": 2, "read": 1},
            "failed": 3,
            "errors": [
                {"channelCode": "131026", "channelMessage": "Message undeliverable: [number] is not a WhatsApp user", "messages": 2},
                {"channelCode": "131047", "channelMessage": "Re-engagement message", "messages": 1},
            ],
            "perDay": [{"date": "2026-11-10", "inbound": 4, "sent": 3, "delivered": 2, "read": 1, "failed": 3}],
            "analysis": {
                "analysed": 4,
                "languages": [
                    {"language": "English", "events": 2, "meanConfidence": 0.85},
                    {"language": "Spanish", "events": 2, "meanConfidence": 0.95},
                ],
                "keyPhrases": [
                    {"text": "order", "count": 2}, {"text": "[number]", "count": 1},
                    {"text": "pedido", "count": 1}, {"text": "tracking", "count": 1},
                ],
                "intents": [
                    {"text": "Order tracking", "count": 2}, {"text": "Complaint", "count": 1},
                    {"text": "The customer asks to be called back at [number].", "count": 1},
                ],
                "sentiment": [
                    {"description": "negative", "events": 2, "meanScore": 2.0},
                    {"description": "(none)", "events": 1, "meanScore": 4.0},
                ],
            },
        },
        "chat": {
            "messages": 3, "threads": 3, "edited": 1, "deleted": 1,
            "participantsAdded": 2, "participantsRemoved": 1,
            "perDay": [{"date": "2026-11-10", "messages": 3}],
            "busiestThreads": [{"thread": "19:a@thread.v2", "messages": 2}, {"thread": "19:b@thread.v2", "messages": 1}],
        },
    });
    let shown = expected_summary_with(&events, from, to, Identifiers::Shown);
    assert_eq!(first_difference(&shown, &expected, "summary"), None);
    assert_eq!(shown, expected);
    // The hashes, from Python's hashlib: sha256(b"19:a@thread.v2").hexdigest()[:12].
    let hashed = expected_summary(&events, from, to);
    assert_eq!(hashed["identifiers"], "hashed");
    assert_eq!(
        hashed["chat"]["busiestThreads"],
        json!([{"thread": "thread-653bbd4dfee1", "messages": 2}, {"thread": "thread-9b6014831c85", "messages": 1}])
    );
}

#[test]
fn phone_number_like_runs_are_redacted_and_codes_and_dates_kept() {
    let cases = [
        ("call 555-013-2211, thanks", "call [number], thanks"),
        ("to +1 (555) 010.1234 now", "to [number] now"),
        ("error 131026 in 2 s", "error 131026 in 2 s"),
        ("12 34 56 7", "12 34 56 7"),
        ("12 34 56 78 9", "[number]"),
        ("on 2026-12-01", "on 2026-12-01"),
        ("+491234 x", "+491234 x"),
        ("+4912345 x", "[number] x"),
        ("order #123456.", "order #123456."),
        ("id abc1234567890", "id abc[number]"),
        ("tel%2B14255550123", "tel[number]"),
        ("425 - 555 - 0123 or 425/555/0123", "[number] or [number]"),
        ("(425)  555-0123", "[number]"),
    ];
    for (text, redacted) in cases {
        assert_eq!(redact(text), redacted, "{text}");
        // The report's own masking reads the rule the same way.
        assert_eq!(mask_numbers(text), redacted, "{text}");
    }
}
