//! The left-to-right scan that both the whole-text and the streaming redactor run.
//!
//! At each position where a match could start, every detector that applies is asked
//! whether a match starts exactly there. Each answer depends only on a bounded window
//! around the position, read through [`Window`], so an answer given on a stream buffer is
//! the answer the whole text would give, unless the detector said [`NeedMore`]. The scan
//! takes the leftmost position with a match (the longest one there, ties broken by
//! [`RedactionKind`] order) and stops at the first position some detector cannot decide
//! yet: everything before that position is final, which is what the stream emits.

use super::Redactor;
use super::kind::RedactionKind;
use super::window::{NeedMore, Peek, Window, is_key_char};
use super::{api_key, card, email, iban, ipv4, numeric, phone, ssn};

/// What a detector found at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hit {
    /// A match that ends at `end`.
    Fixed { end: usize },
    /// A match that is certain up to `end` and goes on for as long as `tail` accepts the
    /// following bytes: the body of a key, which has no fixed length.
    Open { end: usize, tail: Tail },
}

/// A detector's verdict at one position.
pub(super) type Outcome = Peek<Option<Hit>>;

/// How the variable-length end of an open match continues, one byte at a time.
///
/// A byte is either part of the match or ends it, with no look-ahead, so the stream can
/// keep masking a long key while it arrives instead of holding it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tail {
    /// URL-safe base64 characters.
    KeyRun,
    /// The payload segment of a JWT; a `.` starts the signature.
    JwtPayload,
    /// The signature segment of a JWT.
    JwtSignature,
}

impl Tail {
    fn step(self, b: u8) -> Option<Tail> {
        match self {
            Tail::KeyRun | Tail::JwtSignature if is_key_char(b) => Some(self),
            Tail::JwtPayload if is_key_char(b) => Some(self),
            Tail::JwtPayload if b == b'.' => Some(Tail::JwtSignature),
            Tail::KeyRun | Tail::JwtPayload | Tail::JwtSignature => None,
        }
    }

    /// Follows the tail from `i`: where it ends, and the state to resume in if it ran
    /// into the end of a buffer that is still growing.
    pub(super) fn extend(self, w: &Window<'_>, mut i: usize) -> (usize, Option<Tail>) {
        let mut state = self;
        while let Some(&b) = w.bytes().get(i) {
            match state.step(b) {
                Some(next) => state = next,
                None => return (i, None),
            }
            i += 1;
        }
        (i, (!w.eof()).then_some(state))
    }
}

/// One selected match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) kind: RedactionKind,
    /// Set when the match reached the end of a growing buffer and goes on in `Tail`.
    pub(super) open: Option<Tail>,
}

/// The next thing the scan has to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// The leftmost match at or after the scan start.
    Match(Found),
    /// Nothing before this position matches, and whether something starts here is not
    /// known yet.
    Pending(usize),
    /// Nothing matches anywhere from the scan start to the end of the buffer.
    Done,
}

/// Scans `w` from `from` for the leftmost match. `at_signs` caches where the next `@`
/// is; keep one per window across calls so a text with many matches is not searched
/// again after each.
pub(super) fn next(r: &Redactor, w: &Window<'_>, from: usize, at_signs: &mut AtSigns) -> Event {
    let bytes = w.bytes();
    let mut prev_alnum = w.before(from, 1).is_some_and(|b| b.is_ascii_alphanumeric());
    let mut s = from;
    while s < bytes.len() {
        let class = CLASS[usize::from(bytes[s])];
        // Every kind starts at a letter, digit, `+` or `(` that does not continue a word,
        // so the bytes inside words, spaces and punctuation cost one lookup each.
        let start = !prev_alnum && class != 0;
        prev_alnum = class & ALNUM != 0;
        if start && worth_a_look(w, s, class, at_signs) {
            match best_at(r, w, s, at_signs) {
                Err(NeedMore) => return Event::Pending(s),
                Ok(Some(found)) => return Event::Match(found),
                Ok(None) => {}
            }
        }
        s += 1;
    }
    Event::Done
}

/// A letter or digit.
const ALNUM: u8 = 1;
/// A byte that starts a number: a digit, `+` or `(`.
const NUMBER: u8 = 2;
/// An upper-case letter: an IBAN or an AWS or Google key may start with it.
const UPPER: u8 = 4;
/// A lower-case letter that begins some key prefix.
const KEY_LOWER: u8 = 8;

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_digit() {
            ALNUM | NUMBER
        } else if c.is_ascii_uppercase() {
            ALNUM | UPPER
        } else if matches!(c, b's' | b'r' | b'g' | b'x' | b'e' | b'a') {
            ALNUM | KEY_LOWER
        } else if c.is_ascii_lowercase() {
            ALNUM
        } else if c == b'+' || c == b'(' {
            NUMBER
        } else {
            0
        };
        b += 1;
    }
    table
};

/// A cheap test that rules out most word starts before any detector runs: it only says
/// no where every detector would (a letter can only start a key or an IBAN when the next
/// byte fits one of their prefixes, and only an e-mail address when an `@` is near).
#[inline]
fn worth_a_look(w: &Window<'_>, s: usize, class: u8, at_signs: &mut AtSigns) -> bool {
    if class & NUMBER != 0 || at_signs.near(w, s) {
        return true;
    }
    let Some(&next) = w.bytes().get(s + 1) else {
        // At the end of a growing buffer a detector would ask for more.
        return !w.eof();
    };
    if class & UPPER != 0 {
        return next.is_ascii_uppercase();
    }
    if class & KEY_LOWER != 0 {
        return match w.bytes()[s] {
            b's' | b'r' | b'a' => next == b'k',
            b'g' => next == b'h' || next == b'i',
            b'x' => next == b'o',
            b'e' => next == b'y',
            _ => false,
        };
    }
    false
}

/// The best match starting exactly at `s`.
///
/// Phone numbers are tried last: their validation is by far the costliest step, and a
/// detector asking for more bytes first saves running it on every push of a stream.
fn best_at(r: &Redactor, w: &Window<'_>, s: usize, at_signs: &mut AtSigns) -> Peek<Option<Found>> {
    let mut best = Best::new(s);
    let b = w.bytes()[s];
    if b.is_ascii_alphanumeric() && at_signs.near(w, s) {
        best.offer(w, RedactionKind::Email, email::detect(w, s)?)?;
    }
    if b.is_ascii_digit() {
        if numeric::starts_number(w, s) {
            best.offer(w, RedactionKind::Ssn, ssn::detect(w, s)?)?;
            best.offer(w, RedactionKind::Card, card::detect(w, s)?)?;
            best.offer(w, RedactionKind::Ipv4, ipv4::detect(w, s)?)?;
            best.offer(w, RedactionKind::Phone, phone::nanp(r, w, s)?)?;
        }
    } else if b == b'(' {
        best.offer(w, RedactionKind::Phone, phone::nanp(r, w, s)?)?;
    } else if b == b'+' {
        best.offer(w, RedactionKind::Phone, phone::international(r, w, s)?)?;
    } else {
        if b.is_ascii_uppercase() {
            best.offer(w, RedactionKind::Iban, iban::detect(w, s)?)?;
        }
        best.offer(w, RedactionKind::ApiKey, api_key::detect(w, s)?)?;
    }
    Ok(best.found)
}

/// The best of the matches offered at one start.
struct Best {
    start: usize,
    found: Option<Found>,
}

impl Best {
    fn new(start: usize) -> Self {
        Best { start, found: None }
    }

    #[inline]
    fn offer(&mut self, w: &Window<'_>, kind: RedactionKind, hit: Option<Hit>) -> Peek<()> {
        let Some(hit) = hit else { return Ok(()) };
        let (end, open) = match hit {
            // A fixed match that touches the end of a growing buffer could still be
            // outgrown by a longer one there; detectors already check the byte after a
            // match, and this keeps the rule even if one forgets.
            Hit::Fixed { end } if end >= w.len() && !w.eof() => return Err(NeedMore),
            Hit::Fixed { end } => (end, None),
            Hit::Open { end, tail } => tail.extend(w, end),
        };
        let candidate = Found {
            start: self.start,
            end,
            kind,
            open,
        };
        // Longest wins and an open match is longer than anything that has ended; among
        // equals the kind listed first in `RedactionKind::ALL` wins. Only one key prefix
        // can start at a position, so two open matches never compete.
        let better = match &self.found {
            None => true,
            Some(cur) => {
                (
                    candidate.open.is_some(),
                    candidate.end,
                    std::cmp::Reverse(candidate.kind),
                ) > (cur.open.is_some(), cur.end, std::cmp::Reverse(cur.kind))
            }
        };
        if better {
            self.found = Some(candidate);
        }
        Ok(())
    }
}

/// Where the next `@` is, so the e-mail detector only runs where it can find one.
#[derive(Debug, Default)]
pub(super) struct AtSigns {
    /// The first `@` at or after the last query (the buffer length if there is none),
    /// and where the run of local-part characters that ends there starts: an address
    /// can only start inside that run.
    next: Option<(usize, usize)>,
}

impl AtSigns {
    #[inline]
    fn near(&mut self, w: &Window<'_>, s: usize) -> bool {
        let run_start = match self.next {
            Some((at, run_start)) if at >= s => run_start,
            _ => {
                let found = self.find(w, s);
                self.next = Some(found);
                found.1
            }
        };
        s >= run_start
    }

    #[cold]
    fn find(&self, w: &Window<'_>, s: usize) -> (usize, usize) {
        let bytes = w.bytes();
        let at = find_at_sign(&bytes[s..]).map_or(bytes.len(), |k| s + k);
        if at == bytes.len() && w.eof() {
            // No `@` left in finished text: no address can start anywhere after `s`.
            return (at, usize::MAX);
        }
        // With no `@` in a growing buffer the next chunk may bring one, right after the
        // trailing run. An address starts at most `MAX_LOCAL` bytes before its `@`.
        let floor = at.saturating_sub(email::MAX_LOCAL).max(s);
        let mut run_start = at;
        while run_start > floor && email::is_local(bytes[run_start - 1]) {
            run_start -= 1;
        }
        (at, run_start)
    }
}

/// The first `@` in `hay`, eight bytes at a time.
fn find_at_sign(hay: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const ATS: u64 = u64::from_ne_bytes([b'@'; 8]);
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word) ^ ATS;
        // Some byte of `x` is zero exactly when this is non-zero.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            return chunk.iter().position(|&b| b == b'@').map(|k| base + k);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'@')
        .map(|k| base + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_at_signs_anywhere() {
        for len in 0..40 {
            for pos in 0..=len {
                let mut hay = vec![b'x'; len];
                if pos < len {
                    hay[pos] = b'@';
                }
                assert_eq!(
                    find_at_sign(&hay),
                    (pos < len).then_some(pos),
                    "{len} {pos}"
                );
            }
        }
        assert_eq!(find_at_sign("é@".as_bytes()), Some(2));
    }

    #[test]
    fn class_table_matches_the_prefilter_rules() {
        for b in 0..=255u8 {
            let class = CLASS[usize::from(b)];
            assert_eq!(class & ALNUM != 0, b.is_ascii_alphanumeric());
            assert_eq!(
                class & NUMBER != 0,
                b.is_ascii_digit() || b == b'+' || b == b'('
            );
        }
    }
}
