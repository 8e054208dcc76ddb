//! Several control-plane replicas on one Postgres (SPEC §0): a change saved through one
//! reaches data planes connected to any other.

use std::time::Instant;

use control_plane::db::config_version;
use sqlx::PgPool;

use crate::common::{
    DEADLINE, PROPAGATION, Server, Subscription, hello, second_pool, seed_key, seed_policy,
    seed_project,
};

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_change_through_one_replica_reaches_a_subscriber_of_the_other(pool: PgPool) {
    seed_policy(&pool, "acme", "support", 1, 1, None).await;
    seed_project(&pool, "acme", "bot", false, (None, None)).await;
    let replica_a = Server::start_with(pool.clone(), "replica-a", 50).await;
    let pool_b = second_pool(&pool).await;
    let replica_b = Server::start_with(pool_b.clone(), "replica-b", 50).await;

    let mut client_a = replica_a.client().await;
    let mut client_b = replica_b.client().await;
    let mut on_a = Subscription::open(&mut client_a, hello("dp-a"))
        .await
        .unwrap();
    let mut on_b = Subscription::open(&mut client_b, hello("dp-b"))
        .await
        .unwrap();
    let first_a = on_a.next_snapshot(DEADLINE).await;
    let first_b = on_b.next_snapshot(DEADLINE).await;
    assert_eq!(first_a.version, first_b.version);
    // Same rows, same settings: both replicas produce the same content.
    assert_eq!(first_a.content_hash, first_b.content_hash);

    // A key created through replica A's connection.
    let (key, _) = seed_key(&pool, "acme", Some("bot"), "new").await;
    let mut tx = pool.begin().await.unwrap();
    let version = config_version::bump(&mut tx).await.unwrap();
    let saved = Instant::now();
    tx.commit().await.unwrap();

    let (snapshot, _) = on_b.wait_for_version(version).await;
    let elapsed = saved.elapsed();
    assert!(
        elapsed < PROPAGATION,
        "the change took {elapsed:?} to cross replicas"
    );
    assert!(snapshot.keys.iter().any(|k| k.key_id == key.to_string()));
    let (on_a_snapshot, _) = on_a.wait_for_version(version).await;
    assert_eq!(on_a_snapshot.content_hash, snapshot.content_hash);

    let replicas: Vec<(String, String)> = sqlx::query_as(
        "SELECT node_id, control_plane_id FROM data_plane_nodes WHERE connected ORDER BY node_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        replicas,
        [
            ("dp-a".to_owned(), "replica-a".to_owned()),
            ("dp-b".to_owned(), "replica-b".to_owned())
        ]
    );
    replica_a.stop().await;
    replica_b.stop().await;
}
