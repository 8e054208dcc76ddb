//! Redaction of completions (SPEC §2.7) in JSON answers and in SSE streams whose secrets
//! the upstream split across many chunk boundaries.

use e2e_tests::upstream::{
    SECRET_API_KEY, SECRET_CARD, SECRET_EMAIL, SECRET_MODEL, SECRET_REDACTED,
};
use e2e_tests::{PATHS, Stack, StackOptions, chat, chat_stream};
use serde_json::json;

use crate::common::assert_decided;

/// Pieces of the secrets long enough to identify them: none may reach the client, in
/// one chunk or across two.
const FRAGMENTS: [&str; 5] = [
    "jane.roe",
    "example.com",
    "1111 1111",
    "Q9zX3vT7",
    "sk-proj",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_redacted_in_json_and_in_streams_split_across_chunks() {
    let stack = Stack::start(StackOptions::default()).await;
    // open-policy lists REDACT among its reason codes; the support policy does not, so
    // its reason stays ALLOW while the record still says what was redacted.
    let cases = [
        ("open-bot", "open-policy", "REDACT"),
        ("support-bot", "policy-gateway", "ALLOW"),
    ];
    for dp in &stack.dps {
        let http = dp.http();
        for path in PATHS {
            for (project, policy_id, reason) in cases {
                let revision = stack.revisions[policy_id];
                let message = "What is your refund policy?";

                let reply = http
                    .chat(
                        path,
                        Some(stack.key(project)),
                        &chat(SECRET_MODEL, message),
                        &[],
                    )
                    .await;
                let policy = assert_decided(&reply, "allow", reason, revision);
                assert_eq!(reply.content(), SECRET_REDACTED);
                assert_redacted_record(&policy);
                assert_no_secret(&reply.text());

                let reply = http
                    .chat(
                        path,
                        Some(stack.key(project)),
                        &chat_stream(SECRET_MODEL, message),
                        &[],
                    )
                    .await;
                let policy = assert_decided(&reply, "allow", reason, revision);
                assert_eq!(reply.content(), SECRET_REDACTED, "{}", reply.text());
                assert_redacted_record(&policy);
                // Relayed as a stream, not buffered into one answer.
                let events = reply.events();
                assert!(events.len() > 10, "{} events", events.len());
                assert!(reply.chunks.len() > 1, "arrived in one piece");
                for chunk in &reply.chunks {
                    assert_no_secret(&String::from_utf8_lossy(chunk));
                }
                for pair in reply.chunks.windows(2) {
                    assert_no_secret(&String::from_utf8_lossy(
                        &[&pair[0][..], &pair[1][..]].concat(),
                    ));
                }
                assert_no_secret(&reply.text());
            }
        }
    }
}

fn assert_redacted_record(policy: &serde_json::Value) {
    assert_eq!(policy["redacted"], true, "{policy}");
    assert_eq!(
        policy["redaction_counts"],
        json!({"email": 1, "card": 1, "api_key": 1}),
        "{policy}"
    );
}

fn assert_no_secret(text: &str) {
    for secret in [SECRET_EMAIL, SECRET_CARD, SECRET_API_KEY]
        .iter()
        .chain(FRAGMENTS.iter())
    {
        assert!(
            !text.contains(secret),
            "{secret:?} reached the client: {text}"
        );
    }
}
