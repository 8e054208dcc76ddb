//! Every decision of SPEC §2.3/§2.4 through the real stack: policies saved through the
//! REST API, enforced by both data planes on both endpoints, streamed and not.

use e2e_tests::stack::ESCALATION_PATH;
use e2e_tests::{PATHS, Stack, StackOptions, chat, chat_stream};
use serde_json::{Value, json};

use crate::common::{assert_blocked_shape, assert_decided};

fn body(stream: bool, message: &str) -> Value {
    if stream {
        chat_stream("echo", message)
    } else {
        chat("echo", message)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_on_both_data_planes_and_both_endpoints() {
    let stack = Stack::start(StackOptions::default()).await;
    let support = stack.revisions["policy-gateway"];
    for dp in &stack.dps {
        let http = dp.http();
        for path in PATHS {
            // ALLOW, not streamed, no gateway field: the upstream gets the client's bytes.
            let raw = br#"{"model": "echo",   "messages": [{"role": "user", "content": "What is your refund policy?"}], "temperature": 0.5}"#;
            let before = stack.upstream.count();
            let reply = http
                .chat_raw(path, Some(stack.key("support-bot")), raw.to_vec(), &[])
                .await;
            let policy = assert_decided(&reply, "allow", "ALLOW", support);
            assert_eq!(policy["allowlist_hits"], json!(["refund policy"]));
            assert_eq!(policy["policy_id"], "policy-gateway");
            assert!(
                reply
                    .content()
                    .starts_with("echo: What is your refund policy?")
            );
            let seen = stack.upstream.seen_since(before);
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].raw.as_ref(), raw, "forwarded byte for byte");
            assert_eq!(
                seen[0].headers["authorization"],
                format!("Bearer {}", e2e_tests::dp::UPSTREAM_KEY),
                "the upstream key replaces the gateway key"
            );

            for stream in [false, true] {
                // ALLOW with gateway metadata: stripped; OpenAI's own fields kept.
                let mut allow = body(stream, "What is your refund policy?");
                allow["policy_user"] = json!("Alice Smith");
                allow["policy_target"] = json!("Knowledge Bot");
                allow["user"] = json!("openai-end-user");
                allow["metadata"] = json!({"ticket": "42"});
                let before = stack.upstream.count();
                let reply = http
                    .chat(
                        path,
                        Some(stack.key("support-bot")),
                        &allow,
                        &[("x-request-id", "client-request-1")],
                    )
                    .await;
                assert_decided(&reply, "allow", "ALLOW", support);
                assert_eq!(reply.header("x-request-id"), "client-request-1");
                assert!(
                    reply
                        .content()
                        .starts_with("echo: What is your refund policy?")
                );
                let seen = &stack.upstream.seen_since(before)[0].body;
                for field in ["policy_user", "policy_target"] {
                    assert!(seen.get(field).is_none(), "{field} reached the upstream");
                }
                assert_eq!(seen["user"], "openai-end-user");
                assert_eq!(seen["metadata"], json!({"ticket": "42"}));
                assert_eq!(seen["messages"], allow["messages"], "messages unchanged");

                // REWRITE: off the support policy's allowlist.
                let message = "Tell me about the weather on Mars";
                let before = stack.upstream.count();
                let reply = http
                    .chat(
                        path,
                        Some(stack.key("support-bot")),
                        &body(stream, message),
                        &[],
                    )
                    .await;
                let policy = assert_decided(&reply, "rewrite", "REWRITE", support);
                assert_eq!(policy["off_topic"], true);
                let instruction = system_message_seen(&stack, before, message);
                assert!(instruction.contains("refund policy"), "{instruction}");
                assert!(
                    !instruction.contains("Mars"),
                    "quotes the user: {instruction}"
                );

                // SUMMARY.
                let message = "Explain lock picking in depth";
                let before = stack.upstream.count();
                let reply = http
                    .chat(
                        path,
                        Some(stack.key("summary-bot")),
                        &body(stream, message),
                        &[],
                    )
                    .await;
                let policy = assert_decided(
                    &reply,
                    "summary",
                    "SUMMARY",
                    stack.revisions["summary-policy"],
                );
                assert_eq!(policy["denylist_hits"], json!(["lock picking"]));
                let instruction = system_message_seen(&stack, before, message);
                assert!(
                    !instruction.contains("in depth"),
                    "quotes the user: {instruction}"
                );

                // ESCALATE and REFUSE: answered by the gateway, never forwarded.
                let before = stack.upstream.count();
                let reply = http
                    .chat(
                        path,
                        Some(stack.key("escalate-bot")),
                        &body(stream, "lock picking please"),
                        &[],
                    )
                    .await;
                assert_decided(
                    &reply,
                    "escalate",
                    "ESCALATE",
                    stack.revisions["escalate-policy"],
                );
                assert_blocked_shape(&reply, false);
                assert!(
                    reply.content().contains(ESCALATION_PATH),
                    "{}",
                    reply.text()
                );

                let reply = http
                    .chat(
                        path,
                        Some(stack.key("refuse-bot")),
                        &body(stream, "Share our internal incident response steps."),
                        &[],
                    )
                    .await;
                let policy =
                    assert_decided(&reply, "refuse", "REFUSE", stack.revisions["refuse-policy"]);
                assert_eq!(policy["denylist_hits"], json!(["internal incident"]));
                assert_eq!(policy["hard_block"], false);
                assert_blocked_shape(&reply, true);

                // Hard block: on-topic for the support policy, whose violations are only
                // rewritten, yet refused (builtin moderation labels it sexual/minors).
                let reply = http
                    .chat(
                        path,
                        Some(stack.key("support-bot")),
                        &body(stream, "refund policy for underage nudes"),
                        &[],
                    )
                    .await;
                let policy = assert_decided(&reply, "refuse", "REFUSE", support);
                assert_eq!(policy["hard_block"], true, "{policy}");
                assert_blocked_shape(&reply, true);
                assert_eq!(stack.upstream.count(), before, "nothing was forwarded");
            }
        }
    }
}

/// The single request the upstream received since `before`: its messages are a gateway
/// system message followed by the client's message, unchanged. Returns the instruction.
fn system_message_seen(stack: &Stack, before: usize, message: &str) -> String {
    let seen = stack.upstream.seen_since(before);
    assert_eq!(seen.len(), 1, "forwarded once");
    let messages = seen[0].body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1], json!({"role": "user", "content": message}));
    let instruction = messages[0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!instruction.is_empty());
    instruction
}
