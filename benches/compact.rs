//! Compaction throughput, output size and memory, in process (no storage latency): N SMS delivery
//! reports of one hour in the in-memory store, compacted into one Parquet file.
//!
//!   cargo bench --bench compact -- [--records 200000]
//!
//! Prints records/s, the records' JSON bytes next to the Parquet bytes, and the growth of the peak
//! RSS (VmHWM) during the compaction over the peak after the records were loaded.

use acs_event_archive::analytics::compact::{Compactor, Outcome};
use acs_event_archive::analytics::Partition;
use acs_event_archive::archive::events::Family;
use acs_event_archive::archive::record::prepare;
use acs_event_archive::config::Containers;
use acs_event_archive::storage::memory::MemoryStore;
use std::time::Instant;

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let records: usize = args
        .iter()
        .position(|a| a == "--records")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let (store, containers) = (MemoryStore::default(), Containers::default());
    let mut json_bytes = 0usize;
    for i in 0..records {
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
        json_bytes += prepared.body.len();
        store.insert_record(
            &containers.sms,
            &prepared.blob_name,
            &prepared.body,
            "2026-12-01T09:00:01Z",
        );
    }
    let before = vm_hwm_kb();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let partition = Partition {
        family: Family::Sms,
        kind: "smsDeliveryReportReceived".into(),
        hour: Some(time::macros::datetime!(2026-12-01 09:00 UTC)),
    };
    let compactor = Compactor::new(&store, &containers);
    let started = Instant::now();
    let far = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
    let outcome = runtime.block_on(compactor.compact(&partition, far)).unwrap();
    let elapsed = started.elapsed();
    let Outcome::Written { rows, bytes, .. } = outcome else {
        panic!("{outcome:?}")
    };
    let after = vm_hwm_kb();
    println!("records            {records}");
    println!("rows written       {rows}");
    println!(
        "compaction         {:.2} s, {:.0} records/s",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64()
    );
    println!("records' JSON      {json_bytes} bytes");
    println!(
        "Parquet            {bytes} bytes ({:.1} % of the JSON)",
        100.0 * bytes as f64 / json_bytes as f64
    );
    println!(
        "peak RSS growth    {} MB during compaction (peak {} MB after loading the records, {} MB after)",
        (after.saturating_sub(before)) / 1024,
        before / 1024,
        after / 1024
    );
}
