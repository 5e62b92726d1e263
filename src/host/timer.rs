//! `timerTrigger` invocations: read `Data.timer`, run the function's job within the function timeout,
//! answer with `Logs`, non-2xx when the job failed (the host then marks the run failed; the next run
//! comes at the next schedule, and jobs resume where they stopped).

use super::functions::Job;
use super::protocol::{read_timer, InvocationResult, TimerInfo};
use super::{json_error, json_response, AppState};
use crate::analytics::compact::Compactor;
use crate::analytics::hour_start;
use crate::deadletter::{self, BlobResult, RecoverOptions};
use crate::storage::{BlobSink, BlobSource, BlobStore};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::time::Instant;

/// What a job reports: one line per step worth showing in the host's invocation log.
#[derive(Debug, Default)]
pub struct JobReport {
    pub logs: Vec<String>,
}

pub async fn invoke<S: BlobStore + BlobSource + BlobSink>(
    state: &AppState<S>,
    function: &str,
    job: Job,
    body: &[u8],
) -> HttpResponse {
    let timer = match read_timer(body) {
        Ok(timer) => timer,
        Err(e) => {
            tracing::warn!(%function, error = %e, "refused a request that is not a timer invocation");
            return json_error(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    answer(function, run(state, job, timer).await)
}

/// What the compaction timer covers.
#[derive(Debug, Clone, Copy)]
pub struct CompactionSettings {
    /// Closed hours this far back are checked for changed records (`ARCHIVE_COMPACT_LOOKBACK_HOURS`).
    pub lookback_hours: u32,
    /// The run stops after this long and leaves the rest to the next run (under `functionTimeout`).
    pub time_limit: Duration,
}

async fn run<S: BlobStore + BlobSource + BlobSink>(
    state: &AppState<S>,
    job: Job,
    timer: TimerInfo,
) -> anyhow::Result<JobReport> {
    match job {
        // Every run takes whatever is not recovered yet, so a missed run (IsPastDue) needs nothing more.
        Job::RecoverDeadLetters => recover_dead_letters(state).await,
        Job::CompactArchive => compact_archive(state, timer).await,
    }
}

/// A run may take this long: host.json's `functionTimeout` is 5 minutes, and the rest is margin for
/// the blob in hand and the answer. What is left is resumed by the next run.
const RECOVERY_RUN_TIME: Duration = Duration::from_secs(4 * 60);

async fn recover_dead_letters<S: BlobStore + BlobSource>(state: &AppState<S>) -> anyhow::Result<JobReport> {
    let options = RecoverOptions {
        container: state.archiver.containers().deadletter.clone(),
        prefix: String::new(),
        dry_run: false,
        deadline: Instant::now() + RECOVERY_RUN_TIME,
        // Another run is at work on a blob it holds: this one leaves it to that one.
        wait_for_busy: false,
    };
    let run = match deadletter::recover(&state.archiver, &options).await {
        Ok(run) => run,
        Err(e) => {
            if e.is_configuration_problem() {
                tracing::error!(container = %options.container, error = %e, "could not list the dead-letter container: a configuration problem");
            }
            return Err(anyhow::Error::new(e).context(format!(
                "could not list the dead-letter container {}",
                options.container
            )));
        }
    };
    let mut logs: Vec<String> = run.blobs.iter().map(ToString::to_string).collect();
    logs.push(run.summary());
    if let Some(failed) = run.failed() {
        for line in &logs {
            tracing::info!(function = "RecoverDeadLetters", "{line}");
        }
        if let BlobResult::Failed {
            configuration_problem: true,
            error,
            ..
        } = &failed.result
        {
            tracing::error!(blob = %failed.name, %error, "dead-letter recovery failed: a configuration problem");
        }
        anyhow::bail!("{failed}");
    }
    Ok(JobReport { logs })
}

/// Compacts the closed hours of the lookback whose records changed, and every kind's undated
/// records. A run the host reports as past due (the app was down) also covers the lookback before
/// the last run it knows of.
async fn compact_archive<S: BlobStore + BlobSource + BlobSink>(
    state: &AppState<S>,
    timer: TimerInfo,
) -> anyhow::Result<JobReport> {
    let deadline = tokio::time::Instant::now() + state.compaction.time_limit;
    let now = OffsetDateTime::now_utc();
    let lookback = time::Duration::hours(i64::from(state.compaction.lookback_hours));
    let mut from = hour_start(now) - lookback;
    if timer.is_past_due {
        let last = timer
            .schedule_status
            .as_ref()
            .and_then(|s| s.last.as_deref())
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        if let Some(last) = last {
            from = from.min(hour_start(last) - lookback);
        }
    }
    let compactor = Compactor::new(state.archiver.store(), state.archiver.containers());
    let partitions = compactor
        .partitions(from, now, now, true)
        .await
        .map_err(|e| anyhow::anyhow!("could not find the kinds to compact: {e}"))?;
    let mut logs = vec![];
    let report = compactor
        .run(&partitions, deadline, |partition, result| match result {
            Ok(crate::analytics::compact::Outcome::Written { rows, replaced, .. }) => logs.push(format!(
                "{} {}: {rows} rows -> {}",
                if *replaced { "replaced" } else { "wrote" },
                partition.label(),
                partition.target_name()
            )),
            Err(e) => logs.push(format!("{} failed: {e}", partition.label())),
            Ok(_) => {}
        })
        .await;
    let summary = report.summary();
    if report.failed.is_empty() {
        logs.push(summary);
        Ok(JobReport { logs })
    } else {
        for line in &logs {
            tracing::warn!(function = "CompactArchive", "{line}");
        }
        Err(anyhow::anyhow!(
            "{summary}; first failure: {} ({})",
            report.failed[0].0,
            report.failed[0].1
        ))
    }
}

/// A job's result as the host reads it: 200 with its logs, or 500 with the cause chain (also on
/// stdout, since the host drops the body of a failed invocation).
pub fn answer(function: &str, result: anyhow::Result<JobReport>) -> HttpResponse {
    match result {
        Ok(report) => {
            for line in &report.logs {
                tracing::info!(%function, "{line}");
            }
            json_response(StatusCode::OK, &InvocationResult::with_logs(report.logs))
        }
        Err(e) => {
            let message = format!("{e:#}");
            tracing::error!(%function, error = %message, "the job failed; it resumes at the next run");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, &message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body(response: HttpResponse) -> (u16, serde_json::Value) {
        let status = response.status().as_u16();
        let bytes = response.into_body().try_into_bytes().unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn a_finished_job_answers_200_with_its_logs() {
        let report = JobReport {
            logs: vec!["compacted 3 hours".into()],
        };
        let (status, json) = body(answer("CompactArchive", Ok(report)));
        assert_eq!(status, 200);
        assert_eq!(
            json,
            serde_json::json!({"Outputs": {}, "Logs": ["compacted 3 hours"], "ReturnValue": null})
        );
    }

    #[test]
    fn a_failed_job_answers_non_2xx_with_the_cause_chain() {
        let failure = anyhow::anyhow!("connection refused").context("could not list the hour");
        let (status, json) = body(answer("CompactArchive", Err(failure)));
        assert_eq!(status, 500);
        assert_eq!(json["error"], "could not list the hour: connection refused");
    }
}
