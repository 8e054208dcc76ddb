//! Restarts (SPEC §0, §6, §8): the control plane crashing and coming back under traffic
//! loses and duplicates no audit entry; a data plane restarted while the control plane is
//! down serves from its disk cache.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use e2e_tests::{Http, PATHS, Stack, StackOptions, chat, chat_stream, eventually};

use crate::common::{assert_decided, assert_error, offline_allowance, spool_depth};

/// One request of the traffic: its id, and whether it went upstream.
struct Sent {
    request_id: String,
    forwarded: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_crash_under_traffic_loses_and_duplicates_no_audit_entry() {
    // History pruning would hide entries: keep them all.
    let mut stack = Stack::start(
        offline_allowance(StackOptions::default()).cp_env("POLICY_HISTORY_LIMIT", "100000"),
    )
    .await;
    let nodes: Vec<Http> = stack.dps.iter().map(|dp| dp.http()).collect();
    let support = stack.key("support-bot").to_owned();
    let refuse = stack.key("refuse-bot").to_owned();
    let revisions = stack.revisions.clone();
    let progress = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    // Traffic on both nodes, a request every few milliseconds, until told to stop: allowed
    // (JSON and streamed) and refused requests, each with an id of ours.
    let traffic = tokio::spawn({
        let (progress, stop) = (progress.clone(), stop.clone());
        async move {
            let mut sent = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let n = sent.len();
                let request_id = format!("traffic-{n}");
                let node = &nodes[n % nodes.len()];
                let headers = [("x-request-id", request_id.as_str())];
                let forwarded = n % 3 != 1;
                let (path, key, body) = match n % 3 {
                    0 => (PATHS[0], &support, chat("echo", "refund policy")),
                    1 => (PATHS[1], &refuse, chat("echo", "internal incident")),
                    _ => (PATHS[1], &support, chat_stream("echo", "refund policy")),
                };
                let reply = node.chat(path, Some(key), &body, &headers).await;
                let (decision, policy) = if forwarded {
                    ("allow", "policy-gateway")
                } else {
                    ("refuse", "refuse-policy")
                };
                assert_decided(
                    &reply,
                    decision,
                    &decision.to_uppercase(),
                    revisions[policy],
                );
                assert_eq!(reply.header("x-request-id"), request_id);
                sent.push(Sent {
                    request_id,
                    forwarded,
                });
                progress.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            sent
        }
    });
    let reached = |count: usize| {
        let progress = progress.clone();
        async move {
            eventually(&format!("{count} requests answered"), || {
                let done = progress.load(Ordering::SeqCst) >= count;
                async move { done.then_some(()) }
            })
            .await
        }
    };

    reached(15).await;
    stack.cp.kill();
    let down_at = progress.load(Ordering::SeqCst);
    reached(down_at + 15).await;
    stack.cp.restart().await;
    let up_at = progress.load(Ordering::SeqCst);
    reached(up_at + 15).await;
    stop.store(true, Ordering::SeqCst);
    let sent = traffic.await.expect("the traffic task");
    eprintln!(
        "restart under traffic: {} requests, control plane down from #{down_at} to #{up_at}",
        sent.len()
    );

    // Everything reaches Postgres once the spools drain.
    for dp in &stack.dps {
        let http = dp.http();
        eventually(&format!("{} drains its spools", dp.node_id()), || {
            let http = http.clone();
            async move {
                (spool_depth(&http, "audit").await == 0 && spool_depth(&http, "usage").await == 0)
                    .then_some(())
            }
        })
        .await;
    }
    let counts: BTreeMap<String, i64> = eventually("every audit entry is stored", || async {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT entry->>'request_id', count(*) FROM history \
             WHERE type = 'enforcement' GROUP BY 1",
        )
        .fetch_all(&stack.db.pool)
        .await
        .expect("history");
        (rows.len() >= sent.len()).then(|| rows.into_iter().collect())
    })
    .await;
    let expected: BTreeMap<String, i64> = sent.iter().map(|s| (s.request_id.clone(), 1)).collect();
    assert_eq!(counts, expected, "each request's entry exactly once");
    let receipts: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_receipts")
        .fetch_one(&stack.db.pool)
        .await
        .expect("receipts");
    assert_eq!(receipts as usize, sent.len());
    let usage: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_records")
        .fetch_one(&stack.db.pool)
        .await
        .expect("usage records");
    assert_eq!(usage as usize, sent.iter().filter(|s| s.forwarded).count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_plane_restarted_while_the_control_plane_is_down_serves_from_its_cache() {
    let mut stack = Stack::start(offline_allowance(StackOptions::default())).await;
    let revoked = stack.api.create_project_key("support-bot", "revoked").await;
    stack.api.revoke_key(&revoked).await;
    let allowed = chat("echo", "What is your refund policy?");
    for dp in &stack.dps {
        let http = dp.http();
        eventually("the revocation is active", || {
            let (http, raw, allowed) = (http.clone(), revoked.raw.clone(), allowed.clone());
            async move {
                (http.chat(PATHS[0], Some(&raw), &allowed, &[]).await.status == 401).then_some(())
            }
        })
        .await;
    }

    // This time the control plane stops cleanly (SIGTERM) with both nodes connected.
    stack.cp.terminate().await;
    // One node stopped cleanly, the other crashed after its entries reached the spool.
    stack.dps[0].terminate().await;
    let crashed = stack.dps[1].http();
    for n in 0..3 {
        let id = format!("before-crash-{n}");
        let reply = crashed
            .chat(
                PATHS[0],
                Some(stack.key("support-bot")),
                &allowed,
                &[("x-request-id", &id)],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    eventually("the crashing node spooled its entries", || {
        let crashed = crashed.clone();
        async move { (spool_depth(&crashed, "audit").await >= 3).then_some(()) }
    })
    .await;
    stack.dps[1].kill();

    for dp in &mut stack.dps {
        assert!(
            dp.state_dir().join("snapshot.pb").is_file(),
            "the snapshot cache"
        );
        dp.restart().await;
        dp.wait_ready().await;
    }
    let mut outage_ids = vec![
        "before-crash-0".to_owned(),
        "before-crash-1".into(),
        "before-crash-2".into(),
    ];
    for dp in &stack.dps {
        let http = dp.http();
        let id = format!("outage-{}", dp.node_id());
        let reply = http
            .chat(
                PATHS[0],
                Some(stack.key("support-bot")),
                &allowed,
                &[("x-request-id", &id)],
            )
            .await;
        assert_decided(&reply, "allow", "ALLOW", stack.revisions["policy-gateway"]);
        outage_ids.push(id);
        let reply = http
            .chat(
                PATHS[1],
                Some(stack.key("refuse-bot")),
                &chat_stream("echo", "internal incident"),
                &[],
            )
            .await;
        assert_decided(&reply, "refuse", "REFUSE", stack.revisions["refuse-policy"]);
        let reply = http.chat(PATHS[0], Some(&revoked.raw), &allowed, &[]).await;
        assert_error(&reply, 401, "invalid_api_key");
    }

    // The control plane comes back: what was decided during the outage is delivered.
    stack.cp.restart().await;
    let stored: Vec<String> = eventually("the outage's entries are stored", || async {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT entry->>'request_id' FROM history WHERE type = 'enforcement' \
             AND (entry->>'request_id' LIKE 'outage-%' OR entry->>'request_id' LIKE 'before-crash-%') \
             ORDER BY 1",
        )
        .fetch_all(&stack.db.pool)
        .await
        .expect("history");
        (ids.len() >= outage_ids.len()).then_some(ids)
    })
    .await;
    outage_ids.sort();
    assert_eq!(stored, outage_ids);
}
