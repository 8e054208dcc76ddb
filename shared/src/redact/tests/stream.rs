//! The stream's hold-back: as little as a match in progress needs, never more than
//! `MAX_HOLD_BACK`, and over-long keys masked as they arrive.

use super::super::{MAX_HOLD_BACK, RedactionKind, Redactor, redact};
use super::stream_in_chunks;

#[test]
fn prose_holds_back_only_the_trailing_word() {
    let mut stream = Redactor::builtin().stream();
    assert_eq!(stream.push("Hello there, wor"), "Hello there, ");
    assert_eq!(stream.held_back_len(), 3);
    assert_eq!(stream.push("ld. "), "world. ");
    assert_eq!(stream.held_back_len(), 0);
    assert_eq!(stream.finish(), "");
}

#[test]
fn a_secret_split_across_chunks_is_still_redacted() {
    let mut stream = Redactor::builtin().stream();
    let mut out = stream.push("call (212) 555");
    assert_eq!(out, "call ");
    out += &stream.push("-01");
    out += &stream.push("47 now");
    out += &stream.finish();
    assert_eq!(out, "call [REDACTED:phone] now");
    assert_eq!(stream.counts().get(RedactionKind::Phone), 1);
}

#[test]
fn nothing_that_could_become_a_secret_is_emitted() {
    let mut stream = Redactor::builtin().stream();
    // Each prefix could still grow into the secret, so none of it may leave.
    for piece in [
        "s",
        "k",
        "-",
        "Ab3dEf6hIj",
        "9kLm2nOp5q",
        "Rs8tUv1wXy4z0123456789",
    ] {
        assert_eq!(stream.push(piece), "");
    }
    // Until the run is longer than an e-mail local part, an `@` could still make it a
    // longer match; past that it is a key, masked at once, its rest swallowed.
    assert_eq!(
        stream.push("abcdefghijklmnopqrstuvwxyz"),
        "[REDACTED:api_key]"
    );
    assert_eq!(stream.push("Rs8tUv1wXy4z"), "");
    assert_eq!(stream.push(" done"), " ");
    assert_eq!(stream.finish(), "done");
}

#[test]
fn an_over_long_key_is_masked_while_it_arrives() {
    let body = "Ab3dEf6hIj".repeat(2_000);
    let text = format!("key sk-{body} end");
    let mut stream = Redactor::builtin().stream();
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(7) {
        out += &stream.push(std::str::from_utf8(chunk).unwrap());
        assert!(stream.held_back_len() <= MAX_HOLD_BACK);
    }
    out += &stream.finish();
    assert_eq!(out, "key [REDACTED:api_key] end");
    assert_eq!(redact(&text).text, out);
}

#[test]
fn an_over_long_jwt_header_is_masked_not_held() {
    let text = format!("token eyJ{} tail", "a".repeat(5_000));
    let (out, counts) = stream_in_chunks(&text, 16);
    assert_eq!(out, "token [REDACTED:api_key] tail");
    assert_eq!(counts.get(RedactionKind::ApiKey), 1);
    assert_eq!(redact(&text).text, out);
}

#[test]
fn a_jwt_is_masked_through_its_signature() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl";
    let text = format!("Bearer {jwt}. Next");
    for size in [1, 3, 20] {
        assert_eq!(
            stream_in_chunks(&text, size).0,
            "Bearer [REDACTED:api_key]. Next"
        );
    }
}

#[test]
fn long_runs_that_are_not_secrets_are_released() {
    // A long word can never become an address once it passes the local-part limit.
    let word = "x".repeat(10_000);
    let mut stream = Redactor::builtin().stream();
    let mut out = String::new();
    for chunk in word.as_bytes().chunks(5) {
        out += &stream.push(std::str::from_utf8(chunk).unwrap());
        assert!(stream.held_back_len() <= MAX_HOLD_BACK);
    }
    assert!(out.len() >= word.len() - MAX_HOLD_BACK);
    out += &stream.finish();
    assert_eq!(out, word);
}

#[test]
fn digits_and_spaces_do_not_grow_the_hold_back() {
    let text = "1 2 3 4 5 6 7 8 9 ".repeat(500);
    let (out, _) = stream_in_chunks(&text, 3);
    assert_eq!(out, text);
}

#[test]
fn finish_resets_for_a_new_text_and_keeps_counts() {
    let mut stream = Redactor::builtin().stream();
    let first = stream.push("a@b.io") + &stream.finish();
    assert_eq!(first, "[REDACTED:email]");
    let second = stream.push("x 10.0.0.1") + &stream.finish();
    assert_eq!(second, "x [REDACTED:ipv4]");
    assert_eq!(stream.counts().total(), 2);
    assert_eq!(stream.held_back_len(), 0);
}
