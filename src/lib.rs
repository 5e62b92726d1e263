//! acs-event-archive: archives Azure Communication Services events from Event Grid into Blob Storage,
//! as an Azure Functions custom handler. See ARCHITECTURE.md for the map.

pub mod archive;
pub mod config;
pub mod envelope;
pub mod events;
pub mod layout;
pub mod protocol;
pub mod record;
pub mod send;
pub mod server;
pub mod startup;
pub mod storage;
pub mod subscriptions;
pub mod telemetry;
