//! Realistic ACS traffic from a seed, for demos (`handler generate`), the report's figures test and
//! the report benchmark.
//!
//! [`generate`] makes conversations that start within `[start, start + hours)`, more of them in the
//! busy hours of a day: SMS in and out (delivery reports with realistic failure shares and details,
//! an intermediate report first on some, reports that Event Grid delivers out of order), WhatsApp
//! conversations (inbound messages of every type, outbound statuses sent → delivered → read or a real
//! channel error, AI analyses in several languages) and chat threads (thread-level and per-user
//! events, edits, deletes, participants joining and leaving). Follow-ups may land after the window's
//! end, as they do in production.
//!
//! The drift the archive tolerates is there on purpose: both envelopes, PascalCase SMS keys, both
//! `receivedTimestamp` spellings, statuses in any case, inbound messages without `messageType` or
//! `messageId`, both key-phrase names, and a few exact redeliveries. Phone numbers are fake
//! (`+1555…`), and so are names and texts. The same options always give the same events.
//!
//! Times are chosen so that the report's "latest" is never decided by a tie: the statuses of one
//! message differ by at least a second in `receivedTimestamp`.

use fastrand::Rng;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};

/// Bumped whenever the same options give other events, so that caches of generated data (the
/// report benchmark's month) are rebuilt.
pub const VERSION: u32 = 1;

/// What to generate.
#[derive(Debug, Clone)]
pub struct TrafficOptions {
    pub seed: u64,
    /// Where the first hour starts (UTC); conversations start in `[start, start + hours)`.
    pub start: OffsetDateTime,
    pub hours: u32,
    /// About how many events: conversations are added until there are this many (the last one may
    /// go a little over), then the redeliveries.
    pub events: usize,
}

impl Default for TrafficOptions {
    fn default() -> Self {
        TrafficOptions {
            seed: 1,
            start: time::macros::datetime!(2026-12-01 00:00 UTC),
            hours: 24,
            events: 5_000,
        }
    }
}

/// Share of conversations per family, chosen so that events split about 40 % SMS, 35 % WhatsApp,
/// 25 % chat (a chat thread is ~30 events, an SMS conversation ~1.2, a WhatsApp one ~2.7).
const SMS_CONVERSATIONS: f64 = 0.706;
const WHATSAPP_CONVERSATIONS: f64 = 0.280;
/// Event Grid subscriptions can use either schema; most ACS setups still use Event Grid's.
const CLOUD_EVENTS_SHARE: f64 = 0.3;
/// Relative traffic per UTC hour of the day: quiet nights, a morning and an evening peak.
const DAILY_CURVE: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 13, 13, 12, 12, 12, 11, 11, 12, 13, 12, 10, 8, 5, 3,
];

/// The events, in the order Event Grid would deliver them (by event time, redeliveries a little
/// after their first delivery).
pub fn generate(options: &TrafficOptions) -> Vec<Value> {
    if options.hours == 0 {
        return vec![];
    }
    let mut g = Generator::new(options);
    while g.events.len() < options.events {
        let roll = g.rng.f64();
        if roll < SMS_CONVERSATIONS {
            g.sms();
        } else if roll < SMS_CONVERSATIONS + WHATSAPP_CONVERSATIONS {
            g.whatsapp();
        } else {
            g.chat_thread();
        }
    }
    g.finish()
}

struct Generator {
    rng: Rng,
    start: OffsetDateTime,
    hours: u32,
    events: Vec<(OffsetDateTime, Value)>,
    resource: String,
    /// Our SMS numbers.
    numbers: [String; 3],
    whatsapp_channel: String,
    acs_prefix: String,
    /// Chat message ids are compose times in milliseconds; kept unique across threads.
    chat_message_ids: HashSet<i64>,
}

impl Generator {
    fn new(options: &TrafficOptions) -> Self {
        let mut rng = Rng::with_seed(options.seed);
        let resource_id = uuid(&mut rng);
        let numbers = [0, 1, 2].map(|_| format!("+1555010{:04}", rng.u32(0..10_000)));
        let whatsapp_channel = uuid(&mut rng);
        Generator {
            resource: format!(
                "/subscriptions/{}/resourcegroups/contoso-rg/providers/microsoft.communication/communicationservices/contoso-acs",
                uuid(&mut rng)
            ),
            acs_prefix: format!("8:acs:{resource_id}_"),
            numbers,
            whatsapp_channel,
            rng,
            start: options.start,
            hours: options.hours,
            events: vec![],
            chat_message_ids: HashSet::new(),
        }
    }

    /// A conversation's start: an hour weighted by the daily curve, then any moment in it.
    fn moment(&mut self) -> OffsetDateTime {
        let weight = |h: u32| DAILY_CURVE[((self.start + Duration::hours(i64::from(h))).hour()) as usize];
        let total: u32 = (0..self.hours).map(weight).sum();
        let mut pick = self.rng.u32(0..total);
        let mut hour = 0;
        while pick >= weight(hour) {
            pick -= weight(hour);
            hour += 1;
        }
        self.start + Duration::hours(i64::from(hour)) + self.seconds(0.0, 3600.0)
    }

    /// A duration in `[low, high)` seconds, in whole 100 ns (what the 7 fraction digits can say).
    fn seconds(&mut self, low: f64, high: f64) -> Duration {
        let s = low + self.rng.f64() * (high - low);
        Duration::nanoseconds((s * 1e7) as i64 * 100)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.f64() < p
    }

    fn pick<T: Copy>(&mut self, weighted: &[(T, u32)]) -> T {
        let total: u32 = weighted.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.u32(0..total);
        for &(item, weight) in weighted {
            if roll < weight {
                return item;
            }
            roll -= weight;
        }
        unreachable!("the roll is below the total")
    }

    fn one_of<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.usize(0..items.len())]
    }

    fn customer_phone(&mut self) -> String {
        format!("+1555{:07}", self.rng.u32(0..10_000_000))
    }

    fn emit(&mut self, event_type: &str, time: OffsetDateTime, subject: String, data: Value) {
        let id = uuid(&mut self.rng);
        self.emit_with_id(id, event_type, time, subject, data);
    }

    fn emit_with_id(
        &mut self,
        id: String,
        event_type: &str,
        time: OffsetDateTime,
        subject: String,
        data: Value,
    ) {
        let event_type = format!("Microsoft.Communication.{event_type}");
        let event = if self.chance(CLOUD_EVENTS_SHARE) {
            json!({"id": id, "source": self.resource, "subject": subject, "type": event_type,
                   "time": stamp(time), "specversion": "1.0", "data": data})
        } else {
            json!({"id": id, "topic": self.resource, "subject": subject, "data": data, "eventType": event_type,
                   "dataVersion": "1.0", "metadataVersion": "1", "eventTime": stamp(time)})
        };
        self.events.push((time, event));
    }

    /// Sorted by event time; then a few events delivered a second time, word for word.
    fn finish(mut self) -> Vec<Value> {
        self.events.sort_by_key(|(t, _)| *t);
        let mut events: Vec<Value> = self.events.into_iter().map(|(_, e)| e).collect();
        let redeliveries = events.len() / 400 + 1;
        for _ in 0..redeliveries.min(events.len()) {
            let i = self.rng.usize(0..events.len());
            let at = (i + 1 + self.rng.usize(0..20)).min(events.len());
            events.insert(at, events[i].clone());
        }
        events
    }

    fn sms(&mut self) {
        let t0 = self.moment();
        let customer = self.customer_phone();
        let ours = self.numbers[self.rng.usize(0..3)].clone();
        let subject = format!("/phonenumber/{}", ours.trim_start_matches('+'));
        let pascal = self.chance(0.1);
        if self.chance(0.3) {
            let message_id = format!("Incoming_{}{}", compact_stamp(t0), uuid(&mut self.rng));
            let message = self.one_of(SMS_INBOUND);
            let data = json!({"messageId": message_id, "from": customer, "to": ours, "message": message,
                              "receivedTimestamp": stamp(t0), "segmentCount": 1 + usize::from(message.len() > 60)});
            let time = t0 + self.seconds(0.5, 3.0);
            self.emit_with_id(message_id, "SMSReceived", time, subject, sms_keys(data, pascal));
            return;
        }
        let message_id = format!("Outgoing_{}{}", compact_stamp(t0), uuid(&mut self.rng));
        let tag = self
            .chance(0.4)
            .then(|| self.one_of(&["campaign-spring", "otp", "reminders"]));
        // (status, details, receivedTimestamp): absent status is rare but happens.
        let mut reports: Vec<(Option<&str>, Option<String>, Option<OffsetDateTime>)> = vec![];
        let last = self.pick(&[
            ("Delivered", 880),
            ("Failed", 70),
            ("Expired", 30),
            ("", 15),
            ("-", 5),
        ]);
        let intermediate = last.is_empty() || self.chance(0.25);
        if intermediate {
            let received = self.chance(0.7).then(|| t0 + self.seconds(0.5, 1.5));
            reports.push((
                Some("Sent"),
                Some("Message accepted by the carrier".into()),
                received,
            ));
        }
        let received = t0 + self.seconds(2.0, 60.0);
        match last {
            "Delivered" => {
                if self.chance(0.03) {
                    let details = "Carrier temporarily unavailable, retrying".to_owned();
                    reports.push((Some("Failed"), Some(details), Some(received)));
                    let retried = received + self.seconds(30.0, 300.0);
                    reports.push((Some("Delivered"), Some("No error.".into()), Some(retried)));
                } else {
                    reports.push((Some("Delivered"), Some("No error.".into()), Some(received)));
                }
            }
            "Failed" => {
                let details = self.sms_failure_details();
                reports.push((Some("Failed"), details, Some(received)));
            }
            "Expired" => {
                let details = "Message expired: the carrier did not confirm delivery in time".to_owned();
                let received = t0 + self.seconds(1800.0, 5400.0);
                reports.push((Some("Expired"), Some(details), Some(received)));
            }
            "-" => reports.push((None, None, Some(received))),
            _ => {} // only the intermediate report ever came
        }
        let mut times: Vec<OffsetDateTime> = reports
            .iter()
            .map(|(_, _, r)| r.unwrap_or(t0 + Duration::seconds(1)))
            .collect();
        for t in &mut times {
            *t += self.seconds(0.1, 2.0);
        }
        // Event Grid does not keep order: now and then the first report arrives after the last.
        if times.len() > 1 && self.chance(0.1) {
            let latest = *times.last().expect("more than one");
            times[0] = latest + self.seconds(1.0, 10.0);
        }
        for ((status, details, received), time) in reports.into_iter().zip(times) {
            let mut data = Map::new();
            data.insert("messageId".into(), json!(message_id));
            data.insert("from".into(), json!(ours));
            data.insert("to".into(), json!(customer));
            if let Some(status) = status {
                data.insert("deliveryStatus".into(), json!(status));
            }
            if let Some(details) = details {
                data.insert("deliveryStatusDetails".into(), json!(details));
            }
            if let Some(received) = received {
                data.insert("receivedTimestamp".into(), json!(stamp(received)));
            }
            let failed = u8::from(matches!(status, Some("Failed" | "Expired")));
            data.insert(
                "deliveryAttempts".into(),
                json!([{"timestamp": stamp(t0 + Duration::milliseconds(300)), "segmentsSucceeded": 1 - failed, "segmentsFailed": failed}]),
            );
            if let Some(tag) = tag {
                data.insert("tag".into(), json!(tag));
            }
            let data = sms_keys(Value::Object(data), pascal);
            self.emit("SMSDeliveryReportReceived", time, subject.clone(), data);
        }
    }

    fn sms_failure_details(&mut self) -> Option<String> {
        let number = format!("555-{:03}-{:04}", self.rng.u32(0..1000), self.rng.u32(0..10_000));
        let which = self.pick(&[(0, 25), (1, 20), (2, 18), (3, 12), (4, 15), (5, 10)]);
        let text = match which {
            0 => "Message blocked by the carrier as suspected spam".to_owned(),
            1 => "Recipient has opted out of messages from this number".to_owned(),
            2 => "Unknown subscriber: the destination number is not in service".to_owned(),
            3 => "Destination handset unavailable".to_owned(),
            4 => format!("Carrier rejected the message to {number}: number not reachable"),
            _ => return None,
        };
        Some(text)
    }

    fn whatsapp(&mut self) {
        let mut t = self.moment();
        let customer = self.customer_phone().trim_start_matches('+').to_owned();
        let inbound = self.chance(0.65);
        if inbound {
            t = self.whatsapp_inbound(t, &customer);
        }
        if !inbound || self.chance(0.75) {
            t += self.seconds(5.0, 120.0);
            t = self.whatsapp_outbound(t, &customer, !inbound);
            if inbound && self.chance(0.25) {
                let later = t + self.seconds(10.0, 600.0);
                self.whatsapp_inbound(later, &customer);
            }
        }
    }

    /// One inbound message (and its analysis for some texts); returns when it was received.
    fn whatsapp_inbound(&mut self, t: OffsetDateTime, customer: &str) -> OffsetDateTime {
        let kind = self.pick(&[
            ("text", 460),
            ("image", 120),
            ("document", 50),
            ("video", 30),
            ("audio", 40),
            ("sticker", 30),
            ("button", 90),
            ("interactive", 90),
            ("reaction", 60),
            ("unsupported", 15),
        ]);
        let mut data = Map::new();
        data.insert("channelType".into(), json!("whatsapp"));
        if self.chance(0.8) {
            data.insert("messageId".into(), json!(uuid(&mut self.rng)));
        }
        // Absent types make the report infer them; a few arrive capitalised.
        let written_type = match self.rng.u32(0..100) {
            0..=6 => None,
            7..=9 => Some(capitalised(kind)),
            _ => Some(kind.to_owned()),
        };
        let sample = LANGUAGES[self.rng.usize(0..LANGUAGES.len())];
        let media_id = uuid(&mut self.rng);
        let context = json!({"from": self.whatsapp_channel, "id": uuid(&mut self.rng)});
        match kind {
            "text" => {
                data.insert("content".into(), json!(sample.text));
            }
            "image" => {
                data.insert(
                    "media".into(),
                    json!({"mimeType": "image/jpeg", "id": media_id, "caption": "Photo of the parcel"}),
                );
            }
            "document" => {
                data.insert(
                    "media".into(),
                    json!({"mimeType": "application/pdf", "id": media_id, "fileName": "invoice.pdf"}),
                );
            }
            "video" => {
                data.insert("media".into(), json!({"mimeType": "video/mp4", "id": media_id}));
            }
            "audio" => {
                data.insert(
                    "media".into(),
                    json!({"mimeType": "audio/ogg; codecs=opus", "id": media_id}),
                );
            }
            "sticker" => {
                data.insert(
                    "media".into(),
                    json!({"mimeType": "image/webp", "id": media_id, "animated": false}),
                );
            }
            "button" => {
                data.insert("context".into(), context);
                let text = self.one_of(&["Yes", "No", "Call me"]);
                data.insert(
                    "button".into(),
                    json!({"text": text, "payload": text.to_lowercase()}),
                );
            }
            "interactive" => {
                data.insert("context".into(), context);
                data.insert(
                    "interactive".into(),
                    json!({"type": "buttonReply", "buttonReply": {"id": "agree", "title": "Agree"}}),
                );
            }
            "reaction" => {
                data.insert("context".into(), context);
                let emoji = self.one_of(&["👍", "❤️", "🙏", "😂"]);
                data.insert(
                    "reaction".into(),
                    json!({"messageId": uuid(&mut self.rng), "emoji": emoji}),
                );
            }
            _ => {
                data.insert(
                    "error".into(),
                    json!({"channelCode": "131051", "channelMessage": "Unsupported message type"}),
                );
            }
        }
        if let Some(written) = written_type.filter(|_| kind != "unsupported") {
            data.insert("messageType".into(), json!(written));
        }
        data.insert("from".into(), json!(customer));
        data.insert("to".into(), json!(self.whatsapp_channel));
        let received_key = self.received_key();
        data.insert(received_key.into(), json!(stamp_seconds(t)));
        let subject = format!(
            "advancedMessage/sender/{customer}/recipient/{}",
            self.whatsapp_channel
        );
        let time = t + self.seconds(1.0, 4.0);
        self.emit("AdvancedMessageReceived", time, subject, Value::Object(data));
        if kind == "text" && self.chance(0.55) {
            let analysed = time + self.seconds(2.0, 8.0);
            self.analysis(t, analysed, customer, sample);
        }
        t
    }

    /// The TypeSpec and the SDKs spell it `receivedTimeStamp`, the docs `receivedTimestamp`.
    fn received_key(&mut self) -> &'static str {
        if self.chance(0.15) {
            "receivedTimeStamp"
        } else {
            "receivedTimestamp"
        }
    }

    fn analysis(&mut self, received: OffsetDateTime, time: OffsetDateTime, customer: &str, sample: Sample) {
        let mut detection = Map::new();
        detection.insert("language".into(), json!(sample.language));
        if self.chance(0.96) {
            detection.insert(
                "confidenceScore".into(),
                json!(f64::from(70 + self.rng.u32(0..30)) / 100.0),
            );
        }
        if sample.language != "English" {
            detection.insert("translation".into(), json!(sample.translation));
        }
        let intent = if self.chance(0.1) {
            // Some analyses answer in one sentence, without an "Intent:" label.
            sample
                .intent
                .split_once(':')
                .map_or(sample.intent, |(_, why)| why)
                .trim()
        } else {
            sample.intent
        };
        let mut data = Map::new();
        data.insert("originalMessage".into(), json!(sample.text));
        data.insert("channelType".into(), json!("whatsapp"));
        data.insert("languageDetection".into(), Value::Object(detection));
        data.insert("intentAnalysis".into(), json!(intent));
        let phrases = if self.chance(0.85) {
            "extractedKeyPhrases"
        } else {
            "keyphraseExtraction"
        };
        data.insert(phrases.into(), json!(sample.phrases));
        if self.chance(0.4) {
            let score = 1 + self.rng.u32(0..5);
            let mut sentiment = Map::new();
            if self.chance(0.95) {
                sentiment.insert("score".into(), json!(score));
            }
            if self.chance(0.97) {
                sentiment.insert("description".into(), json!(SENTIMENTS[score as usize - 1]));
            }
            data.insert("sentiment".into(), Value::Object(sentiment));
        }
        data.insert("from".into(), json!(customer));
        data.insert("to".into(), json!(self.whatsapp_channel));
        data.insert("receivedTimestamp".into(), json!(stamp_seconds(received)));
        let subject = format!(
            "advancedMessage/sender/{customer}/recipient/{}",
            self.whatsapp_channel
        );
        self.emit(
            "AdvancedMessageAnalysisCompleted",
            time,
            subject,
            Value::Object(data),
        );
    }

    /// One outbound message and its statuses; returns when the last status was received.
    fn whatsapp_outbound(&mut self, t: OffsetDateTime, customer: &str, template: bool) -> OffsetDateTime {
        let message_id = uuid(&mut self.rng);
        let roll = self.rng.f64();
        let mut statuses: Vec<&str> = match roll {
            r if r < 0.04 => vec!["failed"],
            r if r < 0.07 => vec!["sent", "failed"],
            r if r < 0.10 => vec!["sent"],
            r if r < 0.40 => vec!["sent", "delivered"],
            _ => vec!["sent", "delivered", "read"],
        };
        // A read receipt now and then overtakes the delivery one.
        if statuses.len() == 3 && self.chance(0.05) {
            statuses.swap(1, 2);
        }
        let mut received = vec![t + self.seconds(1.0, 3.0)];
        for status in &statuses[1..] {
            let gap = match *status {
                "read" => self.seconds(30.0, 2400.0),
                _ => self.seconds(1.0, 20.0),
            };
            let previous = *received.last().expect("one at least");
            received.push(previous + gap);
        }
        let mut times: Vec<OffsetDateTime> = received.iter().map(|r| *r + self.seconds(0.2, 1.5)).collect();
        if times.len() > 1 && self.chance(0.08) {
            let n = times.len();
            times[n - 2] = times[n - 1] + self.seconds(1.0, 10.0);
        }
        for ((status, received), time) in statuses.iter().zip(&received).zip(times) {
            let written = match self.rng.u32(0..100) {
                0..=64 => capitalised(status),
                65..=97 => (*status).to_owned(),
                _ => status.to_uppercase(),
            };
            let mut data = Map::new();
            data.insert("messageId".into(), json!(message_id));
            data.insert("status".into(), json!(written));
            data.insert("channelType".into(), json!("whatsapp"));
            data.insert("from".into(), json!(self.whatsapp_channel));
            data.insert("to".into(), json!(customer));
            let received_key = self.received_key();
            data.insert(received_key.into(), json!(stamp_seconds(*received)));
            if *status == "failed" {
                data.insert("error".into(), self.whatsapp_error(template, customer));
            }
            let subject = format!("advancedMessage/{message_id}/status/{written}");
            self.emit(
                "AdvancedMessageDeliveryStatusUpdated",
                time,
                subject,
                Value::Object(data),
            );
        }
        *received.last().expect("one at least")
    }

    fn whatsapp_error(&mut self, template: bool, customer: &str) -> Value {
        let code = if template && self.chance(0.4) {
            "131047"
        } else {
            self.pick(&[("131026", 40), ("130472", 20), ("131049", 25), ("131051", 15)])
        };
        let message = match code {
            "131026" if self.chance(0.3) => {
                format!("Message undeliverable: {customer} is not a WhatsApp user")
            }
            "131026" => "Message undeliverable".to_owned(),
            "131047" => "Re-engagement message".to_owned(),
            "131049" => "This message was not delivered to maintain healthy ecosystem engagement".to_owned(),
            "131051" => "Unsupported message type".to_owned(),
            _ => "User's number is part of an experiment".to_owned(),
        };
        json!({"channelCode": code, "channelMessage": message})
    }

    fn chat_thread(&mut self) {
        let t0 = self.moment();
        let thread = format!("19:{}@thread.v2", hex(&mut self.rng, 32));
        let size = 2 + self.rng.usize(0..5);
        let mut people: Vec<(String, &str)> = (0..size).map(|_| self.chat_user()).collect();
        let topic = self.one_of(&[
            "Order 4471 follow-up",
            "Support",
            "Team stand-up",
            "Delivery window",
        ]);
        let creator = people[0].clone();
        let participants: Vec<Value> = people
            .iter()
            .map(|(id, name)| json!({"displayName": name, "participantCommunicationIdentifier": identifier(id)}))
            .collect();
        let version = millis(t0);
        let created = json!({"createdByCommunicationIdentifier": identifier(&creator.0), "properties": {"topic": topic},
                             "participants": participants, "createTime": stamp_millis(t0), "version": version,
                             "threadId": thread, "transactionId": self.transaction()});
        let subject = format!("thread/{thread}/createdBy/{}", creator.0);
        let time = t0 + self.seconds(0.1, 0.5);
        self.emit("ChatThreadCreated", time, subject.clone(), created.clone());
        for (id, _) in people.clone() {
            let mut data = created.clone();
            data["recipientCommunicationIdentifier"] = identifier(&id);
            let time = t0 + self.seconds(0.1, 0.8);
            self.emit(
                "ChatThreadCreatedWithUser",
                time,
                format!("{subject}/recipient/{id}"),
                data,
            );
        }
        // Most threads are short, a few are long.
        let messages = 2 + (self.rng.f64().powi(4) * 40.0) as usize;
        let join_at = self.chance(0.3).then(|| self.rng.usize(0..messages));
        let leave_at = self.chance(0.25).then(|| self.rng.usize(0..messages));
        let mut t = t0 + self.seconds(5.0, 60.0);
        for n in 0..messages {
            t += self.seconds(3.0, 180.0);
            if join_at == Some(n) {
                let joining = self.chat_user();
                people.push(joining.clone());
                self.participant_change(&thread, t, &creator.0, &joining, true, &people);
                t += self.seconds(1.0, 10.0);
            }
            if leave_at == Some(n) && people.len() > 2 {
                let leaving = people.remove(1 + self.rng.usize(0..people.len() - 1));
                self.participant_change(&thread, t, &creator.0, &leaving, false, &people);
                t += self.seconds(1.0, 10.0);
            }
            let sender = people[self.rng.usize(0..people.len())].clone();
            let recipients: Vec<String> = people
                .iter()
                .filter(|(id, _)| *id != sender.0)
                .map(|(id, _)| id.clone())
                .collect();
            let mut compose = millis(t);
            while !self.chat_message_ids.insert(compose) {
                compose += 1;
            }
            let body = self.one_of(CHAT_LINES);
            let message = json!({"messageBody": body, "messageId": compose.to_string(), "type": "Text",
                                 "version": compose.to_string(), "senderDisplayName": sender.1,
                                 "senderCommunicationIdentifier": identifier(&sender.0), "composeTime": stamp_millis(t),
                                 "threadId": thread, "transactionId": self.transaction()});
            self.chat_message(&thread, "Received", t, &sender.0, &recipients, message.clone());
            if self.chance(0.05) {
                let edits = 1 + usize::from(self.chance(0.2));
                let mut at = t;
                for _ in 0..edits {
                    at += self.seconds(10.0, 300.0);
                    let mut edited = message.clone();
                    edited["messageBody"] = json!(format!("{body} (edited)"));
                    edited["editTime"] = json!(stamp_millis(at));
                    edited["version"] = json!(millis(at).to_string());
                    self.chat_message(&thread, "Edited", at, &sender.0, &recipients, edited);
                }
            }
            if self.chance(0.025) {
                let at = t + self.seconds(20.0, 600.0);
                let mut deleted = message.clone();
                deleted.as_object_mut().expect("an object").remove("messageBody");
                deleted["deleteTime"] = json!(stamp_millis(at));
                deleted["version"] = json!(millis(at).to_string());
                self.chat_message(&thread, "Deleted", at, &sender.0, &recipients, deleted);
            }
        }
    }

    fn chat_user(&mut self) -> (String, &'static str) {
        let id = format!("{}{}", self.acs_prefix, uuid(&mut self.rng));
        (id, self.one_of(DISPLAY_NAMES))
    }

    fn transaction(&mut self) -> String {
        format!(
            "{}.1.1.1.1.{}.1",
            hex(&mut self.rng, 22),
            self.rng.u32(100_000_000..2_000_000_000)
        )
    }

    /// A message event in the thread, and its per-user copy to each recipient (same message id).
    fn chat_message(
        &mut self,
        thread: &str,
        what: &str,
        t: OffsetDateTime,
        sender: &str,
        recipients: &[String],
        data: Value,
    ) {
        let subject = format!("thread/{thread}/sender/{sender}");
        let time = t + self.seconds(0.2, 1.0);
        self.emit(
            &format!("ChatMessage{what}InThread"),
            time,
            subject.clone(),
            data.clone(),
        );
        for recipient in recipients {
            let mut copy = data.clone();
            copy["senderId"] = json!(sender);
            copy["recipientId"] = json!(recipient);
            copy["recipientCommunicationIdentifier"] = identifier(recipient);
            // The per-user events carry the version as a number.
            copy["version"] = json!(copy["version"].as_str().and_then(|v| v.parse::<i64>().ok()));
            let time = t + self.seconds(0.2, 1.5);
            self.emit(
                &format!("ChatMessage{what}"),
                time,
                format!("{subject}/recipient/{recipient}"),
                copy,
            );
        }
    }

    fn participant_change(
        &mut self,
        thread: &str,
        t: OffsetDateTime,
        by: &str,
        who: &(String, &str),
        added: bool,
        members: &[(String, &str)],
    ) {
        let (verb, by_key, who_key, thread_type, user_type) = if added {
            (
                "participantadded",
                "addedByCommunicationIdentifier",
                "participantAdded",
                "ChatThreadParticipantAdded",
                "ChatParticipantAddedToThreadWithUser",
            )
        } else {
            (
                "participantremoved",
                "removedByCommunicationIdentifier",
                "participantRemoved",
                "ChatThreadParticipantRemoved",
                "ChatParticipantRemovedFromThreadWithUser",
            )
        };
        let mut data = Map::new();
        data.insert("time".into(), json!(stamp(t)));
        data.insert(by_key.into(), identifier(by));
        data.insert(
            who_key.into(),
            json!({"displayName": who.1, "participantCommunicationIdentifier": identifier(&who.0)}),
        );
        data.insert("version".into(), json!(millis(t)));
        data.insert("threadId".into(), json!(thread));
        data.insert("transactionId".into(), json!(self.transaction()));
        let data = Value::Object(data);
        let subject = format!("thread/{thread}/{verb}/{}", who.0);
        let time = t + self.seconds(0.2, 1.0);
        self.emit(thread_type, time, subject.clone(), data.clone());
        for (recipient, _) in members {
            let mut copy = data.clone();
            copy["recipientCommunicationIdentifier"] = identifier(recipient);
            let time = t + self.seconds(0.5, 3.0);
            self.emit(user_type, time, format!("{subject}/recipient/{recipient}"), copy);
        }
    }
}

/// What a customer writes in one language, and what the analysis says about it.
#[derive(Clone, Copy)]
struct Sample {
    language: &'static str,
    text: &'static str,
    translation: &'static str,
    intent: &'static str,
    phrases: &'static [&'static str],
}

const fn sample(
    language: &'static str,
    text: &'static str,
    translation: &'static str,
    intent: &'static str,
    phrases: &'static [&'static str],
) -> Sample {
    Sample {
        language,
        text,
        translation,
        intent,
        phrases,
    }
}

/// English most often; the capitals in key phrases are ASCII (the report folds their case).
const LANGUAGES: &[Sample] = &[
    sample(
        "English",
        "Hi, can you help me track my order? It still has not arrived.",
        "",
        "Order tracking: The customer wants to know where their order is.",
        &["order", "Tracking"],
    ),
    sample(
        "English",
        "I would like to book an appointment for next Tuesday",
        "",
        "Appointment booking: The customer asks for an appointment next Tuesday.",
        &["appointment", "Tuesday"],
    ),
    sample(
        "English",
        "Please call me back at 555-013-2211, thanks",
        "",
        "Callback request: The customer asks to be called back at 555-013-2211.",
        &["call back", "555-013-2211"],
    ),
    sample(
        "English",
        "The delivery was late again and I'm really frustrated",
        "",
        "Complaint: The customer is unhappy about a late delivery.",
        &["delivery", "Late"],
    ),
    sample(
        "Spanish",
        "Hola, ¿dónde está mi pedido?",
        "Hello, where is my order?",
        "Order tracking: The customer wants to know where their order is.",
        &["pedido"],
    ),
    sample(
        "Spanish",
        "Quiero cambiar la dirección de envío",
        "I want to change the shipping address",
        "Address change: The customer wants to change the delivery address.",
        &["dirección de envío", "Cambiar"],
    ),
    sample(
        "Portuguese",
        "Olá, gostaria de cancelar minha assinatura",
        "Hello, I would like to cancel my subscription",
        "Cancellation: The customer wants to cancel their subscription.",
        &["assinatura", "Cancelar"],
    ),
    sample(
        "Portuguese",
        "Meu pedido chegou danificado",
        "My order arrived damaged",
        "Complaint: The customer received a damaged order.",
        &["pedido", "danificado"],
    ),
    sample(
        "French",
        "Bonjour, je voudrais prendre rendez-vous demain",
        "Hello, I would like to make an appointment tomorrow",
        "Appointment booking: The customer asks for an appointment tomorrow.",
        &["rendez-vous", "demain"],
    ),
    sample(
        "French",
        "Merci beaucoup pour votre aide !",
        "Thank you very much for your help!",
        "Gratitude: The customer thanks the agent for their help.",
        &["aide"],
    ),
    sample(
        "German",
        "Hallo, wo ist meine Bestellung?",
        "Hello, where is my order?",
        "Order tracking: The customer wants to know where their order is.",
        &["Bestellung"],
    ),
    sample(
        "German",
        "Ich möchte mein Passwort zurücksetzen",
        "I want to reset my password",
        "Account help: The customer wants to reset their password.",
        &["Passwort", "zurücksetzen"],
    ),
    sample(
        "Hindi",
        "नमस्ते, मेरा ऑर्डर कहाँ है?",
        "Hello, where is my order?",
        "Order tracking: The customer wants to know where their order is.",
        &["ऑर्डर"],
    ),
    sample(
        "Italian",
        "Vorrei sapere gli orari di apertura",
        "I would like to know the opening hours",
        "Opening hours: The customer asks when the shop is open.",
        &["orari di apertura"],
    ),
];

/// By score, 1 to 5.
const SENTIMENTS: [&str; 5] = [
    "The sentiment of the message is very negative because the writer is angry",
    "The sentiment of the message is negative because the writer expresses frustration",
    "The sentiment of the message is neutral because the writer asks a factual question",
    "The sentiment of the message is positive because the writer is polite and friendly",
    "The sentiment of the message is very positive because the writer expresses gratitude",
];

const SMS_INBOUND: &[&str] = &[
    "STOP",
    "HELP",
    "Yes, confirm my appointment",
    "What time do you open tomorrow?",
    "Thanks!",
    "Can I reschedule to Friday afternoon instead? Something came up at work, sorry about that.",
    "Where is my order?",
    "C",
];

const CHAT_LINES: &[&str] = &[
    "Hi, how can I help?",
    "My parcel has not arrived yet",
    "Let me check that for you",
    "It is out for delivery today",
    "Great, thanks!",
    "Can we move the stand-up to 10?",
    "Sure",
    "Anything else I can do for you?",
];

const DISPLAY_NAMES: &[&str] = &[
    "Avery", "Bob", "Chen", "Dana", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lena",
];

/// A random (version 4 layout) UUID from the seeded generator.
fn uuid(rng: &mut Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        rng.u32(..),
        rng.u16(..),
        rng.u16(..0x1000),
        0x8000 | rng.u16(..0x4000),
        rng.u64(..1 << 48)
    )
}

fn hex(rng: &mut Rng, digits: usize) -> String {
    (0..digits)
        .map(|_| char::from(b"0123456789abcdef"[rng.usize(..16)]))
        .collect()
}

fn identifier(raw_id: &str) -> Value {
    json!({"rawId": raw_id, "communicationUser": {"id": raw_id}})
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// The 2020 documents and the spec examples write SMS keys in PascalCase.
fn sms_keys(data: Value, pascal: bool) -> Value {
    match data {
        Value::Object(object) if pascal => Value::Object(
            object
                .into_iter()
                .map(|(k, v)| (capitalised(&k), sms_keys(v, true)))
                .collect(),
        ),
        Value::Array(items) if pascal => Value::Array(items.into_iter().map(|v| sms_keys(v, true)).collect()),
        other => other,
    }
}

/// Event Grid's form: `2026-12-01T09:30:12.1234567Z`.
fn stamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// WhatsApp's `receivedTimestamp`: whole seconds and an offset, `2026-12-01T09:30:12+00:00`.
fn stamp_seconds(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Chat's times: milliseconds, `2026-12-01T09:30:12.123Z`.
fn stamp_millis(t: OffsetDateTime) -> String {
    format!("{}.{:03}Z", &stamp(t)[..19], t.millisecond())
}

/// SMS message ids start with the time: `Outgoing_20261201093012…`.
fn compact_stamp(t: OffsetDateTime) -> String {
    stamp(t)[..19].replace(['-', 'T', ':'], "")
}

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::events::Family;
    use crate::archive::record::prepare;
    use std::collections::HashMap;

    fn day(seed: u64, events: usize) -> Vec<Value> {
        generate(&TrafficOptions {
            seed,
            events,
            ..TrafficOptions::default()
        })
    }

    #[test]
    fn the_same_seed_gives_the_same_events_and_another_seed_other_ones() {
        assert_eq!(day(7, 2_000), day(7, 2_000));
        assert_ne!(day(7, 2_000), day(8, 2_000));
    }

    #[test]
    fn every_event_is_archived_in_its_family_with_fields() {
        let events = day(3, 3_000);
        assert!(events.len() >= 3_000, "{}", events.len());
        let mut families: HashMap<&str, usize> = HashMap::new();
        for event in &events {
            let raw = serde_json::value::to_raw_value(event).unwrap();
            let prepared = prepare(&raw);
            assert!(
                matches!(
                    prepared.family,
                    Family::Sms | Family::Chat | Family::AdvancedMessaging
                ),
                "{event}"
            );
            let record: Value = serde_json::from_slice(&prepared.body).unwrap();
            assert!(
                record["fields"].as_object().is_some_and(|f| !f.is_empty()),
                "{event}"
            );
            *families.entry(prepared.family.as_str()).or_default() += 1;
        }
        // About 40 % SMS, 35 % WhatsApp, 25 % chat.
        for (family, share) in [("sms", 0.40), ("advancedMessaging", 0.35), ("chat", 0.25)] {
            let got = families[family] as f64 / events.len() as f64;
            assert!((got - share).abs() < 0.12, "{family}: {got:.2} of the events");
        }
    }

    #[test]
    fn both_envelopes_are_used_about_three_to_seven() {
        let events = day(5, 3_000);
        let cloud = events.iter().filter(|e| e.get("specversion").is_some()).count();
        let grid = events.iter().filter(|e| e.get("eventType").is_some()).count();
        assert_eq!(cloud + grid, events.len());
        let share = cloud as f64 / events.len() as f64;
        assert!((0.25..0.35).contains(&share), "{share:.2} CloudEvents");
    }

    #[test]
    fn ids_are_unique_but_for_a_few_exact_redeliveries() {
        let events = day(11, 3_000);
        let mut seen: HashMap<&str, &Value> = HashMap::new();
        let mut again = 0;
        for event in &events {
            let id = event["id"].as_str().unwrap();
            if let Some(first) = seen.insert(id, event) {
                assert_eq!(first, event, "a second event with id {id} is not a redelivery");
                again += 1;
            }
        }
        assert!((2..=20).contains(&again), "{again} redeliveries");
    }

    #[test]
    fn conversations_start_in_the_window_and_follow_the_daily_curve() {
        let options = TrafficOptions {
            seed: 2,
            events: 4_000,
            ..TrafficOptions::default()
        };
        let times: Vec<OffsetDateTime> = generate(&options)
            .iter()
            .map(|e| {
                let t = e
                    .get("eventTime")
                    .or_else(|| e.get("time"))
                    .unwrap()
                    .as_str()
                    .unwrap();
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
            })
            .collect();
        let end = options.start + Duration::hours(24);
        assert!(times.iter().all(|t| *t >= options.start));
        let inside = times.iter().filter(|t| **t < end).count();
        assert!(
            inside as f64 > 0.98 * times.len() as f64,
            "follow-ups after the end are few"
        );
        let at = |hour: u8| times.iter().filter(|t| t.hour() == hour).count();
        assert!(at(11) > 4 * at(3), "11:00 {} vs 03:00 {}", at(11), at(3));
    }

    #[test]
    fn the_drift_the_archive_tolerates_is_in_the_traffic() {
        let text: String = day(13, 5_000).iter().map(|e| e.to_string()).collect();
        for needle in [
            "\"receivedTimeStamp\"",
            "\"MessageId\"",
            "\"keyphraseExtraction\"",
            "\"extractedKeyPhrases\"",
            "\"status\":\"sent\"",
            "\"status\":\"Sent\"",
            "\"channelCode\":\"131047\"",
            "\"sentiment\"",
            "ChatMessageEditedInThread",
            "ChatMessageDeleted",
            "ChatParticipantAddedToThreadWithUser",
            "\"language\":\"Hindi\"",
        ] {
            assert!(text.contains(needle), "no {needle}");
        }
    }
}
