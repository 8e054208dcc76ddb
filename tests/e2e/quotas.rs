//! Quotas across the fleet (SPEC §4, issue 5): the control plane is the one authority,
//! two real data planes admit against leases of it.
//!
//! - racing data planes admit exactly N requests of a user quota of N;
//! - a token quota under streamed and non-streamed traffic ends within the bound of
//!   docs/quotas.md;
//! - the 429: OpenAI shape naming the limit, `Retry-After` to the window's reset,
//!   `x-should-retry: false`;
//! - a control-plane outage: allowance 0 refuses, allowance `a` admits `a` per node;
//! - usage survives a policy save and a control-plane restart.

use e2e_tests::upstream::{COMPLETION_TOKENS, PROMPT_TOKENS};
use e2e_tests::{Http, PATHS, Reply, Stack, StackOptions, chat, chat_stream, eventually};
use futures::future::join_all;
use http::Method;
use serde_json::{Value, json};

use crate::common::assert_error;

const POLICY: &str = "quota-policy";
const PROJECT: &str = "quota-bot";

/// A policy that allows everything, with the given `org_controls`.
fn quota_policy(org_controls: Value) -> Value {
    json!({
        "policy_id": POLICY, "name": "Quota policy",
        "rules": {"redact": false, "reason_codes": ["ALLOW", "REFUSE"]},
        "org_controls": org_controls
    })
}

fn user_quota(requests: Option<u64>, tokens: Option<u64>) -> Value {
    let mut quota = json!({"window": "daily"});
    if let Some(requests) = requests {
        quota["requests"] = json!(requests);
    }
    if let Some(tokens) = tokens {
        quota["tokens"] = json!(tokens);
    }
    quota_policy(json!({"user_quotas": true, "user_quota": quota}))
}

/// Saves `policy`, creates the quota project on it and returns its key, once every data
/// plane knows the key.
async fn seed(stack: &Stack, policy: &Value) -> String {
    stack.api.save_policy(policy).await;
    stack.api.create_project(PROJECT, POLICY).await;
    let key = stack.api.create_project_key(PROJECT, "quota key").await.raw;
    // A body without a model is refused (400) right after the key check, before any
    // quota is counted: a 400 means the node knows the key.
    for dp in &stack.dps {
        let http = dp.http();
        eventually("the data plane knows the new key", || async {
            let body = json!({"messages": [{"role": "user", "content": "hi"}]});
            let reply = http.chat(PATHS[0], Some(&key), &body, &[]).await;
            (reply.status == 400).then_some(())
        })
        .await;
    }
    key
}

fn as_user(user: &str, mut body: Value) -> Value {
    body["policy_user"] = json!(user);
    body
}

/// One plain chat request of `user` with `key` through `node`.
async fn ask_as(node: &Http, key: &str, user: &str, message: &str) -> Reply {
    node.chat(
        PATHS[0],
        Some(key),
        &as_user(user, chat("echo", message)),
        &[],
    )
    .await
}

/// Seconds from now to the next UTC midnight (the daily window's reset).
fn seconds_to_midnight() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    86_400 - now % 86_400
}

/// Every data plane, for `n` concurrent requests of `user`, split evenly between them.
async fn race(nodes: &[Http], key: &str, user: &str, n: usize, body: &Value) -> Vec<Reply> {
    join_all((0..n).map(|i| {
        let node = nodes[i % nodes.len()].clone();
        let body = as_user(user, body.clone());
        let key = key.to_owned();
        async move { node.chat(PATHS[i % 2], Some(&key), &body, &[]).await }
    }))
    .await
}

/// The usage figures the control plane stores for `user` (requests, tokens).
async fn stored_usage(stack: &Stack, user: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint \
         FROM usage_records WHERE quota_subject = $1",
    )
    .bind(user)
    .fetch_one(&stack.db.pool)
    .await
    .expect("usage records")
}

/// Waits until the control plane has stored `requests` usage records of `user`.
async fn wait_stored(stack: &Stack, user: &str, requests: i64) -> (i64, i64) {
    eventually("the usage records are stored", || async {
        let usage = stored_usage(stack, user).await;
        (usage.0 >= requests).then_some(usage)
    })
    .await
}

/// The `GET /usage` figures (`limit`, `used`, `leased`, `remaining`) of the user quota's
/// `metric` for `user`.
async fn usage_row(stack: &Stack, user: &str, metric: &str) -> Value {
    let view = stack
        .api
        .expect(
            Method::GET,
            &format!("/usage?project_id={PROJECT}&subject={user}"),
            None,
            200,
        )
        .await;
    view["quotas"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|row| row["subject_kind"] == "user" && row["subject"] == user)
        })
        .map(|row| row[metric].clone())
        .unwrap_or_else(|| panic!("no user quota of {user} in {view}"))
}

fn count(replies: &[Reply], status: u16) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_data_planes_admit_exactly_the_quota() {
    const N: u64 = 20;
    let stack = Stack::start(StackOptions::default()).await;
    let key = seed(&stack, &user_quota(Some(N), None)).await;
    let nodes: Vec<Http> = stack.dps.iter().map(|dp| dp.http()).collect();

    // Three times the quota at once, half through each data plane.
    let replies = race(
        &nodes,
        &key,
        "racer",
        3 * N as usize,
        &chat("echo", "hello"),
    )
    .await;
    assert_eq!(count(&replies, 200), N as usize, "admitted");
    assert_eq!(count(&replies, 429), 2 * N as usize, "refused");
    for reply in replies.iter().filter(|r| r.status == 429) {
        assert_error(reply, 429, "user_quota.requests");
    }
    // Nothing more once the quota is spent, on either node.
    for node in &nodes {
        let reply = ask_as(node, &key, "racer", "x").await;
        assert_error(&reply, 429, "user_quota.requests");
    }
    // Another user has a bucket of their own.
    let reply = ask_as(&nodes[1], &key, "other", "x").await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    assert_eq!(wait_stored(&stack, "racer", N as i64).await.0, N as i64);
    let row = eventually("the counter shows the quota used", || async {
        let row = usage_row(&stack, "racer", "requests").await;
        (row["used"] == N).then_some(row)
    })
    .await;
    assert_eq!(row["limit"], N, "{row}");
    assert_eq!(row["remaining"], 0, "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_quota_under_mixed_traffic_ends_within_the_bound() {
    // Every answer of the fake upstream uses PROMPT_TOKENS + COMPLETION_TOKENS.
    let per_request = PROMPT_TOKENS + COMPLETION_TOKENS;
    let limit = 20 * per_request + per_request / 2;
    let stack = Stack::start(StackOptions::default()).await;
    let key = seed(&stack, &user_quota(None, Some(limit))).await;
    let nodes: Vec<Http> = stack.dps.iter().map(|dp| dp.http()).collect();

    // Rounds of CONCURRENCY requests at once (half per node, half of them streamed),
    // each asking for at most COMPLETION_TOKENS, until every request of a round is
    // refused.
    const CONCURRENCY: usize = 8;
    let mut admitted = 0;
    for round in 0.. {
        assert!(round < 40, "the token quota never ran out");
        let replies = join_all((0..CONCURRENCY).map(|i| {
            let node = nodes[i % 2].clone();
            let mut body = if i % 4 < 2 {
                chat("echo", "a question about tokens")
            } else {
                chat_stream("echo", "a question about tokens")
            };
            body["max_tokens"] = json!(COMPLETION_TOKENS);
            let body = as_user("counter", body);
            let key = key.clone();
            async move { node.chat(PATHS[i % 2], Some(&key), &body, &[]).await }
        }))
        .await;
        let ok = count(&replies, 200);
        for reply in replies.iter().filter(|r| r.status != 200) {
            assert_error(reply, 429, "user_quota.tokens");
        }
        admitted += ok;
        if ok == 0 {
            break;
        }
    }
    let (requests, tokens) = wait_stored(&stack, "counter", admitted as i64).await;
    assert_eq!(requests, admitted as i64);
    // The bound (docs/quotas.md): the last in-flight requests' completions beyond what
    // their reservation was clamped to, one request per concurrent client at most.
    let bound = limit + CONCURRENCY as u64 * per_request;
    assert!(
        tokens as u64 <= bound,
        "{tokens} tokens used against a limit of {limit} (bound {bound})"
    );
    // And the quota was not left mostly unused: the last admission could only fail
    // once less than one request's reservation remained.
    assert!(
        tokens as u64 + 2 * per_request >= limit,
        "only {tokens} of {limit} tokens admitted"
    );
    let row = eventually("the counter shows the tokens", || async {
        let row = usage_row(&stack, "counter", "tokens").await;
        (row["used"] == tokens).then_some(row)
    })
    .await;
    assert_eq!(row["limit"], limit, "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_quota_answers_429_with_the_limit_retry_after_and_no_retry() {
    let stack = Stack::start(StackOptions {
        data_planes: 1,
        ..StackOptions::default()
    })
    .await;
    let key = seed(&stack, &user_quota(Some(2), None)).await;
    let node = stack.dps[0].http();
    for _ in 0..2 {
        let reply = ask_as(&node, &key, "bob", "hi").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    for body in [chat("echo", "hi"), chat_stream("echo", "hi")] {
        let before = stack.upstream.count();
        let expected_wait = seconds_to_midnight();
        let reply = node
            .chat(PATHS[1], Some(&key), &as_user("bob", body), &[])
            .await;
        let error = assert_error(&reply, 429, "user_quota.requests");
        assert_eq!(error["type"], "quota_exceeded", "{error}");
        let retry_after: u64 = reply.header("retry-after").parse().expect("Retry-After");
        assert!(
            retry_after.abs_diff(expected_wait) <= 2,
            "Retry-After {retry_after}, expected about {expected_wait}"
        );
        assert_eq!(reply.header("x-should-retry"), "false");
        // It reached a decision, so it says which.
        assert_eq!(reply.header("x-policy-decision"), "allow");
        assert_eq!(reply.json()["policy"]["policy_id"], POLICY);
        assert_eq!(
            stack.upstream.count(),
            before,
            "a refused request went upstream"
        );
    }

    // The project record's monthly limit trips as project.monthly_request_limit, with
    // the month's reset.
    stack
        .api
        .update_project(PROJECT, &json!({"monthly_request_limit": 3}))
        .await;
    // A user of their own per attempt, so no user quota trips first.
    let mut attempt = 0;
    let reply = eventually("the project limit is enforced", || {
        attempt += 1;
        let body = as_user(&format!("carol-{attempt}"), chat("echo", "hi"));
        let (node, key) = (node.clone(), key.clone());
        async move {
            let reply = node.chat(PATHS[0], Some(&key), &body, &[]).await;
            (reply.status == 429).then_some(reply)
        }
    })
    .await;
    assert_error(&reply, 429, "project.monthly_request_limit");
    assert_eq!(reply.header("x-should-retry"), "false");
    let retry_after: u64 = reply.header("retry-after").parse().expect("Retry-After");
    assert!(
        retry_after > 0 && retry_after <= 31 * 86_400,
        "Retry-After {retry_after} is not within a month"
    );
}

/// Two data planes with an offline allowance of `allowance` requests: `user` spends a
/// user quota of 4 through them, then the control plane is killed.
async fn spend_then_lose_the_control_plane(
    user: &str,
    allowance: usize,
) -> (Stack, String, Vec<Http>) {
    let mut stack = Stack::start(
        StackOptions::default()
            .dp_env("DP_QUOTA_OFFLINE_REQUESTS", &allowance.to_string())
            .dp_env("DP_QUOTA_WAIT_MS", "300"),
    )
    .await;
    let key = seed(&stack, &user_quota(Some(4), None)).await;
    let nodes: Vec<Http> = stack.dps.iter().map(|dp| dp.http()).collect();
    let replies = race(&nodes, &key, user, 8, &chat("echo", "hi")).await;
    assert_eq!(count(&replies, 200), 4);
    wait_stored(&stack, user, 4).await;
    stack.cp.kill();
    (stack, key, nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_offline_allowance_a_control_plane_outage_refuses_over_quota_traffic() {
    let (stack, key, nodes) = spend_then_lose_the_control_plane("dave", 0).await;
    for node in &nodes {
        for user in ["dave", "a-new-user"] {
            let reply = ask_as(node, &key, user, "hi").await;
            assert_error(&reply, 429, "user_quota.requests");
        }
        // Traffic without a quota is not affected.
        let reply = node
            .chat(
                PATHS[0],
                Some(stack.key("open-bot")),
                &chat("echo", "hi"),
                &[],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_allowance_admits_at_most_that_many_per_node() {
    const ALLOWANCE: usize = 3;
    let (mut stack, key, nodes) = spend_then_lose_the_control_plane("erin", ALLOWANCE).await;
    for node in &nodes {
        let mut admitted = 0;
        for _ in 0..3 * ALLOWANCE {
            let reply = ask_as(node, &key, "erin", "hi").await;
            match reply.status {
                200 => admitted += 1,
                _ => {
                    assert_error(&reply, 429, "user_quota.requests");
                }
            }
        }
        assert_eq!(
            admitted,
            ALLOWANCE,
            "admitted on {} while offline",
            node.base()
        );
    }

    // Back online, the overspend is reported and counted: 4 + ALLOWANCE per node.
    stack.cp.restart().await;
    let expected = 4 + (ALLOWANCE * nodes.len()) as i64;
    assert_eq!(wait_stored(&stack, "erin", expected).await.0, expected);
    let row = eventually("the counter shows the overspend", || async {
        let row = usage_row(&stack, "erin", "requests").await;
        (row["used"] == expected).then_some(row)
    })
    .await;
    assert_eq!(row["remaining"], 0, "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_survives_a_policy_save_and_a_control_plane_restart() {
    let mut stack = Stack::start(StackOptions::default()).await;
    let policy = user_quota(Some(6), None);
    let key = seed(&stack, &policy).await;
    let nodes: Vec<Http> = stack.dps.iter().map(|dp| dp.http()).collect();
    let send = |n: usize| {
        let nodes = nodes.clone();
        let key = key.clone();
        async move {
            let mut statuses = Vec::new();
            for i in 0..n {
                let reply = nodes[i % 2]
                    .chat(
                        PATHS[0],
                        Some(&key),
                        &as_user("frank", chat("echo", "hi")),
                        &[],
                    )
                    .await;
                statuses.push(reply.status);
            }
            statuses
        }
    };
    assert_eq!(send(2).await, [200, 200]);
    wait_stored(&stack, "frank", 2).await;

    // A new revision with the same quota: the count goes on.
    let mut changed = policy.clone();
    changed["description"] = json!("a new revision");
    let state = stack.api.save_policy(&changed).await;
    let revision = state["revision"].as_i64().expect("revision");
    // Probes of users of their own, until both nodes enforce the new revision.
    let mut probes = 0;
    for node in &nodes {
        eventually("the new revision is enforced", || {
            probes += 1;
            let body = as_user(&format!("probe-{probes}"), chat("echo", "hi"));
            let key = key.clone();
            async move {
                let reply = node.chat(PATHS[0], Some(&key), &body, &[]).await;
                (reply.header("x-policy-revision") == revision.to_string()).then_some(())
            }
        })
        .await;
    }
    let reply = ask_as(&nodes[0], &key, "frank", "hi").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-policy-revision"), revision.to_string());
    wait_stored(&stack, "frank", 3).await;

    // A control-plane restart: the counter is in Postgres. Until a node's lease stream
    // is back it refuses (no offline allowance), and a node can find the last of the
    // budget held by the other one (a 429 to retry in a second); asking both until each
    // says the window is spent admits exactly the rest of the quota.
    stack.cp.kill();
    stack.cp.restart().await;
    let mut admitted_after_restart = 0;
    let mut spent = [false; 2];
    let until = tokio::time::Instant::now() + e2e_tests::DEADLINE;
    while spent.contains(&false) {
        assert!(
            tokio::time::Instant::now() < until,
            "the nodes never both said the window is spent ({admitted_after_restart} admitted)"
        );
        for (n, node) in nodes.iter().enumerate() {
            let body = as_user("frank", chat("echo", "hi"));
            let reply = node.chat(PATHS[0], Some(&key), &body, &[]).await;
            if reply.status == 200 {
                admitted_after_restart += 1;
                continue;
            }
            assert_error(&reply, 429, "user_quota.requests");
            if reply.headers.contains_key("x-should-retry") {
                assert_eq!(reply.header("x-should-retry"), "false");
                spent[n] = true;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        admitted_after_restart, 3,
        "the quota of 6 admitted another number"
    );
    let row = eventually("the counter shows six", || async {
        let row = usage_row(&stack, "frank", "requests").await;
        (row["used"] == 6).then_some(row)
    })
    .await;
    assert_eq!(row["limit"], 6, "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_and_plain_answers_are_charged_their_upstream_usage() {
    let stack = Stack::start(StackOptions {
        data_planes: 1,
        ..StackOptions::default()
    })
    .await;
    let key = seed(&stack, &user_quota(Some(100), Some(100_000))).await;
    let node = stack.dps[0].http();
    for body in [chat("echo", "hi"), chat_stream("echo", "hi")] {
        let reply = node
            .chat(PATHS[0], Some(&key), &as_user("gina", body), &[])
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let (requests, tokens) = wait_stored(&stack, "gina", 2).await;
    assert_eq!(requests, 2);
    let expected = 2 * (PROMPT_TOKENS + COMPLETION_TOKENS);
    assert_eq!(tokens as u64, expected);
    let row = eventually("the token counter settles", || async {
        let row = usage_row(&stack, "gina", "tokens").await;
        (row["used"] == expected).then_some(row)
    })
    .await;
    assert_eq!(row["remaining"], 100_000 - expected, "{row}");
}
