//! Usage records with the upstream's exact token counts (SPEC §3.4, §4, §6), streamed and
//! not, delivered from both data planes into Postgres.

use e2e_tests::upstream::{COMPLETION_TOKENS, PROMPT_TOKENS};
use e2e_tests::{PATHS, Stack, StackOptions, chat, chat_stream, eventually};
use http::Method;
use serde_json::json;

use crate::common::assert_decided;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_records_carry_the_upstreams_exact_token_counts() {
    let stack = Stack::start(StackOptions::default()).await;
    let key = &stack.keys["support-bot"];
    let revision = stack.revisions["policy-gateway"];
    let message = "What is your refund policy?";
    let total = PROMPT_TOKENS + COMPLETION_TOKENS;
    for dp in &stack.dps {
        let http = dp.http();
        // Not streamed: the usage is in the answer.
        let reply = http
            .chat(PATHS[0], Some(&key.raw), &chat("echo", message), &[])
            .await;
        assert_decided(&reply, "allow", "ALLOW", revision);
        assert_eq!(reply.json()["usage"]["total_tokens"], total);

        // Streamed without asking for usage: the gateway asks the upstream for it and
        // does not pass the usage chunk on.
        let reply = http
            .chat(PATHS[1], Some(&key.raw), &chat_stream("echo", message), &[])
            .await;
        assert_decided(&reply, "allow", "ALLOW", revision);
        assert!(
            reply
                .events()
                .iter()
                .all(|e| e == "[DONE]" || e["usage"].is_null()),
            "a usage chunk nobody asked for: {}",
            reply.text()
        );
        assert_eq!(
            stack
                .upstream
                .seen()
                .last()
                .map(|s| s.body["stream_options"]["include_usage"].clone()),
            Some(json!(true))
        );

        // Streamed, asking for usage: the client gets the upstream's usage chunk.
        let mut body = chat_stream("echo", message);
        body["stream_options"] = json!({"include_usage": true});
        let reply = http.chat(PATHS[0], Some(&key.raw), &body, &[]).await;
        assert_decided(&reply, "allow", "ALLOW", revision);
        let usage: Vec<_> = reply
            .events()
            .into_iter()
            .filter(|e| e["usage"].is_object())
            .collect();
        assert_eq!(usage.len(), 1, "{}", reply.text());
        assert_eq!(usage[0]["usage"]["prompt_tokens"], PROMPT_TOKENS);
        assert_eq!(usage[0]["usage"]["completion_tokens"], COMPLETION_TOKENS);
    }

    // Refused: nothing forwarded, nothing used.
    let reply = stack.dps[0]
        .http()
        .chat(
            PATHS[0],
            Some(stack.key("refuse-bot")),
            &chat("echo", "internal incident steps"),
            &[],
        )
        .await;
    assert_eq!(reply.header("x-policy-decision"), "refuse");

    let expected = 3 * stack.dps.len();
    let rows: Vec<UsageRow> = eventually("every usage record is stored", || async {
        let rows: Vec<UsageRow> = sqlx::query_as(
            "SELECT org, project_id, key_id::text AS key_id, model, prompt_tokens, \
                    completion_tokens, node_id \
             FROM usage_records WHERE project_id = 'support-bot' ORDER BY node_id",
        )
        .fetch_all(&stack.db.pool)
        .await
        .expect("usage records");
        (rows.len() >= expected).then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), expected, "{rows:?}");
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(row.org, e2e_tests::cp::ORG);
        assert_eq!(row.project_id.as_deref(), Some("support-bot"));
        assert_eq!(row.key_id.as_deref(), Some(key.id.as_str()));
        assert_eq!(row.model, "echo");
        assert_eq!(row.prompt_tokens as u64, PROMPT_TOKENS, "{rows:?}");
        assert_eq!(row.completion_tokens as u64, COMPLETION_TOKENS, "{rows:?}");
        assert_eq!(row.node_id, stack.dps[n / 3].node_id(), "{rows:?}");
    }

    // The API's usage view adds them up.
    let view = stack
        .api
        .expect(Method::GET, "/usage?project_id=support-bot", None, 200)
        .await;
    assert_eq!(view["requests"], expected, "{view}");
    assert_eq!(view["tokens"], expected as u64 * total, "{view}");
}

#[derive(Debug, sqlx::FromRow)]
struct UsageRow {
    org: String,
    project_id: Option<String>,
    key_id: Option<String>,
    model: String,
    prompt_tokens: i64,
    completion_tokens: i64,
    node_id: String,
}
