//! `handler`: the Functions custom handler and its commands. Everything is in the library; the CLI
//! (the only user of clap) is in `cli/`.

mod cli;

use std::process::ExitCode;

/// Fewer instructions per allocation than glibc's, for the many small short-lived allocations of
/// each invocation (BENCHMARKS.md has the measurement).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // With RUST_BACKTRACE=1 among the app settings, the storage SDK would capture a stack trace for an
    // error it builds and drops on every upload (+4 % CPU per event). Set before any thread starts.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    cli::run()
}
