//! Full snapshot on Hello, and changes (a new revision, a revoked key) within the
//! propagation bound (SPEC §8, §12).

use std::time::Instant;

use control_plane::db::config_version;
use control_plane::sync::snapshot::content_hash;
use policy_proto::v1::Snapshot;
use sqlx::PgPool;

use crate::common::{
    DEADLINE, PROPAGATION, Server, Subscription, bump, eventually, hello, insert_revision,
    seed_key, seed_policy, seed_project,
};

/// Two orgs: a policy in rollout (stable 1, candidate 2), one without, projects with and
/// without limits, a project key, an org-wide key and a revoked key.
async fn seed(pool: &PgPool) -> (uuid::Uuid, uuid::Uuid) {
    seed_policy(pool, "acme", "support", 2, 1, Some(2)).await;
    seed_policy(pool, "globex", "support", 1, 1, None).await;
    seed_project(pool, "acme", "bot", false, (Some(1000), Some(50_000))).await;
    seed_project(pool, "acme", "old-bot", true, (None, None)).await;
    let (live, _) = seed_key(pool, "acme", Some("bot"), "ci").await;
    seed_key(pool, "globex", None, "org-wide").await;
    let (revoked, _) = seed_key(pool, "acme", Some("bot"), "leaked").await;
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1")
        .bind(revoked)
        .execute(pool)
        .await
        .unwrap();
    bump(pool).await;
    (live, revoked)
}

fn key_ids(snapshot: &Snapshot) -> Vec<String> {
    snapshot.keys.iter().map(|k| k.key_id.clone()).collect()
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn hello_gets_the_full_snapshot_at_once(pool: PgPool) {
    let (live, revoked) = seed(&pool).await;
    let version = config_version::current(&pool).await.unwrap();
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();
    let snapshot = dp.next_snapshot(DEADLINE).await;

    assert_eq!(snapshot.version, version as u64);
    assert_eq!(snapshot.content_hash, content_hash(&snapshot).to_vec());
    assert!(snapshot.created_at_unix_ms > 0);

    assert_eq!(snapshot.policies.len(), 2);
    let acme = &snapshot.policies[0];
    assert_eq!(
        (acme.org.as_str(), acme.policy_id.as_str()),
        ("acme", "support")
    );
    let stable = acme.stable.as_ref().unwrap();
    assert_eq!(stable.revision, 1);
    let document: serde_json::Value = serde_json::from_str(&stable.document_json).unwrap();
    assert_eq!(document["name"], "support r1");
    assert_eq!(acme.candidate.as_ref().map(|c| c.revision), Some(2));
    let globex = &snapshot.policies[1];
    assert_eq!(globex.org, "globex");
    assert!(globex.candidate.is_none());

    assert_eq!(snapshot.projects.len(), 2);
    let bot = &snapshot.projects[0];
    assert_eq!(bot.id, "bot");
    assert!(!bot.suspended);
    assert_eq!(bot.default_policy_id.as_deref(), Some("support"));
    assert_eq!(bot.monthly_request_limit, Some(1000));
    assert_eq!(bot.monthly_token_limit, Some(50_000));
    assert!(snapshot.projects[1].suspended);
    assert_eq!(snapshot.projects[1].monthly_request_limit, None);

    let keys = key_ids(&snapshot);
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&live.to_string()));
    assert!(
        !keys.contains(&revoked.to_string()),
        "a revoked key must be absent"
    );
    let project_key = snapshot
        .keys
        .iter()
        .find(|k| k.key_id == live.to_string())
        .unwrap();
    assert_eq!(project_key.project_id, "bot");
    assert_eq!(project_key.key_hash.len(), 32);
    assert_eq!(project_key.label, "ci");
    let org_key = snapshot.keys.iter().find(|k| k.org == "globex").unwrap();
    assert_eq!(org_key.project_id, "");

    let settings = snapshot.settings.as_ref().unwrap();
    assert_eq!(settings.hard_blocked_categories, ["sexual/minors"]);

    // A second data plane gets the very same bytes' content.
    let mut other = Subscription::open(&mut client, hello("dp-2"))
        .await
        .unwrap();
    let again = other.next_snapshot(DEADLINE).await;
    assert_eq!(again.content_hash, snapshot.content_hash);
    assert_eq!(again.version, snapshot.version);
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_new_revision_arrives_within_the_propagation_bound(pool: PgPool) {
    seed(&pool).await;
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();
    let first = dp.next_snapshot(DEADLINE).await;

    // What saving revision 2 of globex/support with no rollout does: promote at once.
    let mut tx = pool.begin().await.unwrap();
    insert_revision(&mut tx, "globex", "support", 2).await;
    sqlx::query(
        "UPDATE policies SET latest_revision = 2, stable_revision = 2 \
         WHERE org = 'globex' AND policy_id = 'support'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    let version = config_version::bump(&mut tx).await.unwrap();
    let saved = Instant::now();
    tx.commit().await.unwrap();

    let (snapshot, _) = dp.wait_for_version(version).await;
    let elapsed = saved.elapsed();
    assert!(elapsed < PROPAGATION, "revision took {elapsed:?} to arrive");
    assert_eq!(snapshot.version, version as u64);
    assert!(snapshot.version > first.version);
    assert_ne!(snapshot.content_hash, first.content_hash);
    let globex = snapshot
        .policies
        .iter()
        .find(|p| p.org == "globex")
        .unwrap();
    assert_eq!(globex.stable.as_ref().map(|s| s.revision), Some(2));
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_revoked_key_is_gone_from_the_next_snapshot_within_the_bound(pool: PgPool) {
    let (live, _) = seed(&pool).await;
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();
    let first = dp.next_snapshot(DEADLINE).await;
    assert!(key_ids(&first).contains(&live.to_string()));

    let mut tx = pool.begin().await.unwrap();
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1")
        .bind(live)
        .execute(&mut *tx)
        .await
        .unwrap();
    let version = config_version::bump(&mut tx).await.unwrap();
    let revoked = Instant::now();
    tx.commit().await.unwrap();

    let (snapshot, _) = dp.wait_for_version(version).await;
    let elapsed = revoked.elapsed();
    assert!(
        elapsed < PROPAGATION,
        "revocation took {elapsed:?} to arrive"
    );
    assert!(!key_ids(&snapshot).contains(&live.to_string()));
    assert_eq!(snapshot.keys.len(), first.keys.len() - 1);
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn the_listener_reconnects_and_resyncs_while_streams_stay_open(pool: PgPool) {
    seed(&pool).await;
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();
    let first = dp.next_snapshot(DEADLINE).await;

    // Kill the replica's LISTEN connection, as a Postgres restart or a proxy would.
    let killed: i64 = eventually("the LISTEN connection", || async {
        let killed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ( \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query LIKE 'LISTEN%') AS t",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (killed > 0).then_some(killed)
    })
    .await;
    assert_eq!(killed, 1);
    // Changed while no one listens: the notification is lost, the resync after the
    // reconnect (or the periodic one) must still deliver it, on the same stream.
    let version = bump(&pool).await;
    let (snapshot, _) = dp.wait_for_version(version).await;
    assert!(snapshot.version > first.version);

    // And notifications work again once reconnected.
    let started = Instant::now();
    eventually("a listener again", || async {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (listening == 1).then_some(())
    })
    .await;
    let version = bump(&pool).await;
    let (snapshot, _) = dp.wait_for_version(version).await;
    assert_eq!(snapshot.version, version as u64);
    assert!(started.elapsed() < DEADLINE);
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_candidate_kept_during_a_cooldown_is_not_shipped(pool: PgPool) {
    seed_policy(&pool, "acme", "support", 2, 1, Some(2)).await;
    sqlx::query(
        "UPDATE policies SET rollout_state = 'cooldown', cooldown_until = now() + interval '30 minutes' \
         WHERE org = 'acme' AND policy_id = 'support'",
    )
    .execute(&pool)
    .await
    .unwrap();
    bump(&pool).await;
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();
    let snapshot = dp.next_snapshot(DEADLINE).await;
    let policy = &snapshot.policies[0];
    assert_eq!(policy.stable.as_ref().map(|s| s.revision), Some(1));
    assert!(
        policy.candidate.is_none(),
        "SPEC §9: no rollout during a cooldown"
    );
    server.stop().await;
}
