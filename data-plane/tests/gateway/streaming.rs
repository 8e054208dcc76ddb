//! Redaction in JSON and in streams, usage chunk handling, stream error relay
//! (SPEC §2.7, §3.4).

use serde_json::json;

use crate::support::fixtures::{open_key, support_key};
use crate::support::upstream::{SECRET_CARD, SECRET_EMAIL, TOOL_SECRET_ARGUMENTS};
use crate::support::{Env, PATHS, chat, chat_stream};

/// Every fragment of a secret long enough to identify it.
fn assert_no_secret(text: &str) {
    for secret in [SECRET_EMAIL, SECRET_CARD, "jane.roe", "4111 1111"] {
        assert!(!text.contains(secret), "{secret:?} leaked in {text:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_answers_are_redacted_and_report_redact() {
    let env = Env::start().await;
    for path in PATHS {
        let reply = env
            .dp
            .chat(path, Some(&open_key()), &chat("secret", "refund?"), &[])
            .await;
        assert_eq!(reply.status, 200);
        assert_no_secret(&reply.text());
        let body = reply.json();
        assert_eq!(
            body["choices"][0]["message"]["content"],
            "Write to [REDACTED:email] or use card [REDACTED:card] for the refund."
        );
        assert_eq!(body["policy"]["reason_code"], "REDACT");
        assert_eq!(body["policy"]["redacted"], true);
        assert_eq!(
            body["policy"]["redaction_counts"],
            json!({"email": 1, "card": 1})
        );
        assert_eq!(reply.header("x-policy-reason-code"), "REDACT");
    }
}

/// The tool-call arguments the client gets, redacted and still JSON (the card follows an
/// escaped newline, which a scan of the raw JSON text would miss).
const TOOL_ARGUMENTS_REDACTED: &str =
    r#"{"to": "[REDACTED:email]", "note": "paid with\n[REDACTED:card]"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_arguments_are_redacted_in_json_answers_and_streams() {
    let env = Env::start().await;
    assert!(TOOL_SECRET_ARGUMENTS.contains(SECRET_EMAIL));

    let reply = env
        .dp
        .chat(
            PATHS[1],
            Some(&open_key()),
            &chat("tool-secret", "mail it"),
            &[],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_no_secret(&reply.text());
    let body = reply.json();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_1");
    assert_eq!(call["function"]["name"], "send_mail");
    assert_eq!(call["function"]["arguments"], TOOL_ARGUMENTS_REDACTED);
    assert_eq!(
        body["policy"]["redaction_counts"],
        json!({"email": 1, "card": 1})
    );
    assert_eq!(reply.header("x-policy-reason-code"), "REDACT");

    let reply = env
        .dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat_stream("tool-secret", "refund policy mail"),
            &[],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    for chunk in &reply.chunks {
        assert_no_secret(&String::from_utf8_lossy(chunk));
    }
    let events = reply.events();
    let arguments: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, TOOL_ARGUMENTS_REDACTED);
    assert!(
        events
            .iter()
            .any(|e| e["choices"][0]["delta"]["tool_calls"][0]["id"] == "call_1"),
        "the call's id reaches the client"
    );
    let finishing = events
        .iter()
        .find(|e| e["choices"][0]["finish_reason"] == "tool_calls")
        .unwrap();
    assert_eq!(
        finishing["policy"]["redaction_counts"],
        json!({"email": 1, "card": 1})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_split_across_chunks_never_reaches_the_client() {
    let env = Env::start().await;
    for path in PATHS {
        let reply = env
            .dp
            .chat(
                path,
                Some(&support_key()),
                &chat_stream("secret", "refund policy?"),
                &[],
            )
            .await;
        assert_eq!(reply.status, 200);
        assert!(
            reply.chunks.len() > 3,
            "streamed chunk by chunk, not buffered"
        );
        for chunk in &reply.chunks {
            assert_no_secret(&String::from_utf8_lossy(chunk));
        }
        assert_no_secret(&reply.text());
        assert_eq!(
            reply.content(),
            "Write to [REDACTED:email] or use card [REDACTED:card] for the refund."
        );
        let events = reply.events();
        let finishing = events
            .iter()
            .find(|e| e["choices"][0]["finish_reason"] == "stop")
            .unwrap();
        assert_eq!(
            finishing["policy"]["redaction_counts"],
            json!({"email": 1, "card": 1})
        );
        assert_eq!(
            finishing["id"], "chatcmpl-up",
            "chunks keep the upstream's id"
        );
        assert_eq!(finishing["model"], "secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_chunk_reaches_only_clients_that_asked() {
    let env = Env::start().await;
    let before = env.upstream.count();
    let reply = env
        .dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat_stream("echo", "refund policy?"),
            &[],
        )
        .await;
    let upstream_body = &env.upstream.seen()[before].body;
    assert_eq!(
        upstream_body["stream_options"]["include_usage"], true,
        "the gateway asks"
    );
    let events = reply.events();
    assert!(
        events
            .iter()
            .all(|e| e == "[DONE]" || e["choices"][0].is_object()),
        "no choices:[] chunk for a client that did not ask: {events:?}"
    );

    let mut asked = chat_stream("echo", "refund policy?");
    asked["stream_options"] = json!({"include_usage": true});
    let reply = env
        .dp
        .chat(PATHS[1], Some(&support_key()), &asked, &[])
        .await;
    let events = reply.events();
    let usage = events
        .iter()
        .find(|e| e["choices"] == json!([]))
        .expect("the usage chunk is passed to a client that asked");
    assert_eq!(usage["usage"]["completion_tokens"], 7);

    let mut declined = chat_stream("echo", "refund policy?");
    declined["stream_options"] = json!({"include_usage": false});
    let before = env.upstream.count();
    env.dp
        .chat(PATHS[1], Some(&support_key()), &declined, &[])
        .await;
    assert_eq!(
        env.upstream.seen()[before].body["stream_options"]["include_usage"],
        false,
        "a client's explicit choice is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_upstream_stream_ends_with_an_error_event() {
    let env = Env::start().await;
    let reply = env
        .dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat_stream("cut", "refund policy?"),
            &[],
        )
        .await;
    assert_eq!(reply.status, 200);
    let events = reply.events();
    let last = events.last().unwrap();
    assert!(last["error"]["message"].is_string(), "{events:?}");
    assert!(!events.contains(&json!("[DONE]")));
}
