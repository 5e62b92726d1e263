//! `handler send`: feed sample events to a running handler (as the Functions host would invoke it) or
//! to `func start` (as Event Grid would deliver them), and print what happened to each.

use acs_event_archive::host::functions::{self, event_grid_function_for_event};
use acs_event_archive::host::protocol::host_invocation;
use acs_event_archive::storage::cause_chain;
use anyhow::Context;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Arguments of `handler send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// JSON files holding one event or an array of events (Event Grid or CloudEvents form)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Function to invoke; by default chosen from each event's type (SmsEvents, ChatEvents,
    /// AdvancedMessagingEvents; other types go to SmsEvents)
    #[arg(long)]
    pub function: Option<String>,
    /// Where to send: the handler (default http://127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT, else port
    /// 3000) or, with --webhook, the Functions host (default http://localhost:7071)
    #[arg(long)]
    pub url: Option<String>,
    /// Post to the host's Event Grid webhook (/runtime/webhooks/eventgrid) instead of invoking the
    /// handler directly
    #[arg(long)]
    pub webhook: bool,
}

/// Sends every event; returns whether every delivery was acknowledged.
pub async fn run(args: SendArgs) -> anyhow::Result<bool> {
    let base = args.url.clone().unwrap_or_else(|| {
        if args.webhook {
            "http://localhost:7071".to_owned()
        } else {
            let port = std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT").unwrap_or_else(|_| "3000".into());
            format!("http://127.0.0.1:{port}")
        }
    });
    let base = base.trim_end_matches('/');
    match reqwest::Url::parse(base) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
        _ => anyhow::bail!("--url {base:?} is not an http:// URL (write it like http://127.0.0.1:3000)"),
    }
    if let Some(name) = &args.function {
        if functions::find(name).is_none() {
            let known: Vec<_> = functions::FUNCTIONS.iter().map(|f| f.name).collect();
            anyhow::bail!(
                "--function {name:?} is not a function of this app: use one of {}",
                known.join(", ")
            );
        }
    }
    let client = reqwest::Client::new();
    let mut all_ok = true;
    for file in &args.files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("could not read {}", file.display()))?;
        let events = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => items,
            Ok(one) => vec![one],
            // The host would never deliver this, but sending it shows what quarantine does with it.
            Err(_) if !args.webhook => vec![Value::String(text)],
            Err(e) => {
                println!("{}: skipped, not JSON ({e})", file.display());
                all_ok = false;
                continue;
            }
        };
        for (i, event) in events.iter().enumerate() {
            let function = args
                .function
                .clone()
                .unwrap_or_else(|| event_grid_function_for_event(event).to_owned());
            let label = format!("{} #{} -> {function}", file.display(), i + 1);
            let request = if args.webhook {
                client
                    .post(format!(
                        "{base}/runtime/webhooks/eventgrid?functionName={function}"
                    ))
                    .header("aeg-event-type", "Notification")
                    .json(&json!([event]))
            } else {
                client
                    .post(format!("{base}/{function}"))
                    .header(
                        "X-Azure-Functions-InvocationId",
                        azure_core::Uuid::new_v4().to_string(),
                    )
                    .json(&host_invocation(&function, event))
            };
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    all_ok &= status.is_success();
                    println!("{label}: {status}");
                    match body.get("Logs").and_then(Value::as_array) {
                        Some(logs) => logs
                            .iter()
                            .filter_map(Value::as_str)
                            .for_each(|l| println!("    {l}")),
                        None if !status.is_success() => println!("    {body}"),
                        None => {}
                    }
                }
                Err(e) => {
                    all_ok = false;
                    let hint = if e.is_connect() {
                        if args.webhook {
                            " - is `func start` running there? Point --url at it"
                        } else {
                            " - is the handler running on that port? Start it with scripts/run-local.sh --serve, or point --url at it"
                        }
                    } else {
                        ""
                    };
                    println!("{label}: not delivered: {}{hint}", cause_chain(&e));
                }
            }
        }
    }
    Ok(all_ok)
}
