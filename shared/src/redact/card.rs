//! Payment card numbers: 13 to 19 digits with a valid Luhn check digit, either ungrouped
//! or printed in groups split by single spaces or dashes (one kind of separator per
//! number): a first group of four, then groups of three to six (4-4-4-4, 4-6-5, 4-6-4,
//! 4-4-4-4-3).
//!
//! Precision choices: the first digit must be 2–6 (Mastercard 2-series, Amex, Diners,
//! JCB, Visa, Mastercard, Discover, UnionPay, Maestro), which keeps 13-digit millisecond
//! timestamps and most order or tracking numbers out; a Luhn-invalid number is never a
//! card; "card ending in 1881" has too few digits to be one.

use super::numeric::{JOINERS, ends_number};
use super::scanner::{Hit, Outcome};
use super::window::{Peek, Window};

const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;

/// The most bytes the detector reads from a start: every digit, a separator between each
/// two, and two bytes of look-ahead.
pub(super) const MAX_SPAN: usize = 2 * MAX_DIGITS + 2;

/// A card number starting at `s`, a digit where a number may start.
pub(super) fn detect(w: &Window<'_>, s: usize) -> Outcome {
    if !matches!(w.bytes()[s], b'2'..=b'6') {
        return Ok(None);
    }
    let mut digits = [0u8; MAX_DIGITS];
    let mut n = 0;
    let mut sep: Option<u8> = None;
    let mut i = s;
    loop {
        // One group of digits.
        let group_start = n;
        while let Some(d) = w.at(i)?.filter(u8::is_ascii_digit) {
            if n == MAX_DIGITS {
                return Ok(None);
            }
            digits[n] = d - b'0';
            n += 1;
            i += 1;
        }
        if sep.is_some() && !(3..=6).contains(&(n - group_start)) {
            // Printed cards group by 4 (or 4-6-5, 4-6-4); "2 3 4 5 …" is a list.
            return Ok(None);
        }
        if n >= MIN_DIGITS && luhn_valid(&digits[..n]) && ends_number(w, i, sep, JOINERS)? {
            // The shortest valid span wins: 16-digit cards are by far the most common,
            // and a longer span would swallow a number that follows (an SSN, a CVV).
            return Ok(Some(Hit::Fixed { end: i }));
        }
        match next_group(w, i, sep)? {
            Some(c) if sep.is_some() || n == 4 => {
                sep = Some(c);
                i += 1;
            }
            Some(_) | None => return Ok(None),
        }
    }
}

/// The separator at `i` if another group of the same number follows it.
fn next_group(w: &Window<'_>, i: usize, sep: Option<u8>) -> Peek<Option<u8>> {
    let Some(c) = w.at(i)? else { return Ok(None) };
    let is_sep = matches!(c, b' ' | b'-') && sep.is_none_or(|s| s == c);
    if is_sep && w.is(i + 1, |d| d.is_ascii_digit())? {
        Ok(Some(c))
    } else {
        Ok(None)
    }
}

/// The Luhn (mod 10) check over decimal digit values.
pub(super) fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &d)| {
            let d = u32::from(d);
            if k % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid(&values("4012888888881881")));
        assert!(luhn_valid(&values("378282246310005")));
        assert!(!luhn_valid(&values("4012888888881882")));
    }

    #[test]
    fn picks_the_shortest_valid_span() {
        let text = "4012 8888 8888 1881 123";
        let w = Window::new(text.as_bytes(), true);
        assert_eq!(detect(&w, 0), Ok(Some(Hit::Fixed { end: 19 })));
    }

    #[test]
    fn mixed_separators_split_the_number() {
        let w = Window::new(b"4012 8888-8888 1881", true);
        assert_eq!(detect(&w, 0), Ok(None));
    }
}
