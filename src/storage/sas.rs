//! Account SAS signing: the Rust Blob SDK cannot sign with an account key, so a key from the
//! connection string becomes an account SAS in memory, added to every request by the transport.

use azure_core::http::Url;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The account SAS service version we sign with.
const SAS_VERSION: &str = "2022-11-02";
/// How long a signed account SAS is valid, and when a fresh one replaces it: a handler process can
/// run for months on a dedicated plan, so the signature is renewed rather than made to last.
const SAS_VALIDITY: time::Duration = time::Duration::hours(48);
const SAS_RENEW_AFTER: time::Duration = time::Duration::hours(24);

/// An account SAS made from the account key, renewed once a day; the transport adds it to every
/// request ([`super::transport`]).
pub(super) struct AccountSasSigner {
    account: String,
    key: Vec<u8>,
    allow_http: bool,
    /// The current SAS query and when to replace it.
    current: std::sync::Mutex<(Arc<str>, OffsetDateTime)>,
}

impl AccountSasSigner {
    pub(super) fn new(account: &str, key: &[u8], allow_http: bool) -> Self {
        let now = OffsetDateTime::now_utc();
        AccountSasSigner {
            account: account.to_owned(),
            key: key.to_owned(),
            allow_http,
            current: std::sync::Mutex::new((
                account_sas(account, key, now, allow_http).into(),
                now + SAS_RENEW_AFTER,
            )),
        }
    }

    /// The SAS query to send now.
    pub(super) fn sas(&self) -> Arc<str> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = OffsetDateTime::now_utc();
        if now >= current.1 {
            *current = (
                account_sas(&self.account, &self.key, now, self.allow_http).into(),
                now + SAS_RENEW_AFTER,
            );
        }
        current.0.clone()
    }
}

// The key must never reach a log through a Debug print of the transport.
impl std::fmt::Debug for AccountSasSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSasSigner")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Transport errors quote the request URL, which holds the SAS signature: never let it reach a log.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("sig=") {
        out.push_str(&rest[..i + 4]);
        out.push_str("REDACTED");
        rest = &rest[i + 4..];
        let end = rest
            .find(|c: char| c == '&' || c == ')' || c.is_whitespace())
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// An account SAS for the blob service, signed with the account key (the documented algorithm for
/// service version 2020-12-06 and later). It allows what the archiver does: create containers, create
/// blobs with tags, read properties and content.
pub fn account_sas(account: &str, key: &[u8], now: OffsetDateTime, allow_http: bool) -> String {
    let format = |t: OffsetDateTime| {
        t.replace_nanosecond(0)
            .expect("zero nanoseconds is valid")
            .format(&Rfc3339)
            .expect("UTC times format as RFC 3339")
    };
    // Starting a little in the past tolerates clock skew between this host and storage.
    let start = format(now - time::Duration::minutes(15));
    let expiry = format(now + SAS_VALIDITY);
    let (permissions, services, resource_types) = ("rwlct", "b", "sco");
    let protocol = if allow_http { "https,http" } else { "https" };
    let string_to_sign = format!(
        "{account}\n{permissions}\n{services}\n{resource_types}\n{start}\n{expiry}\n\n{protocol}\n{SAS_VERSION}\n\n"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut query = Url::parse("http://sas.invalid/").expect("static URL");
    query
        .query_pairs_mut()
        .append_pair("sv", SAS_VERSION)
        .append_pair("ss", services)
        .append_pair("srt", resource_types)
        .append_pair("sp", permissions)
        .append_pair("st", &start)
        .append_pair("se", &expiry)
        .append_pair("spr", protocol)
        .append_pair("sig", &signature);
    query.query().expect("query was just set").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn account_sas_matches_the_documented_string_to_sign() {
        let sas = account_sas(
            "devstoreaccount1",
            b"key",
            datetime!(2026-01-01 12:00:00.5 UTC),
            true,
        );
        assert!(sas.starts_with("sv=2022-11-02&ss=b&srt=sco&sp=rwlct&st=2026-01-01T11%3A45%3A00Z&se=2026-01-03T12%3A00%3A00Z&spr=https%2Chttp&sig="), "{sas}");
        let expected = {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
            mac.update(b"devstoreaccount1\nrwlct\nb\nsco\n2026-01-01T11:45:00Z\n2026-01-03T12:00:00Z\n\nhttps,http\n2022-11-02\n\n");
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        };
        let url = Url::parse(&format!("http://h/?{sas}")).unwrap();
        let sig = url
            .query_pairs()
            .find(|(k, _)| k == "sig")
            .unwrap()
            .1
            .into_owned();
        assert_eq!(sig, expected);
    }

    #[test]
    fn signatures_never_survive_in_error_text() {
        assert_eq!(
            redact(
                "error sending request for url (http://h/c/b?sv=1&sig=abc%2Bdef&se=2) (connection refused)"
            ),
            "error sending request for url (http://h/c/b?sv=1&sig=REDACTED&se=2) (connection refused)"
        );
        assert_eq!(redact("x sig=abc"), "x sig=REDACTED");
    }
}
