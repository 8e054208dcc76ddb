//! Staged rollouts through the real stack (SPEC §2.6, §9): a shadow candidate is
//! recorded but not acted on, promote and abort through the API reach both data planes,
//! and a canary candidate decides and is enforced.

use e2e_tests::{Http, PATHS, Stack, StackOptions, chat, eventually};
use http::Method;
use serde_json::{Value, json};

use crate::common::assert_decided;

fn open_policy(denylist: &[&str], rollout: Value) -> Value {
    json!({
        "policy_id": "open-policy", "name": "Open policy",
        "rules": {"denylist": denylist, "redact": true,
                  "reason_codes": ["ALLOW", "REFUSE", "REDACT"]},
        "rollout": rollout
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_promote_canary_and_abort_reach_both_data_planes() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = &stack.api;
    let key = stack.key("open-bot").to_owned();
    let nodes: Vec<Http> = stack.dps.iter().map(|dp| dp.http()).collect();
    let first = stack.revisions["open-policy"];

    // Shadow: revision 2 refuses "vendor contract", but only in the audit trail.
    let shadow = json!({"shadow": {"enabled": true, "sample_percent": 100, "targets": []}});
    let state = api
        .save_policy(&open_policy(&["vendor contract"], shadow))
        .await;
    assert_eq!(state["rollout"]["state"], "shadow", "{state}");
    let candidate = state["candidate_revision"].as_i64().expect("a candidate");
    let message = chat("echo", "the vendor contract");
    wait_until_applied(&stack).await;
    for (n, node) in nodes.iter().enumerate() {
        let request_id = format!("shadow-{n}");
        let reply = node
            .chat(
                PATHS[0],
                Some(&key),
                &message,
                &[("x-request-id", &request_id)],
            )
            .await;
        assert_decided(&reply, "allow", "ALLOW", first);
        let entries: Vec<Value> = eventually("both entries of the request are stored", || {
            let (pool, request_id) = (stack.db.pool.clone(), request_id.clone());
            async move {
                let entries: Vec<Value> = sqlx::query_scalar(
                    "SELECT entry FROM history WHERE type = 'enforcement' \
                     AND entry->>'request_id' = $1 ORDER BY entry->>'rollout_mode'",
                )
                .bind(&request_id)
                .fetch_all(&pool)
                .await
                .expect("history");
                (entries.len() >= 2).then_some(entries)
            }
        })
        .await;
        assert_eq!(entries.len(), 2, "{entries:?}");
        let (enforced, shadowed) = (&entries[0], &entries[1]);
        assert_eq!(enforced["rollout_mode"], "enforced");
        assert_eq!(enforced["decision"], "allow");
        assert_eq!(enforced["enforced"], true);
        assert_eq!(shadowed["rollout_mode"], "shadow");
        assert_eq!(shadowed["decision"], "refuse");
        assert_eq!(shadowed["enforced"], false);
        assert_eq!(shadowed["revision"], candidate);
        assert_eq!(shadowed["denylist_hits"], json!(["vendor contract"]));
    }

    // Promote: the candidate becomes stable on both nodes.
    let state = api
        .expect(
            Method::POST,
            "/rollout/promote",
            Some(&json!({"policy_id": "open-policy"})),
            200,
        )
        .await;
    assert_eq!(state["stable_revision"], candidate, "{state}");
    for node in &nodes {
        let reply = wait_for_revision(node, &key, &message, candidate).await;
        assert_decided(&reply, "refuse", "REFUSE", candidate);
    }

    // Canary at 100 %: revision 3 (which drops the term) decides, in canary mode.
    let canary = json!({"canary": {"enabled": true, "sample_percent": 100, "targets": []},
                        "rollback_on_spike": false});
    let state = api
        .save_policy(&open_policy(&["lock picking"], canary))
        .await;
    assert_eq!(state["rollout"]["state"], "canary", "{state}");
    let third = state["candidate_revision"].as_i64().expect("a candidate");
    for node in &nodes {
        let reply = wait_for_revision(node, &key, &message, third).await;
        assert_eq!(reply.header("x-policy-decision"), "allow");
        let policy = reply.policy();
        assert_eq!(policy["rollout_mode"], "canary", "{policy}");
        assert_eq!(policy["enforced"], true);
    }

    // Abort: back to the promoted revision everywhere.
    api.expect(
        Method::POST,
        "/rollout/abort",
        Some(&json!({"policy_id": "open-policy"})),
        200,
    )
    .await;
    for node in &nodes {
        let reply = wait_for_revision(node, &key, &message, candidate).await;
        assert_decided(&reply, "refuse", "REFUSE", candidate);
    }
}

/// Waits until every node has applied the newest snapshot version (the control plane's
/// node list says so).
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

/// Polls until the node decides `message` with `revision`; returns that answer.
async fn wait_for_revision(
    node: &Http,
    key: &str,
    message: &Value,
    revision: i64,
) -> e2e_tests::Reply {
    eventually(
        &format!("{} decides with revision {revision}", node.base()),
        || {
            let node = node.clone();
            async move {
                let reply = node.chat(PATHS[0], Some(key), message, &[]).await;
                (reply.header("x-policy-revision") == revision.to_string()).then_some(reply)
            }
        },
    )
    .await
}
