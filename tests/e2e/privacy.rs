//! Privacy (SPEC §6): after traffic carrying a unique marker in prompts and in the
//! upstream's completions (JSON, streams, errors), the marker is nowhere in Postgres, in
//! any process's debug logs, or in the data planes' state directories (snapshot cache and
//! spool, read while entries wait in it); no raw `ak_` key is in the database or logs.

use std::path::Path;

use e2e_tests::dp::UPSTREAM_KEY;
use e2e_tests::upstream::{FAIL_MODEL, SECRET_API_KEY, SECRET_CARD, SECRET_EMAIL, SECRET_MODEL};
use e2e_tests::{Http, PATHS, Stack, StackOptions, chat, chat_stream, eventually};
use regex::Regex;
use serde_json::json;

use crate::common::{offline_allowance, spool_depth};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_and_raw_keys_appear_in_no_table_log_or_state_file() {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let prompt_marker = format!("PROMPTMARK{}", &unique[..12]);
    let completion_marker = format!("CMPLMARK{}", &unique[12..24]);
    let mut stack = Stack::start(StackOptions {
        completion_marker: completion_marker.clone(),
        ..offline_allowance(StackOptions::default())
            .cp_env("POLICY_HISTORY_LIMIT", "100000")
            .cp_env("RUST_LOG", "debug")
            .dp_env("RUST_LOG", "debug")
    })
    .await;

    let mut audited = Vec::new();
    for dp in &stack.dps {
        send_marked_traffic(&stack, &dp.http(), &prompt_marker, &mut audited).await;
    }
    // A simulation with the marker in its message (SPEC §7: writes a simulation entry).
    let simulated = stack
        .api
        .simulate(&json!({
            "policy_id": "policy-gateway",
            "message": format!("refund policy {prompt_marker}"),
        }))
        .await;
    assert_eq!(simulated["decision"]["decision"], "allow", "{simulated}");

    // With the control plane down, more traffic waits in the spools: read them then.
    stack.cp.kill();
    for dp in &stack.dps {
        send_marked_traffic(&stack, &dp.http(), &prompt_marker, &mut audited).await;
    }
    let mut state = String::new();
    for dp in &stack.dps {
        let http = dp.http();
        eventually("entries wait in the spool", || {
            let http = http.clone();
            async move { (spool_depth(&http, "audit").await > 0).then_some(()) }
        })
        .await;
        for file in files(dp.state_dir()) {
            state.push_str(&String::from_utf8_lossy(
                &std::fs::read(&file).unwrap_or_default(),
            ));
        }
    }
    assert!(
        state.contains("policy-gateway"),
        "the state files were read"
    );

    // Back up: every entry is delivered, then look everywhere.
    stack.cp.restart().await;
    let expected = audited.len() as i64;
    eventually("every audit entry is stored", || async {
        let stored: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM history WHERE type = 'enforcement' \
             AND entry->>'request_id' LIKE 'privacy-%'",
        )
        .fetch_one(&stack.db.pool)
        .await
        .expect("history");
        (stored >= expected).then_some(())
    })
    .await;
    for dp in &stack.dps {
        let http = dp.http();
        eventually("the spools drain", || {
            let http = http.clone();
            async move { (spool_depth(&http, "audit").await == 0).then_some(()) }
        })
        .await;
    }
    // The markers did travel: the upstream received the prompt marker.
    assert!(
        stack
            .upstream
            .seen()
            .iter()
            .any(|s| String::from_utf8_lossy(&s.raw).contains(&prompt_marker)),
        "the traffic carried the marker"
    );
    let dump = stack.db.dump().await;
    assert!(
        dump.contains("privacy-"),
        "the dump holds the enforcement entries"
    );
    assert!(
        dump.contains("simulation"),
        "the dump holds the simulation entry"
    );
    let logs = stack.all_logs();
    assert!(
        logs.contains("\"DEBUG\""),
        "the processes logged at debug level"
    );

    let mut secrets = vec![
        prompt_marker.clone(),
        completion_marker.clone(),
        UPSTREAM_KEY.to_owned(),
        SECRET_EMAIL.to_owned(),
        SECRET_CARD.to_owned(),
        SECRET_API_KEY.to_owned(),
        stack.org_key.raw.clone(),
        stack.api.token().to_owned(),
    ];
    secrets.extend(stack.keys.values().map(|k| k.raw.clone()));
    let raw_key = Regex::new(r"ak_[A-Za-z0-9_-]{20,}").expect("regex");
    for (what, text) in [
        ("the database", &dump),
        ("the logs", &logs),
        ("the state files", &state),
    ] {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{secret} found in {what}");
        }
        if let Some(found) = raw_key.find(text) {
            panic!("a raw key ({}) in {what}", found.as_str());
        }
    }
}

/// Marked requests of every kind on both endpoints; the ids of those that reached a
/// decision are added to `audited`.
async fn send_marked_traffic(stack: &Stack, http: &Http, marker: &str, audited: &mut Vec<String>) {
    let support = stack.key("support-bot");
    let decided = [
        (support, "echo", format!("refund policy {marker}")),
        (support, "echo", format!("the weather on Mars {marker}")),
        (support, SECRET_MODEL, format!("refund policy {marker}")),
        (support, FAIL_MODEL, format!("refund policy {marker}")),
        (
            support,
            "echo",
            format!("refund policy for underage nudes {marker}"),
        ),
        (
            stack.key("refuse-bot"),
            "echo",
            format!("internal incident {marker}"),
        ),
        (
            stack.key("escalate-bot"),
            "echo",
            format!("lock picking {marker}"),
        ),
        (
            stack.key("summary-bot"),
            "echo",
            format!("lock picking {marker}"),
        ),
    ];
    for path in PATHS {
        for (key, model, message) in &decided {
            for body in [chat(model, message), chat_stream(model, message)] {
                let id = format!("privacy-{}", audited.len());
                let reply = http
                    .chat(path, Some(key), &body, &[("x-request-id", &id)])
                    .await;
                assert!(
                    reply.headers.contains_key("x-policy-decision"),
                    "{}",
                    reply.text()
                );
                audited.push(id);
            }
        }
        // Errors before any decision, with the marker in the body.
        let reply = http
            .chat(
                path,
                Some(support),
                &json!({"model": "echo", "messages": marker}),
                &[],
            )
            .await;
        assert_eq!(reply.status, 400);
        let malformed = format!("{{\"model\": \"echo\", \"messages\": [\"{marker}");
        let reply = http
            .chat_raw(path, Some(support), malformed.into_bytes(), &[])
            .await;
        assert_eq!(reply.status, 400);
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}
