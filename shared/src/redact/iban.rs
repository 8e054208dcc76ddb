//! IBANs: country code, two check digits and the BBAN, either compact
//! (`GB82WEST12345698765432`) or printed in groups of four split by single spaces
//! (`GB82 WEST 1234 5698 7654 32`).
//!
//! Only upper-case forms are looked for. Every candidate must pass `iban_validate`
//! (known country, BBAN format, mod-97 check digits), so a word like `AB12 CDEF` never
//! is one. For the grouped form the longest valid run of groups wins, which lets an IBAN
//! be followed by an upper-case word.

use super::scanner::{Hit, Outcome};
use super::window::{Window, is_word};

const MIN_LEN: usize = 15;
const MAX_LEN: usize = 34;

/// The most bytes the detector reads from a start: 34 characters, a space every four,
/// and the look-ahead past a group that turns out too long.
pub(super) const MAX_SPAN: usize = MAX_LEN + MAX_LEN / 4 + 6;

fn is_bban(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

/// An IBAN starting at `s`, an upper-case letter that does not follow a letter or digit.
pub(super) fn detect(w: &Window<'_>, s: usize) -> Outcome {
    if w.before(s, 1).is_some_and(is_word)
        || !w.is(s + 1, |b| b.is_ascii_uppercase())?
        || !w.is(s + 2, |b| b.is_ascii_digit())?
        || !w.is(s + 3, |b| b.is_ascii_digit())?
    {
        return Ok(None);
    }
    match w.at(s + 4)? {
        Some(b' ') => grouped(w, s),
        Some(b) if is_bban(b) => compact(w, s),
        _ => Ok(None),
    }
}

fn compact(w: &Window<'_>, s: usize) -> Outcome {
    let Some(n) = w.run(s, MAX_LEN, is_bban)? else {
        return Ok(None);
    };
    let end = s + n;
    if n < MIN_LEN || w.is(end, is_word)? {
        return Ok(None);
    }
    Ok(valid(&w.bytes()[s..end]).then_some(Hit::Fixed { end }))
}

fn grouped(w: &Window<'_>, s: usize) -> Outcome {
    let mut chars = [0u8; MAX_LEN];
    chars[..4].copy_from_slice(&w.bytes()[s..s + 4]);
    let mut len = 4;
    let mut i = s + 4;
    let mut best = None;
    while w.at(i)? == Some(b' ') {
        let Some(n) = w.run(i + 1, 4, is_bban)? else {
            // A run of five or more is not a group: the IBAN, if any, ended before it.
            break;
        };
        if n == 0 || len + n > MAX_LEN {
            break;
        }
        chars[len..len + n].copy_from_slice(&w.bytes()[i + 1..i + 1 + n]);
        len += n;
        i += 1 + n;
        if len >= MIN_LEN && !w.is(i, is_word)? && valid(&chars[..len]) {
            best = Some(i);
        }
        if n < 4 {
            // A short group is the last one.
            break;
        }
    }
    Ok(best.map(|end| Hit::Fixed { end }))
}

fn valid(electronic: &[u8]) -> bool {
    std::str::from_utf8(electronic)
        .ok()
        .is_some_and(|text| text.parse::<iban::Iban>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(text: &str) -> Option<usize> {
        match detect(&Window::new(text.as_bytes(), true), 0).unwrap() {
            Some(Hit::Fixed { end }) => Some(end),
            Some(Hit::Open { .. }) | None => None,
        }
    }

    #[test]
    fn compact_and_grouped_forms() {
        assert_eq!(span("GB82WEST12345698765432"), Some(22));
        assert_eq!(span("GB82 WEST 1234 5698 7654 32"), Some(27));
        assert_eq!(span("DE44 5001 0517 5407 3249 31 THANKS"), Some(27));
        assert_eq!(span("GB82WEST12345698765433"), None);
        assert_eq!(span("GB82WEST12345698765432x"), None);
        assert_eq!(span("AB12 CDEF"), None);
    }
}
