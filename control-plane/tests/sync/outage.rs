//! Postgres unavailable (SPEC §7, LESSONS "Control plane ↔ data plane"): connected data
//! planes keep their stream and last snapshot, new ones still get it, and changes flow
//! again once Postgres is back.

use std::time::Duration;

use sqlx::PgPool;

use crate::common::{
    DEADLINE, Server, Subscription, admin, bring_back, bump, hello, seed_key, seed_policy,
    take_down,
};

/// Long enough for the listener and the publisher to fail and retry a few times.
const OUTAGE: Duration = Duration::from_millis(1_500);

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn data_planes_keep_their_stream_and_snapshot_while_postgres_is_down(pool: PgPool) {
    seed_policy(&pool, "acme", "support", 1, 1, None).await;
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = Subscription::open(&mut client, hello("dp-1"))
        .await
        .unwrap();
    let before = dp.next_snapshot(DEADLINE).await;

    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let admin = admin(&pool).await;
    take_down(&admin, &database).await;

    // The open stream neither ends nor errors while Postgres is away.
    let quiet = tokio::time::timeout(OUTAGE, dp.inbound.message()).await;
    assert!(
        quiet.is_err(),
        "the stream ended or changed during the outage: {quiet:?}"
    );
    // A data plane connecting now still gets the last snapshot, though its connection
    // cannot be recorded.
    let mut late = Subscription::open(&mut client, hello("dp-2"))
        .await
        .unwrap();
    let served = late.next_snapshot(DEADLINE).await;
    assert_eq!(served.version, before.version);
    assert_eq!(served.content_hash, before.content_hash);

    bring_back(&admin, &database).await;
    // A change after the outage reaches both streams: the listener reconnected.
    let (key, _) = seed_key(&pool, "acme", None, "after-outage").await;
    let version = bump(&pool).await;
    for subscription in [&mut dp, &mut late] {
        let (snapshot, _) = subscription.wait_for_version(version).await;
        assert!(snapshot.keys.iter().any(|k| k.key_id == key.to_string()));
    }
    admin.close().await;
    server.stop().await;
}
