//! What a report may show: by default no identifier that names a person (thread ids are hashed) and
//! no phone number inside the texts it quotes; `--show-identifiers` shows them on purpose.

use crate::archive::layout::sha256_hex;

#[derive(Debug, Clone, Copy)]
pub struct Privacy {
    show: bool,
}

impl Privacy {
    pub fn hashed() -> Self {
        Privacy { show: false }
    }

    pub fn shown() -> Self {
        Privacy { show: true }
    }

    pub fn shows_identifiers(&self) -> bool {
        self.show
    }

    /// A thread as the report names it: `thread-` and 12 hex digits of the SHA-256 of its id, the
    /// same in every report, so one thread can be followed from week to week without its id.
    pub fn thread(&self, id: &str) -> String {
        if self.show {
            return id.to_owned();
        }
        format!("thread-{}", &sha256_hex(id.as_bytes())[..12])
    }

    /// A quoted text with its phone numbers masked.
    pub fn text(&self, text: &str) -> String {
        if self.show {
            return text.to_owned();
        }
        mask_numbers(text)
    }
}

/// Replaces what reads as a phone number with `[number]`: 7 or more digits after a `+`, or 9 or
/// more digits with at most single spaces, dots, dashes or brackets between them. Error codes
/// (`131026`), years and dates (`2026-12-01`: 8 digits) stay.
pub fn mask_numbers(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i] == b'+' || bytes[i].is_ascii_digit() || bytes[i] == b'(';
        let after_word = i > 0 && (bytes[i - 1].is_ascii_alphanumeric());
        if !starts || after_word {
            i += 1;
            continue;
        }
        let plus = bytes[i] == b'+';
        let (end, digits) = number_run(bytes, if plus { i + 1 } else { i });
        if (plus && digits >= 7) || digits >= 9 {
            out.push_str(&text[copied..i]);
            out.push_str("[number]");
            copied = end;
            i = end;
        } else {
            i = end.max(i + 1);
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// From `start`: the end of a run of digits with single separators between them, and its digits.
fn number_run(bytes: &[u8], start: usize) -> (usize, usize) {
    let mut digits = 0;
    let mut end = start;
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() {
            digits += 1;
            i += 1;
            end = i;
        } else if matches!(b, b' ' | b'.' | b'-' | b'(' | b')') && i + 1 < bytes.len() {
            let next = bytes[i + 1];
            if next.is_ascii_digit() || (b == b')' && next == b' ') || (b == b' ' && next == b'(') {
                i += 1;
            } else {
                break;
            }
        } else {
            break;
        }
    }
    (end, digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_in_texts_are_masked_and_codes_stay() {
        assert_eq!(
            mask_numbers("Failed to reach +1 (425) 555-0123 today"),
            "Failed to reach [number] today"
        );
        assert_eq!(mask_numbers("number 14255550123."), "number [number].");
        assert_eq!(mask_numbers("425.555.0123 and"), "[number] and");
        assert_eq!(
            mask_numbers("131026 Message undeliverable on 2026-12-01"),
            "131026 Message undeliverable on 2026-12-01"
        );
        assert_eq!(mask_numbers("+12 and +"), "+12 and +");
        assert_eq!(mask_numbers("id abc1234567890"), "id abc1234567890");
    }

    #[test]
    fn threads_are_hashed_unless_shown() {
        let id = "19:abc@thread.v2";
        let hashed = Privacy::hashed().thread(id);
        assert_eq!(hashed, format!("thread-{}", &sha256_hex(id.as_bytes())[..12]));
        assert_eq!(Privacy::shown().thread(id), id);
        assert_eq!(Privacy::shown().text("+14255550123"), "+14255550123");
    }
}
