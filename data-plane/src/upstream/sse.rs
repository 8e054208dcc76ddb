//! Server-sent events: cutting an upstream byte stream into the `data` of each event.
//!
//! Events end at a blank line (`\n\n`, `\r\n\r\n` or `\r\r`); an event's `data:` lines are
//! joined with `\n`; comments (`:`) and other fields (`event:`, `id:`, `retry:`) are
//! dropped, as OpenAI-compatible servers only put meaning in `data`. A network chunk may
//! end anywhere, including inside a UTF-8 character, so bytes are kept until their event
//! is complete.

/// An event that grows past this without ending is treated as a broken stream.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for an event end.
    scanned: usize,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an upstream event exceeded {MAX_EVENT_BYTES} bytes")]
    TooLarge,
}

impl SseParser {
    /// Adds bytes; returns the `data` of every event they completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, SseError> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        let mut i = self.scanned.saturating_sub(3).max(start);
        while i < self.buf.len() {
            if let Some(end_len) = event_end(&self.buf[i..]) {
                if let Some(data) = data_of(&self.buf[start..i]) {
                    events.push(data);
                }
                start = i + end_len;
                i = start;
            } else {
                i += 1;
            }
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > MAX_EVENT_BYTES {
            return Err(SseError::TooLarge);
        }
        Ok(events)
    }

    /// The `data` of an event the stream ended in without its blank line.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        data_of(&rest)
    }
}

/// The length of the blank-line terminator starting at `bytes[0]`, if one does.
fn event_end(bytes: &[u8]) -> Option<usize> {
    match bytes {
        [b'\r', b'\n', b'\r', b'\n', ..] => Some(4),
        [b'\n', b'\n', ..] => Some(2),
        [b'\r', b'\r', ..] => Some(2),
        // `\n\r\n` (a LF line followed by a CRLF blank line) also ends an event.
        [b'\n', b'\r', b'\n', ..] => Some(3),
        _ => None,
    }
}

/// The joined `data` lines of one event, `None` when it has none.
fn data_of(event: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(event);
    let mut data: Option<String> = None;
    for line in text.split(['\n', '\r']) {
        let Some(value) = line.strip_prefix("data") else {
            continue;
        };
        let value = match value.strip_prefix(':') {
            Some(v) => v.strip_prefix(' ').unwrap_or(v),
            None if value.is_empty() => "",
            None => continue,
        };
        match &mut data {
            Some(d) => {
                d.push('\n');
                d.push_str(value);
            }
            None => data = Some(value.to_string()),
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_are_reassembled() {
        let stream = "data: {\"a\":1}\n\n: keep-alive\n\nevent: x\ndata: {\"b\":\ndata: 2}\n\ndata: [DONE]\n\n";
        let whole = SseParser::default().push(stream.as_bytes()).unwrap();
        assert_eq!(
            whole,
            ["{\"a\":1}", "{\"b\":\n2}", "[DONE]"]
                .map(String::from)
                .to_vec()
        );
        for cut in 0..stream.len() {
            let mut parser = SseParser::default();
            let mut got = parser.push(&stream.as_bytes()[..cut]).unwrap();
            got.extend(parser.push(&stream.as_bytes()[cut..]).unwrap());
            assert_eq!(got, whole, "cut at {cut}");
        }
    }

    #[test]
    fn crlf_framing_and_a_missing_final_blank_line() {
        let mut parser = SseParser::default();
        assert_eq!(parser.push(b"data: one\r\n\r\ndata: two").unwrap(), ["one"]);
        assert_eq!(parser.finish().as_deref(), Some("two"));
    }

    #[test]
    fn multibyte_characters_split_between_chunks_survive() {
        let text = "data: {\"c\":\"héllo ✓\"}\n\n".as_bytes();
        let mut parser = SseParser::default();
        let mut got = Vec::new();
        for byte in text {
            got.extend(parser.push(std::slice::from_ref(byte)).unwrap());
        }
        assert_eq!(got, ["{\"c\":\"héllo ✓\"}"]);
    }
}
