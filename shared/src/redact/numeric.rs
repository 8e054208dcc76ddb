//! Where a number may start and end: the boundary rules shared by the digit-based kinds.
//!
//! The `regex` crate has no look-around, and these rules are about what surrounds a match,
//! so they live here as code. A number must not be glued to letters or digits, and must
//! not be a piece of a longer dotted, dashed or slashed number (a version `1.2.3.4.5`, a
//! date `2024-01-15`, a time `10:45`).

use super::window::{Peek, Window, is_word};

/// Punctuation that, between digits, makes one longer number out of two.
pub(super) const JOINERS: &[u8] = b".,-/:";

/// Whether a number may start at `s`, judging only by what precedes it.
#[inline]
pub(super) fn starts_number(w: &Window<'_>, s: usize) -> bool {
    match w.before(s, 1) {
        None => true,
        Some(p) if is_word(p) => false,
        Some(p) if JOINERS.contains(&p) => !w.before(s, 2).is_some_and(|b| b.is_ascii_digit()),
        Some(_) => true,
    }
}

/// Whether a number may end at `e`, judging only by what follows it.
///
/// `group_sep` is the separator between the number's own digit groups: a match may end at
/// a group boundary even when another group follows (the longest valid span is chosen by
/// the caller). `joiners` are the characters that, followed by a digit, would make the
/// match part of a longer number.
#[inline]
pub(super) fn ends_number(
    w: &Window<'_>,
    e: usize,
    group_sep: Option<u8>,
    joiners: &[u8],
) -> Peek<bool> {
    Ok(match w.at(e)? {
        None => true,
        Some(b) if is_word(b) => false,
        Some(b) if Some(b) == group_sep => true,
        Some(b) if joiners.contains(&b) => !w.is(e + 1, |d| d.is_ascii_digit())?,
        Some(_) => true,
    })
}

/// Reads a run of 1 to `max` digits at `i`; `None` if there is none or it is longer.
#[inline]
pub(super) fn digits(w: &Window<'_>, i: usize, max: usize) -> Peek<Option<usize>> {
    Ok(w.run(i, max, |b| b.is_ascii_digit())?.filter(|&n| n > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(s: &str) -> Window<'_> {
        Window::new(s.as_bytes(), true)
    }

    #[test]
    fn starts_reject_glued_and_continued_numbers() {
        assert!(starts_number(&win("5"), 0));
        assert!(starts_number(&win("a 5"), 2));
        assert!(!starts_number(&win("a5"), 1));
        assert!(!starts_number(&win("1.5"), 2));
        assert!(!starts_number(&win("1-5"), 2));
        assert!(starts_number(&win("v.5"), 2));
        assert!(starts_number(&win("1 5"), 2));
    }

    #[test]
    fn ends_reject_glued_and_continued_numbers() {
        assert_eq!(ends_number(&win("5"), 1, None, JOINERS), Ok(true));
        assert_eq!(ends_number(&win("5."), 1, None, JOINERS), Ok(true));
        assert_eq!(ends_number(&win("5.5"), 1, None, JOINERS), Ok(false));
        assert_eq!(ends_number(&win("5x"), 1, None, JOINERS), Ok(false));
        assert_eq!(ends_number(&win("5-5"), 1, Some(b'-'), JOINERS), Ok(true));
        assert_eq!(ends_number(&win("5:80"), 1, None, b"."), Ok(true));
        let growing = Window::new(b"5.", false);
        assert!(ends_number(&growing, 1, None, JOINERS).is_err());
    }
}
