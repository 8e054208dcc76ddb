//! Audit and usage delivery: spooled while the CP is down, delivered when it is back,
//! across a restart, nothing lost, exact token counts (SPEC §6, §8).

use std::collections::HashSet;

use serde_json::json;

use crate::support::fixtures::{open_key, support_key};
use crate::support::{DataPlane, Env, PATHS, chat, chat_stream, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_survive_a_cp_outage_and_a_restart() {
    let mut env = Env::start().await;
    eventually("version 1 is acked", || {
        env.cp.recorded(|r| r.acks.contains(&1).then_some(()))
    })
    .await;
    env.cp.stop().await;

    let mut request_ids = HashSet::new();
    for i in 0..10 {
        let body = if i % 2 == 0 {
            chat("echo", "refund policy")
        } else {
            chat_stream("echo", "refund policy")
        };
        let rid = format!("outage-{i}");
        let reply = env
            .dp
            .chat(
                PATHS[i % 2],
                Some(&support_key()),
                &body,
                &[("x-request-id", &rid)],
            )
            .await;
        assert_eq!(reply.status, 200);
        request_ids.insert(rid);
    }
    // A refused request has an audit entry and no usage record.
    let reply = env
        .dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("echo", "refund policy for underage nudes"),
            &[("x-request-id", "outage-refused")],
        )
        .await;
    assert_eq!(reply.header("x-policy-decision"), "refuse");

    // Restart the node while the CP is still down: the spool carries the entries over.
    let Env {
        mut cp,
        upstream,
        dp,
        state,
    } = env;
    dp.terminate().await;
    let dp = DataPlane::start(&cp.url(), &upstream.base_url(), state.path(), &[]).await;
    dp.wait_ready().await;
    let env = Env {
        cp: {
            cp.restart().await;
            cp
        },
        upstream,
        dp,
        state,
    };

    let audit = eventually("every audit entry arrives", || {
        env.cp
            .recorded(|r| (r.audit.len() >= 11).then(|| r.audit.clone()))
    })
    .await;
    let usage = eventually("every usage record arrives", || {
        env.cp
            .recorded(|r| (r.usage.len() >= 10).then(|| r.usage.clone()))
    })
    .await;
    let audited: HashSet<String> = audit.values().map(|e| e.request_id.clone()).collect();
    for rid in &request_ids {
        assert!(audited.contains(rid), "audit entry for {rid} lost");
    }
    assert!(audited.contains("outage-refused"));
    assert_eq!(audit.len(), 11, "stored once each");
    assert_eq!(usage.len(), 10, "one usage record per forwarded request");
    for record in usage.values() {
        assert_eq!(
            (record.prompt_tokens, record.completion_tokens),
            (11, 7),
            "exact counts"
        );
        assert_eq!(record.project_id, "support-bot");
        assert_eq!(record.key_id, "key-support");
        assert_eq!(record.policy_id, "policy-gateway");
        assert_eq!(record.node_id, "test-node");
        assert!(uuid::Uuid::parse_str(&record.id).is_ok_and(|u| u.get_version_num() == 7));
    }
    for entry in audit.values() {
        assert!(uuid::Uuid::parse_str(&entry.id).is_ok_and(|u| u.get_version_num() == 7));
        assert_eq!(entry.org, "acme");
        assert_eq!(entry.project_label, "Support bot");
        assert_eq!(entry.data_classification, "confidential");
        assert!(entry.audit_logs);
    }
    // Delivered and acknowledged: the spool drains.
    eventually("the spool is empty", || {
        let files = walk(env.state.path().join("spool").as_path());
        files.is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_estimated_only_when_the_upstream_reports_none_and_audit_flags_follow_the_policy()
{
    let env = Env::start().await;
    let reply = env
        .dp
        .chat(
            PATHS[0],
            Some(&open_key()),
            &chat("no-usage", "hello there"),
            &[("x-request-id", "est-1")],
        )
        .await;
    assert_eq!(reply.status, 200);
    let mut streamed = chat_stream("echo", "hello");
    streamed["stream_options"] = json!({"include_usage": true});
    env.dp
        .chat(
            PATHS[1],
            Some(&open_key()),
            &streamed,
            &[("x-request-id", "exact-1")],
        )
        .await;
    let usage = eventually("both usage records arrive", || {
        env.cp
            .recorded(|r| (r.usage.len() >= 2).then(|| r.usage.clone()))
    })
    .await;
    let estimated = usage.values().find(|u| u.model == "no-usage").unwrap();
    assert!(estimated.prompt_tokens > 0 && estimated.completion_tokens > 0);
    assert_ne!(
        (estimated.prompt_tokens, estimated.completion_tokens),
        (11, 7)
    );
    let exact = usage.values().find(|u| u.model == "echo").unwrap();
    assert_eq!((exact.prompt_tokens, exact.completion_tokens), (11, 7));
    let audit = eventually("audit entries arrive", || {
        env.cp
            .recorded(|r| (r.audit.len() >= 2).then(|| r.audit.clone()))
    })
    .await;
    assert!(
        audit.values().all(|e| !e.audit_logs),
        "open-policy has audit_logs: false"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

pub fn all_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    walk(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_streams_and_keeps_their_entries() {
    let cp = crate::support::FakeCp::start(Some(crate::support::fixtures::snapshot(1))).await;
    let upstream = crate::support::FakeUpstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let extra = [
        ("DP_SHUTDOWN_GRACE_MS", "200"),
        ("UPSTREAM_TIMEOUT_MS", "20000"),
    ];
    let dp = DataPlane::start(&cp.url(), &upstream.base_url(), state.path(), &extra).await;
    dp.wait_ready().await;
    let http = dp.http();
    let key = support_key();
    let client = tokio::spawn(async move {
        http.chat(
            PATHS[0],
            Some(&key),
            &chat_stream("stall", "refund policy"),
            &[("x-request-id", "stalled-1")],
        )
        .await
    });
    eventually("the upstream has the request", || {
        (upstream.count() == 1).then_some(())
    })
    .await;
    dp.terminate().await;
    let reply = client.await.unwrap();
    let events = reply.events();
    assert_eq!(
        events.last().unwrap()["error"]["code"],
        "gateway_shutdown",
        "{events:?}"
    );

    // Delivered before the exit, or from the spool by the next start.
    let dp = DataPlane::start(&cp.url(), &upstream.base_url(), state.path(), &[]).await;
    dp.wait_ready().await;
    eventually("the stalled stream's entries arrive", || {
        cp.recorded(|r| {
            let audited = r.audit.values().any(|e| e.request_id == "stalled-1");
            (audited && r.usage.len() == 1).then_some(())
        })
    })
    .await;
}
