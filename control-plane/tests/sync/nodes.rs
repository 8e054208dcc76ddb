//! ACK and NACK bookkeeping in `data_plane_nodes`, and a NACKed version is never resent
//! (SPEC §8, LESSONS "Control plane ↔ data plane").

use sqlx::PgPool;

use crate::common::{DEADLINE, QUIET, Server, Subscription, bump, eventually, hello, seed_policy};

#[derive(Debug, sqlx::FromRow)]
struct Node {
    connected: bool,
    control_plane_id: Option<String>,
    region: String,
    software_version: String,
    applied_version: Option<i64>,
    nacked_version: Option<i64>,
    nack_error: Option<String>,
    nack_count: i64,
}

async fn node(pool: &PgPool, node_id: &str) -> Option<Node> {
    sqlx::query_as(
        "SELECT connected, control_plane_id, region, software_version, applied_version, \
                nacked_version, nack_error, nack_count \
         FROM data_plane_nodes WHERE node_id = $1",
    )
    .bind(node_id)
    .fetch_optional(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn acks_and_nacks_are_recorded_and_a_nacked_version_is_not_resent(pool: PgPool) {
    seed_policy(&pool, "acme", "support", 1, 1, None).await;
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();

    let connected = node(&pool, "dp-1").await.unwrap();
    assert!(connected.connected);
    assert_eq!(connected.control_plane_id.as_deref(), Some("replica-a"));
    assert_eq!(connected.region, "eu-west");
    assert_eq!(connected.software_version, "1.0.0");

    let first = dp.next_snapshot(DEADLINE).await;
    dp.ack(first.version).await;
    eventually("the ACK", || async {
        let row = node(&pool, "dp-1").await?;
        (row.applied_version == Some(first.version as i64)).then_some(())
    })
    .await;

    let version = bump(&pool).await;
    let (second, _) = dp.wait_for_version(version).await;
    dp.nack(second.version, "policy acme/support: cannot compile")
        .await;
    let rejected = eventually("the NACK", || async {
        let row = node(&pool, "dp-1").await?;
        (row.nacked_version == Some(second.version as i64)).then_some(row)
    })
    .await;
    assert_eq!(rejected.nack_count, 1);
    assert_eq!(
        rejected.nack_error.as_deref(),
        Some("policy acme/support: cannot compile")
    );
    // The node still runs the version it ACKed.
    assert_eq!(rejected.applied_version, Some(first.version as i64));

    // No change: nothing is resent, however long the stream stays open.
    let quiet = tokio::time::timeout(QUIET, dp.inbound.message()).await;
    assert!(quiet.is_err(), "a NACKed version was resent: {quiet:?}");

    // The next change produces a newer version, which is sent.
    let version = bump(&pool).await;
    let (third, _) = dp.wait_for_version(version).await;
    assert!(third.version > second.version);
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_node_that_rejected_the_current_version_does_not_get_it_again_on_reconnect(pool: PgPool) {
    seed_policy(&pool, "acme", "support", 1, 1, None).await;
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();
    let current = dp.next_snapshot(DEADLINE).await;
    dp.nack(current.version, "unsupported").await;
    eventually("the NACK", || async {
        let row = node(&pool, "dp-1").await?;
        (row.nacked_version == Some(current.version as i64)).then_some(())
    })
    .await;
    drop(dp);

    // Same software: it would reject the same version again, so nothing is sent.
    let mut again = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();
    let quiet = tokio::time::timeout(QUIET, again.inbound.message()).await;
    assert!(quiet.is_err(), "the NACKed version was resent on reconnect");

    // Upgraded software may accept it: the full snapshot goes out at once.
    let mut upgraded = hello("dp-1");
    upgraded.software_version = "1.1.0".to_owned();
    let mut fixed = Subscription::open(&mut client, upgraded).await.unwrap();
    assert_eq!(fixed.next_snapshot(DEADLINE).await.version, current.version);
    drop(again);
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_closed_stream_marks_the_node_disconnected(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();
    dp.next_snapshot(DEADLINE).await;
    assert!(node(&pool, "dp-1").await.unwrap().connected);
    drop(dp);
    eventually("the disconnect", || async {
        let row = node(&pool, "dp-1").await?;
        (!row.connected).then_some(())
    })
    .await;
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn shutdown_ends_streams_and_marks_nodes_disconnected(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();
    dp.next_snapshot(DEADLINE).await;
    // Stopping returns only once open streams have ended.
    tokio::time::timeout(DEADLINE, server.stop()).await.unwrap();
    let end = tokio::time::timeout(DEADLINE, dp.inbound.message())
        .await
        .unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    assert!(!node(&pool, "dp-1").await.unwrap().connected);
}
