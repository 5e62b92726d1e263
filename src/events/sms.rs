//! SMS events (`Microsoft.Communication.SMS*`).
//!
//! SMS payloads exist in PascalCase (2020 docs, spec examples) and camelCase (current docs, SDKs), and
//! the current docs write `Tag` for `tag`: keys are matched case-insensitively before these models see
//! them (see `de::canonical_keys`).

use super::de;
use serde::{Deserialize, Serialize};

/// `Microsoft.Communication.SMSReceived`.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct SmsReceived {
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(deserialize_with = "de::int", skip_serializing_if = "Option::is_none")]
    pub segment_count: Option<i64>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub received_timestamp: Option<String>,
}

/// `Microsoft.Communication.SMSDeliveryReportReceived`.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct SmsDeliveryReport {
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub delivery_status_details: Option<String>,
    #[serde(deserialize_with = "de::list", skip_serializing_if = "Option::is_none")]
    pub delivery_attempts: Option<Vec<DeliveryAttempt>>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub received_timestamp: Option<String>,
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// One entry of `deliveryAttempts`.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct DeliveryAttempt {
    #[serde(deserialize_with = "de::string", skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(deserialize_with = "de::int", skip_serializing_if = "Option::is_none")]
    pub segments_succeeded: Option<i64>,
    #[serde(deserialize_with = "de::int", skip_serializing_if = "Option::is_none")]
    pub segments_failed: Option<i64>,
}
