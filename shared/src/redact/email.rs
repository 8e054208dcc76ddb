//! E-mail addresses: `local@domain.tld`.
//!
//! The local part starts at a letter or digit that does not continue a word, so in
//! `"<ops.team@x.io>"` or `mailto:ops@x.io` only the address itself goes. The domain needs
//! at least two labels and an alphabetic top-level label: `user@localhost` and `@handle`
//! stay, and a sentence's final period is not part of the address.

use super::scanner::{Hit, Outcome};
use super::window::Window;

/// Longest local part (RFC 5321); a longer run before `@` is not an address.
pub(super) const MAX_LOCAL: usize = 64;
/// Longest domain (RFC 1035).
const MAX_DOMAIN: usize = 253;
/// Longest label of a domain.
const MAX_LABEL: usize = 63;

/// The most bytes the detector reads from a start: local part, `@`, domain and the byte
/// after it.
pub(super) const MAX_SPAN: usize = MAX_LOCAL + 1 + MAX_DOMAIN + 1;

pub(super) fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

/// An address starting at `s`, which the scanner has checked is a letter or digit that
/// does not follow one.
pub(super) fn detect(w: &Window<'_>, s: usize) -> Outcome {
    let Some(local) = w.run(s, MAX_LOCAL, is_local)? else {
        return Ok(None);
    };
    let at = s + local;
    if w.at(at)? != Some(b'@') {
        return Ok(None);
    }
    let domain_start = at + 1;
    let Some(run) = w.run(domain_start, MAX_DOMAIN, is_domain)? else {
        return Ok(None);
    };
    let domain = trim_trailing(&w.bytes()[domain_start..domain_start + run]);
    if !valid_domain(domain) {
        return Ok(None);
    }
    Ok(Some(Hit::Fixed {
        end: domain_start + domain.len(),
    }))
}

/// Drops the `.` or `-` that end a sentence or a dash after an address.
fn trim_trailing(mut domain: &[u8]) -> &[u8] {
    while let [rest @ .., b'.' | b'-'] = domain {
        domain = rest;
    }
    domain
}

fn valid_domain(domain: &[u8]) -> bool {
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        let ok = !label.is_empty()
            && label.len() <= MAX_LABEL
            && label.first() != Some(&b'-')
            && label.last() != Some(&b'-');
        if !ok {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_of(text: &str, s: usize) -> Option<usize> {
        match detect(&Window::new(text.as_bytes(), true), s).unwrap() {
            Some(Hit::Fixed { end }) => Some(end),
            Some(Hit::Open { .. }) | None => None,
        }
    }

    #[test]
    fn domain_rules() {
        assert!(valid_domain(b"corp.example.net"));
        assert!(valid_domain(b"x.io"));
        assert!(!valid_domain(b"localhost"));
        assert!(!valid_domain(b"a..b"));
        assert!(!valid_domain(b"-a.com"));
        assert!(!valid_domain(b"host.123"));
        assert!(!valid_domain(b"a.c"));
    }

    #[test]
    fn sentence_period_is_not_part_of_the_domain() {
        assert_eq!(end_of("ops@x.io.", 0), Some(8));
        assert_eq!(end_of("ops@x.io-", 0), Some(8));
    }

    #[test]
    fn over_long_local_part_is_not_an_address() {
        let long = format!("{}@x.io", "a".repeat(MAX_LOCAL + 1));
        assert_eq!(end_of(&long, 0), None);
        let ok = format!("{}@x.io", "a".repeat(MAX_LOCAL));
        assert_eq!(end_of(&ok, 0), Some(ok.len()));
    }
}
