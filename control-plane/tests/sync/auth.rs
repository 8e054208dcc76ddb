//! Node-token authentication and the Hello checks (SPEC §8).

use policy_proto::v1::{Ack, AuditBatch, UsageBatch, subscribe_request};
use sqlx::PgPool;
use tonic::Code;

use crate::common::{Server, Subscription, TOKEN, hello, request};

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn every_rpc_without_the_node_token_is_unauthenticated(pool: PgPool) {
    let server = Server::start(pool).await;
    let mut client = server.client().await;

    for token in [None, Some("wrong-token"), Some("")] {
        let refused = Subscription::open_with_token(&mut client, hello("dp-1"), token)
            .await
            .err()
            .expect("subscribe must be refused");
        assert_eq!(refused.code(), Code::Unauthenticated, "{token:?}");

        let audit = client
            .report_audit(request(tokio_stream::iter([AuditBatch::default()]), token))
            .await
            .expect_err("report audit must be refused");
        assert_eq!(audit.code(), Code::Unauthenticated, "{token:?}");

        let usage = client
            .report_usage(request(tokio_stream::iter([UsageBatch::default()]), token))
            .await
            .expect_err("report usage must be refused");
        assert_eq!(usage.code(), Code::Unauthenticated, "{token:?}");
    }
    // A token that merely starts with the right one is wrong too.
    let longer = format!("{TOKEN}x");
    let refused = Subscription::open_with_token(&mut client, hello("dp-1"), Some(&longer))
        .await
        .err()
        .expect("subscribe must be refused");
    assert_eq!(refused.code(), Code::Unauthenticated);
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_refused_peer_leaves_no_trace(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let _ = Subscription::open_with_token(&mut client, hello("intruder"), Some("nope")).await;
    let nodes: i64 = sqlx::query_scalar("SELECT count(*) FROM data_plane_nodes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(nodes, 0);
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_data_plane_newer_than_the_control_plane_is_refused(pool: PgPool) {
    let server = Server::start(pool).await;
    let mut client = server.client().await;
    let mut newer = hello("dp-future");
    newer.protocol_version = 2;
    let refused = Subscription::open(&mut client, newer)
        .await
        .err()
        .expect("a newer protocol must be refused");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("protocol version 2"),
        "{}",
        refused.message()
    );
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn the_first_message_must_be_a_hello(pool: PgPool) {
    let server = Server::start(pool).await;
    let mut client = server.client().await;
    let refused = Subscription::open_raw(
        &mut client,
        subscribe_request::Message::Ack(Ack { version: 1 }),
        Some(TOKEN),
    )
    .await
    .err()
    .expect("an Ack first must be refused");
    assert_eq!(refused.code(), Code::InvalidArgument);

    let refused = Subscription::open(&mut client, hello("  "))
        .await
        .err()
        .expect("an empty node id must be refused");
    assert_eq!(refused.code(), Code::InvalidArgument);
    server.stop().await;
}
