//! The archive layout: which container, which blob name, which index tags.
//!
//! Names are `{kind}/{yyyy}/{MM}/{dd}/{HH}/{id}.json`, dated by the event's own time in UTC so that a
//! redelivery always maps to the same name. Events without a readable time go to `{kind}/undated/`.
//! Quarantined inputs have no trustworthy id or time and are named by the SHA-256 of what arrived.

use sha2::{Digest, Sha256};
use std::borrow::Cow;
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
/// `~~` cannot come out of the escaping, so the two forms never collide. An id that holds a phone
/// number (see [`contains_phone_number`]) is replaced as a whole by `~p` plus a hash of the id.
pub fn encode_segment(id: &str) -> String {
    if contains_phone_number(id) {
        return format!("~p{}", &sha256_hex(id.as_bytes())[..32]);
    }
    if id.is_empty() {
        return "~".to_owned();
    }
    let mut out = String::with_capacity(id.len());
    let last = id.len() - 1;
    let mut plain_from = 0;
    for (i, b) in id.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i != 0 && i != last);
        if !plain {
            // Plain bytes are ASCII: a run of them starts and ends on character boundaries. An
            // empty run may not (between two bytes of one escaped character): it is skipped.
            if plain_from < i {
                out.push_str(&id[plain_from..i]);
            }
            let _ = write!(out, "~{b:02X}");
            plain_from = i + 1;
        }
    }
    out.push_str(&id[plain_from..]);
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

/// Whether an id could carry a phone number, and so must be hashed in blob names and log lines.
///
/// Two shapes count:
/// - the whole id is a number of 7 to 15 digits, optionally written `+…`, `tel:…` or `4:…` (the ACS
///   raw id of a phone) and with the separators ` -.()`. This is the rule of the first release, so
///   every name it gave stays as it was;
/// - anywhere in the id, a number marked as one: `+` (or its URL-encoded form `%2B`), or `tel:` or
///   `4:` at the start of a token, followed by a run of digits and the separators ` -.()` that starts
///   with a digit or `(` and holds 7 or more digits. E.164 numbers have at most 15 digits; a longer
///   run is hashed too, since one could hide inside it.
///
/// A bare digit run inside a longer id does not count. Ordinary ids are full of them and nothing
/// tells them from a phone number: SMS ids embed a 14-digit timestamp
/// (`Incoming_20200918002745d29e…`), a GUID has a 12-digit group whenever that group's hex happens to
/// be all digits (and the docs' placeholder GUID is all zeros), chat message ids are 13-digit epoch
/// milliseconds. Hashing those would make most ids unreadable and rename blobs already stored, so the
/// promise covers numbers written the ways E.164 and ACS write them.
pub fn contains_phone_number(id: &str) -> bool {
    // A marked number needs a `+` (or its `%2B`), `tel:` or `4:`; most ids (GUIDs, SMS ids, event
    // types) have none of those bytes and are checked only as a whole, without allocating.
    let marked = id.bytes().any(|b| matches!(b, b'+' | b'%' | b':'));
    is_phone_number(id) || (marked && holds_marked_number(id))
}

/// An id as it may appear in a log line: hashed exactly as in its blob name when it could carry a
/// phone number, otherwise the id itself with control and bidi characters escaped and the length
/// bounded, since ids come from outside.
pub fn loggable_id(id: &str) -> Cow<'_, str> {
    if contains_phone_number(id) {
        return Cow::Owned(encode_segment(id));
    }
    const MAX_CHARS: usize = 120;
    // Most ids are short printable ASCII that `escape_debug` leaves as it is: no copy for those.
    let plain = |b: u8| (b' '..=b'~').contains(&b) && !matches!(b, b'\\' | b'\'' | b'"');
    if id.len() <= MAX_CHARS && id.bytes().all(plain) {
        return Cow::Borrowed(id);
    }
    let mut out: String = id.chars().take(MAX_CHARS).flat_map(char::escape_debug).collect();
    if id.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    Cow::Owned(out)
}

fn is_phone_number(id: &str) -> bool {
    let trimmed = id.trim();
    let number = ["tel:", "4:"]
        .iter()
        .find_map(|prefix| trimmed.strip_prefix(prefix))
        .unwrap_or(trimmed);
    let number = number.strip_prefix('+').unwrap_or(number);
    let mut digits = 0;
    for b in number.bytes() {
        if b.is_ascii_digit() {
            digits += 1;
        } else if !b" -.()".contains(&b) {
            return false;
        }
    }
    (7..=15).contains(&digits)
}

fn holds_marked_number(id: &str) -> bool {
    // Bytes, not `str` slices: slicing outside text at an arbitrary index can split a character.
    let lower = id.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    (0..bytes.len()).any(|i| {
        let rest = &bytes[i..];
        // `4:` or `tel:` inside a token is part of something else (`14:…`, `…T12:34:…`, `hotel:`).
        let at_token_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let number = if let Some(n) = strip_plus(rest) {
            n
        } else if let Some(n) = rest.strip_prefix(b"tel:").filter(|_| at_token_start) {
            strip_plus(n).unwrap_or(n)
        } else if let Some(n) = rest.strip_prefix(b"4:").filter(|_| at_token_start) {
            strip_plus(n).unwrap_or(n)
        } else {
            return false;
        };
        // E.164 puts the first digit right after the `+`; `c++-2024-05-01` is not a phone number.
        if !number.first().is_some_and(|b| b.is_ascii_digit() || *b == b'(') {
            return false;
        }
        let digits = number
            .iter()
            .take_while(|b| b.is_ascii_digit() || b" -.()".contains(b))
            .filter(|b| b.is_ascii_digit())
            .count();
        digits >= 7
    })
}

fn strip_plus(bytes: &[u8]) -> Option<&[u8]> {
    bytes.strip_prefix(b"+").or_else(|| bytes.strip_prefix(b"%2b"))
}

/// The `yyyy/MM/dd/HH` path of an RFC 3339 time, in UTC, or `None` when it cannot be read or leaves
/// the years 0000 to 9999 once in UTC (`9999-12-31T23:00:00-01:00` is in year 10000), which the
/// four-digit layout cannot name.
pub fn hour_path(time: &str) -> Option<String> {
    // `to_offset` panics when the result is not representable; one bad event must not cost the
    // whole invocation.
    let t = OffsetDateTime::parse(time.trim(), &Rfc3339)
        .ok()?
        .checked_to_offset(UtcOffset::UTC)?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
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
///
/// The hash is the event's canonical hash ([`super::identity`]); versions before it used the hash of
/// the event's bytes, so both kinds of names occur beside one name: [`conflict_prefix`] lists them all.
pub fn conflict_blob_name(name: &str, event_hash: &str) -> String {
    let part = event_hash.get(..16).unwrap_or(event_hash);
    format!("{}{part}.json", conflict_prefix(name))
}

/// What every copy kept beside `name` starts with.
pub fn conflict_prefix(name: &str) -> String {
    let stem = name.strip_suffix(".json").unwrap_or(name);
    format!("{stem}~c")
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    // By table, not `write!` per byte: three hashes per event made that a visible share of its cost.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
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
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b" +-./:_".contains(&b);
    encode_runs(&mut out, value, allowed, |out, b| {
        let _ = write!(out, "={b:02X}");
    });
    out
}

fn percent_encode_into(out: &mut String, s: &str) {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    encode_runs(out, s, allowed, |out, b| {
        let _ = write!(out, "%{b:02X}");
    });
}

/// Appends `s` with every byte that is not `allowed` written by `escape`. Runs of allowed bytes
/// are copied whole: the encoders run on every id and tag of every event.
fn encode_runs(out: &mut String, s: &str, allowed: impl Fn(u8) -> bool, escape: impl Fn(&mut String, u8)) {
    let mut plain_from = 0;
    for (i, b) in s.bytes().enumerate() {
        if !allowed(b) {
            // Allowed bytes are ASCII: a run of them starts and ends on character boundaries. An
            // empty run may not (between two bytes of one escaped character): it is skipped.
            if plain_from < i {
                out.push_str(&s[plain_from..i]);
            }
            escape(out, b);
            plain_from = i + 1;
        }
    }
    out.push_str(&s[plain_from..]);
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
    fn hashes_are_lower_case_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
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

    #[test]
    fn a_time_that_leaves_the_representable_range_in_utc_is_undated_instead_of_a_panic() {
        assert_eq!(hour_path("9999-12-31T23:59:59-12:00"), None);
        assert_eq!(
            event_blob_name("k", Some("9999-12-31T23:59:59-00:01"), "id"),
            "k/undated/id.json"
        );
    }

    #[test]
    fn years_0000_to_9999_keep_four_digits_and_times_beyond_them_are_undated() {
        assert_eq!(
            hour_path("0000-01-01T00:00:00Z").as_deref(),
            Some("0000/01/01/00")
        );
        assert_eq!(
            hour_path("0000-01-01T00:30:00-00:30").as_deref(),
            Some("0000/01/01/01")
        );
        assert_eq!(
            hour_path("9999-12-31T23:59:59.9999999Z").as_deref(),
            Some("9999/12/31/23")
        );
        assert_eq!(
            hour_path("9999-12-31T23:59:59+23:59").as_deref(),
            Some("9999/12/31/00")
        );
        assert_eq!(hour_path("0000-01-01T00:00:00+00:01"), None);
        assert_eq!(hour_path("0000-01-01T00:59:59+01:00"), None);
        assert_eq!(hour_path("9999-12-31T23:00:00-01:00"), None);
        assert_eq!(
            event_blob_name("k", Some("0000-01-01T00:00:00+00:01"), "id"),
            "k/undated/id.json"
        );
    }

    #[test]
    fn ids_holding_a_phone_number_anywhere_are_hashed_in_names_and_logs() {
        for id in [
            "sms-+15555550199-1",
            "+15555550199",
            "x+1 (555) 555-0199y",
            "to:+44.20.7946.0958",
            "sms-%2B15555550199",
            "sms-%2b15555550199",
            "user/tel:15555550199",
            "TEL:+15555550199",
            "recipient/4:+15555550199",
            "4:15555550199",
            "a_4:15555550199",
            "15555550199",
            "+1 555-555-0199",
        ] {
            assert!(contains_phone_number(id), "{id}");
            let seg = encode_segment(id);
            assert!(seg.starts_with("~p") && seg.len() == 34, "{id} -> {seg}");
            assert_eq!(loggable_id(id), seg, "{id}");
            for (i, _) in seg.char_indices() {
                assert!(!seg[i..].starts_with("555"), "{id} -> {seg}");
            }
        }
    }

    #[test]
    fn ids_whose_digit_runs_are_timestamps_guids_or_chat_ids_stay_readable() {
        for (id, seg) in [
            (
                "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
                "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
            ),
            (
                "Outgoing_202009180022138813a09b-0cbf-4304-9b03-1546683bb910",
                "Outgoing_202009180022138813a09b-0cbf-4304-9b03-1546683bb910",
            ),
            (
                "00000000-0000-0000-0000-000000000000",
                "00000000-0000-0000-0000-000000000000",
            ),
            (
                "01234567-89ab-cdef-0123-456789012345",
                "01234567-89ab-cdef-0123-456789012345",
            ),
            ("19:abc@thread.v2", "19~3Aabc~40thread.v2"),
            (
                "8:acs:b6aada1f-0b1d-47ac-866f-91aae00a1d01_00000014-4:000000",
                "8~3Aacs~3Ab6aada1f-0b1d-47ac-866f-91aae00a1d01_00000014-4~3A000000",
            ),
            ("msg-1613783230064", "msg-1613783230064"),
            ("v+123456", "v~2B123456"),
            ("c++-2024-05-01", "c~2B~2B-2024-05-01"),
            ("a+b", "a~2Bb"),
            ("hotel:1234567", "hotel~3A1234567"),
            ("14:1234567", "14~3A1234567"),
        ] {
            assert!(!contains_phone_number(id), "{id}");
            assert_eq!(encode_segment(id), seg, "{id}");
        }
    }

    #[test]
    fn readable_ids_are_logged_escaped_and_bounded() {
        assert_eq!(loggable_id("19:abc@thread.v2"), "19:abc@thread.v2");
        assert_eq!(loggable_id("a\nb\u{202e}"), "a\\nb\\u{202e}");
        let long_id = "x".repeat(500);
        let long = loggable_id(&long_id);
        assert_eq!(long.chars().count(), 121);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn ids_logged_without_a_copy_read_as_the_escaped_form_would() {
        for b in 0u8..=127 {
            let id = format!("id{}x", b as char);
            if contains_phone_number(&id) {
                continue;
            }
            let escaped: String = id.chars().flat_map(char::escape_debug).collect();
            assert_eq!(loggable_id(&id), escaped, "byte {b}");
        }
    }

    #[test]
    fn every_sample_event_id_names_its_blob_as_it_is() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            // Invalid-JSON and fragment samples have no id to name a blob by.
            let Some(value) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            else {
                continue;
            };
            let events = match value {
                serde_json::Value::Array(events) => events,
                one => vec![one],
            };
            for id in events.iter().filter_map(|e| e.get("id")?.as_str()) {
                assert!(!contains_phone_number(id), "{id}");
                assert_eq!(encode_segment(id), id, "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 60, "{seen}");
    }

    /// Times shaped like RFC 3339 near the edges of the calendar, where offsets push them out of range.
    fn edge_times() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["0000", "0001", "2024", "9998", "9999"]),
            prop::sample::select(vec!["01", "12"]),
            prop::sample::select(vec!["01", "29", "31"]),
            0u8..24,
            prop::sample::select(vec!["Z", "z", "+", "-", "+", "-"]),
            0u8..24,
            0u8..60,
        )
            .prop_map(|(y, mo, d, h, sign, oh, om)| match sign {
                "Z" | "z" => format!("{y}-{mo}-{d}T{h:02}:59:59{sign}"),
                _ => format!("{y}-{mo}-{d}T{h:02}:00:00{sign}{oh:02}:{om:02}"),
            })
    }

    proptest! {

        #[test]
        fn any_time_gives_a_four_digit_hour_path_or_undated(
            time in prop_oneof![
                1 => any::<String>(),
                1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})",
                4 => edge_times(),
            ]
        ) {
            let name = event_blob_name("k", Some(&time), "id");
            let when = name.strip_prefix("k/").and_then(|n| n.strip_suffix("/id.json")).unwrap();
            if when != "undated" {
                let parts: Vec<&str> = when.split('/').collect();
                prop_assert_eq!(parts.len(), 4, "{}", when);
                prop_assert!(parts.iter().zip([4, 2, 2, 2]).all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_digit())), "{}", when);
                let [_, month, day, hour] = [0, 1, 2, 3].map(|i| parts[i].parse::<u16>().unwrap());
                prop_assert!((1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24, "{}", when);
            }
        }

        #[test]
        fn a_plus_and_seven_or_more_digits_anywhere_are_hashed(
            before in "[A-Za-z0-9_:/-]{0,12}",
            number in "[0-9][0-9 ().-]{0,6}[0-9]{6,14}",
            after in "[A-Za-z0-9_-]{0,12}",
        ) {
            let id = format!("{before}+{number}{after}");
            prop_assert!(contains_phone_number(&id));
            prop_assert!(encode_segment(&id).starts_with("~p"));
            prop_assert_eq!(loggable_id(&id), encode_segment(&id));
        }
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
