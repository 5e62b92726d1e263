//! The ACS event types we model, and their normalised projection (`fields` in the record).
//!
//! Each modelled event type maps to a stable `kind` (its name in lowerCamelCase, which is also the
//! first segment of its blob names) and a typed, tolerant model of its `data`. Event types are matched
//! case-insensitively: the references show `microsoft.EventHUB.…`-style casing drift.

pub mod advanced;
pub mod chat;
pub mod lenient;
pub mod sms;

use lenient::field_names;
use serde::de::DeserializeOwned;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The container an event is archived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Family {
    Sms,
    Chat,
    AdvancedMessaging,
    /// A well-formed event of a type we do not model (other ACS events, storage events, ...).
    Other,
    /// Anything that is not a usable event.
    Quarantine,
}

impl Family {
    pub const ALL: [Family; 5] = [
        Family::Sms,
        Family::Chat,
        Family::AdvancedMessaging,
        Family::Other,
        Family::Quarantine,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Sms => "sms",
            Family::Chat => "chat",
            Family::AdvancedMessaging => "advancedMessaging",
            Family::Other => "other",
            Family::Quarantine => "quarantine",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    SmsReceived,
    SmsDeliveryReport,
    ChatMessage,
    ChatThread,
    ChatParticipant,
    AdvancedMessageReceived,
    AdvancedMessageDeliveryStatus,
    AdvancedMessageAnalysis,
}

/// A modelled event type.
#[derive(Debug, PartialEq, Eq)]
pub struct KnownType {
    pub event_type: &'static str,
    pub kind: &'static str,
    pub family: Family,
    model: Model,
}

const fn known(event_type: &'static str, kind: &'static str, family: Family, model: Model) -> KnownType {
    KnownType {
        event_type,
        kind,
        family,
        model,
    }
}

/// Every modelled event type: SMS (2), chat (18 current + 2 legacy), advanced messaging (3).
pub const KNOWN_TYPES: &[KnownType] = {
    use Family::*;
    use Model::*;
    &[
        known(
            "Microsoft.Communication.SMSReceived",
            "smsReceived",
            Sms,
            SmsReceived,
        ),
        known(
            "Microsoft.Communication.SMSDeliveryReportReceived",
            "smsDeliveryReportReceived",
            Sms,
            SmsDeliveryReport,
        ),
        known(
            "Microsoft.Communication.ChatMessageReceived",
            "chatMessageReceived",
            Chat,
            ChatMessage,
        ),
        known(
            "Microsoft.Communication.ChatMessageEdited",
            "chatMessageEdited",
            Chat,
            ChatMessage,
        ),
        known(
            "Microsoft.Communication.ChatMessageDeleted",
            "chatMessageDeleted",
            Chat,
            ChatMessage,
        ),
        known(
            "Microsoft.Communication.ChatMessageReceivedInThread",
            "chatMessageReceivedInThread",
            Chat,
            ChatMessage,
        ),
        known(
            "Microsoft.Communication.ChatMessageEditedInThread",
            "chatMessageEditedInThread",
            Chat,
            ChatMessage,
        ),
        known(
            "Microsoft.Communication.ChatMessageDeletedInThread",
            "chatMessageDeletedInThread",
            Chat,
            ChatMessage,
        ),
        known(
            "Microsoft.Communication.ChatTypingIndicatorReceivedInThread",
            "chatTypingIndicatorReceivedInThread",
            Chat,
            ChatMessage,
        ),
        known(
            "Microsoft.Communication.ChatAzureBotCommandReceivedInThread",
            "chatAzureBotCommandReceivedInThread",
            Chat,
            ChatMessage,
        ),
        known(
            "Microsoft.Communication.ChatThreadCreatedWithUser",
            "chatThreadCreatedWithUser",
            Chat,
            ChatThread,
        ),
        known(
            "Microsoft.Communication.ChatThreadWithUserDeleted",
            "chatThreadWithUserDeleted",
            Chat,
            ChatThread,
        ),
        known(
            "Microsoft.Communication.ChatThreadPropertiesUpdatedPerUser",
            "chatThreadPropertiesUpdatedPerUser",
            Chat,
            ChatThread,
        ),
        known(
            "Microsoft.Communication.ChatThreadCreated",
            "chatThreadCreated",
            Chat,
            ChatThread,
        ),
        known(
            "Microsoft.Communication.ChatThreadDeleted",
            "chatThreadDeleted",
            Chat,
            ChatThread,
        ),
        known(
            "Microsoft.Communication.ChatThreadPropertiesUpdated",
            "chatThreadPropertiesUpdated",
            Chat,
            ChatThread,
        ),
        known(
            "Microsoft.Communication.ChatParticipantAddedToThreadWithUser",
            "chatParticipantAddedToThreadWithUser",
            Chat,
            ChatParticipant,
        ),
        known(
            "Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser",
            "chatParticipantRemovedFromThreadWithUser",
            Chat,
            ChatParticipant,
        ),
        known(
            "Microsoft.Communication.ChatThreadParticipantAdded",
            "chatThreadParticipantAdded",
            Chat,
            ChatParticipant,
        ),
        known(
            "Microsoft.Communication.ChatThreadParticipantRemoved",
            "chatThreadParticipantRemoved",
            Chat,
            ChatParticipant,
        ),
        known(
            "Microsoft.Communication.ChatMemberAddedToThreadWithUser",
            "chatMemberAddedToThreadWithUser",
            Chat,
            ChatParticipant,
        ),
        known(
            "Microsoft.Communication.ChatMemberRemovedFromThreadWithUser",
            "chatMemberRemovedFromThreadWithUser",
            Chat,
            ChatParticipant,
        ),
        known(
            "Microsoft.Communication.AdvancedMessageReceived",
            "advancedMessageReceived",
            AdvancedMessaging,
            AdvancedMessageReceived,
        ),
        known(
            "Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated",
            "advancedMessageDeliveryStatusUpdated",
            AdvancedMessaging,
            AdvancedMessageDeliveryStatus,
        ),
        known(
            "Microsoft.Communication.AdvancedMessageAnalysisCompleted",
            "advancedMessageAnalysisCompleted",
            AdvancedMessaging,
            AdvancedMessageAnalysis,
        ),
    ]
};

/// The modelled type for an `eventType`/`type` string, matched case-insensitively.
pub fn known_type(event_type: &str) -> Option<&'static KnownType> {
    KNOWN_TYPES
        .iter()
        .find(|k| k.event_type.eq_ignore_ascii_case(event_type))
}

/// The normalised projection of an event's `data`.
#[derive(Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per event: a move is cheaper than a heap allocation"
)]
pub enum Fields {
    SmsReceived(sms::SmsReceived),
    SmsDeliveryReport(sms::SmsDeliveryReport),
    ChatMessage(chat::ChatMessage),
    ChatThread(chat::ChatThread),
    ChatParticipant(chat::ChatParticipant),
    AdvancedMessageReceived(advanced::AdvancedMessageReceived),
    AdvancedMessageDeliveryStatus(advanced::AdvancedMessageDeliveryStatus),
    AdvancedMessageAnalysis(advanced::AdvancedMessageAnalysis),
    /// Unmodelled types, and modelled ones whose `data` is not an object.
    Empty,
    /// Why a quarantined input is not a usable event.
    Quarantine {
        reason: &'static str,
    },
}

impl Fields {
    /// Projects `data` with the model of `known`. A `data` that is missing or not an object projects
    /// to [`Fields::Empty`]: the event is still archived in its family, verbatim.
    pub fn project(known: &KnownType, data: Option<&RawValue>) -> Fields {
        let Some(data) = data
            .filter(|d| d.get().starts_with('{'))
            .and_then(|d| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(d.get()).ok())
        else {
            return Fields::Empty;
        };
        fn parse<T: DeserializeOwned>(data: Map<String, Value>) -> Option<T> {
            from_value(Value::Object(data))
        }
        let projected = match known.model {
            Model::SmsReceived => parse(data).map(Fields::SmsReceived),
            Model::SmsDeliveryReport => parse(data).map(Fields::SmsDeliveryReport),
            Model::ChatMessage => parse(data).map(|mut m: chat::ChatMessage| {
                m.normalize();
                Fields::ChatMessage(m)
            }),
            Model::ChatThread => parse(data).map(|mut m: chat::ChatThread| {
                m.normalize();
                Fields::ChatThread(m)
            }),
            Model::ChatParticipant => parse(data).map(|mut m: chat::ChatParticipant| {
                m.normalize();
                Fields::ChatParticipant(m)
            }),
            Model::AdvancedMessageReceived => parse(data).map(Fields::AdvancedMessageReceived),
            Model::AdvancedMessageDeliveryStatus => parse(data).map(Fields::AdvancedMessageDeliveryStatus),
            Model::AdvancedMessageAnalysis => parse(data).map(|mut m: advanced::AdvancedMessageAnalysis| {
                m.normalize();
                Fields::AdvancedMessageAnalysis(m)
            }),
        };
        // Every field is lenient on its own, so this only fails on data nested beyond serde_json's
        // depth limit; the event is still archived verbatim.
        projected.unwrap_or(Fields::Empty)
    }

    /// The message id, for blob index tags.
    pub fn message_id(&self) -> Option<&str> {
        match self {
            Fields::SmsReceived(f) => f.message_id.as_deref(),
            Fields::SmsDeliveryReport(f) => f.message_id.as_deref(),
            Fields::ChatMessage(f) => f.message_id.as_deref(),
            Fields::AdvancedMessageReceived(f) => f.message_id.as_deref(),
            Fields::AdvancedMessageDeliveryStatus(f) => f.message_id.as_deref(),
            _ => None,
        }
    }

    /// The chat thread id, for blob index tags.
    pub fn thread_id(&self) -> Option<&str> {
        match self {
            Fields::ChatMessage(f) => f.thread_id.as_deref(),
            Fields::ChatThread(f) => f.thread_id.as_deref(),
            Fields::ChatParticipant(f) => f.thread_id.as_deref(),
            _ => None,
        }
    }
}

/// Renames the keys of an ACS `data` object to the spelling the models use, matching them
/// case-insensitively (`MessageId`, `Tag`, `receivedTimeStamp`, `MESSAGEID` all find their field).
/// When two spellings of one key are present, the first wins: one field can never fail the event.
/// Keys the models do not read are kept as they are.
pub fn canonical_keys(object: Map<String, Value>) -> Map<String, Value> {
    let names = known_names();
    // Events nearly always spell their keys as the models do: then the object stays as it is, which
    // is what the renaming below would give.
    if object
        .keys()
        .all(|key| canonical_name(names, key).is_none_or(|canonical| canonical == key))
    {
        return object;
    }
    let mut out = Map::with_capacity(object.len());
    for (key, value) in object {
        let key = match canonical_name(names, &key) {
            Some(canonical) => canonical.to_owned(),
            None => key,
        };
        out.entry(key).or_insert(value);
    }
    out
}

/// The models' spelling of `key`, matched case-insensitively, if a model reads it.
fn canonical_name(names: &KnownNames, key: &str) -> Option<&'static str> {
    const MAX_ASCII: usize = 64;
    if key.len() <= MAX_ASCII && key.is_ascii() {
        // Lower-cased on the stack: most keys are short ASCII, and this runs for every key.
        let mut buffer = [0u8; MAX_ASCII];
        let lower = &mut buffer[..key.len()];
        lower.copy_from_slice(key.as_bytes());
        lower.make_ascii_lowercase();
        let lower = std::str::from_utf8(lower).expect("lower-cased ASCII is UTF-8");
        return names.get(lower).copied();
    }
    // Not only ASCII: full Unicode lower-casing (the Kelvin sign `\u{212A}` lower-cases to `k`).
    names.get(key.to_lowercase().as_str()).copied()
}

/// The known field names by their lower-case form. The table is fixed at start-up and only ever
/// looked up, so its hasher needs no defence against chosen keys (that matters for tables that grow
/// from input); foldhash is several times cheaper per key than SipHash.
type KnownNames = HashMap<String, &'static str, foldhash::fast::FixedState>;

/// Reads a model from a JSON object after [`canonical_keys`]; `None` for anything else.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Option<T> {
    match value {
        Value::Object(object) => serde_json::from_value(Value::Object(canonical_keys(object))).ok(),
        _ => None,
    }
}

/// Every field name the models read, by its lower-case form. A new model is added here and in
/// [`Model`]; its field names are asked from serde, so they cannot drift.
fn known_names() -> &'static KnownNames {
    static NAMES: OnceLock<KnownNames> = OnceLock::new();
    NAMES.get_or_init(|| {
        use {advanced::*, chat::*, sms::*};
        [
            field_names::<SmsReceived>(),
            field_names::<SmsDeliveryReport>(),
            field_names::<DeliveryAttempt>(),
            field_names::<ChatMessage>(),
            field_names::<ChatThread>(),
            field_names::<ChatParticipant>(),
            field_names::<Participant>(),
            field_names::<AdvancedMessageReceived>(),
            field_names::<AdvancedMessageDeliveryStatus>(),
            field_names::<AdvancedMessageAnalysis>(),
            field_names::<LanguageDetection>(),
        ]
        .into_iter()
        .flatten()
        .map(|&name| (name.to_lowercase(), name))
        .collect()
    })
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Fields::SmsReceived(f) => f.serialize(s),
            Fields::SmsDeliveryReport(f) => f.serialize(s),
            Fields::ChatMessage(f) => f.serialize(s),
            Fields::ChatThread(f) => f.serialize(s),
            Fields::ChatParticipant(f) => f.serialize(s),
            Fields::AdvancedMessageReceived(f) => f.serialize(s),
            Fields::AdvancedMessageDeliveryStatus(f) => f.serialize(s),
            Fields::AdvancedMessageAnalysis(f) => f.serialize(s),
            Fields::Empty => s.serialize_map(Some(0))?.end(),
            Fields::Quarantine { reason } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("reason", reason)?;
                m.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn fields(event_type: &str, data: Value) -> Value {
        let raw = RawValue::from_string(data.to_string()).unwrap();
        serde_json::to_value(Fields::project(known_type(event_type).unwrap(), Some(&raw))).unwrap()
    }

    #[test]
    fn every_modelled_type_has_one_kind_named_after_it_in_its_own_family() {
        let mut kinds = std::collections::HashSet::new();
        let mut types = std::collections::HashSet::new();
        for known in KNOWN_TYPES {
            let name = known
                .event_type
                .strip_prefix("Microsoft.Communication.")
                .unwrap_or_else(|| panic!("{} is not an ACS type", known.event_type));
            // The kind is the type's name in lowerCamelCase (SMSReceived → smsReceived).
            let lower_camel = if let Some(rest) = name.strip_prefix("SMS") {
                format!("sms{rest}")
            } else {
                name[..1].to_lowercase() + &name[1..]
            };
            assert_eq!(known.kind, lower_camel, "{}", known.event_type);
            let family = match name {
                n if n.starts_with("SMS") => Family::Sms,
                n if n.starts_with("Chat") => Family::Chat,
                n if n.starts_with("AdvancedMessage") => Family::AdvancedMessaging,
                other => panic!("{other} has no family"),
            };
            assert_eq!(known.family, family, "{}", known.event_type);
            assert!(kinds.insert(known.kind), "{} twice", known.kind);
            assert!(
                types.insert(known.event_type.to_ascii_lowercase()),
                "{} twice",
                known.event_type
            );
            assert_eq!(known_type(&known.event_type.to_ascii_uppercase()), Some(known));
        }
        for family in [Family::Sms, Family::Chat, Family::AdvancedMessaging] {
            assert!(
                KNOWN_TYPES.iter().any(|k| k.family == family),
                "{family:?} has no types"
            );
        }
        assert!(known_type("Microsoft.Communication.CallStarted").is_none());
    }

    #[test]
    fn sms_keys_are_read_in_either_casing() {
        let pascal = fields(
            "Microsoft.Communication.SMSDeliveryReportReceived",
            json!({"MessageId": "m", "From": "1", "To": "2", "DeliveryStatus": "Delivered", "DeliveryStatusDetails": "No error.",
                   "DeliveryAttempts": [{"Timestamp": "t", "SegmentsSucceeded": 1, "SegmentsFailed": 0}], "ReceivedTimestamp": "r", "Tag": "x"}),
        );
        let camel = fields(
            "Microsoft.Communication.SMSDeliveryReportReceived",
            json!({"messageId": "m", "from": "1", "to": "2", "deliveryStatus": "Delivered", "deliveryStatusDetails": "No error.",
                   "deliveryAttempts": [{"timestamp": "t", "segmentsSucceeded": 1, "segmentsFailed": 0}], "receivedTimestamp": "r", "tag": "x"}),
        );
        assert_eq!(pascal, camel);
        assert_eq!(camel["deliveryAttempts"][0]["segmentsSucceeded"], 1);
        assert_eq!(camel["tag"], "x");
    }

    #[test]
    fn both_spellings_of_a_key_in_one_payload_keep_the_first_and_lose_nothing_else() {
        let f = fields(
            "Microsoft.Communication.SMSDeliveryReportReceived",
            json!({"messageId": "first", "MessageId": "second", "Tag": "t", "tag": "u", "DELIVERYSTATUS": "Failed"}),
        );
        assert_eq!(
            f,
            json!({"messageId": "first", "deliveryStatus": "Failed", "tag": "t"})
        );
        let am = fields(
            "Microsoft.Communication.AdvancedMessageReceived",
            json!({"receivedTimestamp": "a", "receivedTimeStamp": "b", "FROMBSUID": "US.1"}),
        );
        assert_eq!(am, json!({"fromBSUID": "US.1", "receivedTimestamp": "a"}));
    }

    #[test]
    fn user_metadata_keys_keep_their_case() {
        let f = fields(
            "Microsoft.Communication.ChatMessageReceived",
            json!({"Metadata": {"MyKey": "V"}}),
        );
        assert_eq!(f, json!({"metadata": {"MyKey": "V"}}));
    }

    #[test]
    fn advanced_messaging_reads_both_timestamp_spellings_and_bsuids() {
        let received = fields(
            "Microsoft.Communication.AdvancedMessageReceived",
            json!({"from": "", "fromBSUID": "US.1", "to": "c", "receivedTimeStamp": "t", "messageType": "text", "brandNewProperty": 1}),
        );
        assert_eq!(
            received,
            json!({"messageType": "text", "from": "", "fromBSUID": "US.1", "to": "c", "receivedTimestamp": "t"})
        );
        let status = fields(
            "Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated",
            json!({"status": "Failed", "toBSUID": "US.2", "receivedTimestamp": "t", "error": {"channelCode": "131026"}}),
        );
        assert_eq!(status["status"], "failed");
        assert_eq!(status["toBSUID"], "US.2");
        assert_eq!(status["receivedTimestamp"], "t");
        assert_eq!(status["error"]["channelCode"], "131026");
    }

    #[test]
    fn analysis_reads_either_key_phrase_name_and_flattens_language_detection() {
        for key in ["extractedKeyPhrases", "keyphraseExtraction"] {
            let f = fields(
                "Microsoft.Communication.AdvancedMessageAnalysisCompleted",
                json!({key: ["a", 1, "b"], "languageDetection": {"language": "English", "confidenceScore": 0.99, "translation": "t"}}),
            );
            assert_eq!(f["keyPhrases"], json!(["a", "b"]));
            assert_eq!(
                (&f["language"], &f["confidenceScore"], &f["translation"]),
                (&json!("English"), &json!(0.99), &json!("t"))
            );
            assert!(f.get(key).is_none() && f.get("languageDetection").is_none());
        }
    }

    #[test]
    fn chat_identifiers_members_and_version_are_normalised() {
        let legacy = fields(
            "Microsoft.Communication.ChatThreadCreatedWithUser",
            json!({"createdBy": "8:acs:a", "members": [{"displayName": "Bob", "memberId": "8:acs:b"}], "version": "16", "recipientId": "8:acs:r"}),
        );
        assert_eq!(legacy["createdBy"], "8:acs:a");
        assert_eq!(
            legacy["participants"],
            json!([{"id": "8:acs:b", "displayName": "Bob"}])
        );
        assert_eq!(legacy["version"], 16);
        assert_eq!(legacy["recipientId"], "8:acs:r");

        let current = fields(
            "Microsoft.Communication.ChatThreadCreated",
            json!({"createdByCommunicationIdentifier": {"rawId": "8:acs:a"}, "version": 16,
                   "participants": [{"displayName": "Bob", "participantCommunicationIdentifier": {"rawId": "8:acs:b"}, "metadata": {"k": "v"}}],
                   "members": [{"memberId": "ignored"}], "retentionPolicy": {"kind": "threadCreationDate", "deleteThreadAfterDays": 7}}),
        );
        assert_eq!(current["createdBy"], "8:acs:a");
        assert_eq!(
            current["participants"],
            json!([{"id": "8:acs:b", "displayName": "Bob", "metadata": {"k": "v"}}])
        );
        assert_eq!(current["retentionPolicy"]["deleteThreadAfterDays"], 7);
        assert!(current.get("members").is_none());
    }

    #[test]
    fn fields_of_the_wrong_type_are_dropped_not_fatal() {
        let f = fields(
            "Microsoft.Communication.ChatMessageReceived",
            json!({"messageId": 17, "version": {"no": 1}, "senderCommunicationIdentifier": 3, "metadata": "not a map", "messageBody": "hi"}),
        );
        assert_eq!(f, json!({"messageId": "17", "messageBody": "hi"}));
    }

    #[test]
    fn data_that_is_not_an_object_projects_to_nothing() {
        let known = known_type("Microsoft.Communication.SMSReceived").unwrap();
        for data in ["[1]", "\"text\"", "true"] {
            let raw = RawValue::from_string(data.to_owned()).unwrap();
            assert_eq!(Fields::project(known, Some(&raw)), Fields::Empty);
        }
        assert_eq!(Fields::project(known, None), Fields::Empty);
    }
}
