use proptest::prelude::*;
use serde_json::{Value, json};

use super::super::Redactor;

fn whole(text: &str) -> String {
    Redactor::builtin().redact_json(text).0
}

/// The stream's output for `text` cut into chunks of `size` characters.
fn streamed(text: &str, size: usize) -> String {
    let mut stream = Redactor::builtin().stream_json();
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    for piece in chars.chunks(size) {
        out.push_str(&stream.push(&piece.iter().collect::<String>()));
    }
    out.push_str(&stream.finish());
    out
}

#[test]
fn string_values_are_decoded_before_they_are_scanned() {
    // Raw, the `n` of `\n` would join the address and the phone number would not stand
    // apart from it.
    let text = r#"{"body": "hi\njane.roe@example.com\n212-555-0147", "ip": "10.0.0.1"}"#;
    let (out, counts) = Redactor::builtin().redact_json(text);
    let value: Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(
        value,
        json!({"body": "hi\n[REDACTED:email]\n[REDACTED:phone]", "ip": "[REDACTED:ipv4]"})
    );
    assert_eq!(counts.total(), 3);
}

#[test]
fn a_card_sent_as_a_bare_number_becomes_a_string() {
    let out = whole(r#"{"card": 4111111111111111, "n": 3}"#);
    let value: Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(value, json!({"card": "[REDACTED:card]", "n": 3}));
}

#[test]
fn text_without_secrets_comes_back_unchanged() {
    let text = r#"{"city": "Z\u00fcrich", "path": "a\/b", "n": 12}"#;
    let (out, counts) = Redactor::builtin().redact_json(text);
    assert_eq!(out, text);
    assert!(counts.is_empty());
}

#[test]
fn escapes_and_surrogate_pairs_survive() {
    let text = r#"{"s": "q\"uote \\ tab\t \u00e9 \ud83d\ude00 ctl\u0001 ops@corp.example.net"}"#;
    let out = whole(text);
    let value: Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(
        value["s"],
        "q\"uote \\ tab\t é 😀 ctl\u{1} [REDACTED:email]"
    );
}

#[test]
fn malformed_escapes_keep_the_output_valid() {
    for text in [
        r#"{"s": "bad \x escape jane@example.com"}"#,
        r#"{"s": "lone \ud83d"}"#,
        r#"{"s": "short \u12"}"#,
        r#"{"s": "cut \"#,
    ] {
        let out = streamed(text, 3);
        assert!(!out.contains("jane@example.com"), "{out}");
        if text.ends_with("\"}") {
            serde_json::from_str::<Value>(&out)
                .unwrap_or_else(|e| panic!("{text} became {out}, not JSON: {e}"));
        }
    }
}

const SECRETS: &[&str] = &[
    "jane.roe@example.com",
    "(212) 555-0147",
    "+44 20 7946 0958",
    "078-05-1121",
    "4012 8888 8888 1881",
    "AKIAIOSFODNN7EXAMPLE",
    "192.168.1.20",
    "GB82 WEST 1234 5698 7654 32",
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3kLm6nOp9q",
];

/// A JSON object whose string values mix prose, escapes and secrets.
fn document() -> impl Strategy<Value = (Value, Vec<&'static str>)> {
    let piece = prop_oneof![
        3 => "[ -~é😀\n\t\"\\\\]{0,12}".prop_map(|s| (s, None)),
        1 => prop::sample::select(SECRETS).prop_map(|s| (s.to_string(), Some(s))),
    ];
    let value = prop::collection::vec(
        (piece, prop::sample::select(&[" ", "\n", "\t", "\""][..])),
        0..6,
    );
    prop::collection::vec(value, 1..5).prop_map(|fields| {
        let mut object = serde_json::Map::new();
        let mut secrets = Vec::new();
        for (n, parts) in fields.into_iter().enumerate() {
            let mut text = String::new();
            for ((piece, secret), sep) in parts {
                text.push_str(sep);
                text.push_str(&piece);
                text.push_str(sep);
                secrets.extend(secret);
            }
            object.insert(format!("field_{n}"), Value::String(text));
        }
        (Value::Object(object), secrets)
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn redacted_json_stays_json_streams_like_whole_and_loses_its_secrets(
        (document, secrets) in document(),
        size in 1usize..16,
    ) {
        let text = document.to_string();
        let out = whole(&text);
        let parsed: Value = serde_json::from_str(&out)
            .map_err(|e| TestCaseError::fail(format!("{out} is not JSON: {e}")))?;
        prop_assert_eq!(streamed(&text, size), out.clone());
        for secret in secrets {
            prop_assert!(!parsed.to_string().contains(secret), "{} left in {}", secret, out);
            for value in parsed.as_object().into_iter().flat_map(|o| o.values()) {
                prop_assert!(!value.as_str().unwrap_or_default().contains(secret));
            }
        }
        // Each value is what redacting its text alone gives.
        for (key, value) in document.as_object().into_iter().flatten() {
            let alone = Redactor::builtin().redact(value.as_str().unwrap_or_default());
            prop_assert_eq!(parsed[key].as_str(), Some(alone.text.as_ref()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Models write broken JSON too: stray quotes, backslashes and cut `\u` escapes give
    /// no panic, and the stream still equals the whole text for any chunking.
    #[test]
    fn any_text_streams_like_whole(
        text in r#"[ -~é😀"\\uUdD0-9a-fA-F\n]{0,80}"#,
        size in 1usize..8,
    ) {
        let mut stream = Redactor::builtin().stream_json();
        let mut whole = stream.push(&text);
        whole.push_str(&stream.finish());
        prop_assert_eq!(streamed(&text, size), whole);
    }
}
