//! IPv4 addresses in dotted-quad form, checked with the standard library's parser
//! (octets 0–255, no leading zeros).
//!
//! A quad that is part of a longer dotted number (`1.2.3.4.5`, a version string) is not an
//! address; a port after a colon (`10.0.0.1:8080`) does not stop one.

use std::net::Ipv4Addr;

use super::numeric::{digits, ends_number};
use super::scanner::{Hit, Outcome};
use super::window::Window;

/// The most bytes the detector reads from a start: `255.255.255.255` and two of
/// look-ahead.
pub(super) const MAX_SPAN: usize = 17;

/// An address starting at `s`, a digit where a number may start.
pub(super) fn detect(w: &Window<'_>, s: usize) -> Outcome {
    let mut i = s;
    for octet in 0..4 {
        let Some(n) = digits(w, i, 3)? else {
            return Ok(None);
        };
        i += n;
        if octet < 3 {
            if w.at(i)? != Some(b'.') {
                return Ok(None);
            }
            i += 1;
        }
    }
    if !ends_number(w, i, None, b".")? {
        return Ok(None);
    }
    let parsed = std::str::from_utf8(&w.bytes()[s..i])
        .ok()
        .and_then(|text| text.parse::<Ipv4Addr>().ok());
    Ok(parsed.map(|_| Hit::Fixed { end: i }))
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
    fn octets_are_parsed() {
        assert!(found("192.168.1.20"));
        assert!(found("10.0.0.1:8080"));
        assert!(!found("256.1.1.1"));
        assert!(!found("1.2.3"));
        assert!(!found("1.2.3.4.5"));
        assert!(!found("1.2.3.1000"));
        assert!(!found("01.2.3.4"));
    }
}
