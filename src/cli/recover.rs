//! `handler recover`: the dead-letter recovery the `RecoverDeadLetters` timer runs, from the command
//! line, with the app's settings (`Config::from_env`).

use acs_event_archive::archive::Archiver;
use acs_event_archive::config::Config;
use acs_event_archive::deadletter::{self, BlobResult, RecoverOptions};
use acs_event_archive::storage::AzureBlobStore;
use anyhow::Context;
use std::time::Duration;
use tokio::time::Instant;

/// Arguments of `handler recover`.
#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// The dead-letter container (default: $ARCHIVE_CONTAINER_DEADLETTER, else acs-deadletter)
    #[arg(long)]
    pub container: Option<String>,
    /// Only dead-letter blobs whose names start with this, e.g. ACS-SMS/2026/12/1/
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Read the dead-letter blobs and say what would be done; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// A run from the command line may take this long; what is left is taken by the next run.
const RUN_TIME: Duration = Duration::from_secs(6 * 60 * 60);

/// Runs one recovery, printing one line per dead-letter blob and a summary; returns whether every
/// blob taken was recovered (or, with --dry-run, read).
pub async fn run(args: RecoverArgs) -> anyhow::Result<bool> {
    let config = Config::from_env().context("configuration error")?;
    let container = args
        .container
        .unwrap_or_else(|| config.containers.deadletter.clone());
    let mut names = config.containers.every();
    names.push(&container);
    // As the handler does: storage retries end inside the budget, so a failure says why.
    let store = AzureBlobStore::new(&config.storage, &names, config.index_tags, config.budget * 3 / 4)
        .context("could not set up the storage client")?;
    let archiver = Archiver::new(store, config.containers.clone());
    let options = RecoverOptions {
        container: container.clone(),
        prefix: args.prefix,
        dry_run: args.dry_run,
        deadline: Instant::now() + RUN_TIME,
        // Beside the timer: wait for a blob the timer holds rather than leave it behind.
        wait_for_busy: true,
    };
    let recovery = deadletter::recover(&archiver, &options).await.map_err(|e| {
        let what = if e.is_configuration_problem() {
            "a configuration problem"
        } else {
            "storage failed"
        };
        anyhow::Error::new(e).context(format!(
            "could not list the dead-letter container {container} ({what}, at {})",
            config.storage.endpoint_for_logs()
        ))
    })?;
    for line in &recovery.blobs {
        println!("{line}");
    }
    println!("{}", recovery.summary());
    if let Some(failed) = recovery.failed() {
        if let BlobResult::Failed {
            configuration_problem: true,
            ..
        } = failed.result
        {
            eprintln!("a configuration problem: check the storage settings and the identity's role on the archive account");
        }
        return Ok(false);
    }
    Ok(true)
}
