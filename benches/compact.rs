//! Compaction's encoding: throughput, output size and memory for one hour of N SMS delivery reports
//! (records built as the handler builds them), streamed through the Parquet writer row group by row
//! group, the encoded bytes drained in 8 MiB blocks as compaction stages them. No storage: the
//! end-to-end run against Azurite is `cargo test --test api compaction`.
//!
//!   cargo bench --bench compact -- [--records 200000]
//!
//! Prints records/s, the records' JSON bytes next to the Parquet bytes, and the peak RSS (VmHWM).

use acs_event_archive::analytics::parquet::{FileWriter, RowGroupLimits};
use acs_event_archive::archive::events::Family;
use acs_event_archive::archive::record::prepare;
use std::time::Instant;

fn vm_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn record(i: usize) -> (String, Vec<u8>) {
    let status = ["Delivered", "Delivered", "Delivered", "Failed", "Expired"][i % 5];
    let event = serde_json::json!({
        "id": format!("Outgoing_2026120109{i:010}"), "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/microsoft.communication/communicationservices/acs",
        "subject": format!("/phonenumber/1555{:07}", i % 10_000), "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
        "eventTime": format!("2026-12-01T09:{:02}:{:02}.{:07}Z", (i / 60) % 60, i % 60, i % 10_000_000), "dataVersion": "1.0", "metadataVersion": "1",
        "data": {"messageId": format!("Outgoing_2026120109{i:010}"), "from": "+15555550100", "to": format!("+1555{:07}", i % 10_000),
                 "deliveryStatus": status, "deliveryStatusDetails": "No error.", "receivedTimestamp": "2026-12-01T09:00:00.1234567Z",
                 "deliveryAttempts": [{"timestamp": "2026-12-01T09:00:00.1Z", "segmentsSucceeded": 1, "segmentsFailed": 0}], "tag": "campaign-42"}
    });
    let prepared = prepare(&serde_json::value::to_raw_value(&event).unwrap());
    (prepared.blob_name, prepared.body)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let records: usize = args
        .iter()
        .position(|a| a == "--records")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let start_rss = vm_kb("VmRSS:");
    let mut writer = FileWriter::new(Family::Sms, vec![], RowGroupLimits::default()).unwrap();
    let (mut json_bytes, mut parquet_bytes, mut build) = (0usize, 0usize, std::time::Duration::ZERO);
    let started = Instant::now();
    for i in 0..records {
        let made = Instant::now();
        let (name, body) = record(i);
        build += made.elapsed();
        json_bytes += body.len();
        writer.push(&name, Some(1_796_115_601_000_000), &body).unwrap();
        if writer.pending_output() >= 8 * 1024 * 1024 {
            parquet_bytes += writer.take_output().len();
        }
    }
    parquet_bytes += writer.finish().unwrap().len();
    let encode = started.elapsed() - build;
    println!("records            {records}");
    println!(
        "encoding           {:.2} s, {:.0} records/s (building the sample records excluded)",
        encode.as_secs_f64(),
        records as f64 / encode.as_secs_f64()
    );
    println!("records' JSON      {json_bytes} bytes");
    println!(
        "Parquet            {parquet_bytes} bytes ({:.1} % of the JSON)",
        100.0 * parquet_bytes as f64 / json_bytes as f64
    );
    println!(
        "RSS                {} MB at start, peak {} MB",
        start_rss / 1024,
        vm_kb("VmHWM:") / 1024
    );
}
