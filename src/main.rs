use acs_event_archive::config::Config;
use acs_event_archive::send::{self, SendArgs};
use acs_event_archive::startup::Application;
use acs_event_archive::telemetry;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Archives Azure Communication Services events from Event Grid into Blob Storage, as an Azure
/// Functions custom handler. With no command it serves the host on $FUNCTIONS_CUSTOMHANDLER_PORT.
#[derive(Parser)]
#[command(name = "handler", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Functions host (the default)
    Serve,
    /// Send sample events to a running handler, or to `func start` with --webhook
    Send(SendArgs),
}

fn main() -> ExitCode {
    // With RUST_BACKTRACE=1 among the app settings, the storage SDK would capture a stack trace for an
    // error it builds and drops on every upload (+4 % CPU per event). Set before any thread starts.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = Cli::parse();
    // One thread: the handler waits on storage almost all the time, and on 1-2 cores a second worker
    // costs more in cross-thread wake-ups than it gains (BENCHMARKS.md: -17 % CPU per event, -2 MB).
    // Large request bodies are parsed on the blocking pool, so they never stall the other invocations.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve()),
        Command::Send(args) => match runtime.block_on(send::run(args)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Exits non-zero on any fatal error: the host restarts a handler that exits non-zero, but not one
/// that exits 0. The one-line reason goes to stderr, which the host reports as an error.
async fn serve() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(&config.log_filter);
    let app = match Application::build(&config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("start-up failed: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        port = app.port(),
        storage = %config.storage.endpoint_for_logs(),
        from = %config.storage_setting,
        budget_ms = config.budget.as_millis() as u64,
        "handler ready"
    );
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
