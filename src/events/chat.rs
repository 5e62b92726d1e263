//! Chat events (`Microsoft.Communication.Chat*`), user-level and thread-level.
//!
//! Three models cover the 20 chat event types, mirroring the SDK base classes: messages, threads and
//! participants. Each reads both the current shape (`*CommunicationIdentifier` objects, `participants`,
//! `participantAdded`) and the 2020 one (plain raw-id strings, `members`, `memberAdded`); [`normalize`]
//! folds the legacy spelling into the current projection.
//!
//! [`normalize`]: ChatMessage::normalize

use super::de;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Chat message events: received, edited, deleted (per user and in thread), typing indicator and bot
/// command.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ChatMessage {
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(
        rename = "type",
        deserialize_with = "de::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_type: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub sender_communication_identifier: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub sender_display_name: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub recipient_communication_identifier: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(deserialize_with = "de::int", skip_serializing_if = "Option::is_none")]
    pub sequence_id: Option<i64>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub compose_time: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub edit_time: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub delete_time: Option<String>,
    #[serde(deserialize_with = "de::int", skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl ChatMessage {
    pub fn normalize(&mut self) {
        prefer_current(&mut self.sender_id, &mut self.sender_communication_identifier);
        prefer_current(
            &mut self.recipient_id,
            &mut self.recipient_communication_identifier,
        );
    }
}

/// Chat thread events: created, deleted and properties updated (per user and in thread).
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ChatThread {
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub recipient_communication_identifier: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub created_by_communication_identifier: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub edit_time: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing_if = "Option::is_none")]
    pub edited_by: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub edited_by_communication_identifier: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub delete_time: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub deleted_by_communication_identifier: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub properties: Option<Map<String, Value>>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(deserialize_with = "de::list", skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<Participant>>,
    #[serde(deserialize_with = "de::list", skip_serializing)]
    pub members: Option<Vec<Participant>>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<Map<String, Value>>,
    #[serde(deserialize_with = "de::int", skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl ChatThread {
    pub fn normalize(&mut self) {
        prefer_current(
            &mut self.recipient_id,
            &mut self.recipient_communication_identifier,
        );
        prefer_current(
            &mut self.created_by,
            &mut self.created_by_communication_identifier,
        );
        prefer_current(&mut self.edited_by, &mut self.edited_by_communication_identifier);
        prefer_current(
            &mut self.deleted_by,
            &mut self.deleted_by_communication_identifier,
        );
        if self.participants.is_none() {
            self.participants = self.members.take();
        }
        self.members = None;
        for p in self.participants.iter_mut().flatten() {
            p.normalize();
        }
    }
}

/// Participant events: added to / removed from a thread (per user, in thread, and the 2020
/// `ChatMember*` names).
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ChatParticipant {
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub recipient_communication_identifier: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub added_by_communication_identifier: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing_if = "Option::is_none")]
    pub removed_by: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub removed_by_communication_identifier: Option<String>,
    /// Filled by [`ChatParticipant::normalize`] from whichever of the four spellings arrived.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub participant: Option<Participant>,
    #[serde(deserialize_with = "de::one", skip_serializing)]
    pub participant_added: Option<Participant>,
    #[serde(deserialize_with = "de::one", skip_serializing)]
    pub participant_removed: Option<Participant>,
    #[serde(deserialize_with = "de::one", skip_serializing)]
    pub member_added: Option<Participant>,
    #[serde(deserialize_with = "de::one", skip_serializing)]
    pub member_removed: Option<Participant>,
    #[serde(deserialize_with = "de::int", skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl ChatParticipant {
    pub fn normalize(&mut self) {
        prefer_current(
            &mut self.recipient_id,
            &mut self.recipient_communication_identifier,
        );
        prefer_current(&mut self.added_by, &mut self.added_by_communication_identifier);
        prefer_current(
            &mut self.removed_by,
            &mut self.removed_by_communication_identifier,
        );
        self.participant = self
            .participant_added
            .take()
            .or_else(|| self.participant_removed.take())
            .or_else(|| self.member_added.take())
            .or_else(|| self.member_removed.take());
        self.participant_added = None;
        self.participant_removed = None;
        self.member_added = None;
        self.member_removed = None;
        if let Some(p) = &mut self.participant {
            p.normalize();
        }
    }
}

/// A thread participant: `{displayName, participantCommunicationIdentifier, metadata}` today,
/// `{displayName, memberId}` in 2020. Projected as `{id, displayName, metadata}`.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Participant {
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub participant_communication_identifier: Option<String>,
    #[serde(deserialize_with = "de::identifier", skip_serializing)]
    pub member_id: Option<String>,
}

impl Participant {
    fn normalize(&mut self) {
        self.id = self
            .participant_communication_identifier
            .take()
            .or_else(|| self.member_id.take());
        self.member_id = None;
    }
}

/// The `*CommunicationIdentifier` object is the current source of truth; the plain legacy string is
/// only used when the object is absent. The result lands in the legacy-named projected field
/// (`senderId`, `createdBy`, ...), which is what the record documents.
fn prefer_current(projected: &mut Option<String>, current: &mut Option<String>) {
    if let Some(id) = current.take() {
        *projected = Some(id);
    }
}
