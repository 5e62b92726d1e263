//! Chat events (`Microsoft.Communication.Chat*`), user-level and thread-level.
//!
//! Three models cover the 20 chat event types, mirroring the SDK base classes: messages, threads and
//! participants. Each reads both the current shape (`*CommunicationIdentifier` objects, `participants`,
//! `participantAdded`) and the 2020 one (plain raw-id strings, `members`, `memberAdded`); [`normalize`]
//! folds the legacy spelling into the current projection.
//!
//! [`normalize`]: ChatMessage::normalize

use super::lenient::{model, Lenient, RawId};
use serde_json::{Map, Value};

model! {
    /// Chat message events: received, edited, deleted (per user and in thread), typing indicator and bot
    /// command.
    pub struct ChatMessage {
        pub thread_id: String,
        pub transaction_id: String,
        pub message_id: String,
        #[serde(rename = "type")]
        pub message_type: String,
        pub sender_id: RawId,
        #[serde(skip_serializing)]
        pub sender_communication_identifier: RawId,
        pub sender_display_name: String,
        pub recipient_id: RawId,
        #[serde(skip_serializing)]
        pub recipient_communication_identifier: RawId,
        pub message_body: String,
        pub metadata: Map<String, Value>,
        pub sequence_id: i64,
        pub compose_time: String,
        pub edit_time: String,
        pub delete_time: String,
        pub version: i64,
    }
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

model! {
    /// Chat thread events: created, deleted and properties updated (per user and in thread).
    pub struct ChatThread {
        pub thread_id: String,
        pub transaction_id: String,
        pub recipient_id: RawId,
        #[serde(skip_serializing)]
        pub recipient_communication_identifier: RawId,
        pub create_time: String,
        pub created_by: RawId,
        #[serde(skip_serializing)]
        pub created_by_communication_identifier: RawId,
        pub edit_time: String,
        pub edited_by: RawId,
        #[serde(skip_serializing)]
        pub edited_by_communication_identifier: RawId,
        pub delete_time: String,
        pub deleted_by: RawId,
        #[serde(skip_serializing)]
        pub deleted_by_communication_identifier: RawId,
        pub reason: String,
        pub properties: Map<String, Value>,
        pub metadata: Map<String, Value>,
        pub participants: Vec<Participant>,
        #[serde(skip_serializing)]
        pub members: Vec<Participant>,
        pub retention_policy: Map<String, Value>,
        pub version: i64,
    }
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
            *self.participants = self.members.take();
        }
        *self.members = None;
        for p in self.participants.iter_mut().flatten() {
            p.normalize();
        }
    }
}

model! {
    /// Participant events: added to / removed from a thread (per user, in thread, and the 2020
    /// `ChatMember*` names).
    pub struct ChatParticipant {
        pub thread_id: String,
        pub transaction_id: String,
        pub recipient_id: RawId,
        #[serde(skip_serializing)]
        pub recipient_communication_identifier: RawId,
        pub time: String,
        pub create_time: String,
        pub added_by: RawId,
        #[serde(skip_serializing)]
        pub added_by_communication_identifier: RawId,
        pub removed_by: RawId,
        #[serde(skip_serializing)]
        pub removed_by_communication_identifier: RawId,
        /// Filled by [`ChatParticipant::normalize`] from whichever of the four spellings arrived.
        #[serde(skip_deserializing)]
        pub participant: Participant,
        #[serde(skip_serializing)]
        pub participant_added: Participant,
        #[serde(skip_serializing)]
        pub participant_removed: Participant,
        #[serde(skip_serializing)]
        pub member_added: Participant,
        #[serde(skip_serializing)]
        pub member_removed: Participant,
        pub version: i64,
    }
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
        *self.participant = self
            .participant_added
            .take()
            .or_else(|| self.participant_removed.take())
            .or_else(|| self.member_added.take())
            .or_else(|| self.member_removed.take());
        *self.participant_added = None;
        *self.participant_removed = None;
        *self.member_added = None;
        *self.member_removed = None;
        if let Some(p) = self.participant.as_mut() {
            p.normalize();
        }
    }
}

model! {
    /// A thread participant: `{displayName, participantCommunicationIdentifier, metadata}` today,
    /// `{displayName, memberId}` in 2020. Projected as `{id, displayName, metadata}`.
    pub struct Participant {
        #[serde(skip_deserializing)]
        pub id: RawId,
        pub display_name: String,
        pub metadata: Map<String, Value>,
        #[serde(skip_serializing)]
        pub participant_communication_identifier: RawId,
        #[serde(skip_serializing)]
        pub member_id: RawId,
    }
}

impl Participant {
    fn normalize(&mut self) {
        *self.id = self
            .participant_communication_identifier
            .take()
            .or_else(|| self.member_id.take());
        *self.member_id = None;
    }
}

/// The `*CommunicationIdentifier` object is the current source of truth; the plain legacy string is
/// only used when the object is absent. The result lands in the legacy-named projected field
/// (`senderId`, `createdBy`, ...), which is what the record documents.
fn prefer_current(projected: &mut Lenient<RawId>, current: &mut Lenient<RawId>) {
    if let Some(id) = current.take() {
        projected.0 = Some(id);
    }
}
