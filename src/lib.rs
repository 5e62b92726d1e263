//! acs-event-archive: archives Azure Communication Services events from Event Grid into Blob Storage,
//! as an Azure Functions custom handler.
//!
//! Arrows point down: [`host`] (the Functions host protocol over actix-web) and the `handler` binary's
//! CLI call [`archive`] (what an event becomes, and storing it exactly once through
//! [`archive::ingest`]) and [`deadletter`] (dead-lettered events back into the archive, through the
//! same ingestion), which call [`storage`]. [`analytics`] reads the archive back into hourly Parquet
//! (the `CompactArchive` timer and `handler compact`), through [`storage`] too; [`report`] turns
//! that Parquet into figures, a JSON summary and an HTML page (`handler report`), and [`traffic`]
//! generates realistic events to try it on. [`config`] and [`telemetry`] are built once at start.
//! ARCHITECTURE.md has the map.

pub mod analytics;
pub mod archive;
pub mod config;
pub mod deadletter;
pub mod host;
pub mod report;
pub mod storage;
pub mod subscriptions;
pub mod telemetry;
pub mod traffic;
