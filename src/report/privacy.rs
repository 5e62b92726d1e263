//! What a report may show: by default no identifier that names a person (thread ids are hashed) and
//! no phone number inside the texts it quotes; `--show-identifiers` shows them on purpose.

use crate::archive::layout::sha256_hex;

/// Hashed and masked unless asked otherwise: the default is the private one.
#[derive(Debug, Clone, Copy, Default)]
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

/// Replaces what reads as a phone number with `[number]`: a `+` (or its URL form `%2B`) followed by
/// 7 or more digits, or 9 or more digits, where digits may be apart by up to three separators (space,
/// no-break space, `.`, `-`, `/`, brackets). Digits of any script count. Error codes (`131026`),
/// dates (`2026-12-01`: 8 digits) and short numbers stay; over-masking is the safe side.
pub fn mask_numbers(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let plus_len = if c[i] == '+' {
            1
        } else if c.len() >= i + 3 && c[i] == '%' && c[i + 1] == '2' && matches!(c[i + 2], 'b' | 'B') {
            3
        } else {
            0
        };
        if plus_len > 0 || c[i].is_numeric() || c[i] == '(' {
            let (end, digits) = number_run(&c, i + plus_len);
            if (plus_len > 0 && digits >= 7) || digits >= 9 {
                out.push_str("[number]");
                i = end;
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// From `start`: the end of a run of digits with at most three separators between neighbours, and
/// its digits.
fn number_run(c: &[char], start: usize) -> (usize, usize) {
    let separator = |ch: char| matches!(ch, ' ' | '\u{a0}' | '.' | '-' | '/' | '(' | ')');
    let (mut i, mut end, mut digits) = (start, start, 0);
    while i < c.len() {
        if c[i].is_numeric() {
            digits += 1;
            i += 1;
            end = i;
            continue;
        }
        let gap = c[i..].iter().take(4).take_while(|ch| separator(**ch)).count();
        if gap == 0 || gap > 3 || !c.get(i + gap).is_some_and(|ch| ch.is_numeric()) {
            break;
        }
        i += gap;
    }
    (end, digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_in_texts_are_masked_and_codes_stay() {
        for (text, masked) in [
            (
                "Failed to reach +1 (425) 555-0123 today",
                "Failed to reach [number] today",
            ),
            ("number 14255550123.", "number [number]."),
            ("425.555.0123 and", "[number] and"),
            ("tel14255550123", "tel[number]"),
            ("to %2B14255550123", "to [number]"),
            ("425\u{a0}555\u{a0}0123", "[number]"),
            ("425/555/0123 or 425 - 555 - 0123", "[number] or [number]"),
            ("(425)  555-0123", "[number]"),
            (
                "\u{ff14}\u{ff12}\u{ff15}\u{ff15}\u{ff15}\u{ff15}\u{ff10}\u{ff11}\u{ff12}",
                "[number]",
            ),
            (
                "131026 Message undeliverable on 2026-12-01",
                "131026 Message undeliverable on 2026-12-01",
            ),
            ("+12 and +", "+12 and +"),
            ("22 33 44 55", "22 33 44 55"),
        ] {
            assert_eq!(mask_numbers(text), masked, "{text:?}");
        }
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
