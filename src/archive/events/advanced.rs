//! Advanced messaging (WhatsApp) events (`Microsoft.Communication.AdvancedMessage*`).

use super::lenient::{model, LowerCase};
use serde_json::{Map, Value};

model! {
    /// `Microsoft.Communication.AdvancedMessageReceived`.
    pub struct AdvancedMessageReceived {
        pub channel_type: String,
        pub message_id: String,
        pub message_type: String,
        pub from: String,
        #[serde(rename = "fromBSUID")]
        pub from_bsuid: String,
        pub to: String,
        /// The docs spell it `receivedTimestamp`, the TypeSpec and generated SDKs `receivedTimeStamp`.
        pub received_timestamp: String,
        pub content: String,
        pub media: Map<String, Value>,
        pub context: Map<String, Value>,
        pub button: Map<String, Value>,
        pub interactive: Map<String, Value>,
        pub reaction: Map<String, Value>,
        pub error: Map<String, Value>,
    }
}

model! {
    /// `Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated`.
    pub struct AdvancedMessageDeliveryStatus {
        pub channel_type: String,
        pub message_id: String,
        /// Open enum seen as `Sent`, `sent`, `DELIVERED`...; projected lower-case.
        pub status: LowerCase,
        pub from: String,
        pub to: String,
        #[serde(rename = "toBSUID")]
        pub to_bsuid: String,
        pub received_timestamp: String,
        pub error: Map<String, Value>,
    }
}

model! {
    /// `Microsoft.Communication.AdvancedMessageAnalysisCompleted` (preview; in no SDK).
    pub struct AdvancedMessageAnalysis {
        pub channel_type: String,
        pub from: String,
        pub to: String,
        pub received_timestamp: String,
        pub original_message: String,
        pub intent_analysis: String,
        /// Filled from `languageDetection` by [`AdvancedMessageAnalysis::normalize`].
        #[serde(skip_deserializing)]
        pub language: String,
        #[serde(skip_deserializing)]
        pub confidence_score: f64,
        #[serde(skip_deserializing)]
        pub translation: String,
        #[serde(skip_serializing)]
        pub language_detection: LanguageDetection,
        /// Filled from `extractedKeyPhrases` (docs) or `keyphraseExtraction` (spec examples).
        #[serde(skip_deserializing)]
        pub key_phrases: Vec<String>,
        #[serde(skip_serializing)]
        pub extracted_key_phrases: Vec<String>,
        #[serde(skip_serializing)]
        pub keyphrase_extraction: Vec<String>,
        pub sentiment: Map<String, Value>,
    }
}

model! {
    pub struct LanguageDetection {
        pub language: String,
        pub confidence_score: f64,
        pub translation: String,
    }
}

impl AdvancedMessageAnalysis {
    pub fn normalize(&mut self) {
        if let Some(d) = self.language_detection.take() {
            self.language = d.language;
            self.confidence_score = d.confidence_score;
            self.translation = d.translation;
        }
        *self.key_phrases = self
            .extracted_key_phrases
            .take()
            .or_else(|| self.keyphrase_extraction.take());
        *self.keyphrase_extraction = None;
    }
}
