//! Tests of the redactor as a whole: each kind's written forms and look-alikes, the
//! stream's hold-back, and the streaming and idempotence properties.

mod forms;
mod precision;
mod props;
mod stream;

use super::{RedactionKind, Redactor, redact};

/// Feeds `text` to a fresh stream in chunks of `size` bytes, each cut back to a character
/// boundary (at least one character), and returns the output and the counts.
fn stream_in_chunks(text: &str, size: usize) -> (String, super::RedactionCounts) {
    let mut stream = Redactor::builtin().stream();
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = size.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (chunk, tail) = rest.split_at(cut);
        out.push_str(&stream.push(chunk));
        assert!(stream.held_back_len() <= super::MAX_HOLD_BACK);
        rest = tail;
    }
    out.push_str(&stream.finish());
    (out, stream.counts().clone())
}

/// The whole-text result, after checking every chunk size gives the same.
fn redacted(text: &str) -> String {
    let whole = redact(text);
    for size in 1..=text.len().max(1) {
        let (streamed, counts) = stream_in_chunks(text, size);
        assert_eq!(streamed, whole.text, "chunks of {size} bytes over {text:?}");
        assert_eq!(
            counts, whole.counts,
            "counts, chunks of {size} bytes over {text:?}"
        );
    }
    whole.text.into_owned()
}

/// `secret` is replaced, by exactly one `[REDACTED:<kind>]`, in `text`.
#[track_caller]
fn assert_redacts(kind: RedactionKind, text: &str, secret: &str) {
    assert!(
        text.contains(secret),
        "bad test: {secret:?} not in {text:?}"
    );
    let out = redacted(text);
    assert!(!out.contains(secret), "{kind} {secret:?} kept: {out:?}");
    assert_eq!(
        out,
        text.replacen(secret, kind.replacement(), 1),
        "{kind} {secret:?} in {text:?}"
    );
}

/// `text` comes out unchanged, and borrowed.
#[track_caller]
fn assert_kept(text: &str) {
    let whole = redact(text);
    assert!(
        matches!(whole.text, std::borrow::Cow::Borrowed(_)),
        "{text:?} became {:?}",
        whole.text
    );
    assert_eq!(redacted(text), text);
}
