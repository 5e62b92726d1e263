//! `handler report`: the archive's answers for a window of time, as figures ([`summary`]), a JSON
//! file for scripts and a self-contained HTML page with charts ([`page`]).
//!
//! The figures are computed from the hourly Parquet of [`crate::analytics`]; hours that are not
//! compacted yet are compacted first, and the open hour is read from its records, so a report is
//! never silently partial.

pub mod page;
pub mod summary;
