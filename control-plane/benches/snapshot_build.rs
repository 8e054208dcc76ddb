//! Snapshot build and ship at SPEC §12 scale: 100,000 keys and 1,000 policies.
//!
//! Creates a scratch database (random suffix), seeds it with SQL, then measures
//! - `build`: the REPEATABLE READ read of every table plus encoding and hashing, and
//! - `change → received`: from the commit of a change to a subscribed gRPC client having
//!   the new snapshot decoded (publisher wake-up, build, send, transfer, decode),
//!
//! and drops the database. Run with `cargo bench -p control-plane --bench snapshot_build`
//! (DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/postgres);
//! `SNAPSHOT_BENCH_KEYS` and `SNAPSHOT_BENCH_POLICIES` change the scale.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use control_plane::sync::{self, Settings, snapshot};
use policy_engine::{Category, CategorySet};
use policy_proto::v1::data_plane_sync_client::DataPlaneSyncClient;
use policy_proto::v1::{
    Hello, ProtocolVersion, SubscribeRequest, subscribe_request, subscribe_response,
};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use support::{TOKEN, env_usize};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

const ROUNDS: usize = 5;

/// The SPEC §1 example policy, as saved documents look.
const DOCUMENT: &str = r#"{"policy_id": "policy-gateway", "name": "Support Policy",
 "owner": "Platform team", "description": "Ensure support replies follow approved topics.",
 "rules": {"allowlist": ["refund policy", "account support"], "denylist": ["illegal instructions"],
  "redact": true, "rewrite_instead_of_refuse": true, "response_pattern": "rewrite",
  "reason_codes": ["ALLOW", "REWRITE", "SUMMARY", "ESCALATE", "REFUSE"],
  "flagged_categories": ["self-harm", "self-harm/intent", "sexual/minors"]},
 "org_controls": {"project_keys": true, "user_quotas": true, "audit_logs": true,
  "data_classification": "confidential",
  "user_quota": {"requests": 5000, "tokens": 2000000, "window": "daily"},
  "project_quota": {"requests": 20000, "tokens": 10000000, "window": "monthly"}},
 "rollout": {"shadow": {"enabled": false, "sample_percent": 20, "targets": []},
  "canary": {"enabled": false, "sample_percent": 5, "targets": []},
  "rollback_on_spike": true, "rollback_threshold": 0.25, "rollback_min_requests": 20,
  "rollback_window_minutes": 15, "rollback_cooldown_minutes": 30,
  "rollback_decisions": ["refuse", "escalate"]},
 "refusal_replacement": {"mode": "rewrite", "escalation_path": "policy-review@example.com"}}"#;

fn main() -> anyhow::Result<()> {
    support::with_scratch_database("pg_snapshot_bench", bench)
}

async fn bench(options: PgConnectOptions) -> anyhow::Result<()> {
    let keys = env_usize("SNAPSHOT_BENCH_KEYS", 100_000);
    let policies = env_usize("SNAPSHOT_BENCH_POLICIES", 1_000);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    control_plane::MIGRATOR.run(&pool).await?;
    seed(&pool, policies, keys).await?;
    let hard_blocked: CategorySet = [Category::SexualMinors].into_iter().collect();

    let mut builds = Vec::new();
    let mut size = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let built = snapshot::build(&pool, hard_blocked).await?;
        builds.push(started.elapsed());
        size = built.frame.len();
        assert_eq!((built.keys, built.policies), (keys, policies));
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let settings = Settings {
        node_token: TOKEN.to_owned(),
        replica_id: "bench".to_owned(),
        hard_blocked,
        history_limit: 50,
        quota_lease_ttl: Duration::from_secs(60),
    };
    let server = tokio::spawn(sync::serve(listener, pool.clone(), settings, async move {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = DataPlaneSyncClient::new(channel).max_decoding_message_size(usize::MAX);
    let (outbound, rx) = mpsc::channel(4);
    outbound
        .send(SubscribeRequest {
            message: Some(subscribe_request::Message::Hello(Hello {
                node_id: "bench-dp".to_owned(),
                region: String::new(),
                software_version: "bench".to_owned(),
                last_applied_version: 0,
                protocol_version: ProtocolVersion::ProtocolVersion1 as i32,
            })),
        })
        .await?;
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse()?);
    let mut inbound = client.subscribe(request).await?.into_inner();
    let first = next_version(&mut inbound).await?;

    let mut changes = Vec::new();
    let mut version = first;
    for round in 0..ROUNDS {
        // A revocation, as an operator would do it.
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE api_keys SET revoked_at = now() \
             WHERE id = (SELECT id FROM api_keys WHERE revoked_at IS NULL ORDER BY id LIMIT 1)",
        )
        .execute(&mut *tx)
        .await?;
        let bumped = control_plane::db::config_version::bump(&mut tx).await?;
        let started = Instant::now();
        tx.commit().await?;
        while version < bumped as u64 {
            version = next_version(&mut inbound).await?;
        }
        changes.push(started.elapsed());
        assert_eq!(version, bumped as u64, "round {round}");
    }
    drop(outbound);

    println!(
        "snapshot at {keys} keys, {policies} policies: {:.1} MiB on the wire; \
         build {} ; change → received and decoded by a subscriber {}",
        size as f64 / (1024.0 * 1024.0),
        summary(&mut builds),
        summary(&mut changes),
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server).await???;
    pool.close().await;
    Ok(())
}

/// The next snapshot's version (the message is fully decoded, as a data plane does).
async fn next_version(
    inbound: &mut tonic::Streaming<policy_proto::v1::SubscribeResponse>,
) -> anyhow::Result<u64> {
    let message = tokio::time::timeout(Duration::from_secs(30), inbound.message())
        .await
        .context("no snapshot within 30 s")??
        .context("stream ended")?;
    match message.message {
        Some(subscribe_response::Message::Snapshot(snapshot)) => Ok(snapshot.version),
        None => anyhow::bail!("empty SubscribeResponse"),
    }
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "median {:.0} ms, max {:.0} ms over {} rounds",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

async fn seed(pool: &PgPool, policies: usize, keys: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let policies = i64::try_from(policies)?;
    let keys = i64::try_from(keys)?;
    let orgs = 50_i64;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO policies (org, policy_id, latest_revision, stable_revision, updated_by) \
         SELECT 'org-' || (i % $2), 'policy-' || i, 1, 1, 'bench' \
         FROM generate_series(1, $1) AS i",
    )
    .bind(policies)
    .bind(orgs)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO policy_revisions (org, policy_id, revision, document, author) \
         SELECT org, policy_id, 1, $1::jsonb || jsonb_build_object('policy_id', policy_id), 'bench' \
         FROM policies",
    )
    .bind(DOCUMENT)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO projects (org, id, name, policy_id, monthly_request_limit) \
         SELECT org, 'project-' || policy_id, 'Project ' || policy_id, policy_id, 100000 \
         FROM policies",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO api_keys (id, org, key_hash, key_preview, label, project_id, created_by) \
         SELECT gen_random_uuid(), p.org, sha256(('ak_' || i)::bytea), 'ak_xxxx…xxxx', \
                'key ' || i, p.id, 'bench' \
         FROM generate_series(1, $1) AS i \
         JOIN (SELECT org, id, row_number() OVER (ORDER BY id) - 1 AS n FROM projects) AS p \
           ON p.n = i % $2",
    )
    .bind(keys)
    .bind(policies)
    .execute(&mut *tx)
    .await?;
    control_plane::db::config_version::bump(&mut tx).await?;
    tx.commit().await?;
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
