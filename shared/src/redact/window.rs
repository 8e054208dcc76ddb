//! The view a detector gets of the text: bytes so far, and whether more may follow.
//!
//! Detectors read only through [`Window::at`], which answers [`NeedMore`] for any byte
//! past the end of a buffer that is still growing. A detector that propagates it with `?`
//! therefore cannot reach a verdict that later bytes could overturn: this is what makes
//! the streaming redactor agree with the whole-text one by construction.

/// The answer depends on bytes that have not arrived yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NeedMore;

/// A byte read, or [`NeedMore`] when the byte is past the end of a growing buffer.
pub(super) type Peek<T> = Result<T, NeedMore>;

/// The text a scan sees: `bytes` is either the whole text (`eof`) or the stream buffer,
/// whose first bytes may be already-emitted context kept for look-behind.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window<'a> {
    bytes: &'a [u8],
    eof: bool,
}

impl<'a> Window<'a> {
    pub(super) fn new(bytes: &'a [u8], eof: bool) -> Self {
        Window { bytes, eof }
    }

    pub(super) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    pub(super) fn eof(&self) -> bool {
        self.eof
    }

    /// The byte at `i`; `None` past the end of finished text.
    #[inline]
    pub(super) fn at(&self, i: usize) -> Peek<Option<u8>> {
        match self.bytes.get(i) {
            Some(&b) => Ok(Some(b)),
            None if self.eof => Ok(None),
            None => Err(NeedMore),
        }
    }

    /// Whether the byte at `i` exists and satisfies `pred`.
    #[inline]
    pub(super) fn is(&self, i: usize, pred: impl Fn(u8) -> bool) -> Peek<bool> {
        Ok(self.at(i)?.is_some_and(pred))
    }

    /// The byte `back` positions before `i`, `None` before the start of the text.
    ///
    /// The stream keeps [`super::stream::CONTEXT`] bytes of emitted text in front of
    /// anything it scans, so a short look-behind always sees the real text.
    #[inline]
    pub(super) fn before(&self, i: usize, back: usize) -> Option<u8> {
        i.checked_sub(back).and_then(|j| self.bytes.get(j).copied())
    }

    /// Counts the bytes from `i` on that satisfy `pred`, giving up (with `None`) once
    /// there are more than `max` of them.
    #[inline]
    pub(super) fn run(
        &self,
        i: usize,
        max: usize,
        pred: impl Fn(u8) -> bool,
    ) -> Peek<Option<usize>> {
        let mut n = 0;
        while self.is(i + n, &pred)? {
            n += 1;
            if n > max {
                return Ok(None);
            }
        }
        Ok(Some(n))
    }
}

/// Letters and digits: what a match may not touch on either side.
#[inline]
pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Characters of URL-safe base64, the body of most API keys.
#[inline]
pub(super) fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_need_more_only_while_streaming() {
        let growing = Window::new(b"ab", false);
        assert_eq!(growing.at(1), Ok(Some(b'b')));
        assert_eq!(growing.at(2), Err(NeedMore));
        let whole = Window::new(b"ab", true);
        assert_eq!(whole.at(2), Ok(None));
        assert_eq!(whole.before(0, 1), None);
        assert_eq!(whole.before(2, 2), Some(b'a'));
    }

    #[test]
    fn runs_are_capped() {
        let w = Window::new(b"aaaa b", true);
        assert_eq!(w.run(0, 10, |b| b == b'a'), Ok(Some(4)));
        assert_eq!(w.run(0, 3, |b| b == b'a'), Ok(None));
        assert_eq!(
            Window::new(b"aaa", false).run(0, 10, |b| b == b'a'),
            Err(NeedMore)
        );
    }
}
