//! Records → typed columns → Parquet row groups, with the low-level writer of the `parquet` crate
//! (no Arrow: one flat schema of optional columns needs none of it).
//!
//! Every file of a family has the same columns and types: the record's envelope columns, `fields`
//! and `event` as JSON columns (`event` is the event's text exactly as the record holds it), and the
//! family's scalar fields as typed columns under their `fields` names; absent means null. Rows are
//! buffered up to a row group's limit (rows or bytes), then encoded, Snappy-compressed and handed to
//! the output buffer, which the caller drains into storage blocks: memory is bounded by one row group
//! whatever the hour's size.

use super::ANALYTICS_VERSION;
use crate::archive::events::Family;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A column's type in every file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `BYTE_ARRAY (STRING)`.
    Text,
    /// `BYTE_ARRAY (JSON)`: JSON text, which readers can query as JSON.
    Json,
    /// `INT64 (TIMESTAMP(MICROS, true))`: UTC, microseconds.
    Timestamp,
    /// `INT64`.
    Int64,
    /// `DOUBLE`.
    Double,
}

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum From {
    EventId,
    EventType,
    Kind,
    Family,
    EventTime,
    Source,
    Subject,
    Schema,
    BlobName,
    ArchivedAt,
    Fields,
    Event,
    /// A scalar at this path in `fields`.
    Field(&'static [&'static str]),
}

/// One column of the analytics schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub column_type: ColumnType,
    from: From,
}

const fn col(name: &'static str, column_type: ColumnType, from: From) -> Column {
    Column {
        name,
        column_type,
        from,
    }
}

const fn field(name: &'static str, column_type: ColumnType, path: &'static [&'static str]) -> Column {
    col(name, column_type, From::Field(path))
}

use ColumnType::{Double, Int64, Json, Text, Timestamp};

/// The columns every family has, first.
const COMMON: &[Column] = &[
    col("eventId", Text, From::EventId),
    col("eventType", Text, From::EventType),
    col("kind", Text, From::Kind),
    col("family", Text, From::Family),
    col("eventTime", Timestamp, From::EventTime),
    col("source", Text, From::Source),
    col("subject", Text, From::Subject),
    col("schema", Text, From::Schema),
    col("blobName", Text, From::BlobName),
    col("archivedAt", Timestamp, From::ArchivedAt),
    col("fields", Json, From::Fields),
    col("event", Json, From::Event),
];

const SMS: &[Column] = &[
    field("messageId", Text, &["messageId"]),
    field("from", Text, &["from"]),
    field("to", Text, &["to"]),
    field("message", Text, &["message"]),
    field("segmentCount", Int64, &["segmentCount"]),
    field("receivedTimestamp", Timestamp, &["receivedTimestamp"]),
    field("deliveryStatus", Text, &["deliveryStatus"]),
    field("deliveryStatusDetails", Text, &["deliveryStatusDetails"]),
    field("tag", Text, &["tag"]),
];

const CHAT: &[Column] = &[
    field("threadId", Text, &["threadId"]),
    field("transactionId", Text, &["transactionId"]),
    field("messageId", Text, &["messageId"]),
    field("messageType", Text, &["type"]),
    field("senderId", Text, &["senderId"]),
    field("senderDisplayName", Text, &["senderDisplayName"]),
    field("recipientId", Text, &["recipientId"]),
    field("messageBody", Text, &["messageBody"]),
    field("sequenceId", Int64, &["sequenceId"]),
    field("composeTime", Timestamp, &["composeTime"]),
    field("editTime", Timestamp, &["editTime"]),
    field("deleteTime", Timestamp, &["deleteTime"]),
    field("createTime", Timestamp, &["createTime"]),
    field("createdBy", Text, &["createdBy"]),
    field("editedBy", Text, &["editedBy"]),
    field("deletedBy", Text, &["deletedBy"]),
    field("time", Timestamp, &["time"]),
    field("addedBy", Text, &["addedBy"]),
    field("removedBy", Text, &["removedBy"]),
    field("participantId", Text, &["participant", "id"]),
    field("participantDisplayName", Text, &["participant", "displayName"]),
    field("version", Int64, &["version"]),
];

const ADVANCED_MESSAGING: &[Column] = &[
    field("messageId", Text, &["messageId"]),
    field("channelType", Text, &["channelType"]),
    field("messageType", Text, &["messageType"]),
    field("status", Text, &["status"]),
    field("from", Text, &["from"]),
    field("to", Text, &["to"]),
    field("fromBSUID", Text, &["fromBSUID"]),
    field("toBSUID", Text, &["toBSUID"]),
    field("content", Text, &["content"]),
    field("receivedTimestamp", Timestamp, &["receivedTimestamp"]),
    field("language", Text, &["language"]),
    field("confidenceScore", Double, &["confidenceScore"]),
    field("intentAnalysis", Text, &["intentAnalysis"]),
    field("errorCode", Text, &["error", "channelCode"]),
    field("errorMessage", Text, &["error", "channelMessage"]),
];

/// The columns of a family's files, in file order.
pub fn columns(family: Family) -> Vec<Column> {
    let typed: &[Column] = match family {
        Family::Sms => SMS,
        Family::Chat => CHAT,
        Family::AdvancedMessaging => ADVANCED_MESSAGING,
        Family::Other | Family::Quarantine => &[],
    };
    COMMON.iter().chain(typed).copied().collect()
}

/// The Parquet message type of a family's files.
pub fn message_type(family: Family) -> String {
    let mut schema = String::from("message acs_event_archive {\n");
    for c in columns(family) {
        let physical = match c.column_type {
            Text => "binary {} (STRING)",
            Json => "binary {} (JSON)",
            Timestamp => "int64 {} (TIMESTAMP(MICROS,true))",
            Int64 => "int64 {}",
            Double => "double {}",
        };
        schema.push_str("  optional ");
        schema.push_str(&physical.replace("{}", c.name));
        schema.push_str(";\n");
    }
    schema.push('}');
    schema
}

/// Row group limits: whichever is reached first closes the row group.
#[derive(Debug, Clone, Copy)]
pub struct RowGroupLimits {
    pub rows: usize,
    /// Bytes of buffered values (mostly the JSON of `event` and `fields`).
    pub bytes: usize,
}

impl Default for RowGroupLimits {
    /// 100,000 rows or 32 MiB of values: a few MB compressed per row group, well inside what every
    /// reader handles, and peak memory of one row group stays far under 100 MB.
    fn default() -> Self {
        RowGroupLimits {
            rows: 100_000,
            bytes: 32 * 1024 * 1024,
        }
    }
}

/// Where the encoded file goes: a buffer the caller drains after every row group.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The values of one column for the row group being filled.
enum Buffer {
    /// Text and JSON: every value back to back, with end offsets; `None` marks a null.
    Bytes {
        data: Vec<u8>,
        ends: Vec<Option<u32>>,
    },
    Int64(Vec<Option<i64>>),
    Double(Vec<Option<f64>>),
}

/// Writes one family's Parquet file, row group by row group.
pub struct FileWriter {
    columns: Vec<Column>,
    buffers: Vec<Buffer>,
    rows: usize,
    bytes: usize,
    limits: RowGroupLimits,
    writer: SerializedFileWriter<Output>,
    output: Output,
    total_rows: u64,
}

/// The analytics columns a record fills.
#[derive(Deserialize)]
struct Stored<'a> {
    #[serde(default, rename = "eventId")]
    event_id: Option<String>,
    #[serde(default, rename = "eventType")]
    event_type: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    family: Option<String>,
    #[serde(default, rename = "eventTime")]
    event_time: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default, borrow)]
    fields: Option<&'a RawValue>,
    #[serde(default, borrow)]
    event: Option<&'a RawValue>,
}

/// A value for one cell.
enum Cell<'a> {
    Null,
    Text(std::borrow::Cow<'a, str>),
    Int(i64),
    Float(f64),
}

impl FileWriter {
    /// `metadata` goes into the file's key-value metadata next to `analyticsVersion`.
    pub fn new(
        family: Family,
        metadata: Vec<(String, String)>,
        limits: RowGroupLimits,
    ) -> parquet::errors::Result<Self> {
        let schema = Arc::new(parse_message_type(&message_type(family))?);
        let mut kv = vec![KeyValue::new(
            "analyticsVersion".to_owned(),
            ANALYTICS_VERSION.to_string(),
        )];
        kv.extend(metadata.into_iter().map(|(k, v)| KeyValue::new(k, v)));
        let mut properties = WriterProperties::builder()
            // Version 1 data pages: what Synapse serverless and older Spark read without surprises.
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_compression(Compression::SNAPPY)
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_key_value_metadata(Some(kv))
            .set_created_by(format!("acs-event-archive {}", env!("CARGO_PKG_VERSION")));
        // The JSON and the unique names gain nothing from dictionaries or min/max statistics.
        for name in ["event", "fields", "blobName", "eventId"] {
            let path = ColumnPath::from(name);
            properties = properties
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_statistics_enabled(path, EnabledStatistics::None);
        }
        let output = Output::default();
        let writer = SerializedFileWriter::new(output.clone(), schema, Arc::new(properties.build()))?;
        let columns = columns(family);
        let buffers = columns.iter().map(|c| empty_buffer(c.column_type)).collect();
        Ok(FileWriter {
            columns,
            buffers,
            rows: 0,
            bytes: 0,
            limits,
            writer,
            output,
            total_rows: 0,
        })
    }

    /// Adds the row of one record; closes the row group when it is full. A blob that is not a
    /// record still gets its row (`blobName`, `archivedAt`; the rest null), so counts always match.
    pub fn push(
        &mut self,
        blob_name: &str,
        archived_at: Option<i64>,
        record: &[u8],
    ) -> parquet::errors::Result<()> {
        let stored: Option<Stored<'_>> = serde_json::from_slice(record).ok();
        let fields: Option<Value> = stored
            .as_ref()
            .and_then(|s| s.fields)
            .filter(|_| self.columns.len() > COMMON.len())
            .and_then(|f| serde_json::from_str(f.get()).ok());
        for (column, buffer) in self.columns.iter().zip(self.buffers.iter_mut()) {
            let cell = match &stored {
                None => match column.from {
                    From::BlobName => Cell::Text(blob_name.into()),
                    From::ArchivedAt => archived_at.map_or(Cell::Null, Cell::Int),
                    _ => Cell::Null,
                },
                Some(s) => cell_of(column, s, fields.as_ref(), blob_name, archived_at),
            };
            self.bytes += append(buffer, column.column_type, cell);
        }
        self.rows += 1;
        self.total_rows += 1;
        if self.rows >= self.limits.rows || self.bytes >= self.limits.bytes {
            self.flush_row_group()?;
        }
        Ok(())
    }

    /// Encoded bytes ready to be uploaded (whole row groups; the file's start first).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut *self.output.0.lock().expect("not poisoned"))
    }

    /// How many encoded bytes wait in the output.
    pub fn pending_output(&self) -> usize {
        self.output.0.lock().expect("not poisoned").len()
    }

    pub fn rows(&self) -> u64 {
        self.total_rows
    }

    /// Writes the last row group and the footer; returns what was not taken yet.
    pub fn finish(mut self) -> parquet::errors::Result<Vec<u8>> {
        if self.rows > 0 {
            self.flush_row_group()?;
        }
        self.writer.finish()?;
        Ok(self.take_output())
    }

    fn flush_row_group(&mut self) -> parquet::errors::Result<()> {
        let mut row_group = self.writer.next_row_group()?;
        for buffer in &mut self.buffers {
            let mut column = row_group
                .next_column()?
                .expect("one column writer per column of the schema");
            match buffer {
                Buffer::Bytes { data, ends } => {
                    let bytes = bytes::Bytes::from(std::mem::take(data));
                    let mut values = Vec::with_capacity(ends.len());
                    let mut levels = Vec::with_capacity(ends.len());
                    let mut start = 0usize;
                    for end in ends.drain(..) {
                        match end {
                            Some(end) => {
                                values.push(ByteArray::from(bytes.slice(start..end as usize)));
                                start = end as usize;
                                levels.push(1);
                            }
                            None => levels.push(0),
                        }
                    }
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&values, Some(&levels), None)?;
                }
                Buffer::Int64(cells) => {
                    let values: Vec<i64> = cells.iter().flatten().copied().collect();
                    let levels: Vec<i16> = cells.iter().map(|c| i16::from(c.is_some())).collect();
                    column
                        .typed::<Int64Type>()
                        .write_batch(&values, Some(&levels), None)?;
                    cells.clear();
                }
                Buffer::Double(cells) => {
                    let values: Vec<f64> = cells.iter().flatten().copied().collect();
                    let levels: Vec<i16> = cells.iter().map(|c| i16::from(c.is_some())).collect();
                    column
                        .typed::<DoubleType>()
                        .write_batch(&values, Some(&levels), None)?;
                    cells.clear();
                }
            }
            column.close()?;
        }
        row_group.close()?;
        self.rows = 0;
        self.bytes = 0;
        Ok(())
    }
}

fn empty_buffer(column_type: ColumnType) -> Buffer {
    match column_type {
        Text | Json => Buffer::Bytes {
            data: vec![],
            ends: vec![],
        },
        Timestamp | Int64 => Buffer::Int64(vec![]),
        Double => Buffer::Double(vec![]),
    }
}

fn cell_of<'a>(
    column: &Column,
    s: &'a Stored<'a>,
    fields: Option<&'a Value>,
    blob_name: &'a str,
    archived_at: Option<i64>,
) -> Cell<'a> {
    let text = |v: &'a Option<String>| v.as_deref().map_or(Cell::Null, |t| Cell::Text(t.into()));
    match column.from {
        From::EventId => text(&s.event_id),
        From::EventType => text(&s.event_type),
        From::Kind => text(&s.kind),
        From::Family => text(&s.family),
        From::EventTime => s
            .event_time
            .as_deref()
            .and_then(micros)
            .map_or(Cell::Null, Cell::Int),
        From::Source => text(&s.source),
        From::Subject => text(&s.subject),
        From::Schema => text(&s.schema),
        From::BlobName => Cell::Text(blob_name.into()),
        From::ArchivedAt => archived_at.map_or(Cell::Null, Cell::Int),
        From::Fields => s.fields.map_or(Cell::Null, |f| Cell::Text(f.get().into())),
        From::Event => s.event.map_or(Cell::Null, |e| Cell::Text(e.get().into())),
        From::Field(path) => {
            let value = fields
                .and_then(|f| path.iter().try_fold(f, |v, key| v.get(key)))
                .filter(|v| !v.is_null());
            match value {
                None => Cell::Null,
                Some(v) => scalar(column.column_type, v),
            }
        }
    }
}

/// A `fields` scalar as the column's type; a value that does not fit is null (it is still in
/// `fields` and `event`).
fn scalar<'a>(column_type: ColumnType, v: &'a Value) -> Cell<'a> {
    match (column_type, v) {
        (Text, Value::String(s)) => Cell::Text(s.as_str().into()),
        (Text, Value::Number(n)) => Cell::Text(n.to_string().into()),
        (Text, Value::Bool(b)) => Cell::Text(b.to_string().into()),
        (Int64, Value::Number(n)) => n.as_i64().map_or(Cell::Null, Cell::Int),
        (Int64, Value::String(s)) => s.trim().parse().map_or(Cell::Null, Cell::Int),
        (Double, Value::Number(n)) => n.as_f64().map_or(Cell::Null, Cell::Float),
        (Double, Value::String(s)) => s.trim().parse().map_or(Cell::Null, Cell::Float),
        (Timestamp, Value::String(s)) => micros(s).map_or(Cell::Null, Cell::Int),
        _ => Cell::Null,
    }
}

/// An RFC 3339 time as microseconds since the epoch, UTC (finer digits are cut; the text stays in
/// `event`).
pub fn micros(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000)).ok()
}

/// Appends a cell; returns the bytes it adds to the row group.
fn append(buffer: &mut Buffer, column_type: ColumnType, cell: Cell<'_>) -> usize {
    match (buffer, cell) {
        (Buffer::Bytes { data, ends }, Cell::Text(t)) if matches!(column_type, Text | Json) => {
            data.extend_from_slice(t.as_bytes());
            ends.push(Some(data.len() as u32));
            t.len() + 4
        }
        (Buffer::Bytes { ends, .. }, _) => {
            ends.push(None);
            4
        }
        (Buffer::Int64(cells), Cell::Int(i)) => {
            cells.push(Some(i));
            8
        }
        (Buffer::Int64(cells), _) => {
            cells.push(None);
            8
        }
        (Buffer::Double(cells), Cell::Float(f)) => {
            cells.push(Some(f));
            8
        }
        (Buffer::Double(cells), _) => {
            cells.push(None);
            8
        }
    }
}
