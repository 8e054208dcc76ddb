//! The public redaction vectors (`shared/conformance/redaction.json`): positives lose
//! their secret to `[REDACTED:<kind>]`, negatives come out unchanged, and every case
//! gives the same output through the streaming redactor at every chunk size.

use policy_engine::redact::{RedactionKind, Redactor, redact};
use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/redaction.json"
);

fn vectors() -> serde_json::Result<Value> {
    let text = std::fs::read_to_string(VECTORS).map_err(serde_json::Error::io)?;
    serde_json::from_str(&text)
}

fn kind_named(name: &str) -> Option<RedactionKind> {
    RedactionKind::ALL
        .into_iter()
        .find(|kind| kind.name() == name)
}

/// Streams `text` in chunks of `size` bytes, cut back to character boundaries.
fn streamed(text: &str, size: usize) -> String {
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
        rest = tail;
    }
    out + &stream.finish()
}

fn assert_streams_alike(text: &str, whole: &str) {
    for size in 1..=text.len() {
        assert_eq!(
            streamed(text, size),
            whole,
            "chunks of {size} over {text:?}"
        );
    }
}

#[test]
fn positives_are_redacted() {
    let vectors = vectors().unwrap();
    let cases = vectors["positive"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let secret = case["secret"].as_str().unwrap();
        let kind = kind_named(case["kind"].as_str().unwrap()).unwrap();
        let out = redact(text);
        assert!(
            !out.text.contains(secret),
            "{secret:?} kept in {:?}",
            out.text
        );
        assert!(
            out.text.contains(kind.replacement()),
            "{text:?} gave {:?}",
            out.text
        );
        assert!(out.counts.get(kind) >= 1);
        assert_streams_alike(text, &out.text);
    }
}

#[test]
fn negatives_are_unchanged() {
    let vectors = vectors().unwrap();
    let cases = vectors["negative"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let text = case.as_str().unwrap();
        let out = redact(text);
        assert_eq!(out.text, text);
        assert!(out.counts.is_empty());
        assert_streams_alike(text, text);
    }
}
