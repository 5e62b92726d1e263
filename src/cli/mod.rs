//! The command line: every clap type lives here. Each command parses its arguments and calls the
//! library; exit codes are decided here too.

mod compact;
mod generate;
mod recover;
mod report;
mod send;

use acs_event_archive::config::Config;
use acs_event_archive::host::Application;
use acs_event_archive::subscriptions::{self, Format};
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
    Send(send::SendArgs),
    /// Print the Event Grid subscriptions of this app (one per function, with retry and dead-letter)
    Subscriptions(SubscriptionsArgs),
    /// Archive the events Event Grid dead-lettered (what the RecoverDeadLetters timer runs)
    Recover(recover::RecoverArgs),
    /// Compact closed hours of the archive into hourly Parquet in the analytics container
    Compact(compact::CompactArgs),
    /// Report on a window of the archive: an HTML page with charts and, with --json, the figures
    Report(report::ReportArgs),
    /// Write a seeded day of realistic ACS traffic as a JSON array for `handler send`
    Generate(generate::GenerateArgs),
}

#[derive(clap::Args)]
struct SubscriptionsArgs {
    /// Output: `az` commands, an `arm` template or `bicep`
    #[arg(long, default_value = "az")]
    format: Format,
    /// The dead-letter container in the archive account
    #[arg(long, env = subscriptions::DEADLETTER_CONTAINER_SETTING, default_value = subscriptions::DEFAULT_DEADLETTER_CONTAINER)]
    deadletter_container: String,
}

pub fn run() -> ExitCode {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Subscriptions(args) => {
            print!(
                "{}",
                subscriptions::render(args.format, &args.deadletter_container)
            );
            ExitCode::SUCCESS
        }
        Command::Send(args) => block_on(send::run(args)),
        Command::Recover(args) => block_on(recover::run(args)),
        Command::Compact(args) => configured(|config| async move { compact::run(args, &config).await }),
        Command::Report(args) => configured(|config| async move { report::run(args, &config).await }),
        Command::Generate(args) => generate::run(args),
    }
}

/// Runs a command that needs the settings (and logs as the handler does).
fn configured<F>(command: impl FnOnce(Config) -> F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<bool>>,
{
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    telemetry::init(&config.log_filter);
    block_on(command(config))
}

/// The storage client of the commands that read and write the archive's containers: the same
/// settings as the handler, the SDK's retries ending within three quarters of the budget.
fn job_store(config: &Config) -> anyhow::Result<acs_event_archive::storage::AzureBlobStore> {
    use anyhow::Context;
    acs_event_archive::storage::AzureBlobStore::new(
        &config.storage,
        &config.containers.every(),
        config.index_tags,
        config.budget * 3 / 4,
    )
    .context("could not set up the storage client")
}

/// The settings, or the exit code after saying on stderr which setting to fix.
fn load_config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("configuration error: {e}");
        ExitCode::FAILURE
    })
}

/// Runs a command's future: exit 0 when it says all went well, 1 otherwise (and on an error, which
/// goes to stderr).
fn block_on(command: impl std::future::Future<Output = anyhow::Result<bool>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Exits non-zero on any fatal error: the host restarts a handler that exits non-zero, but not one
/// that exits 0. The one-line reason goes to stderr, which the host reports as an error.
fn serve() -> ExitCode {
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    telemetry::init(&config.log_filter);
    let app = match Application::build(&config) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("start-up failed: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // Tests and scripts read the port from this line (they start the handler on port 0).
    tracing::info!(
        port = app.port(),
        storage = %config.storage.endpoint_for_logs(),
        from = %config.storage_setting,
        budget_ms = config.budget.as_millis() as u64,
        "handler ready"
    );
    match actix_web::rt::System::new().block_on(app.run_until_stopped()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
