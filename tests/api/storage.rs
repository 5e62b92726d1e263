//! The library's storage client against a real Azurite: what the jobs read the archive with.

use crate::helpers::*;
use acs_event_archive::config::parse_connection_string;
use acs_event_archive::storage::{AzureBlobStore, BlobSource, META_EVENT_SHA256};
use std::time::Duration;

#[tokio::test]
async fn archived_records_can_be_listed_with_metadata_and_read_back() {
    let app = spawn_app().await;
    for i in 0..3 {
        let answer = app
            .invoke("SmsEvents", &sms_event(&format!("Incoming_listed-{i}"), "x"))
            .await;
        assert_eq!(answer.status, 200);
    }
    let auth = parse_connection_string(&connection_string(app.storage_port)).unwrap();
    let containers = app.containers.every();
    let store = AzureBlobStore::new(&auth, &containers, true, Duration::from_secs(5)).unwrap();

    let page = store
        .list_page(&app.containers.sms, "smsReceived/2024/05/01/12/", None)
        .await
        .unwrap();
    assert_eq!(page.next, None);
    let names: Vec<_> = page.blobs.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        (0..3)
            .map(|i| format!("smsReceived/2024/05/01/12/Incoming_listed-{i}.json"))
            .collect::<Vec<_>>()
    );
    let first = &page.blobs[0];
    assert!(!first.etag.is_empty() && first.size > 0 && first.last_modified.is_some());
    assert_eq!(first.metadata[META_EVENT_SHA256].len(), 64);

    let read = store
        .read(&app.containers.sms, &first.name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.bytes.len() as u64, first.size);
    assert_eq!(read.etag, first.etag);
    let stored = app.storage().bytes(&app.containers.sms, &first.name).await;
    assert_eq!(read.bytes, stored);

    assert!(store
        .read(&app.containers.sms, "no/such.json")
        .await
        .unwrap()
        .is_none());
    let empty = store
        .list_page(&app.containers.deadletter, "", None)
        .await
        .unwrap();
    assert!(empty.blobs.is_empty() && empty.next.is_none());
}
