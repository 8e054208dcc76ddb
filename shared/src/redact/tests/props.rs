//! Properties over random texts mixing prose, look-alikes and secrets of every kind,
//! cut into random chunks: the stream equals the whole text, the hold-back stays
//! bounded, secrets are gone, and redacting twice changes nothing.

use proptest::prelude::*;

use super::super::{MAX_HOLD_BACK, Redactor, redact};

const PROSE: &[&str] = &[
    "The quick brown fox jumps over the lazy dog.",
    "Here is the summary you asked for:",
    "Flight AA 1234 departs at 10:45.",
    "Build 2.14.7 is live.",
    "Card ending in 1881 was charged.",
    "Order #123456789 shipped on 2024-01-15",
    "call about order 2125550147",
    "version v1.2.3.4.5",
    "Café ☕ naïve — 日本語",
    "emoji 🎉🎉 done",
    "sk-learn and task-force",
    "user@localhost",
    "in 2023 we had 42 of them",
    "AKIA is a prefix",
    "(see note)",
    "+5 points",
    "x",
    "",
];

const SECRETS: &[&str] = &[
    "ops-team@corp.example.net",
    "jane.doe+news@mail.co.uk",
    "(212) 555-0147",
    "212-555-0147",
    "212.555.0147",
    "+1 212 555 0147",
    "+44 20 7946 0958",
    "+442079460958",
    "078-05-1121",
    "078 05 1121",
    "4012 8888 8888 1881",
    "4012888888881881",
    "3782 822463 10005",
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3kLm6nOp9q",
    "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe-Dc_Ba9Zx8Yw7Vu6Ts5Rq4AA",
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAY34FZKBOKMUTVV7A",
    "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "sk_live_51H8abcdefGHIJKLMNOPqrstu",
    "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "ak_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A",
    "192.168.1.20",
    "10.0.0.1",
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
];

const SEPARATORS: &[&str] = &[" ", " ", ", ", ". ", "\n", "\n\n", ": ", " - "];

/// A text of prose pieces and secrets, and the secrets it contains.
fn text() -> impl Strategy<Value = (String, Vec<&'static str>)> {
    let piece = prop_oneof![
        3 => prop::sample::select(PROSE).prop_map(|p| (p, false)),
        2 => prop::sample::select(SECRETS).prop_map(|s| (s, true)),
    ];
    prop::collection::vec((piece, prop::sample::select(SEPARATORS)), 0..14).prop_map(|parts| {
        let mut text = String::new();
        let mut secrets = Vec::new();
        for ((piece, secret), sep) in parts {
            text.push_str(piece);
            text.push_str(sep);
            if secret {
                secrets.push(piece);
            }
        }
        (text, secrets)
    })
}

/// Cuts `text` into chunks of the given sizes (cycled), each moved forward to a
/// character boundary.
fn chunks<'t>(text: &'t str, sizes: &[usize]) -> Vec<&'t str> {
    let mut out = Vec::new();
    let mut rest = text;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let mut cut = size.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (chunk, tail) = rest.split_at(cut);
        out.push(chunk);
        rest = tail;
    }
    out
}

proptest! {
    // Failures are reported, not written into the source tree.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn stream_equals_whole_for_any_chunking(
        (text, secrets) in text(),
        sizes in prop::collection::vec(1usize..48, 1..8),
    ) {
        let whole = redact(&text);
        let mut stream = Redactor::builtin().stream();
        let mut out = String::new();
        for chunk in chunks(&text, &sizes) {
            out.push_str(&stream.push(chunk));
            prop_assert!(stream.held_back_len() <= MAX_HOLD_BACK);
            // What left the stream is final: the whole-text output starts with it.
            prop_assert!(whole.text.starts_with(&out), "emitted {out:?}, whole {:?}", whole.text);
        }
        out.push_str(&stream.finish());
        prop_assert_eq!(&out, &whole.text);
        prop_assert_eq!(stream.counts(), &whole.counts);
        prop_assert!(whole.counts.total() >= secrets.len() as u64);
        for secret in secrets {
            prop_assert!(!out.contains(secret), "{secret:?} left in {out:?}");
        }
    }

    #[test]
    fn one_byte_chunks_equal_whole((text, _) in text()) {
        let whole = redact(&text);
        let mut stream = Redactor::builtin().stream();
        let mut out = String::new();
        for chunk in chunks(&text, &[1]) {
            out.push_str(&stream.push(chunk));
        }
        out.push_str(&stream.finish());
        prop_assert_eq!(out, whole.text);
    }

    #[test]
    fn redaction_is_idempotent((text, _) in text()) {
        let once = redact(&text).text.into_owned();
        let twice = redact(&once);
        prop_assert_eq!(&twice.text, &once);
        prop_assert!(twice.counts.is_empty());
    }

    #[test]
    fn arbitrary_text_streams_like_whole(
        text in "[ -~é☕\n]{0,200}",
        sizes in prop::collection::vec(1usize..12, 1..6),
    ) {
        let whole = redact(&text);
        let mut stream = Redactor::builtin().stream();
        let mut out = String::new();
        for chunk in chunks(&text, &sizes) {
            out.push_str(&stream.push(chunk));
        }
        out.push_str(&stream.finish());
        prop_assert_eq!(out, whole.text);
    }

    #[test]
    fn digit_heavy_text_streams_like_whole(
        text in "[0-9 .()+\\-/:A-Z@a-z]{0,120}",
        sizes in prop::collection::vec(1usize..8, 1..6),
    ) {
        let whole = redact(&text);
        let mut stream = Redactor::builtin().stream();
        let mut out = String::new();
        for chunk in chunks(&text, &sizes) {
            out.push_str(&stream.push(chunk));
            prop_assert!(stream.held_back_len() <= MAX_HOLD_BACK);
        }
        out.push_str(&stream.finish());
        prop_assert_eq!(out, whole.text);
        prop_assert_eq!(stream.counts(), &whole.counts);
    }
}
