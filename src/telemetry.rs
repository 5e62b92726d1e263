//! Logging to stdout.
//!
//! The Functions host records every stdout line at Information and every stderr line as an Error, so
//! logs go to stdout and only a fatal start-up error goes to stderr.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Our own crate at `info`; the Azure SDK and HTTP stack only when something is wrong (their debug
/// output would quote request URLs).
const DEFAULT_FILTER: &str = "warn,acs_event_archive=info,handler=info";

pub fn init() {
    let filter = EnvFilter::try_from_env("ARCHIVE_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false)
        .with_env_filter(filter)
        .init();
}
