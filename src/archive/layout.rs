//! The archive layout: which container, which blob name, which index tags.
//!
//! Names are `{kind}/{yyyy}/{MM}/{dd}/{HH}/{id}.json`, dated by the event's own time in UTC so that a
//! redelivery always maps to the same name. Events without a readable time go to `{kind}/undated/`.
//! Quarantined inputs have no trustworthy id or time and are named by the SHA-256 of what arrived.

use sha2::{Digest, Sha256};
use std::fmt::Write;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Encoded segments longer than this are shortened to a prefix plus a hash.
const MAX_SEGMENT: usize = 160;
/// How much of the encoded text a shortened segment keeps, for people browsing the container.
const KEPT_PREFIX: usize = 64;

/// Encodes any string as one safe blob-name segment.
///
/// ASCII letters, digits, `-`, `_` and `.` stand for themselves; every other byte is written `~XX`
/// (upper-case hex), `~` included, so distinct ids always give distinct segments. A leading or
/// trailing `.` is escaped too, which rules out `.`, `..` and names ending in a dot. Segments that
/// would exceed [`MAX_SEGMENT`] keep a readable prefix and end in `~~` plus the SHA-256 of the id;
/// `~~` cannot come out of the escaping, so the two forms never collide. Digit strings that could be
/// phone numbers are replaced by `~p` plus a hash: no phone number ever appears in a blob name.
pub fn encode_segment(id: &str) -> String {
    if looks_like_phone_number(id) {
        return format!("~p{}", &sha256_hex(id.as_bytes())[..32]);
    }
    if id.is_empty() {
        return "~".to_owned();
    }
    let mut out = String::with_capacity(id.len());
    let last = id.len() - 1;
    for (i, b) in id.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i != 0 && i != last);
        if plain {
            out.push(b as char);
        } else {
            let _ = write!(out, "~{b:02X}");
        }
    }
    if out.len() > MAX_SEGMENT {
        let mut cut = KEPT_PREFIX;
        // Never split an escape: back up to before a `~` that starts within the last two bytes.
        while out.as_bytes()[cut - 2..cut].contains(&b'~') {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("~~");
        out.push_str(&sha256_hex(id.as_bytes()));
    }
    out
}

/// E.164 numbers, also written as `tel:` URIs, ACS phone raw ids (`4:+1…`) or with separators.
pub fn looks_like_phone_number(id: &str) -> bool {
    let trimmed = id.trim();
    let number = ["tel:", "4:"]
        .iter()
        .find_map(|prefix| trimmed.strip_prefix(prefix))
        .unwrap_or(trimmed);
    let number = number.strip_prefix('+').unwrap_or(number);
    let digits: Vec<u8> = number.bytes().filter(|b| !b" -.()".contains(b)).collect();
    (7..=15).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
}

/// The `yyyy/MM/dd/HH` path of an RFC 3339 time, in UTC, or `None` when it cannot be read.
pub fn hour_path(time: &str) -> Option<String> {
    let t = OffsetDateTime::parse(time.trim(), &Rfc3339)
        .ok()?
        .to_offset(UtcOffset::UTC);
    Some(format!(
        "{:04}/{:02}/{:02}/{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour()
    ))
}

/// The blob name of an archived event.
pub fn event_blob_name(kind: &str, time: Option<&str>, id: &str) -> String {
    let when = time.and_then(hour_path).unwrap_or_else(|| "undated".to_owned());
    format!("{kind}/{when}/{}.json", encode_segment(id))
}

/// The blob name of a quarantined input, from the hash of what arrived.
pub fn quarantine_blob_name(kind: &str, arrived: &[u8]) -> String {
    format!("{kind}/{}.json", sha256_hex(arrived))
}

/// Where a second, different event with an already-archived id is kept: next to the first, with part
/// of its own event hash. `~c` cannot come out of [`encode_segment`], so this never meets another
/// event's primary name.
pub fn conflict_blob_name(name: &str, event_sha256: &str) -> String {
    let stem = name.strip_suffix(".json").unwrap_or(name);
    format!("{stem}~c{}.json", &event_sha256[..16])
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Blob index tags as the `x-ms-tags` header value (a URL-encoded query string).
///
/// Tag values may only hold letters, digits, space and `+ - . / : = _`, at most 256 characters. Other
/// characters (the `@` of every chat thread id, for one) are written `=XX` per UTF-8 byte, `=` itself
/// included, in the manner of quoted-printable; a value still too long is left out. Query a thread by
/// tag with its id encoded the same way, e.g. `19:abc@thread.v2` → `19:abc=40thread.v2`.
pub fn tags_header(tags: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in tags {
        let value = tag_value(value);
        if value.is_empty() || value.len() > 256 {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        percent_encode_into(&mut out, key);
        out.push('=');
        percent_encode_into(&mut out, &value);
    }
    out
}

/// Encodes a value into the blob index tag alphabet (see [`tags_header`]).
pub fn tag_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        let allowed = b.is_ascii_alphanumeric() || b" +-./:_".contains(&b);
        if allowed {
            out.push(b as char);
        } else {
            let _ = write!(out, "={b:02X}");
        }
    }
    out
}

fn percent_encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_ids_stay_readable() {
        assert_eq!(
            encode_segment("Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e"),
            "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e"
        );
        assert_eq!(encode_segment("a.b"), "a.b");
    }

    #[test]
    fn path_tricks_are_escaped() {
        assert_eq!(encode_segment("../x"), "~2E.~2Fx");
        assert_eq!(encode_segment(".."), "~2E~2E");
        assert_eq!(encode_segment("."), "~2E");
        assert_eq!(encode_segment("a/b"), "a~2Fb");
        assert_eq!(encode_segment("a~2Fb"), "a~7E2Fb");
        assert_eq!(encode_segment("end."), "end~2E");
        assert_eq!(encode_segment(""), "~");
    }

    #[test]
    fn long_ids_are_shortened_with_a_hash() {
        let long = "x".repeat(2000);
        let seg = encode_segment(&long);
        assert!(seg.len() <= MAX_SEGMENT, "{}", seg.len());
        assert!(seg.contains("~~"));
        assert_ne!(seg, encode_segment(&"x".repeat(1999)));
    }

    #[test]
    fn phone_numbers_never_reach_a_name() {
        for id in [
            "15555555555",
            "+15555555555",
            "tel:+15555555555",
            "4:+15555555555",
            "+1 555-555-5555",
        ] {
            let seg = encode_segment(id);
            assert!(!seg.contains("5555555"), "{seg}");
            assert!(seg.starts_with("~p"));
        }
    }

    #[test]
    fn names_are_dated_in_utc_from_the_event_time() {
        assert_eq!(
            event_blob_name("smsReceived", Some("2020-09-18T00:27:47Z"), "id1"),
            "smsReceived/2020/09/18/00/id1.json"
        );
        assert_eq!(
            event_blob_name("k", Some("2021-02-20T01:07:10.064+02:00"), "id"),
            "k/2021/02/19/23/id.json"
        );
        assert_eq!(
            event_blob_name("k", Some("2021-02-20T01:07:10.5704596Z"), "id"),
            "k/2021/02/20/01/id.json"
        );
        assert_eq!(event_blob_name("k", Some("yesterday"), "id"), "k/undated/id.json");
        assert_eq!(event_blob_name("k", None, "id"), "k/undated/id.json");
    }

    #[test]
    fn conflict_names_sit_next_to_the_original() {
        let hash = sha256_hex(b"x");
        assert_eq!(
            conflict_blob_name("k/u/id.json", &hash),
            format!("k/u/id~c{}.json", &hash[..16])
        );
    }

    #[test]
    fn tags_use_the_tag_alphabet_and_url_encoding() {
        assert_eq!(tag_value("19:abc@thread.v2"), "19:abc=40thread.v2");
        assert_eq!(tag_value("a=b"), "a=3Db");
        assert_eq!(
            tags_header(&[("family", "chat"), ("threadId", "19:a@thread.v2")]),
            "family=chat&threadId=19%3Aa%3D40thread.v2"
        );
        assert_eq!(tags_header(&[("k", &"x".repeat(300))]), "");
    }

    proptest! {
        #[test]
        fn any_id_gives_one_safe_segment(id in any::<String>()) {
            let seg = encode_segment(&id);
            prop_assert!(!seg.is_empty() && seg.len() <= MAX_SEGMENT);
            prop_assert!(seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)), "{seg}");
            prop_assert!(!seg.starts_with('.') && !seg.ends_with('.'));
            prop_assert_eq!(seg, encode_segment(&id));
        }

        #[test]
        fn distinct_short_ids_give_distinct_segments(a in "[^\\d]{0,40}", b in "[^\\d]{0,40}") {
            prop_assume!(a != b);
            prop_assert_ne!(encode_segment(&a), encode_segment(&b));
        }

        #[test]
        fn any_tag_value_fits_the_tag_alphabet(v in any::<String>()) {
            prop_assert!(tag_value(&v).bytes().all(|b| b.is_ascii_alphanumeric() || b" +-./:=_".contains(&b)));
        }
    }
}
