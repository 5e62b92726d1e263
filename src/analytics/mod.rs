//! Reading the archive back for analytics: one Parquet file per kind and closed hour of event time,
//! in Hive-style folders that DuckDB, Spark, Synapse serverless and Fabric read as partitions.
//!
//! [`scan`] lists one hour of records (once, a page at a time, kept compactly) and fetches them with
//! bounded concurrency; [`parquet`] turns records into typed columns and row groups; [`compact`]
//! decides which hours changed (a digest of the sources' names and ETags, kept in the file) and
//! replaces a file in one conditional write, so readers see the old file or the new one and two
//! compactions of one hour at once end with one result. Nothing here runs at the handler's start.

pub mod compact;
pub mod parquet;
pub mod scan;

use crate::archive::events::{Family, KNOWN_TYPES};
use time::OffsetDateTime;

/// The version of the analytics layout and columns, in every file's metadata (`analyticsVersion`).
/// A file of another version is rebuilt even when its sources did not change.
pub const ANALYTICS_VERSION: u32 = 1;

/// The families that are compacted: quarantine holds inputs that are not events, and is not.
pub const COMPACTED_FAMILIES: [Family; 4] = [
    Family::Sms,
    Family::Chat,
    Family::AdvancedMessaging,
    Family::Other,
];

/// Where undated records (no readable event time) of every kind go: `undated/{kind}/`, outside the
/// kinds' `date=` trees so that partition inference stays `date`/`hour`. Even an `other` kind named
/// `undated` cannot meet these files: its own files are three folders deeper (`date=…/hour=…/`), and
/// no kind contains `=`.
pub const UNDATED_FOLDER: &str = "undated";

/// The modelled kinds of a family; `other` has none (its kinds are found in its container).
pub fn known_kinds(family: Family) -> Vec<&'static str> {
    KNOWN_TYPES
        .iter()
        .filter(|k| k.family == family)
        .map(|k| k.kind)
        .collect()
}

/// One dataset: the records of one kind in one hour of event time, or its undated records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub family: Family,
    pub kind: String,
    /// The start of the hour (UTC); `None` for the kind's undated records.
    pub hour: Option<OffsetDateTime>,
}

impl Partition {
    /// The archive prefix holding its records: `{kind}/{yyyy}/{MM}/{dd}/{HH}/` or `{kind}/undated/`.
    pub fn source_prefix(&self) -> String {
        match self.hour {
            Some(h) => format!(
                "{}/{:04}/{:02}/{:02}/{:02}/",
                self.kind,
                h.year(),
                u8::from(h.month()),
                h.day(),
                h.hour()
            ),
            None => format!("{}/undated/", self.kind),
        }
    }

    /// The folder of its file in the analytics container. The hour is not zero-padded (`hour=9`):
    /// readers infer `hour=09` as text but `hour=9` as an integer, like the date as a date.
    pub fn target_folder(&self) -> String {
        match self.hour {
            Some(h) => format!(
                "{}/date={:04}-{:02}-{:02}/hour={}/",
                self.kind,
                h.year(),
                u8::from(h.month()),
                h.day(),
                h.hour()
            ),
            None => format!("{UNDATED_FOLDER}/{}/", self.kind),
        }
    }

    /// Its one file: `{kind}/date={yyyy-MM-dd}/hour={H}/{kind}-{yyyyMMddHH}.parquet`, or
    /// `undated/{kind}/{kind}-undated.parquet`.
    pub fn target_name(&self) -> String {
        let stem = match self.hour {
            Some(h) => format!(
                "{:04}{:02}{:02}{:02}",
                h.year(),
                u8::from(h.month()),
                h.day(),
                h.hour()
            ),
            None => "undated".to_owned(),
        };
        format!("{}{}-{stem}.parquet", self.target_folder(), self.kind)
    }

    /// How logs name it: `smsReceived 2026-12-01T10` or `smsReceived undated`.
    pub fn label(&self) -> String {
        match self.hour {
            Some(h) => format!(
                "{} {:04}-{:02}-{:02}T{:02}",
                self.kind,
                h.year(),
                u8::from(h.month()),
                h.day(),
                h.hour()
            ),
            None => format!("{} undated", self.kind),
        }
    }
}

/// The start of the hour `t` is in, in UTC.
pub fn hour_start(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_time(time::Time::from_hms(t.hour(), 0, 0).expect("a valid hour"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_hour_maps_from_its_archive_prefix_to_a_hive_style_file() {
        let p = Partition {
            family: Family::Sms,
            kind: "smsReceived".into(),
            hour: Some(datetime!(2026-12-01 09:00 UTC)),
        };
        assert_eq!(p.source_prefix(), "smsReceived/2026/12/01/09/");
        assert_eq!(
            p.target_name(),
            "smsReceived/date=2026-12-01/hour=9/smsReceived-2026120109.parquet"
        );
        assert_eq!(p.label(), "smsReceived 2026-12-01T09");
    }

    #[test]
    fn undated_records_go_outside_every_kinds_date_tree() {
        let p = Partition {
            family: Family::Other,
            kind: "undated".into(),
            hour: None,
        };
        assert_eq!(p.source_prefix(), "undated/undated/");
        assert_eq!(p.target_name(), "undated/undated/undated-undated.parquet");
        let dated = Partition {
            hour: Some(time::macros::datetime!(2026-12-01 09:00 UTC)),
            ..p.clone()
        };
        assert_eq!(
            dated.target_name(),
            "undated/date=2026-12-01/hour=9/undated-2026120109.parquet",
            "a kind named undated keeps its own, deeper files"
        );
    }

    #[test]
    fn quarantine_is_not_compacted_and_modelled_families_know_their_kinds() {
        assert!(!COMPACTED_FAMILIES.contains(&Family::Quarantine));
        assert_eq!(
            known_kinds(Family::Sms),
            ["smsReceived", "smsDeliveryReportReceived"]
        );
        assert_eq!(known_kinds(Family::Chat).len(), 20);
        assert!(known_kinds(Family::Other).is_empty());
    }

    #[test]
    fn hour_start_is_taken_in_utc() {
        assert_eq!(
            hour_start(datetime!(2026-12-01 00:30:15 +02:00)),
            datetime!(2026-11-30 22:00 UTC)
        );
    }
}
