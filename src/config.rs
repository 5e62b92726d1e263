//! Configuration, read once from the environment at start-up.
//!
//! Every problem is reported as one line that names the setting to fix, and stops the process before
//! it answers the host's readiness ping, so a misconfigured app fails loudly at deployment.

use crate::archive::events::Family;
use azure_core::http::Url;
use base64::Engine;
use std::time::Duration;

/// Azurite's well-known development account (public, documented by Microsoft).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Per-invocation storage budget unless `ARCHIVE_BUDGET_MS` says otherwise: well under Event Grid's
/// 30 s delivery timeout, so a slow storage turns into a retried failure rather than a duplicate.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);
/// The host repeats `data` in `Metadata`, so a 1 MB event makes a ~2 MB request; this leaves room for
/// batches while still bounding what one request can make us buffer.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("no storage configured: set ARCHIVE_STORAGE (or AzureWebJobsStorage) to a connection string, or ARCHIVE_STORAGE__blobServiceUri for managed identity")]
    NoStorage,
    #[error("{setting}: {problem}")]
    Invalid { setting: String, problem: String },
}

fn invalid(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_owned(),
        problem: problem.into(),
    }
}

/// How we authenticate to Blob Storage.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageAuth {
    /// A connection string with `SharedAccessSignature`: used as is.
    Sas { blob_endpoint: Url, sas: String },
    /// A connection string with `AccountKey` (or Azurite's development account): turned into an
    /// account SAS at start-up, because the Blob SDK has no Shared Key support.
    AccountKey {
        blob_endpoint: Url,
        account: String,
        key: Vec<u8>,
    },
    /// The identity-based Functions convention (`…__blobServiceUri`, `…__accountName`).
    ManagedIdentity {
        blob_endpoint: Url,
        client_id: Option<String>,
    },
}

impl StorageAuth {
    /// The endpoint without its query, which may hold a SAS: safe to log.
    pub fn endpoint_for_logs(&self) -> String {
        let url = self.blob_endpoint();
        format!("{}{}", url.origin().ascii_serialization(), url.path())
    }

    pub fn blob_endpoint(&self) -> &Url {
        match self {
            StorageAuth::Sas { blob_endpoint, .. }
            | StorageAuth::AccountKey { blob_endpoint, .. }
            | StorageAuth::ManagedIdentity { blob_endpoint, .. } => blob_endpoint,
        }
    }
}

// Secrets stay out of logs and panics.
impl std::fmt::Debug for StorageAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageAuth::Sas { blob_endpoint, .. } => write!(f, "Sas({blob_endpoint})"),
            StorageAuth::AccountKey {
                blob_endpoint,
                account,
                ..
            } => write!(f, "AccountKey({account} at {blob_endpoint})"),
            StorageAuth::ManagedIdentity {
                blob_endpoint,
                client_id,
            } => {
                write!(f, "ManagedIdentity({blob_endpoint}, client id {client_id:?})")
            }
        }
    }
}

/// Container names: one per family, plus where Event Grid dead-letters and where analytics go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containers {
    pub sms: String,
    pub chat: String,
    pub advanced_messaging: String,
    pub other: String,
    pub quarantine: String,
    /// Where the subscriptions dead-letter events Event Grid could not deliver (Event Grid writes it).
    pub deadletter: String,
    /// The compacted Parquet datasets.
    pub analytics: String,
}

impl Containers {
    pub fn for_family(&self, family: Family) -> &str {
        match family {
            Family::Sms => &self.sms,
            Family::Chat => &self.chat,
            Family::AdvancedMessaging => &self.advanced_messaging,
            Family::Other => &self.other,
            Family::Quarantine => &self.quarantine,
        }
    }

    /// The archive's containers, one per family.
    pub fn all(&self) -> [&str; 5] {
        Family::ALL.map(|f| self.for_family(f))
    }

    /// Every container the app reads or writes: the archive's, dead-letter and analytics.
    pub fn every(&self) -> Vec<&str> {
        let mut every = self.all().to_vec();
        every.extend([self.deadletter.as_str(), self.analytics.as_str()]);
        every
    }
}

impl Default for Containers {
    fn default() -> Self {
        Containers {
            sms: "acs-sms".into(),
            chat: "acs-chat".into(),
            advanced_messaging: "acs-advanced-messaging".into(),
            other: "acs-other".into(),
            quarantine: "acs-quarantine".into(),
            deadletter: "acs-deadletter".into(),
            analytics: "acs-analytics".into(),
        }
    }
}

/// Everything the handler needs, built once.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub storage: StorageAuth,
    /// Which setting the storage came from, for the start-up log line.
    pub storage_setting: String,
    pub containers: Containers,
    pub budget: Duration,
    /// Whether blobs get index tags. Accounts with hierarchical namespace (Data Lake Gen2) refuse them.
    pub index_tags: bool,
    /// The `tracing` filter for the logs, from `ARCHIVE_LOG`; checked here so that a typo stops the
    /// handler instead of silently logging something else.
    pub log_filter: String,
    /// How far back the hourly compaction looks for hours whose records changed (late events).
    pub compact_lookback_hours: u32,
    /// How long one compaction run may work before it stops and leaves the rest to the next run:
    /// under host.json's `functionTimeout`.
    pub compact_time_limit: Duration,
}

/// Hours the compaction looks back by default: Event Grid retries for 24 hours, so an hour can gain
/// events for a day after it closed; twice that leaves a missed run room to catch up.
pub const DEFAULT_COMPACT_LOOKBACK_HOURS: u32 = 48;
/// A compaction run stops after this long by default: host.json's `functionTimeout` is 5 minutes.
pub const DEFAULT_COMPACT_TIME_LIMIT: Duration = Duration::from_secs(240);

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Builds the configuration from any key lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let port = match get("FUNCTIONS_CUSTOMHANDLER_PORT") {
            Some(p) => p.trim().parse::<u16>().map_err(|_| {
                invalid(
                    "FUNCTIONS_CUSTOMHANDLER_PORT",
                    format!("{p:?} is not a port number"),
                )
            })?,
            None => 3000,
        };
        let (storage_setting, storage) = storage_from(&get)?;
        let mut containers = Containers::default();
        for (setting, slot) in [
            ("ARCHIVE_CONTAINER_SMS", &mut containers.sms),
            ("ARCHIVE_CONTAINER_CHAT", &mut containers.chat),
            (
                "ARCHIVE_CONTAINER_ADVANCED_MESSAGING",
                &mut containers.advanced_messaging,
            ),
            ("ARCHIVE_CONTAINER_OTHER", &mut containers.other),
            ("ARCHIVE_CONTAINER_QUARANTINE", &mut containers.quarantine),
            ("ARCHIVE_CONTAINER_DEADLETTER", &mut containers.deadletter),
            ("ARCHIVE_CONTAINER_ANALYTICS", &mut containers.analytics),
        ] {
            if let Some(name) = get(setting) {
                validate_container_name(&name).map_err(|problem| invalid(setting, problem))?;
                *slot = name;
            }
        }
        let budget = match get("ARCHIVE_BUDGET_MS") {
            Some(ms) => match ms.trim().parse::<u64>() {
                Ok(ms @ 100..=25_000) => Duration::from_millis(ms),
                _ => {
                    return Err(invalid(
                        "ARCHIVE_BUDGET_MS",
                        format!("{ms:?} is not a number of milliseconds from 100 to 25000"),
                    ))
                }
            },
            None => DEFAULT_BUDGET,
        };
        let index_tags = match get("ARCHIVE_INDEX_TAGS")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => {
                return Err(invalid(
                    "ARCHIVE_INDEX_TAGS",
                    format!("{other:?} is not true or false"),
                ))
            }
        };
        let log_filter = match get("ARCHIVE_LOG") {
            Some(filter) => {
                tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| {
                    // The parser's messages can span lines; the host shows one stderr line per error.
                    let why = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
                    invalid("ARCHIVE_LOG", format!("{filter:?} is not a log filter ({why})"))
                })?;
                filter
            }
            None => crate::telemetry::DEFAULT_FILTER.to_owned(),
        };
        let compact_lookback_hours = match get("ARCHIVE_COMPACT_LOOKBACK_HOURS") {
            Some(hours) => match hours.trim().parse::<u32>() {
                Ok(hours @ 1..=8784) => hours,
                _ => {
                    return Err(invalid(
                        "ARCHIVE_COMPACT_LOOKBACK_HOURS",
                        format!("{hours:?} is not a number of hours from 1 to 8784"),
                    ))
                }
            },
            None => DEFAULT_COMPACT_LOOKBACK_HOURS,
        };
        let compact_time_limit = match get("ARCHIVE_COMPACT_TIME_LIMIT_SECONDS") {
            Some(seconds) => match seconds.trim().parse::<u64>() {
                Ok(seconds @ 1..=3600) => Duration::from_secs(seconds),
                _ => {
                    return Err(invalid(
                        "ARCHIVE_COMPACT_TIME_LIMIT_SECONDS",
                        format!("{seconds:?} is not a number of seconds from 1 to 3600"),
                    ))
                }
            },
            None => DEFAULT_COMPACT_TIME_LIMIT,
        };
        Ok(Config {
            port,
            storage,
            storage_setting,
            containers,
            budget,
            index_tags,
            log_filter,
            compact_lookback_hours,
            compact_time_limit,
        })
    }
}

fn storage_from(get: &impl Fn(&str) -> Option<String>) -> Result<(String, StorageAuth), ConfigError> {
    for prefix in ["ARCHIVE_STORAGE", "AzureWebJobsStorage"] {
        if let Some(conn) = get(prefix) {
            return Ok((
                prefix.to_owned(),
                parse_connection_string(&conn).map_err(|p| invalid(prefix, p))?,
            ));
        }
        if let Some(auth) = identity_based(prefix, get)? {
            return Ok((format!("{prefix}__*"), auth));
        }
    }
    Err(ConfigError::NoStorage)
}

/// The Functions identity-based connection convention: `{prefix}__blobServiceUri` (or `__serviceUri`,
/// or `__accountName`), with an optional `{prefix}__clientId` for a user-assigned identity.
fn identity_based(
    prefix: &str,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<StorageAuth>, ConfigError> {
    let uri_setting = [
        format!("{prefix}__blobServiceUri"),
        format!("{prefix}__serviceUri"),
    ]
    .into_iter()
    .find_map(|k| get(&k).map(|v| (k, v)));
    let blob_endpoint = match (uri_setting, get(&format!("{prefix}__accountName"))) {
        (Some((setting, uri)), _) => {
            let url = Url::parse(uri.trim()).map_err(|e| invalid(&setting, format!("not a URL ({e})")))?;
            if url.scheme() != "https" {
                return Err(invalid(&setting, "managed identity needs an https endpoint"));
            }
            url
        }
        (None, Some(account)) => Url::parse(&format!("https://{}.blob.core.windows.net", account.trim()))
            .map_err(|e| invalid(&format!("{prefix}__accountName"), e.to_string()))?,
        (None, None) => return Ok(None),
    };
    Ok(Some(StorageAuth::ManagedIdentity {
        blob_endpoint,
        client_id: get(&format!("{prefix}__clientId")),
    }))
}

/// Parses an Azure Storage connection string (keys are case-insensitive, as in the .NET parser).
pub fn parse_connection_string(conn: &str) -> Result<StorageAuth, String> {
    let mut parts = std::collections::HashMap::new();
    for part in conn.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| "is not a connection string (expected Key=Value;Key=Value)".to_owned())?;
        parts.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let get = |k: &str| parts.get(k).map(String::as_str);
    let dev_key = || {
        base64::engine::general_purpose::STANDARD
            .decode(DEV_KEY)
            .expect("the well-known key is base64")
    };
    if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        let host = get("developmentstorageproxyuri").unwrap_or("http://127.0.0.1");
        let blob_endpoint = Url::parse(&format!("{}:10000/{DEV_ACCOUNT}", host.trim_end_matches('/')))
            .map_err(|e| format!("DevelopmentStorageProxyUri is not a URL ({e})"))?;
        return Ok(StorageAuth::AccountKey {
            blob_endpoint,
            account: DEV_ACCOUNT.into(),
            key: dev_key(),
        });
    }
    let account = get("accountname");
    let blob_endpoint = match (get("blobendpoint"), account) {
        (Some(endpoint), _) => {
            Url::parse(endpoint).map_err(|e| format!("BlobEndpoint is not a URL ({e})"))?
        }
        (None, Some(account)) => {
            let protocol = get("defaultendpointsprotocol").unwrap_or("https");
            let suffix = get("endpointsuffix").unwrap_or("core.windows.net");
            Url::parse(&format!("{protocol}://{account}.blob.{suffix}"))
                .map_err(|e| format!("AccountName/EndpointSuffix do not make a URL ({e})"))?
        }
        (None, None) => return Err("has neither BlobEndpoint nor AccountName".into()),
    };
    if let Some(sas) = get("sharedaccesssignature") {
        return Ok(StorageAuth::Sas {
            blob_endpoint,
            sas: sas.trim_start_matches('?').to_owned(),
        });
    }
    match (account, get("accountkey")) {
        (Some(account), Some(key)) => {
            let key = base64::engine::general_purpose::STANDARD
                .decode(key)
                .map_err(|_| "AccountKey is not valid base64".to_owned())?;
            Ok(StorageAuth::AccountKey {
                blob_endpoint,
                account: account.to_owned(),
                key,
            })
        }
        _ => Err("has neither SharedAccessSignature nor AccountName with AccountKey".into()),
    }
}

fn validate_container_name(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid container name (3-63 lower-case letters, digits and single hyphens)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn development_storage_means_azurite_well_known_account() {
        let c = config(&[("AzureWebJobsStorage", "UseDevelopmentStorage=true")]).unwrap();
        assert_eq!(c.storage_setting, "AzureWebJobsStorage");
        let StorageAuth::AccountKey {
            blob_endpoint,
            account,
            ..
        } = c.storage
        else {
            panic!()
        };
        assert_eq!(blob_endpoint.as_str(), "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(account, "devstoreaccount1");
        assert_eq!(c.containers, Containers::default());
        assert_eq!(c.budget, DEFAULT_BUDGET);
        assert_eq!(c.port, 3000);
        assert!(c.index_tags);
        assert_eq!(c.log_filter, crate::telemetry::DEFAULT_FILTER);
        let c = config(&[
            ("AzureWebJobsStorage", "UseDevelopmentStorage=true"),
            ("ARCHIVE_INDEX_TAGS", "False"),
        ])
        .unwrap();
        assert!(!c.index_tags);
    }

    #[test]
    fn archive_storage_wins_over_azure_web_jobs_storage() {
        let c = config(&[
            ("AzureWebJobsStorage", "UseDevelopmentStorage=true"),
            (
                "ARCHIVE_STORAGE",
                "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=?sv=1&sig=abc",
            ),
        ])
        .unwrap();
        assert_eq!(c.storage_setting, "ARCHIVE_STORAGE");
        assert_eq!(
            c.storage,
            StorageAuth::Sas {
                blob_endpoint: Url::parse("https://acct.blob.core.windows.net").unwrap(),
                sas: "sv=1&sig=abc".into()
            }
        );
    }

    #[test]
    fn account_key_connection_string_builds_the_endpoint() {
        let auth = parse_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(
            auth,
            StorageAuth::AccountKey {
                blob_endpoint: Url::parse("https://acct.blob.core.windows.net").unwrap(),
                account: "acct".into(),
                key: b"key".to_vec()
            }
        );
        assert!(!format!("{auth:?}").contains("a2V5"));
    }

    #[test]
    fn identity_based_connection_uses_managed_identity() {
        let c = config(&[
            ("AzureWebJobsStorage__accountName", "acct"),
            ("AzureWebJobsStorage__clientId", "cid"),
        ])
        .unwrap();
        assert_eq!(
            c.storage,
            StorageAuth::ManagedIdentity {
                blob_endpoint: Url::parse("https://acct.blob.core.windows.net").unwrap(),
                client_id: Some("cid".into())
            }
        );
    }

    #[test]
    fn bad_settings_name_what_to_fix() {
        assert_eq!(config(&[]).unwrap_err(), ConfigError::NoStorage);
        let e = config(&[("ARCHIVE_STORAGE", "AccountName=a;AccountKey=***")]).unwrap_err();
        assert_eq!(e.to_string(), "ARCHIVE_STORAGE: AccountKey is not valid base64");
        let e = config(&[
            ("ARCHIVE_STORAGE", "UseDevelopmentStorage=true"),
            ("ARCHIVE_CONTAINER_SMS", "Bad_Name"),
        ])
        .unwrap_err();
        assert!(e.to_string().starts_with("ARCHIVE_CONTAINER_SMS: "), "{e}");
        let e = config(&[
            ("ARCHIVE_STORAGE", "UseDevelopmentStorage=true"),
            ("ARCHIVE_BUDGET_MS", "60000"),
        ])
        .unwrap_err();
        assert!(e.to_string().starts_with("ARCHIVE_BUDGET_MS: "), "{e}");
        let e = config(&[
            ("ARCHIVE_STORAGE", "UseDevelopmentStorage=true"),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "x"),
        ])
        .unwrap_err();
        assert!(e.to_string().starts_with("FUNCTIONS_CUSTOMHANDLER_PORT: "), "{e}");
        assert!(!ConfigError::NoStorage.to_string().ends_with('.'));
    }

    #[test]
    fn compaction_lookback_defaults_to_48_hours_and_bad_values_name_the_setting() {
        let dev = ("ARCHIVE_STORAGE", "UseDevelopmentStorage=true");
        let c = config(&[dev]).unwrap();
        assert_eq!(c.compact_lookback_hours, 48);
        assert_eq!(c.compact_time_limit, DEFAULT_COMPACT_TIME_LIMIT);
        let c = config(&[
            dev,
            ("ARCHIVE_COMPACT_LOOKBACK_HOURS", "72"),
            ("ARCHIVE_COMPACT_TIME_LIMIT_SECONDS", "30"),
        ])
        .unwrap();
        assert_eq!(c.compact_lookback_hours, 72);
        assert_eq!(c.compact_time_limit, Duration::from_secs(30));
        for bad in ["0", "-1", "two days", "9000"] {
            let e = config(&[dev, ("ARCHIVE_COMPACT_LOOKBACK_HOURS", bad)]).unwrap_err();
            assert!(
                e.to_string().starts_with("ARCHIVE_COMPACT_LOOKBACK_HOURS: "),
                "{e}"
            );
        }
        let e = config(&[dev, ("ARCHIVE_COMPACT_TIME_LIMIT_SECONDS", "0")]).unwrap_err();
        assert!(
            e.to_string().starts_with("ARCHIVE_COMPACT_TIME_LIMIT_SECONDS: "),
            "{e}"
        );
    }

    #[test]
    fn an_invalid_log_filter_stops_start_up_naming_archive_log_and_why() {
        for filter in ["acs_event_archive=loud", "[{", "x=info=debug"] {
            let e = config(&[
                ("ARCHIVE_STORAGE", "UseDevelopmentStorage=true"),
                ("ARCHIVE_LOG", filter),
            ])
            .unwrap_err()
            .to_string();
            assert!(e.starts_with("ARCHIVE_LOG: "), "{e}");
            assert!(e.contains(filter), "{e}");
            assert!(!e.contains('\n') && !e.ends_with('.'), "{e}");
        }
        let c = config(&[
            ("ARCHIVE_STORAGE", "UseDevelopmentStorage=true"),
            ("ARCHIVE_LOG", "debug,azure_core=warn"),
        ])
        .unwrap();
        assert_eq!(c.log_filter, "debug,azure_core=warn");
    }
}
