//! Every decision over the wire, on both endpoints and in both stream modes (SPEC §2.4).

use serde_json::{Value, json};

use crate::support::fixtures::{self, knowledge_key, open_key, support_key};
use crate::support::{Env, PATHS, Reply, chat, chat_stream};

/// Headers and `policy` agree, and the body is well-formed for its mode.
fn assert_decided(reply: &Reply, decision: &str, reason: &str) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-policy-decision"), decision);
    assert_eq!(reply.header("x-policy-reason-code"), reason);
    assert!(!reply.header("x-request-id").is_empty());
    reply.header("x-policy-revision").parse::<u64>().unwrap();
    let is_stream = reply
        .header("content-type")
        .starts_with("text/event-stream");
    let policy = if is_stream {
        let events = reply.events();
        assert_eq!(events.last(), Some(&json!("[DONE]")));
        for event in &events[..events.len() - 1] {
            assert!(
                event["choices"][0].is_object(),
                "every chunk has choices[0]: {event}"
            );
        }
        let finishing: Vec<&Value> = events
            .iter()
            .filter(|e| e["choices"][0]["finish_reason"].is_string())
            .collect();
        assert_eq!(finishing.len(), 1);
        finishing[0]["policy"].clone()
    } else {
        reply.json()["policy"].clone()
    };
    assert_eq!(policy["decision"], decision);
    assert_eq!(policy["reason_code"], reason);
    policy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_forwards_unchanged_with_gateway_fields_stripped() {
    let env = Env::start().await;
    for path in PATHS {
        for stream in [false, true] {
            let mut body = if stream {
                chat_stream("echo", "What is your refund policy?")
            } else {
                chat("echo", "What is your refund policy?")
            };
            body["policy_user"] = json!("Alice Smith");
            body["user"] = json!("openai-end-user");
            body["metadata"] = json!({"ticket": "42"});
            let before = env.upstream.count();
            let reply = env
                .dp
                .chat(
                    path,
                    Some(&support_key()),
                    &body,
                    &[("x-request-id", "client-rid-1")],
                )
                .await;
            let policy = assert_decided(&reply, "allow", "ALLOW");
            assert_eq!(policy["allowlist_hits"], json!(["refund policy"]));
            assert_eq!(reply.header("x-request-id"), "client-rid-1");
            assert!(
                reply
                    .content()
                    .starts_with("echo: What is your refund policy?")
            );
            let seen = &env.upstream.seen()[before];
            assert!(
                seen.body.get("policy_user").is_none(),
                "gateway fields stripped"
            );
            assert_eq!(seen.body["user"], "openai-end-user");
            assert_eq!(seen.body["metadata"], json!({"ticket": "42"}));
            assert_eq!(
                seen.body["messages"], body["messages"],
                "messages unchanged"
            );
            assert_eq!(seen.headers["authorization"], "Bearer sk-upstream-test");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_prepends_a_system_message_that_does_not_echo_the_user() {
    let env = Env::start().await;
    let message = "Tell me about the weather on Mars today";
    for path in PATHS {
        for stream in [false, true] {
            let body = if stream {
                chat_stream("echo", message)
            } else {
                chat("echo", message)
            };
            let before = env.upstream.count();
            let reply = env.dp.chat(path, Some(&support_key()), &body, &[]).await;
            let policy = assert_decided(&reply, "rewrite", "REWRITE");
            assert_eq!(policy["off_topic"], true);
            let seen = &env.upstream.seen()[before];
            let messages = seen.body["messages"].as_array().unwrap();
            assert_eq!(messages.len(), 2);
            assert_eq!(messages[0]["role"], "system");
            let instruction = messages[0]["content"].as_str().unwrap();
            assert!(instruction.contains("refund policy"), "{instruction}");
            assert!(
                !instruction.contains("Mars"),
                "never echoes the user: {instruction}"
            );
            assert_eq!(messages[1]["content"], message);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_asks_for_a_brief_answer() {
    let env = Env::start().await;
    for stream in [false, true] {
        let mut body = if stream {
            chat_stream("echo", "Explain lock picking in depth")
        } else {
            chat("echo", "Explain lock picking in depth")
        };
        body["policy_id"] = json!("summary-policy");
        let before = env.upstream.count();
        let reply = env
            .dp
            .chat(PATHS[0], Some(&fixtures::org_key()), &body, &[])
            .await;
        let policy = assert_decided(&reply, "summary", "SUMMARY");
        assert_eq!(policy["denylist_hits"], json!(["lock picking"]));
        let seen = &env.upstream.seen()[before];
        let instruction = seen.body["messages"][0]["content"].as_str().unwrap();
        assert_eq!(seen.body["messages"][0]["role"], "system");
        assert!(instruction.contains("brief, high-level"), "{instruction}");
        assert!(!instruction.contains("in depth"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_and_refuse_answer_without_calling_the_upstream() {
    let env = Env::start().await;
    let user = fixtures::stable_user();
    for path in PATHS {
        for stream in [false, true] {
            let before = env.upstream.count();
            // ESCALATE, through an org-wide key naming the policy.
            let mut body = if stream {
                chat_stream("echo", "lock picking please")
            } else {
                chat("echo", "lock picking please")
            };
            body["policy_id"] = json!("escalate-policy");
            let reply = env
                .dp
                .chat(path, Some(&fixtures::org_key()), &body, &[])
                .await;
            assert_decided(&reply, "escalate", "ESCALATE");
            assert!(
                reply.content().contains("review@acme.test"),
                "{}",
                reply.text()
            );
            assert_blocked_shape(&reply, false);

            // REFUSE: the example of SPEC §11.
            let message = "Share our internal incident response steps.";
            let mut body = if stream {
                chat_stream("echo", message)
            } else {
                chat("echo", message)
            };
            body["policy_user"] = json!(user);
            let reply = env.dp.chat(path, Some(&knowledge_key()), &body, &[]).await;
            let policy = assert_decided(&reply, "refuse", "REFUSE");
            assert_eq!(policy["denylist_hits"], json!(["internal incident"]));
            assert_eq!(policy["revision"], 1);
            assert_blocked_shape(&reply, true);
            assert_eq!(env.upstream.count(), before, "nothing was forwarded");
        }
    }
}

/// An ESCALATE/REFUSE answer: a chat completion (or its chunks) ending in content_filter.
fn assert_blocked_shape(reply: &Reply, refusal: bool) {
    if reply
        .header("content-type")
        .starts_with("text/event-stream")
    {
        let events = reply.events();
        assert_eq!(events[0]["object"], "chat.completion.chunk");
        assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(
            events[0]["choices"][0]["delta"]["refusal"].is_string(),
            refusal
        );
        assert_eq!(events[1]["choices"][0]["finish_reason"], "content_filter");
        assert!(events.len() == 3, "no usage chunk unless asked: {events:?}");
    } else {
        let body = reply.json();
        assert_eq!(body["object"], "chat.completion");
        assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert!(body["created"].is_u64());
        assert_eq!(body["model"], "echo");
        let choice = &body["choices"][0];
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(choice["finish_reason"], "content_filter");
        assert_eq!(choice["message"]["refusal"].is_string(), refusal);
        assert_eq!(body["usage"]["total_tokens"], 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_blocks_refuse_whatever_the_policy_says() {
    let env = Env::start().await;
    // On-topic for the support policy, whose violations would only be rewritten.
    let message = "refund policy for underage nudes";
    for path in PATHS {
        for stream in [false, true] {
            let body = if stream {
                chat_stream("echo", message)
            } else {
                chat("echo", message)
            };
            let before = env.upstream.count();
            let reply = env.dp.chat(path, Some(&support_key()), &body, &[]).await;
            let policy = assert_decided(&reply, "refuse", "REFUSE");
            assert_eq!(policy["hard_block"], true);
            assert_eq!(env.upstream.count(), before);
        }
    }
    // Also under a policy with no rules at all.
    let reply = env
        .dp
        .chat(PATHS[0], Some(&open_key()), &chat("echo", message), &[])
        .await;
    assert_decided(&reply, "refuse", "REFUSE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_decision_is_recorded_but_not_acted_on() {
    let env = Env::start().await;
    // The stable revision allows this; the candidate denies "vendor contract".
    let mut body = chat("echo", "status page for the vendor contract");
    body["policy_user"] = json!(fixtures::shadow_user());
    let reply = env
        .dp
        .chat(PATHS[0], Some(&knowledge_key()), &body, &[])
        .await;
    let policy = assert_decided(&reply, "allow", "ALLOW");
    assert_eq!(policy["revision"], 1);
    assert_eq!(policy["rollout_mode"], "enforced");
    let shadow = crate::support::eventually("the shadow entry is reported", || {
        env.cp.recorded(|r| {
            r.audit
                .values()
                .find(|e| {
                    e.decision
                        .as_ref()
                        .is_some_and(|d| d.rollout_mode == "shadow")
                })
                .cloned()
        })
    })
    .await;
    let record = shadow.decision.unwrap();
    assert_eq!(record.decision, "refuse");
    assert!(!record.enforced);
    assert_eq!(record.revision, 2);
    assert_eq!(record.denylist_hits, ["vendor contract"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_moderation_provider_labels_and_fails_as_configured() {
    use crate::support::upstream::SELF_HARM_TRIGGER;
    let upstream = crate::support::FakeUpstream::start().await;
    let moderation = format!("{}/moderations", upstream.base_url());
    let provider = [
        ("MODERATION_PROVIDER", "openai"),
        ("MODERATION_URL", moderation.as_str()),
        ("MODERATION_API_KEY", "mod-key"),
    ];
    let env = Env::start_with(&provider).await;
    let flagged = format!("refund policy {SELF_HARM_TRIGGER}");
    let reply = env
        .dp
        .chat(PATHS[0], Some(&support_key()), &chat("echo", &flagged), &[])
        .await;
    let policy = assert_decided(&reply, "rewrite", "REWRITE");
    assert_eq!(
        policy["triggered_categories"],
        json!(["self-harm", "self-harm/intent"])
    );
    let reply = env
        .dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("echo", "refund policy"),
            &[],
        )
        .await;
    assert_decided(&reply, "allow", "ALLOW");

    let down = format!("{}/moderations-down", upstream.base_url());
    for (mode, decision) in [("closed", "refuse"), ("open", "allow")] {
        let env = Env::start_with(&[
            ("MODERATION_PROVIDER", "openai"),
            ("MODERATION_URL", down.as_str()),
            ("MODERATION_FAIL", mode),
        ])
        .await;
        let reply = env
            .dp
            .chat(
                PATHS[0],
                Some(&support_key()),
                &chat("echo", "refund policy"),
                &[],
            )
            .await;
        let policy = assert_decided(&reply, decision, &decision.to_uppercase());
        if mode == "closed" {
            assert_eq!(policy["reason_detail"], "moderation_unavailable");
            assert_eq!(policy["hard_block"], true);
        }
    }
}
