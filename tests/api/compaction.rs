//! Compaction into hourly Parquet, end to end: events archived through the handler into a real
//! Azurite, compacted by `handler compact` and by the `CompactArchive` timer function, read back with
//! the writer's crate and with DuckDB (installed pinned from PyPI into `.tools/duckdb`).

use crate::helpers::*;
use crate::proxy::{Mode, Proxy};
use acs_event_archive::config::Containers;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const DUCKDB_VERSION: &str = "1.5.5";

fn sms_at(id: &str, time: &str, status: &str) -> Value {
    json!({
        "id": id,
        "topic": "/subscriptions/s/resourcegroups/rg/providers/microsoft.communication/communicationservices/acs",
        "subject": "/phonenumber/15555555555",
        "data": {"messageId": id, "from": "15555555555", "to": "+15555555556", "deliveryStatus": status,
                 "deliveryStatusDetails": "No error.", "receivedTimestamp": time, "tag": "t",
                 "deliveryAttempts": [{"timestamp": time, "segmentsSucceeded": 1, "segmentsFailed": 0}]},
        "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
        "dataVersion": "1.0", "metadataVersion": "1", "eventTime": time
    })
}

fn whatsapp_failed_at(id: &str, time: &str, code: &str) -> Value {
    json!({
        "id": id, "topic": "/t", "subject": format!("advancedMessage/{id}/status/Failed"),
        "data": {"messageId": id, "status": "Failed", "channelType": "whatsapp", "from": "a", "to": "b",
                 "receivedTimestamp": time, "error": {"channelCode": code, "channelMessage": "Message Undeliverable."}},
        "eventType": "Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated",
        "dataVersion": "1.0", "metadataVersion": "1", "eventTime": time
    })
}

fn other_at(id: &str, time: Option<&str>) -> Value {
    let mut event = json!({"id": id, "topic": "/t", "subject": "s", "eventType": "Contoso.Orders.Shipped",
                           "data": {"order": 1}, "dataVersion": "1", "metadataVersion": "1"});
    if let Some(time) = time {
        event["eventTime"] = json!(time);
    }
    event
}

async fn archive(app: &TestApp, events: &[Value]) {
    for event in events {
        let answer = app.invoke(function_for(event), event).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
}

/// `handler compact ARGS` against `storage_port` with the app's containers.
fn compact_command(containers: &Containers, storage_port: u16, args: &[&str]) -> Command {
    let mut command = handler_command(storage_port, containers);
    command
        .arg("compact")
        .args(args)
        .env("ARCHIVE_BUDGET_MS", "1500")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn compact(app: &TestApp, args: &[&str]) -> Output {
    let output = compact_command(&app.containers, app.storage_port, args)
        .output()
        .expect("could not run handler compact");
    assert!(
        output.status.success(),
        "handler compact failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The rows of a Parquet file, read with the writer's crate, as JSON objects.
fn parquet_rows(bytes: Vec<u8>) -> Vec<Value> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("a Parquet file");
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            use parquet::record::Field;
            let row = row.unwrap();
            let cells = row.get_column_iter().map(|(name, field)| {
                let value = match field {
                    Field::Null => Value::Null,
                    Field::Str(s) => json!(s),
                    Field::Long(n) | Field::TimestampMicros(n) => json!(n),
                    Field::Double(f) => json!(f),
                    other => json!(other.to_string()),
                };
                (name.clone(), value)
            });
            Value::Object(cells.collect())
        })
        .collect()
}

/// The file's key-value metadata.
fn parquet_metadata(bytes: Vec<u8>) -> BTreeMap<String, String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect()
}

/// Source record names by the analytics file they belong to.
fn expected_files(records: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in records {
        let parts: Vec<&str> = name.split('/').collect();
        let file = if parts[1] == "undated" {
            format!("undated/{0}/{0}-undated.parquet", parts[0])
        } else {
            let (kind, y, m, d, h) = (parts[0], parts[1], parts[2], parts[3], parts[4]);
            let hour: u8 = h.parse().unwrap();
            format!("{kind}/date={y}-{m}-{d}/hour={hour}/{kind}-{y}{m}{d}{h}.parquet")
        };
        files.entry(file).or_default().push(name.clone());
    }
    files
}

/// Checks every analytics file against the records it was built from: one row per record, the JSON
/// columns equal to the records' `event` and `fields`, the metadata saying what it was built from.
async fn assert_files_match_records(app: &TestApp, record_containers: &[&str]) -> usize {
    let storage = app.storage();
    let mut expected: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for container in record_containers {
        let names = storage.blob_names(container).await;
        for (file, names) in expected_files(&names) {
            expected
                .entry(file)
                .or_default()
                .extend(names.into_iter().map(|n| (container.to_string(), n)));
        }
    }
    let files = storage.blob_names(&app.containers.analytics).await;
    assert_eq!(
        files,
        expected.keys().cloned().collect::<Vec<_>>(),
        "one file per kind and hour"
    );
    for (file, sources) in &expected {
        let bytes = storage.bytes(&app.containers.analytics, file).await;
        let metadata = parquet_metadata(bytes.clone());
        assert_eq!(metadata["analyticsVersion"], "1", "{file}");
        assert_eq!(metadata["sourceCount"], sources.len().to_string(), "{file}");
        let rows = parquet_rows(bytes);
        assert_eq!(rows.len(), sources.len(), "{file}: a row per record");
        for (row, (container, name)) in rows.iter().zip(sources) {
            let record = storage.blob(container, name).await.record;
            assert_eq!(row["blobName"], json!(name), "{file}");
            assert_eq!(row["eventId"], record["eventId"], "{file}");
            let event: Value = serde_json::from_str(row["event"].as_str().unwrap()).unwrap();
            assert_eq!(event, record["event"], "{file}: event is the record's event");
            let fields: Value = serde_json::from_str(row["fields"].as_str().unwrap()).unwrap();
            assert_eq!(fields, record["fields"], "{file}: fields are the record's fields");
        }
    }
    expected.len()
}

/// Downloads the analytics container into `folder`, keeping the Hive-style paths.
async fn download(app: &TestApp, folder: &Path) {
    let storage = app.storage();
    for name in storage.blob_names(&app.containers.analytics).await {
        let path = folder.join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, storage.bytes(&app.containers.analytics, &name).await).unwrap();
    }
}

/// A Python with DuckDB, pinned, in `.tools/duckdb`: created once, guarded by a lock against two
/// test runs at once (as `scripts/package.sh` does for its tools).
fn duckdb_python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let tools = project_root().join(".tools");
            std::fs::create_dir_all(&tools).unwrap();
            let venv = tools.join("duckdb");
            let stamp = venv.join(format!(".pinned-duckdb-{DUCKDB_VERSION}"));
            let script = format!(
                r#"set -e
exec 9>"{tools}/.duckdb.lock"
flock 9
if [ ! -e "{stamp}" ]; then
  rm -rf "{venv}"
  python3 -m venv "{venv}"
  "{venv}/bin/pip" install --quiet --disable-pip-version-check "duckdb=={DUCKDB_VERSION}"
  touch "{stamp}"
fi"#,
                tools = tools.display(),
                stamp = stamp.display(),
                venv = venv.display()
            );
            let status = Command::new("bash").arg("-c").arg(&script).status().unwrap();
            assert!(
                status.success(),
                "could not install duckdb=={DUCKDB_VERSION} into {}: python3 with venv and PyPI are needed",
                venv.display()
            );
            venv.join("bin/python")
        })
        .clone()
}

/// Runs one SQL query with DuckDB in `folder`; the rows as JSON arrays.
fn duckdb(folder: &Path, sql: &str) -> Vec<Value> {
    let program = r#"
import duckdb, json, sys
rows = duckdb.sql(sys.argv[1]).fetchall()
print(json.dumps([[v if isinstance(v, (int, float, str, type(None))) else str(v) for v in row] for row in rows]))
"#;
    let output = Command::new(duckdb_python())
        .arg("-c")
        .arg(program)
        .arg(sql)
        .current_dir(folder)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap()
}

#[tokio::test]
async fn compaction_writes_one_parquet_file_per_kind_and_hour_that_duckdb_reads_with_typed_partitions() {
    let app = spawn_app().await;
    let mut events = vec![];
    for i in 0..3 {
        events.push(sms_at(
            &format!("Outgoing_a{i}"),
            "2024-05-01T09:15:00Z",
            "Delivered",
        ));
    }
    events.push(sms_at("Outgoing_b0", "2024-05-01T11:59:59.9999999Z", "Failed"));
    events.push(sms_at("Outgoing_b1", "2024-05-01T11:00:00+00:00", "Delivered"));
    // Same id, other content: a conflict copy, a row of its own.
    events.push(sms_at("Outgoing_b1", "2024-05-01T11:00:00+00:00", "Failed"));
    events.push(whatsapp_failed_at("wa-1", "2024-05-01T10:20:00Z", "131026"));
    events.push(whatsapp_failed_at("wa-2", "2024-05-01T10:21:00Z", "131047"));
    events.push(other_at("o-1", Some("2024-05-01T12:00:00Z")));
    events.push(other_at("o-undated", None));
    archive(&app, &events).await;

    let output = compact(&app, &["--from", "2024-05-01", "--to", "2024-05-02"]);
    assert!(stdout(&output).contains("5 written"), "{}", stdout(&output));
    let files = assert_files_match_records(
        &app,
        &[
            &app.containers.sms,
            &app.containers.advanced_messaging,
            &app.containers.other,
        ],
    )
    .await;
    assert_eq!(files, 5, "2 SMS hours, 1 WhatsApp hour, 1 other hour, 1 undated");

    // The independent reader: DuckDB infers date and hour from the folders and reads the columns.
    let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    download(&app, folder.path()).await;
    let per_hour = duckdb(
        folder.path(),
        "SELECT typeof(date), date::VARCHAR, typeof(hour), hour, count(*), count(*) FILTER (deliveryStatus = 'Delivered'),
                max(epoch_us(eventTime)) FROM read_parquet('smsDeliveryReportReceived/*/*/*.parquet', hive_partitioning = true)
         GROUP BY ALL ORDER BY hour",
    );
    assert_eq!(
        per_hour,
        [
            json!(["DATE", "2024-05-01", "BIGINT", 9, 3, 3, 1714554900000000i64]),
            json!(["DATE", "2024-05-01", "BIGINT", 11, 3, 1, 1714564799999999i64]),
        ]
    );
    let codes = duckdb(
        folder.path(),
        "SELECT errorCode, json_extract_string(event, '$.data.error.channelMessage'), typeof(fields)
         FROM read_parquet('advancedMessageDeliveryStatusUpdated/*/*/*.parquet', hive_partitioning = true) ORDER BY 1",
    );
    assert_eq!(
        codes,
        [
            json!(["131026", "Message Undeliverable.", "JSON"]),
            json!(["131047", "Message Undeliverable.", "JSON"]),
        ]
    );
    let undated = duckdb(
        folder.path(),
        "SELECT eventId, eventTime IS NULL FROM read_parquet('undated/*/*.parquet')",
    );
    assert_eq!(undated, [json!(["o-undated", true])]);
}

#[tokio::test]
async fn a_second_compaction_writes_nothing_and_a_late_event_replaces_its_hour_with_one_more_row() {
    let app = spawn_app().await;
    archive(
        &app,
        &[
            sms_at("Outgoing_x1", "2024-06-01T08:10:00Z", "Delivered"),
            sms_at("Outgoing_y1", "2024-06-01T09:10:00Z", "Delivered"),
        ],
    )
    .await;
    let window = [
        "--from",
        "2024-06-01T00:00:00Z",
        "--to",
        "2024-06-02T00:00:00Z",
        "--no-undated",
    ];
    compact(&app, &window);
    let storage = app.storage();
    let files = storage.blob_names(&app.containers.analytics).await;
    assert_eq!(files.len(), 2);
    let mut etags = vec![];
    for file in &files {
        etags.push(storage.etag(&app.containers.analytics, file).await);
    }

    let again = compact(&app, &window);
    assert!(stdout(&again).contains("0 written"), "{}", stdout(&again));
    for (file, etag) in files.iter().zip(&etags) {
        assert_eq!(
            &storage.etag(&app.containers.analytics, file).await,
            etag,
            "{file} untouched"
        );
    }

    archive(
        &app,
        &[sms_at("Outgoing_x2-late", "2024-06-01T08:59:00Z", "Failed")],
    )
    .await;
    let late = compact(&app, &window);
    assert!(
        stdout(&late).contains("replaced smsDeliveryReportReceived 2024-06-01T08: 2 rows"),
        "{}",
        stdout(&late)
    );
    assert_ne!(storage.etag(&app.containers.analytics, &files[0]).await, etags[0]);
    assert_eq!(storage.etag(&app.containers.analytics, &files[1]).await, etags[1]);
    assert_files_match_records(&app, &[&app.containers.sms]).await;
}

#[tokio::test]
async fn the_timer_function_compacts_the_closed_hours_of_its_lookback_and_reports_in_its_logs() {
    let app = spawn_app_with(AppOptions {
        storage_port: shared_azurite(),
        env: vec![("ARCHIVE_COMPACT_LOOKBACK_HOURS".into(), "6".into())],
    })
    .await;
    let now = time::OffsetDateTime::now_utc();
    let at = |hours_ago: i64| {
        (now - time::Duration::hours(hours_ago))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    archive(
        &app,
        &[
            sms_at("Outgoing_t0-open-hour", &at(0), "Delivered"),
            sms_at("Outgoing_t2", &at(2), "Delivered"),
            sms_at("Outgoing_t3", &at(3), "Failed"),
            sms_at("Outgoing_t30-outside-lookback", &at(30), "Delivered"),
        ],
    )
    .await;
    let timer = br#"{"Data":{"timer":{"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}"#;
    let answer = app.post("CompactArchive", timer.to_vec()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let logs = answer.logs().join("\n");
    assert!(logs.contains("2 written (2 rows"), "{logs}");
    let files = app.storage().blob_names(&app.containers.analytics).await;
    assert_eq!(files.len(), 2, "{files:?}");
    let hour = |hours_ago: i64| {
        let t = now - time::Duration::hours(hours_ago);
        format!("hour={}/", t.hour())
    };
    assert!(
        files.iter().any(|f| f.contains(&hour(2))) && files.iter().any(|f| f.contains(&hour(3))),
        "{files:?}"
    );

    let again = app.post("CompactArchive", timer.to_vec()).await;
    assert_eq!(again.status, 200);
    assert!(
        again.logs().join("\n").contains("0 written"),
        "{:?}",
        again.logs()
    );
}

#[tokio::test]
async fn two_compactions_of_the_same_hours_at_once_both_succeed_with_the_result_of_one() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..40)
        .map(|i| {
            sms_at(
                &format!("Outgoing_race{i:02}"),
                &format!("2024-07-01T{:02}:30:00Z", i % 4),
                "Delivered",
            )
        })
        .collect();
    archive(&app, &events).await;
    let window = ["--from", "2024-07-01", "--to", "2024-07-02", "--no-undated"];
    let first = compact_command(&app.containers, app.storage_port, &window)
        .spawn()
        .unwrap();
    let second = compact_command(&app.containers, app.storage_port, &window)
        .spawn()
        .unwrap();
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}\n{}",
            stdout(&output),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(assert_files_match_records(&app, &[&app.containers.sms]).await, 4);
}

// The proxy runs on this runtime while the test thread blocks on the command: two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_refused_in_the_middle_of_a_compaction_fails_the_run_and_a_rerun_completes_it() {
    let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let azurite = Azurite::start(folder.path());
    let proxy = Proxy::start(azurite.port).await;
    let mut app = spawn_app_with(AppOptions {
        storage_port: proxy.port,
        env: vec![],
    })
    .await;
    app.storage_port = azurite.port;
    let events: Vec<Value> = (0..24)
        .map(|h| {
            sms_at(
                &format!("Outgoing_h{h:02}"),
                &format!("2024-08-01T{h:02}:00:00Z"),
                "Delivered",
            )
        })
        .collect();
    archive(&app, &events).await;

    // Hours are compacted oldest first, every kind of an hour before the next hour: after the second
    // SMS hour is written, 22 hours of listings are still to come when storage goes away.
    let window = ["--from", "2024-08-01", "--to", "2024-08-02", "--no-undated"];
    let mut child = compact_command(&app.containers, proxy.port, &window)
        .spawn()
        .unwrap();
    // The command prints a line per file written: storage goes away after the second.
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = vec![];
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            lines.push(line);
        }
        lines
    });
    let mut written = 0;
    while written < 2 {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("no second file within 60 s: {:?}\n{err}", reader.join().unwrap());
        };
        written += usize::from(line.starts_with("wrote "));
    }
    proxy.set(Mode::Refuse);
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap().join("\n");
    assert!(!status.success(), "the run must fail: {lines}");
    assert!(lines.contains("failed"), "{lines}");
    let storage = app.storage();
    let partial = storage.blob_names(&app.containers.analytics).await.len();
    assert!(partial < 24, "{partial} files");

    proxy.set(Mode::Pass);
    let rerun = compact_command(&app.containers, proxy.port, &window)
        .output()
        .unwrap();
    assert!(rerun.status.success(), "{}", stdout(&rerun));
    assert_eq!(assert_files_match_records(&app, &[&app.containers.sms]).await, 24);
}
