//! Advanced messaging (WhatsApp) events (`Microsoft.Communication.AdvancedMessage*`).

use super::de;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `Microsoft.Communication.AdvancedMessageReceived`.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct AdvancedMessageReceived {
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub channel_type: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(
        rename = "fromBSUID",
        deserialize_with = "de::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_bsuid: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The docs spell it `receivedTimestamp`, the TypeSpec and generated SDKs `receivedTimeStamp`.
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub received_timestamp: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub media: Option<Map<String, Value>>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub button: Option<Map<String, Value>>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub interactive: Option<Map<String, Value>>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub reaction: Option<Map<String, Value>>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub error: Option<Map<String, Value>>,
}

/// `Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated`.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct AdvancedMessageDeliveryStatus {
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub channel_type: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Open enum seen as `Sent`, `sent`, `DELIVERED`...; projected lower-case.
    #[serde(deserialize_with = "de::lowercase", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(
        rename = "toBSUID",
        deserialize_with = "de::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub to_bsuid: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub received_timestamp: Option<String>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub error: Option<Map<String, Value>>,
}

/// `Microsoft.Communication.AdvancedMessageAnalysisCompleted` (preview; in no SDK).
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct AdvancedMessageAnalysis {
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub channel_type: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub received_timestamp: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub original_message: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub intent_analysis: Option<String>,
    /// Filled from `languageDetection` by [`AdvancedMessageAnalysis::normalize`].
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub confidence_score: Option<f64>,
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub translation: Option<String>,
    #[serde(deserialize_with = "de::one", skip_serializing)]
    pub language_detection: Option<LanguageDetection>,
    /// Filled from `extractedKeyPhrases` (docs) or `keyphraseExtraction` (spec examples).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub key_phrases: Option<Vec<String>>,
    #[serde(deserialize_with = "de::strings", skip_serializing)]
    pub extracted_key_phrases: Option<Vec<String>>,
    #[serde(deserialize_with = "de::strings", skip_serializing)]
    pub keyphrase_extraction: Option<Vec<String>>,
    #[serde(deserialize_with = "de::object", skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct LanguageDetection {
    #[serde(deserialize_with = "de::string")]
    pub language: Option<String>,
    #[serde(deserialize_with = "de::float")]
    pub confidence_score: Option<f64>,
    #[serde(deserialize_with = "de::string")]
    pub translation: Option<String>,
}

impl AdvancedMessageAnalysis {
    pub fn normalize(&mut self) {
        if let Some(d) = self.language_detection.take() {
            self.language = d.language;
            self.confidence_score = d.confidence_score;
            self.translation = d.translation;
        }
        self.key_phrases = self
            .extracted_key_phrases
            .take()
            .or_else(|| self.keyphrase_extraction.take());
        self.keyphrase_extraction = None;
    }
}
