//! Audit ingest rate over real gRPC into real Postgres (SPEC §12: ≥ 20,000 entries/s).
//!
//! Creates a scratch database (random suffix), migrates it, starts the sync service on
//! 127.0.0.1:0, streams audit batches as data planes would, prints entries/s, and drops the
//! database again. Run with
//! `cargo bench -p control-plane --bench audit_ingest` (DATABASE_URL defaults to
//! postgres://postgres@127.0.0.1:5432/postgres). `AUDIT_BENCH_ENTRIES`, `AUDIT_BENCH_BATCH`
//! `AUDIT_BENCH_STREAMS` change the load; `AUDIT_BENCH_AUDIT_LOGS=0` reports entries whose
//! policy keeps no audit logs (receipts and rollout observations only).
//!
//! The mix is the expensive case: every entry keeps audit logs (history row + pruning to
//! 50 per policy), one in five is a candidate decision (rollout observation), spread over
//! 100 policies in 10 orgs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use control_plane::sync::{self, Settings};
use policy_engine::{Category, CategorySet};
use policy_proto::v1::data_plane_sync_client::DataPlaneSyncClient;
use policy_proto::v1::{AuditBatch, AuditEntry, DecisionRecord};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use support::{TOKEN, env_usize};
use tokio::sync::oneshot;
use tonic::transport::Channel;
use uuid::Uuid;

fn main() -> anyhow::Result<()> {
    support::with_scratch_database("pg_audit_bench", bench)
}

async fn bench(options: PgConnectOptions) -> anyhow::Result<()> {
    let total = env_usize("AUDIT_BENCH_ENTRIES", 200_000);
    let batch_size = env_usize("AUDIT_BENCH_BATCH", 1_000);
    let streams = env_usize("AUDIT_BENCH_STREAMS", 2).max(1);
    let audit_logs = env_usize("AUDIT_BENCH_AUDIT_LOGS", 1) != 0;

    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await?;
    control_plane::MIGRATOR.run(&pool).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let settings = Settings {
        node_token: TOKEN.to_owned(),
        replica_id: "bench".to_owned(),
        hard_blocked: [Category::SexualMinors]
            .into_iter()
            .collect::<CategorySet>(),
        history_limit: 50,
        quota_lease_ttl: Duration::from_secs(60),
    };
    let server = tokio::spawn(sync::serve(listener, pool.clone(), settings, async move {
        let _ = stopped.await;
    }));

    // Entries are generated before the clock starts: the data plane's cost is not ours.
    let per_stream = total / streams;
    let workloads: Vec<Vec<AuditBatch>> = (0..streams)
        .map(|s| batches(s * per_stream, per_stream, batch_size, audit_logs))
        .collect();
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;

    let started = Instant::now();
    let senders: Vec<_> = workloads
        .into_iter()
        .map(|batches| tokio::spawn(send(channel.clone(), batches)))
        .collect();
    let mut acked = 0;
    for sender in senders {
        acked += sender.await??;
    }
    let elapsed = started.elapsed();

    let receipts: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_receipts")
        .fetch_one(&pool)
        .await?;
    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM history")
        .fetch_one(&pool)
        .await?;
    let observed: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(count), 0)::int8 FROM rollout_observations")
            .fetch_one(&pool)
            .await?;
    assert_eq!(acked, total - total % streams);
    assert_eq!(receipts as usize, acked);

    println!(
        "audit ingest: {acked} entries in {:.2} s = {:.0} entries/s \
         (batches of {batch_size}, {streams} stream(s); history kept {history}, \
         candidate decisions counted {observed})",
        elapsed.as_secs_f64(),
        acked as f64 / elapsed.as_secs_f64(),
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server).await???;
    pool.close().await;
    Ok(())
}

/// Streams `batches` on one ReportAudit call; returns how many ids were acknowledged.
async fn send(channel: Channel, batches: Vec<AuditBatch>) -> anyhow::Result<usize> {
    let mut client = DataPlaneSyncClient::new(channel);
    let expected = batches.len();
    let mut request = tonic::Request::new(tokio_stream::iter(batches));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse()?);
    let mut acks = client.report_audit(request).await?.into_inner();
    let mut acked = 0;
    for _ in 0..expected {
        let ack = acks.message().await?.context("ack stream ended early")?;
        acked += ack.ids.len();
    }
    Ok(acked)
}

fn batches(first: usize, count: usize, batch_size: usize, audit_logs: bool) -> Vec<AuditBatch> {
    let base_ms = 1_700_000_000_000_i64;
    let entries: Vec<AuditEntry> = (first..first + count)
        .map(|i| entry(i, base_ms + i as i64, audit_logs))
        .collect();
    entries
        .chunks(batch_size.max(1))
        .map(|chunk| AuditBatch {
            entries: chunk.to_vec(),
        })
        .collect()
}

fn entry(i: usize, at_ms: i64, audit_logs: bool) -> AuditEntry {
    let policy = i % 100;
    let candidate = i.is_multiple_of(5);
    AuditEntry {
        id: Uuid::now_v7().to_string(),
        created_at_unix_ms: at_ms,
        org: format!("org-{}", policy % 10),
        node_id: "bench-dp".to_owned(),
        decision: Some(DecisionRecord {
            decision: if i.is_multiple_of(7) {
                "refuse"
            } else {
                "allow"
            }
            .to_owned(),
            reason_code: if i.is_multiple_of(7) {
                "REFUSE"
            } else {
                "ALLOW"
            }
            .to_owned(),
            policy_id: format!("policy-{policy}"),
            policy_name: format!("Policy {policy}"),
            revision: if candidate { 2 } else { 1 },
            triggered_categories: Vec::new(),
            allowlist_hits: vec!["refund policy".to_owned()],
            denylist_hits: if i.is_multiple_of(7) {
                vec!["illegal instructions".to_owned()]
            } else {
                Vec::new()
            },
            hard_block: false,
            off_topic: false,
            rollout_mode: if candidate { "canary" } else { "enforced" }.to_owned(),
            enforced: true,
            redacted: false,
            redaction_counts: Default::default(),
            reason_detail: String::new(),
        }),
        policy_user: format!("user-{}", i % 1000),
        quota_subject: format!("user-{}", i % 1000),
        policy_target: "support".to_owned(),
        project_id: "support-bot".to_owned(),
        project_label: "Support bot".to_owned(),
        data_classification: "confidential".to_owned(),
        model: "gpt-4o-mini".to_owned(),
        request_id: format!("req-{i}"),
        audit_logs,
    }
}
