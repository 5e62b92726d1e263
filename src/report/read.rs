//! One analytics file into [`Figures`]: only the columns the report uses, decoded a row group at a
//! time with the `parquet` crate's typed column readers (no row objects: a month is a million rows).

use super::figures::{Figures, Kind, Row};
use bytes::Bytes;
use parquet::basic::Type;
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::reader::{FileReader, RowGroupReader, SerializedFileReader};

/// The columns read, in [`Columns`] order.
const NAMES: [&str; 16] = [
    "eventId",
    "eventTime",
    "messageId",
    "deliveryStatus",
    "status",
    "deliveryStatusDetails",
    "receivedTimestamp",
    "messageType",
    "errorCode",
    "errorMessage",
    "language",
    "confidenceScore",
    "intentAnalysis",
    "threadId",
    "participantId",
    "fields",
];

/// The values of one column in one row group; a column the file does not have reads as nulls.
enum Values {
    Text(Vec<Option<ByteArray>>),
    Int(Vec<Option<i64>>),
    Double(Vec<Option<f64>>),
    Absent,
}

impl Values {
    fn text(&self, i: usize) -> Option<&str> {
        match self {
            Values::Text(v) => v[i].as_ref().and_then(|b| std::str::from_utf8(b.data()).ok()),
            _ => None,
        }
    }
    fn int(&self, i: usize) -> Option<i64> {
        match self {
            Values::Int(v) => v[i],
            _ => None,
        }
    }
    fn double(&self, i: usize) -> Option<f64> {
        match self {
            Values::Double(v) => v[i],
            _ => None,
        }
    }
}

/// Folds the rows of one file of `kind` whose event time is in `[from, to)` (microseconds);
/// returns how many were folded.
pub fn fold_file(
    bytes: Bytes,
    kind: Kind,
    from: i64,
    to: i64,
    figures: &mut Figures,
) -> Result<u64, ParquetError> {
    let reader = SerializedFileReader::new(bytes)?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let index: Vec<Option<usize>> = NAMES
        .iter()
        .map(|name| {
            // `fields` is JSON to parse: read only where a figure needs what no column has.
            if *name == "fields" && !matches!(kind, Kind::MessageReceived | Kind::MessageAnalysis) {
                return None;
            }
            schema.columns().iter().position(|c| c.name() == *name)
        })
        .collect();
    // A file of another layout could have a column of the name with another type: the typed
    // reader would panic on it, so it is an error here.
    for (i, name) in index.iter().zip(NAMES) {
        let Some(i) = i else { continue };
        let expected = match name {
            "eventTime" | "receivedTimestamp" => Type::INT64,
            "confidenceScore" => Type::DOUBLE,
            _ => Type::BYTE_ARRAY,
        };
        let found = schema.column(*i).physical_type();
        if found != expected {
            return Err(ParquetError::General(format!(
                "column {name} is {found}, not {expected}"
            )));
        }
    }
    let mut folded = 0;
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g)?;
        let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
        let mut columns = Vec::with_capacity(NAMES.len());
        for (i, name) in index.iter().zip(NAMES) {
            columns.push(match i {
                None => Values::Absent,
                Some(i) => match name {
                    "eventTime" | "receivedTimestamp" => Values::Int(read::<Int64Type>(&*group, *i, rows)?),
                    "confidenceScore" => Values::Double(read::<DoubleType>(&*group, *i, rows)?),
                    _ => Values::Text(read::<ByteArrayType>(&*group, *i, rows)?),
                },
            });
        }
        let [event_id, event_time, message_id, delivery_status, status, details, received, message_type, error_code, error_message, language, confidence, intent, thread_id, participant_id, fields] =
            &columns[..]
        else {
            unreachable!("one value list per name")
        };
        for r in 0..rows {
            let Some(t) = event_time.int(r) else { continue };
            if t < from || t >= to {
                continue;
            }
            let row = Row {
                event_id: event_id.text(r).unwrap_or(""),
                event_time: t,
                message_id: message_id.text(r),
                status: delivery_status.text(r).or_else(|| status.text(r)),
                details: details.text(r),
                received: received.int(r),
                message_type: message_type.text(r),
                error_code: error_code.text(r),
                error_message: error_message.text(r),
                language: language.text(r),
                confidence: confidence.double(r),
                intent: intent.text(r),
                thread_id: thread_id.text(r),
                participant_id: participant_id.text(r),
                fields: fields.text(r),
            };
            figures.add(kind, &row);
            folded += 1;
        }
    }
    Ok(folded)
}

/// Every value of column `i` in the row group, `None` where it is null.
fn read<T: DataType>(
    group: &dyn RowGroupReader,
    i: usize,
    rows: usize,
) -> Result<Vec<Option<T::T>>, ParquetError> {
    let mut reader = parquet::column::reader::get_typed_column_reader::<T>(group.get_column_reader(i)?);
    // The row count comes from the file: reserve no more than a row group of the writer's size.
    let reserve = rows.min(1 << 17);
    let mut values: Vec<T::T> = Vec::with_capacity(reserve);
    let mut levels: Vec<i16> = Vec::with_capacity(reserve);
    let mut read = 0;
    while read < rows {
        let (records, _, _) = reader.read_records(rows - read, Some(&mut levels), None, &mut values)?;
        if records == 0 {
            break;
        }
        read += records;
    }
    if levels.len() != rows {
        return Err(ParquetError::General(format!(
            "column {i} has {} values for {rows} rows",
            levels.len()
        )));
    }
    let mut values = values.into_iter();
    Ok(levels
        .iter()
        .map(|l| if *l > 0 { values.next() } else { None })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::parquet::{FileWriter, RowGroupLimits};
    use crate::archive::events::Family;
    use crate::archive::record::prepare;
    use serde_json::json;

    fn file(events: &[serde_json::Value], limits: RowGroupLimits) -> Bytes {
        let family = prepare(&serde_json::value::to_raw_value(&events[0]).unwrap()).family;
        let mut writer = FileWriter::new(family, vec![], limits).unwrap();
        let mut out = vec![];
        for e in events {
            let p = prepare(&serde_json::value::to_raw_value(e).unwrap());
            writer.push(&p.blob_name, Some(1), &p.body).unwrap();
            out.extend(writer.take_output());
        }
        out.extend(writer.finish().unwrap());
        assert_eq!(family, Family::Sms);
        Bytes::from(out)
    }

    fn report(id: &str, message: &str, status: &str, time: &str) -> serde_json::Value {
        json!({"id": id, "topic": "/t", "subject": "/phonenumber/1", "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
               "eventTime": time, "dataVersion": "1.0", "metadataVersion": "1",
               "data": {"messageId": message, "from": "+1555", "to": "+1556", "deliveryStatus": status,
                        "deliveryStatusDetails": "No error.", "receivedTimestamp": time}})
    }

    #[test]
    fn a_file_is_read_back_across_row_groups_within_the_window() {
        let events: Vec<_> = (0..25)
            .map(|i| {
                let status = if i % 5 == 0 { "Failed" } else { "Delivered" };
                report(
                    &format!("e{i}"),
                    &format!("m{}", i % 20),
                    status,
                    &format!("2026-12-01T09:{i:02}:00Z"),
                )
            })
            .collect();
        let bytes = file(
            &events,
            RowGroupLimits {
                rows: 7,
                bytes: 1 << 20,
            },
        );
        let from = crate::analytics::parquet::micros("2026-12-01T09:00:00Z").unwrap();
        let to = crate::analytics::parquet::micros("2026-12-01T09:20:00Z").unwrap();
        let mut figures = Figures::default();
        assert_eq!(
            fold_file(bytes, Kind::SmsDeliveryReport, from, to, &mut figures).unwrap(),
            20
        );
        let (sms, ..) = figures.finish();
        assert_eq!(sms.delivery_reports, 20);
        assert_eq!(sms.messages, 20);
        assert_eq!(sms.by_status["Failed"], 4);
    }
}
