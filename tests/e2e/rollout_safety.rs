//! Staged rollouts made safe, through the real stack (SPEC §2.6, §9): a 10 % canary over
//! 2,000 users samples 10 % ± 2 points and keeps each user on one revision on both nodes;
//! a shadow candidate is counted for automatic rollback (even without audit logs) and never
//! changes an answer; a canary that refuses far beyond the threshold is rolled back by the
//! control plane's watcher, visible in history, GET /config and GET /rollout/status, and
//! both nodes return to the stable revision — and stay there for a save made during the
//! cooldown.

use std::collections::BTreeMap;

use e2e_tests::{Http, PATHS, Reply, Stack, StackOptions, chat, eventually};
use futures::StreamExt as _;
use http::Method;
use serde_json::{Value, json};

use crate::common::assert_decided;

/// `open-policy` (project `open-bot`) with a denylist and rollout settings.
fn open_policy(denylist: &[&str], rollout: Value) -> Value {
    json!({
        "policy_id": "open-policy", "name": "Open policy",
        "rules": {"denylist": denylist, "redact": true,
                  "reason_codes": ["ALLOW", "REFUSE", "REDACT"]},
        "rollout": rollout
    })
}

/// A stack whose nodes wait longer for the fake upstream than the harness's 1 s: these
/// tests send thousands of requests while other tests share the two cores.
async fn start() -> Stack {
    Stack::start(StackOptions::default().dp_env("UPSTREAM_TIMEOUT_MS", "15000")).await
}

/// Waits until every node has applied the control plane's current snapshot version.
async fn wait_until_applied(stack: &Stack) {
    let version: i64 = sqlx::query_scalar("SELECT version FROM config_state")
        .fetch_one(&stack.db.pool)
        .await
        .expect("the snapshot version");
    eventually("every node applied the newest snapshot", || async {
        let nodes = stack.api.expect(Method::GET, "/nodes", None, 200).await;
        let applied: Vec<i64> = nodes["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["applied_version"].as_i64())
            .collect();
        (applied.len() == stack.dps.len() && applied.iter().all(|v| *v >= version)).then_some(())
    })
    .await;
}

/// One request of `message` per user `user-<n>`, on node `n % nodes`, 8 at a time.
async fn as_users(nodes: &[Http], key: &str, message: &Value, users: usize) -> Vec<Reply> {
    futures::stream::iter(0..users)
        .map(|n| {
            let node = nodes[n % nodes.len()].clone();
            let user = format!("user-{n}");
            async move {
                node.chat(
                    PATHS[n % 2],
                    Some(key),
                    message,
                    &[("x-policy-user", &user)],
                )
                .await
            }
        })
        .buffered(8)
        .collect()
        .await
}

/// Candidate decisions of `revision` counted for automatic rollback, by decision.
async fn observed(stack: &Stack, revision: i64) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT decision, sum(count)::int8 FROM rollout_observations
         WHERE policy_id = 'open-policy' AND revision = $1 GROUP BY decision",
    )
    .bind(revision)
    .fetch_all(&stack.db.pool)
    .await
    .expect("observations");
    rows.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_percent_canary_samples_ten_percent_and_keeps_each_user_on_one_revision() {
    let stack = start().await;
    let key = stack.key("open-bot").to_owned();
    let nodes: Vec<Http> = stack.dps.iter().map(|dp| dp.http()).collect();
    let stable = stack.revisions["open-policy"];
    let canary = json!({"canary": {"enabled": true, "sample_percent": 10, "targets": []}});
    let state = stack
        .api
        .save_policy(&open_policy(&["vendor contract"], canary))
        .await;
    let candidate = state["candidate_revision"].as_i64().expect("a candidate");
    wait_until_applied(&stack).await;

    // Each of 2,000 users once on each node (user n first on node n % 2, then the other).
    let message = chat("echo", "hello there");
    let users = 2_000;
    let first = as_users(&nodes, &key, &message, users).await;
    let swapped: Vec<Http> = nodes.iter().rev().cloned().collect();
    let second = as_users(&swapped, &key, &message, users).await;

    let mut in_canary = 0;
    for (n, (a, b)) in first.iter().zip(&second).enumerate() {
        let revision = a.header("x-policy-revision");
        assert_eq!(
            revision,
            b.header("x-policy-revision"),
            "user-{n} saw two revisions"
        );
        let mode = if revision == candidate.to_string() {
            in_canary += 1;
            "canary"
        } else {
            assert_eq!(revision, stable.to_string(), "user-{n}");
            "enforced"
        };
        for reply in [a, b] {
            assert_eq!(reply.status, 200, "{}", reply.text());
            assert_eq!(reply.header("x-policy-decision"), "allow");
            assert_eq!(reply.policy()["rollout_mode"], mode, "user-{n}");
        }
    }
    let share = f64::from(in_canary) / users as f64;
    assert!(
        (0.08..=0.12).contains(&share),
        "canary share {share:.4} ({in_canary} of {users}) is not 10 % ± 2 points"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_candidate_is_counted_for_rollback_and_never_changes_an_answer() {
    let stack = start().await;
    let key = stack.key("open-bot").to_owned();
    let nodes: Vec<Http> = stack.dps.iter().map(|dp| dp.http()).collect();
    let stable = stack.revisions["open-policy"];
    // Revision 2 would refuse the message; audit logs off, so no enforcement history.
    let mut doc = open_policy(
        &["vendor contract"],
        json!({"shadow": {"enabled": true, "sample_percent": 100, "targets": []},
               "rollback_on_spike": false}),
    );
    doc["org_controls"] = json!({"audit_logs": false});
    let state = stack.api.save_policy(&doc).await;
    assert_eq!(state["rollout"]["state"], "shadow", "{state}");
    let candidate = state["candidate_revision"].as_i64().expect("a candidate");
    wait_until_applied(&stack).await;

    let message = chat("echo", "the vendor contract");
    let upstream_before = stack.upstream.count();
    let replies = as_users(&nodes, &key, &message, 40).await;
    for reply in &replies {
        assert_decided(reply, "allow", "ALLOW", stable);
        assert_eq!(
            reply.content(),
            "echo: the vendor contract CMPL-MARK",
            "the answer is the stable revision's"
        );
    }
    assert_eq!(stack.upstream.count() - upstream_before, 40);

    // Every shadow decision is counted for the watcher, audit logs or not.
    let counted = eventually("the 40 shadow refusals are counted", || async {
        let counted = observed(&stack, candidate).await;
        (counted.values().sum::<i64>() >= 40).then_some(counted)
    })
    .await;
    assert_eq!(counted, BTreeMap::from([("refuse".to_owned(), 40)]));
    // History has the stable revision's 40 entries (it keeps audit logs) and none of the
    // candidate's, whose audit logs are off.
    let by_mode = eventually("the 40 enforced entries are stored", || async {
        let by_mode: BTreeMap<String, i64> = sqlx::query_as(
            "SELECT entry->>'rollout_mode', count(*) FROM history \
             WHERE type = 'enforcement' AND policy_id = 'open-policy' GROUP BY 1",
        )
        .fetch_all(&stack.db.pool)
        .await
        .expect("history")
        .into_iter()
        .collect();
        (by_mode.values().sum::<i64>() >= 40).then_some(by_mode)
    })
    .await;
    assert_eq!(by_mode, BTreeMap::from([("enforced".to_owned(), 40)]));
    // rollback_on_spike is off: the rollout is left alone.
    let status = stack
        .api
        .expect(
            Method::GET,
            "/rollout/status?policy_id=open-policy",
            None,
            200,
        )
        .await;
    assert_eq!(status["rollout"]["state"], "shadow", "{status}");
    assert_eq!(status["window"]["candidate_decisions"], 40, "{status}");
    assert_eq!(status["window"]["share"], 1.0, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_canary_is_rolled_back_automatically_and_both_nodes_return_to_stable() {
    let stack = start().await;
    let key = stack.key("open-bot").to_owned();
    let nodes: Vec<Http> = stack.dps.iter().map(|dp| dp.http()).collect();
    let stable = stack.revisions["open-policy"];
    let guarded = json!({
        "canary": {"enabled": true, "sample_percent": 100, "targets": []},
        "rollback_on_spike": true, "rollback_threshold": 0.25, "rollback_min_requests": 20,
        "rollback_window_minutes": 15, "rollback_cooldown_minutes": 30
    });
    let state = stack
        .api
        .save_policy(&open_policy(&["vendor contract"], guarded.clone()))
        .await;
    let candidate = state["candidate_revision"].as_i64().expect("a candidate");
    wait_until_applied(&stack).await;

    // The canary refuses every request it decides (far beyond 25 %). The watcher may act
    // once 20 are counted, so later requests may already be back on stable.
    let message = chat("echo", "the vendor contract");
    let mut refused = 0;
    for reply in as_users(&nodes, &key, &message, 30).await {
        if reply.header("x-policy-revision") == candidate.to_string() {
            assert_eq!(
                reply.header("x-policy-decision"),
                "refuse",
                "{}",
                reply.text()
            );
            assert_eq!(reply.policy()["rollout_mode"], "canary");
            refused += 1;
        } else {
            assert_decided(&reply, "allow", "ALLOW", stable);
        }
    }
    assert!(
        refused >= 20,
        "only {refused} canary decisions before the rollback"
    );

    // The watcher rolls it back: GET /config shows the cooldown and no candidate.
    let state = eventually("the control plane rolls the canary back", || async {
        let state = stack
            .api
            .expect(Method::GET, "/config?policy_id=open-policy", None, 200)
            .await;
        (state["rollout"]["state"] == "cooldown").then_some(state)
    })
    .await;
    assert_eq!(state["stable_revision"], stable, "{state}");
    assert_eq!(state["candidate_revision"], Value::Null, "{state}");
    assert!(state["rollout"]["cooldown_until"].is_string(), "{state}");

    let history = stack
        .api
        .expect(
            Method::GET,
            "/history?policy_id=open-policy&type=rollback",
            None,
            200,
        )
        .await;
    let entries = history["data"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{history}");
    let entry = &entries[0];
    assert_eq!(entry["rollback_type"], "automatic", "{entry}");
    assert_eq!(entry["rolled_back_revision"], candidate);
    assert_eq!(entry["revision"], stable);
    assert_eq!(entry["rollout_state"], "canary");
    let decisions = entry["candidate_decisions"].as_u64().expect("figures");
    assert!((20..=30).contains(&decisions), "{entry}");
    assert_eq!(entry["watched_decisions"], decisions);
    assert_eq!(entry["share"], 1.0);
    assert_eq!(entry["threshold"], 0.25);
    assert_eq!(entry["window_minutes"], 15);

    // Both nodes are back on the stable revision.
    for node in &nodes {
        let reply = eventually(&format!("{} is back on stable", node.base()), || {
            let (node, key, message) = (node.clone(), key.clone(), message.clone());
            async move {
                let reply = node.chat(PATHS[0], Some(&key), &message, &[]).await;
                (reply.header("x-policy-revision") == stable.to_string()).then_some(reply)
            }
        })
        .await;
        assert_decided(&reply, "allow", "ALLOW", stable);
    }

    // A save during the cooldown is kept, not rolled out: the nodes stay on stable.
    let kept = stack
        .api
        .save_policy(&open_policy(&["vendor contract", "other"], guarded))
        .await;
    assert_eq!(kept["rollout"]["state"], "cooldown", "{kept}");
    let kept_revision = kept["candidate_revision"].as_i64().expect("the kept save");
    wait_until_applied(&stack).await;
    for reply in as_users(&nodes, &key, &message, 20).await {
        assert_decided(&reply, "allow", "ALLOW", stable);
    }
    let status = stack
        .api
        .expect(
            Method::GET,
            "/rollout/status?policy_id=open-policy",
            None,
            200,
        )
        .await;
    assert_eq!(status["candidate_revision"], kept_revision, "{status}");
    assert_eq!(status["rollout"]["state"], "cooldown", "{status}");
    assert_eq!(status["window"]["spike"], false, "{status}");
}
