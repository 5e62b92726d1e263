//! Integration tests: the real `handler` binary, invoked as the Functions host invokes it, writing to
//! a real Azurite. One binary, one shared Azurite, one set of containers per test. The report page is
//! checked in a real Chromium (browser.rs).

mod batches;
mod browser;
mod compaction;
mod deadletter;
mod delivery;
mod faults;
mod fixtures;
mod helpers;
mod host;
mod hostile;
mod outage;
mod protocol;
mod proxy;
mod report;
mod report_page;
mod report_sources;
mod security;
mod send;
mod shutdown;
mod storage;
