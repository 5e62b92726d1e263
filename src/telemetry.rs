//! Logging to stdout.
//!
//! The Functions host records every stdout line at Information and every stderr line as an Error, so
//! logs go to stdout and only a fatal start-up error goes to stderr.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Our own crate at `info`; the Azure SDK and HTTP stack only when something is wrong (their debug
/// output would quote request URLs).
pub const DEFAULT_FILTER: &str = "warn,acs_event_archive=info,handler=info";

/// Starts logging with `filter` (`Config::log_filter`, already checked when the config was read).
pub fn init(filter: &str) {
    let (filter, refused) = match EnvFilter::try_new(filter) {
        Ok(parsed) => (parsed, None),
        // Only a caller that skipped `Config` gets here; say so rather than change the logs silently.
        Err(e) => (EnvFilter::new(DEFAULT_FILTER), Some(e)),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false)
        .with_env_filter(filter)
        .init();
    if let Some(e) = refused {
        tracing::warn!(error = %e, default = DEFAULT_FILTER, "log filter refused; logging with the default");
    }
}
