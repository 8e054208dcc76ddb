//! US social security numbers: `078-05-1121` or `078 05 1121`.
//!
//! The separators are required and must be the same, so a bare nine-digit run (an order
//! or account number) is not taken for one. Numbers the SSA never issues are rejected:
//! area 000, 666 or 900–999, group 00, serial 0000, and one digit repeated throughout.

use super::numeric::{JOINERS, digits, ends_number};
use super::scanner::{Hit, Outcome};
use super::window::Window;

/// The most bytes the detector reads from a start: `ddd-dd-dddd` and two of look-ahead.
pub(super) const MAX_SPAN: usize = 13;

/// A social security number starting at `s`, a digit where a number may start.
pub(super) fn detect(w: &Window<'_>, s: usize) -> Outcome {
    if digits(w, s, 3)? != Some(3) {
        return Ok(None);
    }
    let sep = match w.at(s + 3)? {
        Some(c @ (b'-' | b' ')) => c,
        _ => return Ok(None),
    };
    if digits(w, s + 4, 2)? != Some(2) || w.at(s + 6)? != Some(sep) {
        return Ok(None);
    }
    if digits(w, s + 7, 4)? != Some(4) || !ends_number(w, s + 11, None, JOINERS)? {
        return Ok(None);
    }
    let b = w.bytes();
    let area = &b[s..s + 3];
    let group = &b[s + 4..s + 6];
    let serial = &b[s + 7..s + 11];
    Ok(issuable(area, group, serial).then_some(Hit::Fixed { end: s + 11 }))
}

fn issuable(area: &[u8], group: &[u8], serial: &[u8]) -> bool {
    let first = area[0];
    let all_same = area.iter().chain(group).chain(serial).all(|&d| d == first);
    area != b"000"
        && area != b"666"
        && first != b'9'
        && group != b"00"
        && serial != b"0000"
        && !all_same
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> bool {
        detect(&Window::new(text.as_bytes(), true), 0)
            .unwrap()
            .is_some()
    }

    #[test]
    fn issuance_rules() {
        assert!(found("078-05-1121"));
        assert!(found("078 05 1121"));
        assert!(!found("000-12-3456"));
        assert!(!found("666-12-3456"));
        assert!(!found("912-12-3456"));
        assert!(!found("123-00-4567"));
        assert!(!found("123-45-0000"));
        assert!(!found("111-11-1111"));
    }

    #[test]
    fn separators_must_match_and_the_number_must_end() {
        assert!(!found("078-05 1121"));
        assert!(!found("078051121"));
        assert!(!found("078-05-11211"));
        assert!(!found("078-05-1121-4"));
        assert!(found("078-05-1121."));
    }
}
