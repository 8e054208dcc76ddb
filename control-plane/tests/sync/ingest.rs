//! ReportAudit and ReportUsage: stored exactly once however often a batch arrives, history
//! only when the policy keeps audit logs, rollout observations always (SPEC §6, §8, §9).

use policy_proto::v1::{AuditBatch, AuditEntry, BatchAck, DecisionRecord, UsageBatch, UsageRecord};
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;

use crate::common::{Client, Server, TOKEN, request};

/// 2023-11-14T22:13:00Z, a minute boundary.
const T0_MS: i64 = 1_699_999_980_000;

fn audit_entry(mode: &str, decision: &str, audit_logs: bool, at_ms: i64) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7().to_string(),
        created_at_unix_ms: at_ms,
        org: "acme".into(),
        node_id: "dp-1".into(),
        decision: Some(DecisionRecord {
            decision: decision.into(),
            reason_code: decision.to_uppercase(),
            policy_id: "support".into(),
            policy_name: "Support".into(),
            revision: if mode == "enforced" { 1 } else { 2 },
            rollout_mode: mode.into(),
            enforced: mode != "shadow",
            ..DecisionRecord::default()
        }),
        policy_user: "alice".into(),
        project_id: "bot".into(),
        model: "gpt-4o-mini".into(),
        request_id: "req-1".into(),
        audit_logs,
        ..AuditEntry::default()
    }
}

fn usage_record(id: String) -> UsageRecord {
    UsageRecord {
        id,
        created_at_unix_ms: T0_MS,
        org: "acme".into(),
        node_id: "dp-1".into(),
        project_id: "bot".into(),
        key_id: Uuid::now_v7().to_string(),
        policy_id: "support".into(),
        model: "gpt-4o-mini".into(),
        prompt_tokens: 12,
        completion_tokens: 30,
        quota_subject: "alice".into(),
        charges: Vec::new(),
    }
}

/// Sends `batches` on one stream; returns one ACK per batch, or the stream's error.
async fn report_audit(
    client: &mut Client,
    batches: Vec<AuditBatch>,
) -> Result<Vec<BatchAck>, tonic::Status> {
    let expected = batches.len();
    let mut acks = client
        .report_audit(request(tokio_stream::iter(batches), Some(TOKEN)))
        .await?
        .into_inner();
    let mut received = Vec::new();
    while received.len() < expected {
        match acks.message().await? {
            Some(ack) => received.push(ack),
            None => break,
        }
    }
    Ok(received)
}

async fn report_usage(
    client: &mut Client,
    batches: Vec<UsageBatch>,
) -> Result<Vec<BatchAck>, tonic::Status> {
    let expected = batches.len();
    let mut acks = client
        .report_usage(request(tokio_stream::iter(batches), Some(TOKEN)))
        .await?
        .into_inner();
    let mut received = Vec::new();
    while received.len() < expected {
        match acks.message().await? {
            Some(ack) => received.push(ack),
            None => break,
        }
    }
    Ok(received)
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn observations(pool: &PgPool) -> Vec<(i64, String, i64)> {
    sqlx::query_as(
        "SELECT revision, decision, count FROM rollout_observations \
         WHERE org = 'acme' AND policy_id = 'support' AND minute = to_timestamp(1699999980) \
         ORDER BY revision, decision",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn an_audit_batch_sent_twice_is_stored_once(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let batch = AuditBatch {
        entries: vec![
            audit_entry("enforced", "allow", true, T0_MS + 1_000),
            audit_entry("canary", "refuse", true, T0_MS + 2_000),
            audit_entry("canary", "refuse", false, T0_MS + 3_000),
            audit_entry("shadow", "allow", false, T0_MS + 59_999),
        ],
    };
    let ids: Vec<String> = batch.entries.iter().map(|e| e.id.clone()).collect();

    // Twice on one stream (a resend after a lost ACK), then again on a new stream.
    let acks = report_audit(&mut client, vec![batch.clone(), batch.clone()])
        .await
        .unwrap();
    assert_eq!(acks.len(), 2);
    assert!(
        acks.iter().all(|ack| ack.ids == ids),
        "every delivery is acknowledged in full"
    );
    let again = report_audit(&mut client, vec![batch]).await.unwrap();
    assert_eq!(again[0].ids, ids);

    assert_eq!(count(&pool, "SELECT count(*) FROM audit_receipts").await, 4);
    // History only for the two entries whose policy keeps audit logs.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM history WHERE type = 'enforcement'"
        )
        .await,
        2
    );
    // Candidate decisions counted once each, whatever audit_logs said; the enforced
    // (stable) decision is not a candidate decision.
    assert_eq!(
        observations(&pool).await,
        [(2, "allow".to_owned(), 1), (2, "refuse".to_owned(), 2)]
    );

    let (policy_id, policy_name, entry): (Option<String>, Option<String>, serde_json::Value) =
        sqlx::query_as("SELECT policy_id, policy_name, entry FROM history WHERE id = $1")
            .bind(Uuid::parse_str(&ids[1]).unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(policy_id.as_deref(), Some("support"));
    assert_eq!(policy_name.as_deref(), Some("Support"));
    assert_eq!(entry["decision"], "refuse");
    assert_eq!(entry["rollout_mode"], "canary");
    assert_eq!(entry["revision"], 2);
    assert_eq!(entry["policy_user"], "alice");
    assert_eq!(entry["project_id"], "bot");
    assert_eq!(entry["model"], "gpt-4o-mini");
    assert_eq!(entry["request_id"], "req-1");
    assert!(entry["policy_target"].is_null());
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn entries_without_audit_logs_count_for_rollback_but_write_no_history(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let batch = AuditBatch {
        entries: vec![
            audit_entry("canary", "refuse", false, T0_MS),
            audit_entry("canary", "escalate", false, T0_MS + 10),
            audit_entry("shadow", "refuse", false, T0_MS + 20),
        ],
    };
    report_audit(&mut client, vec![batch]).await.unwrap();
    assert_eq!(count(&pool, "SELECT count(*) FROM history").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_receipts").await, 3);
    assert_eq!(
        observations(&pool).await,
        [(2, "escalate".to_owned(), 1), (2, "refuse".to_owned(), 2)]
    );
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn enforcement_history_is_pruned_to_the_limit_per_policy(pool: PgPool) {
    let server = Server::start_with(pool.clone(), "replica-a", 5).await;
    let mut client = server.client().await;
    let entries: Vec<AuditEntry> = (0..8)
        .map(|i| audit_entry("enforced", "allow", true, T0_MS + i * 1_000))
        .collect();
    let newest: Vec<Uuid> = entries[3..]
        .iter()
        .rev()
        .map(|e| Uuid::parse_str(&e.id).unwrap())
        .collect();
    // Split over two batches: pruning also counts what earlier batches left.
    let (first, second) = entries.split_at(4);
    report_audit(
        &mut client,
        vec![
            AuditBatch {
                entries: first.to_vec(),
            },
            AuditBatch {
                entries: second.to_vec(),
            },
        ],
    )
    .await
    .unwrap();
    let kept: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM history WHERE org = 'acme' AND policy_id = 'support' \
         ORDER BY created_at DESC",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kept, newest);

    // One batch with more entries of a policy than the limit: only its newest are kept.
    let busy: Vec<AuditEntry> = (0..7)
        .map(|i| audit_entry("enforced", "allow", true, T0_MS + 60_000 + i * 1_000))
        .collect();
    let newest: Vec<Uuid> = busy[2..]
        .iter()
        .rev()
        .map(|e| Uuid::parse_str(&e.id).unwrap())
        .collect();
    report_audit(&mut client, vec![AuditBatch { entries: busy }])
        .await
        .unwrap();
    let kept: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM history WHERE org = 'acme' AND policy_id = 'support' \
         ORDER BY created_at DESC",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kept, newest);
    // Every entry is still received exactly once, kept in history or not.
    assert_eq!(
        count(&pool, "SELECT count(*) FROM audit_receipts").await,
        15
    );
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_usage_batch_sent_twice_is_stored_once(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut org_wide = usage_record(Uuid::now_v7().to_string());
    org_wide.key_id = String::new();
    org_wide.project_id = String::new();
    let batch = UsageBatch {
        records: vec![usage_record(Uuid::now_v7().to_string()), org_wide],
    };
    let ids: Vec<String> = batch.records.iter().map(|r| r.id.clone()).collect();
    let acks = report_usage(&mut client, vec![batch.clone(), batch])
        .await
        .unwrap();
    assert!(acks.iter().all(|ack| ack.ids == ids));
    assert_eq!(count(&pool, "SELECT count(*) FROM usage_records").await, 2);
    assert_eq!(
        count(
            &pool,
            "SELECT sum(prompt_tokens + completion_tokens)::int8 FROM usage_records"
        )
        .await,
        84
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM usage_records WHERE key_id IS NULL AND project_id IS NULL"
        )
        .await,
        1
    );
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn malformed_ids_are_rejected_by_name_and_nothing_is_stored(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;

    let mut bad = audit_entry("canary", "refuse", true, T0_MS);
    bad.id = "entry-42".into();
    let batch = AuditBatch {
        entries: vec![audit_entry("canary", "refuse", true, T0_MS), bad],
    };
    let refused = report_audit(&mut client, vec![batch]).await.err().unwrap();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("entry-42"),
        "{}",
        refused.message()
    );

    // A UUID of another version is not a data-plane id either.
    let v4 = "9f2c1e4a-1b2c-4d3e-8f4a-5b6c7d8e9f00";
    let batch = UsageBatch {
        records: vec![usage_record(v4.to_owned())],
    };
    let refused = report_usage(&mut client, vec![batch]).await.err().unwrap();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains(v4), "{}", refused.message());

    let batch = UsageBatch {
        records: vec![usage_record("not a uuid".into())],
    };
    let refused = report_usage(&mut client, vec![batch]).await.err().unwrap();
    assert!(
        refused.message().contains("not a uuid"),
        "{}",
        refused.message()
    );

    assert_eq!(count(&pool, "SELECT count(*) FROM audit_receipts").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM history").await, 0);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM rollout_observations").await,
        0
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM usage_records").await, 0);
    server.stop().await;
}
