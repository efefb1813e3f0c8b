//! Bounds on text derived from user input or error messages (decoder errors quote the offending
//! field, Route 53 errors quote requests) before it reaches a condition message, an Event note or a
//! log line: one bound, applied everywhere such text leaves the operator.

use std::borrow::Cow;

/// Longest condition message the operator writes, in bytes.
pub const CONDITION_MESSAGE_MAX: usize = 1024;
/// Longest Event note: Kubernetes refuses notes over 1 kB.
pub const EVENT_NOTE_MAX: usize = 1024;
/// Longest log field holding user input or error text, in bytes.
pub const LOG_FIELD_MAX: usize = 1024;

/// `s` if it is at most `max` bytes long; otherwise its longest prefix that, cut at a character
/// boundary and followed by `… (truncated, N bytes)` (N the original length), fits in `max` bytes.
pub fn bounded(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let suffix = format!("… (truncated, {} bytes)", s.len());
    let mut end = max.saturating_sub(suffix.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{suffix}", &s[..end]))
}

/// [`bounded`] with the log field bound, for `tracing` fields.
pub fn for_log(s: &str) -> Cow<'_, str> {
    bounded(s, LOG_FIELD_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_untouched() {
        assert!(matches!(bounded("abc", 3), Cow::Borrowed("abc")));
        assert_eq!(bounded("", 0), "");
    }

    #[test]
    fn long_text_is_cut_to_the_bound_with_the_original_length() {
        let s = "x".repeat(1_000_000);
        let b = bounded(&s, 1024);
        assert!(b.len() <= 1024, "{}", b.len());
        assert!(b.ends_with("… (truncated, 1000000 bytes)"), "{b}");
        assert!(b.starts_with("xxxx"));
        assert!(b.len() > 900, "keeps as much as fits: {}", b.len());
    }

    #[test]
    fn multibyte_text_is_cut_at_a_character_boundary() {
        for pad in 0..4 {
            let s = format!("{}{}", "a".repeat(pad), "é€😀".repeat(500));
            let b = bounded(&s, 200);
            assert!(b.len() <= 200);
            // A &str is valid UTF-8 by construction; check the cut kept whole characters of the input.
            let kept = b.split('…').next().unwrap_or_default();
            assert!(s.starts_with(kept));
        }
    }

    #[test]
    fn a_bound_smaller_than_the_suffix_keeps_only_the_suffix() {
        let b = bounded("abcdefgh", 4);
        assert_eq!(b, "… (truncated, 8 bytes)");
    }
}
