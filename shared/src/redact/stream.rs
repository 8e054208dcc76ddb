//! Redaction of a stream of chunks (SSE deltas) with a bounded hold-back.
//!
//! The stream keeps one buffer: some already-emitted text (at least a few bytes of
//! look-behind context for the detectors, at most a couple of KiB) followed by the bytes
//! not emitted yet. Each push runs the same scan as [`Redactor::redact`] over the
//! buffer, emits everything before the first position whose verdict still depends on
//! bytes to come, and keeps the rest. Because detectors read only through [`Window`],
//! which refuses to answer past the end of a growing buffer, what is emitted is exactly
//! what the whole text would produce there, for any chunking. What is held back is at
//! most one match in progress, so it is bounded by [`MAX_HOLD_BACK`]; a key longer than
//! that is not held but masked as it arrives.

use super::kind::RedactionCounts;
use super::redactor::Redactor;
use super::scanner::{self, AtSigns, Event, Tail};
use super::window::Window;
use super::{api_key, card, email, iban, ipv4, phone, ssn};

/// Bytes of emitted text kept in front of the unsent ones, for look-behind. Detectors
/// look back at most two bytes.
pub(super) const CONTEXT: usize = 8;

/// Emitted bytes the buffer may hold before they are dropped: moving the held-back tail
/// to the front on every push would cost more than the scan.
const COMPACT_AT: usize = 2048;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// The most text a [`StreamRedactor`] ever holds back: the longest stretch any detector
/// reads before it decides whether a match starts at a position.
pub const MAX_HOLD_BACK: usize = max(
    max(
        max(email::MAX_SPAN, api_key::MAX_SPAN),
        max(phone::MAX_SPAN, card::MAX_SPAN),
    ),
    max(max(ssn::MAX_SPAN, ipv4::MAX_SPAN), iban::MAX_SPAN),
);

// The bound is part of the contract (SPEC §2.7: never hold the whole response).
const _: () = assert!(MAX_HOLD_BACK <= 512);

/// Redacts a text that arrives in chunks.
///
/// Concatenating every [`push`](StreamRedactor::push) result and the
/// [`finish`](StreamRedactor::finish) result gives exactly
/// [`Redactor::redact`] of the concatenated chunks, whatever the chunking, and
/// [`counts`](StreamRedactor::counts) then equal the whole-text counts. Text that could
/// still turn out to be part of a secret is never returned early.
#[derive(Debug)]
pub struct StreamRedactor<'r> {
    redactor: &'r Redactor,
    /// Emitted context, then the held-back text from `from` on.
    buf: String,
    from: usize,
    /// Set while a key longer than the buffer is being masked.
    masking: Option<Tail>,
    counts: RedactionCounts,
}

impl<'r> StreamRedactor<'r> {
    pub(super) fn new(redactor: &'r Redactor) -> Self {
        StreamRedactor {
            redactor,
            buf: String::new(),
            from: 0,
            masking: None,
            counts: RedactionCounts::default(),
        }
    }

    /// Adds a chunk; returns the text that is now safe to send, possibly empty.
    pub fn push(&mut self, chunk: &str) -> String {
        if chunk.is_empty() {
            return String::new();
        }
        self.buf.push_str(chunk);
        self.advance(false)
    }

    /// Ends the text: returns the rest, redacted. Pushing afterwards starts a new text;
    /// counts keep adding up.
    pub fn finish(&mut self) -> String {
        let out = self.advance(true);
        self.buf.clear();
        self.from = 0;
        self.masking = None;
        out
    }

    /// What was replaced so far.
    pub fn counts(&self) -> &RedactionCounts {
        &self.counts
    }

    /// How many bytes were pushed but not returned yet; at most [`MAX_HOLD_BACK`].
    pub fn held_back_len(&self) -> usize {
        self.buf.len() - self.from
    }

    fn advance(&mut self, eof: bool) -> String {
        // Usually all or most of the new text goes out, once with a replacement or two.
        let mut out = String::with_capacity(self.buf.len() - self.from + 32);
        let window = Window::new(self.buf.as_bytes(), eof);
        let mut pos = self.from;
        if let Some(tail) = self.masking.take() {
            let (end, open) = tail.extend(&window, pos);
            pos = end;
            self.masking = open;
        }
        let mut at_signs = AtSigns::default();
        while self.masking.is_none() {
            match scanner::next(self.redactor, &window, pos, &mut at_signs) {
                Event::Match(found) => {
                    out.push_str(&self.buf[pos..found.start]);
                    out.push_str(found.kind.replacement());
                    self.counts.bump(found.kind);
                    pos = found.end;
                    self.masking = found.open;
                }
                Event::Pending(p) => {
                    out.push_str(&self.buf[pos..p]);
                    pos = p;
                    break;
                }
                Event::Done => {
                    out.push_str(&self.buf[pos..]);
                    pos = self.buf.len();
                    break;
                }
            }
        }
        self.forget_before(pos);
        out
    }

    /// Marks everything before `pos` as emitted, and drops emitted text except the
    /// look-behind context once there is enough of it to be worth moving the rest.
    fn forget_before(&mut self, pos: usize) {
        self.from = pos;
        if pos < COMPACT_AT {
            return;
        }
        let mut cut = pos - CONTEXT;
        while !self.buf.is_char_boundary(cut) {
            cut -= 1;
        }
        self.buf.drain(..cut);
        self.from = pos - cut;
    }
}
