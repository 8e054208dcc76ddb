//! Fleet quotas (SPEC §4): admission against leases from the (fake) control plane, 429s,
//! token reservation and settlement, the project record's monthly limits, the offline
//! allowance, and no lease traffic when no quota applies.

use std::time::{SystemTime, UNIX_EPOCH};

use policy_engine::Window;
use policy_proto::v1 as pb;
use serde_json::{Value, json};

use crate::support::cp::LeaseMode;
use crate::support::fixtures::{self, ORG, key, open_key, org_key};
use crate::support::{DataPlane, Env, PATHS, Reply, chat, chat_stream, eventually};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn monthly_key() -> String {
    key(20)
}

fn quota_bot_key() -> String {
    key(21)
}

/// A policy with only a user quota.
fn user_quota_policy(id: &str, quota: Value) -> pb::PolicyState {
    let document = json!({
        "policy_id": id, "name": format!("User quota {id}"),
        "org_controls": {"user_quotas": true, "user_quota": quota},
    });
    fixtures::policy(id, fixtures::revision(1, document.to_string()), None)
}

/// The standard snapshot plus quota'd policies and a project with monthly limits.
fn quota_snapshot() -> pb::Snapshot {
    let mut snapshot = fixtures::snapshot(1);
    snapshot.policies.extend([
        user_quota_policy("five-requests", json!({"requests": 5, "window": "daily"})),
        user_quota_policy("fifty-tokens", json!({"tokens": 50, "window": "daily"})),
        user_quota_policy(
            "many-tokens",
            json!({"tokens": 1_000_000, "window": "weekly"}),
        ),
        user_quota_policy(
            "thousand-requests",
            json!({"requests": 1000, "window": "daily"}),
        ),
        user_quota_policy(
            "twenty-requests",
            json!({"requests": 20, "window": "daily"}),
        ),
        fixtures::policy(
            "project-quota",
            fixtures::revision(
                1,
                json!({
                    "policy_id": "project-quota", "name": "Project quota",
                    "org_controls": {"project_quota": {"requests": 3, "window": "weekly"}},
                })
                .to_string(),
            ),
            None,
        ),
    ]);
    snapshot.projects.push(fixtures::project(
        "quota-bot",
        "Quota bot",
        "project-quota",
        false,
    ));
    snapshot.keys.push(fixtures::api_key(
        "key-quota-bot",
        &quota_bot_key(),
        "quota-bot",
    ));
    let mut monthly = fixtures::project("monthly-bot", "Monthly bot", "open-policy", false);
    monthly.monthly_request_limit = Some(2);
    monthly.monthly_token_limit = Some(100_000);
    snapshot.projects.push(monthly);
    snapshot.keys.push(fixtures::api_key(
        "key-monthly",
        &monthly_key(),
        "monthly-bot",
    ));
    snapshot
}

/// A chat request on `policy` as `user`, with the org-wide key.
async fn ask(env: &Env, policy: &str, user: &str, body: &Value) -> Reply {
    env.dp
        .chat(
            PATHS[0],
            Some(&org_key()),
            body,
            &[("x-policy-id", policy), ("x-policy-user", user)],
        )
        .await
}

/// Usage records of `subject`'s requests, once `count` have arrived.
async fn usage_of(env: &Env, subject: &str, count: usize) -> Vec<pb::UsageRecord> {
    eventually(&format!("{count} usage records of {subject}"), || {
        env.cp.recorded(|r| {
            let records: Vec<pb::UsageRecord> = r
                .usage
                .values()
                .filter(|u| u.quota_subject == subject)
                .cloned()
                .collect();
            (records.len() >= count).then_some(records)
        })
    })
    .await
}

/// Checks a quota 429: OpenAI error shape, the limit as code, the decision's record and
/// headers.
fn assert_quota_429(reply: &Reply, limit: &str) -> Value {
    assert_eq!(reply.status, 429, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["error"]["type"], "quota_exceeded");
    assert_eq!(body["error"]["code"], limit);
    assert_eq!(body["error"]["param"], Value::Null);
    assert!(
        body["error"]["message"].as_str().unwrap().contains(limit),
        "{body}"
    );
    assert_eq!(body["policy"]["decision"], "allow");
    assert_eq!(reply.header("x-policy-decision"), "allow");
    assert!(reply.headers.contains_key("x-policy-revision"));
    body
}

fn retry_after(reply: &Reply) -> u64 {
    reply.header("retry-after").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_a_user_quota_admit_exactly_its_limit() {
    let env = Env::start_serving(quota_snapshot(), &[("DP_QUOTA_OFFLINE_REQUESTS", "0")]).await;
    let reset_before = Window::Daily.seconds_until_reset(unix_now()).unwrap();
    let http = env.dp.http();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let http = http.clone();
            let body = if i % 3 == 0 {
                chat_stream("echo", "hello")
            } else {
                chat("echo", "hello")
            };
            tokio::spawn(async move {
                http.chat(
                    PATHS[i % 2],
                    Some(&org_key()),
                    &body,
                    &[("x-policy-id", "five-requests"), ("x-policy-user", "Alice")],
                )
                .await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    let reset_after = Window::Daily.seconds_until_reset(unix_now()).unwrap();

    let admitted = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(admitted, 5, "exactly the quota's 5 requests are admitted");
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status != 200).collect();
    assert_eq!(refused.len(), 7);
    for reply in refused {
        assert_quota_429(reply, "user_quota.requests");
        let seconds = retry_after(reply);
        assert!(
            (reset_after..=reset_before).contains(&seconds),
            "Retry-After {seconds} is the time to the daily reset ({reset_after}..={reset_before})"
        );
        assert_eq!(reply.header("x-should-retry"), "false");
    }
    assert_eq!(
        env.upstream.count(),
        5,
        "refused requests never reach the upstream"
    );

    // Another user has a bucket of their own.
    let other = ask(&env, "five-requests", "bob", &chat("echo", "hello")).await;
    assert_eq!(other.status, 200);

    // Each admitted request charged 1 request to alice's bucket of today, under a lease.
    let today = Window::Daily.bounds(unix_now()).unwrap().start;
    for record in usage_of(&env, "alice", 5).await {
        let [charge] = record.charges.as_slice() else {
            panic!("one charge per record: {:?}", record.charges);
        };
        let bucket = charge.bucket.as_ref().unwrap();
        assert_eq!(
            (bucket.org.as_str(), bucket.policy_id.as_str()),
            (ORG, "five-requests")
        );
        assert_eq!(
            (bucket.subject_kind.as_str(), bucket.subject.as_str()),
            ("user", "alice")
        );
        assert_eq!(
            (bucket.metric.as_str(), bucket.window.as_str()),
            ("requests", "daily")
        );
        assert_eq!(bucket.window_start_unix, today);
        assert_eq!(charge.amount, 1);
        assert!(charge.epoch >= 1, "admitted under a lease");
    }
    let metrics = env.dp.get("/metrics").await.text();
    assert!(
        metrics.contains(r#"dp_quota_rejections_total{limit="user_quota.requests"} 7"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_reservations_are_clamped_and_settled_to_the_upstream_usage() {
    let env = Env::start_serving(quota_snapshot(), &[("DP_QUOTA_OFFLINE_TOKENS", "0")]).await;
    let with_max = |mut body: Value| {
        body["max_tokens"] = json!(100);
        body
    };
    // Each reserves 2 (prompt estimate of "hello") + 100 tokens, more than the 50 of the
    // quota: clamped to what is left. Each uses 18 (the upstream's 11 + 7).
    let bodies = [
        with_max(chat("echo", "hello")),
        with_max(chat_stream("echo", "hello")),
        with_max(chat("echo", "hello")),
    ];
    for body in &bodies {
        let reply = ask(&env, "fifty-tokens", "carol", body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    // 54 used (the last answer went 4 over its 14-token reservation): nothing is left.
    let refused = ask(&env, "fifty-tokens", "carol", &bodies[0]).await;
    assert_quota_429(&refused, "user_quota.tokens");
    assert_eq!(refused.header("x-should-retry"), "false");
    assert_eq!(env.upstream.count(), 3);

    let first = env.cp.recorded(|r| r.lease_requests[0].clone());
    assert_eq!(first.node_id, "test-node");
    assert_eq!(first.demands.len(), 1);
    assert_eq!(
        first.demands[0].want, 102,
        "reservation: prompt estimate + max_tokens"
    );
    assert_eq!(first.demands[0].limit, 50);

    let records = usage_of(&env, "carol", 3).await;
    for record in &records {
        let [charge] = record.charges.as_slice() else {
            panic!("one charge per record: {:?}", record.charges);
        };
        assert_eq!(charge.bucket.as_ref().unwrap().metric, "tokens");
        assert_eq!(
            charge.amount,
            record.prompt_tokens + record.completion_tokens,
            "charged what the upstream used"
        );
        assert_eq!(charge.amount, 18);
    }
    eventually("the authority counts 54 tokens used", || {
        (env.cp.authority(|a| a.used("user", "carol", "tokens")) == 54).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_is_charged_its_reservation() {
    let env = Env::start_serving(quota_snapshot(), &[]).await;
    let mut body = chat_stream("cut", "hello");
    body["max_tokens"] = json!(40);
    let reply = ask(&env, "many-tokens", "dave", &body).await;
    assert_eq!(reply.status, 200);
    let [record] = usage_of(&env, "dave", 1).await.try_into().unwrap();
    let [charge] = record.charges.as_slice() else {
        panic!("one charge: {:?}", record.charges);
    };
    assert_eq!(charge.amount, 42, "2 (prompt estimate) + 40 (max_tokens)");
    assert_eq!(charge.bucket.as_ref().unwrap().window, "weekly");
    assert_eq!(
        charge.bucket.as_ref().unwrap().window_start_unix,
        Window::Weekly.bounds(unix_now()).unwrap().start
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_records_monthly_limits_span_policies() {
    let env = Env::start_serving(quota_snapshot(), &[]).await;
    let reset_before = Window::Monthly.seconds_until_reset(unix_now()).unwrap();
    for path in PATHS {
        let reply = env
            .dp
            .chat(path, Some(&monthly_key()), &chat("echo", "hello"), &[])
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let refused = env
        .dp
        .chat(
            PATHS[0],
            Some(&monthly_key()),
            &chat_stream("echo", "hello"),
            &[],
        )
        .await;
    let reset_after = Window::Monthly.seconds_until_reset(unix_now()).unwrap();
    assert_quota_429(&refused, "project.monthly_request_limit");
    assert!((reset_after..=reset_before).contains(&retry_after(&refused)));
    assert_eq!(refused.header("x-should-retry"), "false");

    let records = eventually("two usage records", || {
        env.cp.recorded(|r| {
            let records: Vec<pb::UsageRecord> = r
                .usage
                .values()
                .filter(|u| u.project_id == "monthly-bot")
                .cloned()
                .collect();
            (records.len() >= 2).then_some(records)
        })
    })
    .await;
    let month = Window::Monthly.bounds(unix_now()).unwrap().start;
    for record in records {
        let mut charges: Vec<(String, u64)> = record
            .charges
            .iter()
            .map(|c| {
                let bucket = c.bucket.as_ref().unwrap();
                assert_eq!(bucket.policy_id, "", "the project record spans policies");
                assert_eq!(bucket.subject_kind, "project_record");
                assert_eq!(bucket.subject, "monthly-bot");
                assert_eq!(bucket.window, "monthly");
                assert_eq!(bucket.window_start_unix, month);
                (bucket.metric.clone(), c.amount)
            })
            .collect();
        charges.sort();
        assert_eq!(
            charges,
            [("requests".to_string(), 1), ("tokens".to_string(), 18)]
        );
    }
}

/// A node with 1 % leases of a 1,000-request quota: each grant is 10 requests.
async fn leased_then_cut_off(mode: LeaseMode, allowance: &str) -> Env {
    let env = Env::start_serving(
        quota_snapshot(),
        &[
            ("DP_QUOTA_LEASE_PERCENT", "1"),
            ("DP_QUOTA_OFFLINE_REQUESTS", allowance),
        ],
    )
    .await;
    let first = ask(&env, "thousand-requests", "erin", &chat("echo", "hi")).await;
    assert_eq!(first.status, 200);
    let granted = env.cp.recorded(|r| r.lease_requests[0].demands[0].want);
    assert_eq!(granted, 10, "1 % of 1,000");
    env.cp.set_lease_mode(mode);
    env
}

/// Sends requests until one is refused; returns how many were admitted.
async fn admitted_until_refused(env: &Env) -> (usize, Reply) {
    for admitted in 0..100 {
        let reply = ask(env, "thousand-requests", "erin", &chat("echo", "hi")).await;
        if reply.status != 200 {
            return (admitted, reply);
        }
    }
    panic!("never refused");
}

fn assert_unreachable_429(reply: &Reply) {
    let body = assert_quota_429(reply, "user_quota.requests");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{body}"
    );
    assert_eq!(retry_after(reply), 1);
    assert!(
        !reply.headers.contains_key("x-should-retry"),
        "the window is not exhausted: retrying later may work"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_allowance_an_unreachable_cp_refuses_once_the_lease_is_spent() {
    let env = leased_then_cut_off(LeaseMode::Unreachable, "0").await;
    let (admitted, refused) = admitted_until_refused(&env).await;
    assert_eq!(
        admitted, 9,
        "the rest of the 10-request lease, nothing more"
    );
    assert_unreachable_429(&refused);

    // Back: the node reconnects and admits again.
    env.cp.set_lease_mode(LeaseMode::Grant);
    eventually_admitted(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cp_answering_errors_leaves_exactly_the_offline_allowance() {
    let env = leased_then_cut_off(LeaseMode::Error, "3").await;
    let (admitted, refused) = admitted_until_refused(&env).await;
    assert_eq!(
        admitted,
        9 + 3,
        "the rest of the lease, then the allowance of 3"
    );
    assert_unreachable_429(&refused);
    let offline = usage_of(&env, "erin", 13)
        .await
        .iter()
        .filter(|r| r.charges.iter().any(|c| c.epoch == 0))
        .count();
    assert_eq!(
        offline, 3,
        "allowance admissions are charged without a lease"
    );

    env.cp.set_lease_mode(LeaseMode::Grant);
    eventually_admitted(&env).await;
}

async fn eventually_admitted(env: &Env) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let reply = ask(env, "thousand-requests", "erin", &chat("echo", "hi")).await;
        if reply.status == 200 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never admitted again: {}",
            reply.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_quotas_there_is_no_lease_traffic() {
    let env = Env::start().await;
    for (i, path) in PATHS.iter().enumerate() {
        let body = if i == 0 {
            chat("echo", "hello")
        } else {
            chat_stream("echo", "hello")
        };
        let reply = env.dp.chat(path, Some(&open_key()), &body, &[]).await;
        assert_eq!(reply.status, 200);
    }
    eventually("both usage records arrive", || {
        env.cp.recorded(|r| (r.usage.len() >= 2).then_some(()))
    })
    .await;
    env.cp.recorded(|r| {
        assert_eq!(r.lease_streams, 0, "no Lease call");
        assert!(r.lease_requests.is_empty());
        assert!(r.usage.values().all(|u| u.charges.is_empty()));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_together_admit_exactly_the_quota() {
    let env = Env::start_serving(
        quota_snapshot(),
        &[("DP_NODE_ID", "node-a"), ("DP_QUOTA_OFFLINE_REQUESTS", "0")],
    )
    .await;
    let state_b = tempfile::tempdir().unwrap();
    let node_b = DataPlane::start(
        &env.cp.url(),
        &env.upstream.base_url(),
        state_b.path(),
        &[("DP_NODE_ID", "node-b"), ("DP_QUOTA_OFFLINE_REQUESTS", "0")],
    )
    .await;
    node_b.wait_ready().await;
    let nodes = [env.dp.http(), node_b.http()];
    let send = |i: usize| {
        let http = nodes[i % 2].clone();
        async move {
            http.chat(
                PATHS[0],
                Some(&org_key()),
                &chat("echo", "hello"),
                &[
                    ("x-policy-id", "twenty-requests"),
                    ("x-policy-user", "frank"),
                ],
            )
            .await
        }
    };
    // A burst on both nodes at once, then one request at a time on each in turn until
    // both say the window is used up.
    let burst: Vec<_> = (0..30).map(|i| tokio::spawn(send(i))).collect();
    let mut admitted = 0;
    for reply in burst {
        let reply = reply.await.unwrap();
        match reply.status {
            200 => admitted += 1,
            _ => {
                assert_quota_429(&reply, "user_quota.requests");
            }
        }
    }
    assert!(admitted <= 20, "{admitted} admitted in the burst");
    let mut exhausted_in_a_row = 0;
    for i in 0..200 {
        let reply = send(i).await;
        if reply.status == 200 {
            admitted += 1;
            exhausted_in_a_row = 0;
            continue;
        }
        assert_quota_429(&reply, "user_quota.requests");
        if reply.headers.contains_key("x-should-retry") {
            exhausted_in_a_row += 1;
            if exhausted_in_a_row == 2 {
                break;
            }
        } else {
            // Budget another node still holds: it spends it on its next request.
            assert_eq!(retry_after(&reply), 1);
            exhausted_in_a_row = 0;
        }
    }
    assert_eq!(exhausted_in_a_row, 2, "both nodes end up exhausted");
    assert_eq!(admitted, 20, "the nodes together admit exactly the quota");
    assert_eq!(env.upstream.count(), 20);
    let records = usage_of(&env, "frank", 20).await;
    let by_node = |node: &str| records.iter().filter(|r| r.node_id == node).count();
    assert_eq!(by_node("node-a") + by_node("node-b"), 20);
    eventually("the authority counts 20 requests used", || {
        (env.cp.authority(|a| a.used("user", "frank", "requests")) == 20).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_quota_is_shared_by_the_projects_users() {
    let env = Env::start_serving(quota_snapshot(), &[]).await;
    for user in ["gina", "hal", "gina"] {
        let reply = env
            .dp
            .chat(
                PATHS[1],
                Some(&quota_bot_key()),
                &chat("echo", "hello"),
                &[("x-policy-user", user)],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let refused = env
        .dp
        .chat(
            PATHS[1],
            Some(&quota_bot_key()),
            &chat("echo", "hello"),
            &[("x-policy-user", "ivy")],
        )
        .await;
    assert_quota_429(&refused, "project_quota.requests");
    assert_eq!(refused.header("x-should-retry"), "false");
    let records = eventually("three usage records", || {
        env.cp.recorded(|r| {
            let records: Vec<pb::UsageRecord> = r
                .usage
                .values()
                .filter(|u| u.project_id == "quota-bot")
                .cloned()
                .collect();
            (records.len() >= 3).then_some(records)
        })
    })
    .await;
    for record in records {
        let [charge] = record.charges.as_slice() else {
            panic!("one charge: {:?}", record.charges);
        };
        let bucket = charge.bucket.as_ref().unwrap();
        assert_eq!(
            (
                bucket.policy_id.as_str(),
                bucket.subject_kind.as_str(),
                bucket.subject.as_str()
            ),
            ("project-quota", "project", "quota-bot")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_hands_its_unspent_budget_back() {
    let Env {
        cp,
        upstream,
        dp,
        state,
    } = Env::start_serving(quota_snapshot(), &[]).await;
    let reply = dp
        .chat(
            PATHS[0],
            Some(&org_key()),
            &chat("echo", "hi"),
            &[
                ("x-policy-id", "thousand-requests"),
                ("x-policy-user", "jo"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);
    dp.terminate().await;
    let demands: Vec<pb::LeaseDemand> = cp.recorded(|r| {
        r.lease_requests
            .iter()
            .flat_map(|request| request.demands.clone())
            .collect()
    });
    assert_eq!(demands[0].want, 100, "10 % of the limit");
    let last = demands.last().unwrap();
    assert_eq!(
        (last.want, last.give_back, last.epoch),
        (0, 99, 1),
        "everything but the one request spent, under the lease's epoch: {demands:?}"
    );
    drop((upstream, state));
}
