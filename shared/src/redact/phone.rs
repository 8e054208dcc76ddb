//! Phone numbers, validated against libphonenumber's numbering plans (see `phone_plan`).
//!
//! Two written forms count. North American numbers need their punctuation:
//! `(212) 555-0147`, `212-555-0147`, `212.555.0147`, `212 555 0147`, optionally behind a
//! `1-` trunk prefix. International numbers need the leading `+`: `+44 20 7946 0958`,
//! `+442079460958`, `+1 (212) 555-0147`, `+44 (0)20 7946 0958`. A bare run of digits
//! ("order 2125550147") is never taken for a phone number, whatever it would parse as.

use super::Redactor;
use super::numeric::{JOINERS, digits, ends_number};
use super::scanner::{Hit, Outcome};
use super::window::Window;

/// E.164 allows at most 15 digits including the country code.
const MAX_DIGITS: usize = 15;
/// Shorter international numbers exist only in a few tiny numbering plans.
const MIN_DIGITS: usize = 7;

/// The most bytes either detector reads from a start: every digit with a separator and
/// a pair of parentheses around each, one `(0)`, and two bytes of look-ahead.
pub(super) const MAX_SPAN: usize = 5 * MAX_DIGITS;

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.')
}

/// A North American number starting at `s`: a digit where a number may start, or `(`.
pub(super) fn nanp(r: &Redactor, w: &Window<'_>, s: usize) -> Outcome {
    let mut i = s;
    if w.bytes()[s] == b'1' {
        // The trunk prefix, as in 1-800-555-0199; area codes never start with 1.
        if !w.is(s + 1, is_sep)? {
            return Ok(None);
        }
        i = s + 2;
    }
    let mut national = [0u8; 10];
    if w.at(i)? == Some(b'(') {
        if digits(w, i + 1, 3)? != Some(3) || w.at(i + 4)? != Some(b')') {
            return Ok(None);
        }
        national[..3].copy_from_slice(&w.bytes()[i + 1..i + 4]);
        i += 5;
        if w.is(i, |b| b == b' ' || b == b'-')? {
            i += 1;
        }
    } else {
        if digits(w, i, 3)? != Some(3) || !w.is(i + 3, is_sep)? {
            return Ok(None);
        }
        national[..3].copy_from_slice(&w.bytes()[i..i + 3]);
        i += 4;
    }
    if digits(w, i, 3)? != Some(3) || !w.is(i + 3, is_sep)? {
        return Ok(None);
    }
    national[3..6].copy_from_slice(&w.bytes()[i..i + 3]);
    i += 4;
    if digits(w, i, 4)? != Some(4) {
        return Ok(None);
    }
    national[6..].copy_from_slice(&w.bytes()[i..i + 4]);
    i += 4;
    if !ends_number(w, i, None, JOINERS)? {
        return Ok(None);
    }
    if !matches!(national[0], b'2'..=b'9') {
        // No NANP area code starts with 0 or 1; skip the costly validation for
        // placeholders like 123-456-7890.
        return Ok(None);
    }
    let mut e164 = [0u8; 11];
    e164[0] = b'1';
    e164[1..].copy_from_slice(&national);
    Ok(valid(r, &e164).then_some(Hit::Fixed { end: i }))
}

/// An international number starting at `s`, a `+` that does not follow a letter or digit.
pub(super) fn international(r: &Redactor, w: &Window<'_>, s: usize) -> Outcome {
    let mut digits_seen = [0u8; MAX_DIGITS];
    let mut n = 0;
    // Where each digit group ends, with the digit count up to there.
    let mut ends = [(0usize, 0usize); MAX_DIGITS];
    let mut groups = 0;
    let mut i = s + 1;
    let mut first = true;
    let mut trunk_seen = false;
    loop {
        match w.at(i)? {
            Some(b'(') if !first => {
                let Some(k) = digits(w, i + 1, 4)? else {
                    return best(r, w, &digits_seen, &ends[..groups]);
                };
                if w.at(i + 1 + k)? != Some(b')') {
                    return best(r, w, &digits_seen, &ends[..groups]);
                }
                let inner = &w.bytes()[i + 1..i + 1 + k];
                // "(0)" is the national trunk prefix shown for callers inside the country.
                if inner == b"0" {
                    if trunk_seen {
                        return best(r, w, &digits_seen, &ends[..groups]);
                    }
                    trunk_seen = true;
                } else {
                    if n + k > MAX_DIGITS {
                        return best(r, w, &digits_seen, &ends[..groups]);
                    }
                    digits_seen[n..n + k].copy_from_slice(inner);
                    n += k;
                }
                i += k + 2;
            }
            Some(b) if b.is_ascii_digit() => {
                let Some(k) = digits(w, i, MAX_DIGITS - n)? else {
                    return best(r, w, &digits_seen, &ends[..groups]);
                };
                digits_seen[n..n + k].copy_from_slice(&w.bytes()[i..i + k]);
                n += k;
                i += k;
                ends[groups] = (i, n);
                groups += 1;
            }
            _ => return best(r, w, &digits_seen, &ends[..groups]),
        }
        first = false;
        // One optional separator, then another group.
        let next = w.at(i)?;
        if next.is_some_and(is_sep) && w.is(i + 1, |b| b.is_ascii_digit() || b == b'(')? {
            i += 1;
        } else if !next.is_some_and(|b| b.is_ascii_digit() || b == b'(') {
            return best(r, w, &digits_seen, &ends[..groups]);
        }
    }
}

/// The longest prefix, ending after a digit group, that is a valid number.
fn best(r: &Redactor, w: &Window<'_>, digits: &[u8], ends: &[(usize, usize)]) -> Outcome {
    for &(end, n) in ends.iter().rev() {
        if n < MIN_DIGITS {
            break;
        }
        if ends_number(w, end, None, JOINERS)? && valid(r, &digits[..n]) {
            return Ok(Some(Hit::Fixed { end }));
        }
    }
    Ok(None)
}

/// Whether the digits, read as `+<digits>`, are a valid number somewhere.
///
/// North American numbers go through here with their `1`, so Canadian and Caribbean
/// numbers count as well as US ones.
fn valid(r: &Redactor, digits: &[u8]) -> bool {
    r.phone_plans().is_valid(digits)
}
