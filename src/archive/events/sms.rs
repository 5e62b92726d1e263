//! SMS events (`Microsoft.Communication.SMS*`).
//!
//! SMS payloads exist in PascalCase (2020 docs, spec examples) and camelCase (current docs, SDKs), and
//! the current docs write `Tag` for `tag`: keys are matched case-insensitively before these models see
//! them (see `events::canonical_keys`).

use super::lenient::model;

model! {
    /// `Microsoft.Communication.SMSReceived`.
    pub struct SmsReceived {
        pub message_id: String,
        pub from: String,
        pub to: String,
        pub message: String,
        pub segment_count: i64,
        pub received_timestamp: String,
    }
}

model! {
    /// `Microsoft.Communication.SMSDeliveryReportReceived`.
    pub struct SmsDeliveryReport {
        pub message_id: String,
        pub from: String,
        pub to: String,
        pub delivery_status: String,
        pub delivery_status_details: String,
        pub delivery_attempts: Vec<DeliveryAttempt>,
        pub received_timestamp: String,
        pub tag: String,
    }
}

model! {
    /// One entry of `deliveryAttempts`.
    pub struct DeliveryAttempt {
        pub timestamp: String,
        pub segments_succeeded: i64,
        pub segments_failed: i64,
    }
}
