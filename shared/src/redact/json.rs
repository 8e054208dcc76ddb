//! Redaction of JSON text a model writes, such as tool-call arguments (SPEC §2.7).
//!
//! Scanning the raw JSON text would go wrong at escapes: in `"x\njane@example.com"` the
//! `n` of `\n` reads as the first letter of the address (its replacement then leaves an
//! invalid `\[` escape), and a phone number right after `\n` does not stand apart from
//! the letter before it, so it is missed. So each string literal is decoded, its text
//! redacted as a text of its own, and re-encoded; the text between string literals
//! (structure, numbers) is redacted too, and a replacement there is written as a string,
//! so a card number sent as a bare JSON number becomes `"[REDACTED:card]"`. The result
//! is valid JSON whenever the input is.
//!
//! Like [`StreamRedactor`], it takes the text in chunks cut anywhere and gives, for every
//! chunking, exactly what the whole text gives; it holds back at most one escape sequence
//! and what the stream redactor holds back. Strings come out re-encoded (`\u00e9` as
//! `é`, `\/` as `/`): the same JSON values, not always the same bytes, which is why
//! [`Redactor::redact_json`] returns the input itself when nothing was replaced.

use std::fmt::Write as _;

use super::kind::RedactionCounts;
use super::redactor::Redactor;
use super::stream::StreamRedactor;

/// Redacts JSON text that arrives in chunks.
#[derive(Debug)]
pub struct JsonStreamRedactor<'r> {
    text: StreamRedactor<'r>,
    state: State,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Between string literals.
    Outside,
    /// Inside a string literal.
    Inside,
    /// Inside a string literal, after a backslash: the escape's characters so far.
    Escape(String),
}

impl<'r> JsonStreamRedactor<'r> {
    pub(super) fn new(redactor: &'r Redactor) -> Self {
        JsonStreamRedactor {
            text: redactor.stream(),
            state: State::Outside,
        }
    }

    /// Adds a chunk; returns the JSON text that is now safe to send, possibly empty.
    pub fn push(&mut self, chunk: &str) -> String {
        let mut out = String::new();
        // Decoded text of the current segment, handed to the text redactor in one piece.
        let mut run = String::new();
        for c in chunk.chars() {
            self.step(c, &mut run, &mut out);
        }
        let released = self.text.push(&run);
        self.emit(&released, &mut out);
        out
    }

    fn step(&mut self, c: char, run: &mut String, out: &mut String) {
        match &mut self.state {
            State::Outside if c == '"' => {
                self.end_segment(run, out);
                out.push('"');
                self.state = State::Inside;
            }
            State::Outside => run.push(c),
            State::Inside if c == '"' => {
                self.end_segment(run, out);
                out.push('"');
                self.state = State::Outside;
            }
            State::Inside if c == '\\' => self.state = State::Escape(String::new()),
            State::Inside => run.push(c),
            State::Escape(escape) => {
                escape.push(c);
                match decode_escape(escape) {
                    Decoded::More => {}
                    Decoded::Char(decoded) => {
                        run.push(decoded);
                        self.state = State::Inside;
                    }
                    Decoded::Malformed => {
                        // What came before `c` stands for itself; `c` is read afresh (it
                        // may end the string).
                        escape.pop();
                        run.push('\\');
                        run.push_str(escape);
                        self.state = State::Inside;
                        self.step(c, run, out);
                    }
                }
            }
        }
    }

    /// Ends the text: returns the rest, redacted.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        let mut run = String::new();
        if let State::Escape(escape) = &self.state {
            // A text cut inside an escape: keep its characters as text.
            run.push('\\');
            run.push_str(escape);
        }
        self.end_segment(&mut run, &mut out);
        self.state = State::Outside;
        out
    }

    /// What was replaced so far.
    pub fn counts(&self) -> &RedactionCounts {
        self.text.counts()
    }

    /// Redacts what is left of the current segment, which ends here.
    fn end_segment(&mut self, run: &mut String, out: &mut String) {
        let mut released = self.text.push(run);
        released.push_str(&self.text.finish());
        run.clear();
        self.emit(&released, out);
    }

    /// Writes redacted segment text as JSON: escaped inside a string literal, with its
    /// replacements quoted outside one.
    fn emit(&self, text: &str, out: &mut String) {
        match self.state {
            State::Outside => quote_replacements(text, out),
            State::Inside | State::Escape(_) => escape_into(text, out),
        }
    }
}

impl Redactor {
    /// Starts redacting JSON text in chunks; see [`JsonStreamRedactor`].
    pub fn stream_json(&self) -> JsonStreamRedactor<'_> {
        JsonStreamRedactor::new(self)
    }

    /// Redacts a whole JSON text (string values decoded, redacted and re-encoded). The
    /// text comes back unchanged when nothing was replaced.
    pub fn redact_json(&self, text: &str) -> (String, RedactionCounts) {
        let mut stream = self.stream_json();
        let mut out = stream.push(text);
        out.push_str(&stream.finish());
        let counts = stream.counts().clone();
        if counts.is_empty() {
            return (text.to_string(), counts);
        }
        (out, counts)
    }
}

/// What an escape (the characters after the backslash) stands for so far.
#[derive(Debug, PartialEq, Eq)]
enum Decoded {
    More,
    Char(char),
    Malformed,
}

fn decode_escape(escape: &str) -> Decoded {
    let mut chars = escape.chars();
    let simple = match chars.next() {
        None => return Decoded::More,
        Some('"') => '"',
        Some('\\') => '\\',
        Some('/') => '/',
        Some('b') => '\u{8}',
        Some('f') => '\u{c}',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('u') => return decode_unicode(chars.as_str()),
        Some(_) => return Decoded::Malformed,
    };
    Decoded::Char(simple)
}

/// What follows a `\u`: four hex digits, or a surrogate pair's `XXXX\uXXXX`.
fn decode_unicode(hex: &str) -> Decoded {
    let (high, rest) = match code_unit(hex) {
        Unit::Value(unit, rest) => (unit, rest),
        Unit::More => return Decoded::More,
        Unit::Malformed => return Decoded::Malformed,
    };
    if !(0xD800..0xDC00).contains(&high) {
        return Decoded::Char(char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    let Some(low_hex) = rest.strip_prefix("\\u") else {
        return if "\\u".starts_with(rest) {
            Decoded::More
        } else {
            Decoded::Malformed
        };
    };
    match code_unit(low_hex) {
        Unit::Value(low, _) if (0xDC00..0xE000).contains(&low) => {
            let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            Decoded::Char(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER))
        }
        Unit::Value(..) | Unit::Malformed => Decoded::Malformed,
        Unit::More => Decoded::More,
    }
}

enum Unit<'a> {
    Value(u32, &'a str),
    More,
    Malformed,
}

/// Four hex digits at the start of `text`, and what follows them.
fn code_unit(text: &str) -> Unit<'_> {
    let mut value = 0;
    for (n, c) in text.chars().enumerate() {
        if n == 4 {
            break;
        }
        match c.to_digit(16) {
            Some(digit) => value = value * 16 + digit,
            None => return Unit::Malformed,
        }
    }
    match text.get(4..) {
        Some(rest) if text.len() >= 4 => Unit::Value(value, rest),
        _ => Unit::More,
    }
}

/// Writes `text` as the inside of a JSON string literal.
fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// Writes text from between string literals, each `[REDACTED:<kind>]` as a string.
fn quote_replacements(text: &str, out: &mut String) {
    const OPEN: &str = "[REDACTED:";
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let Some(len) = rest[start..].find(']') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push('"');
        out.push_str(&rest[start..=start + len]);
        out.push('"');
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests;
