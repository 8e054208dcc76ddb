//! Usage-record charges (SPEC §4, docs/quotas.md): applied to the counters once however
//! often a batch is resent, reducing only the lease of the epoch they were admitted under;
//! counters outlive policy revisions and control-plane restarts.

use axum::http::StatusCode;
use policy_proto::v1::UsageBatch;
use serde_json::{Value, json};
use sqlx::PgPool;
use tonic::Code;

use crate::api::{self, App};
use crate::common::Server;
use crate::lease_client::{LeaseStream, bucket, charge, demand, record, report};

async fn used(pool: &PgPool, kind: &str, metric: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(used), 0)::bigint FROM quota_counters \
         WHERE subject_kind = $1 AND metric = $2",
    )
    .bind(kind)
    .bind(metric)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn records(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM usage_records")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn charges_apply_once_and_only_to_the_lease_of_their_epoch(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let requests = bucket("user", "alice", "requests");
    let tokens = bucket("user", "alice", "tokens");
    let mut dp = LeaseStream::open(&mut client, "dp-a").await.unwrap();
    let lease = dp.grant(demand(&requests, 100, 50)).await;
    assert_eq!((lease.epoch, lease.held), (1, 50));

    let batch = UsageBatch {
        records: vec![
            // Admitted under the lease: used and held both move.
            record(
                "dp-a",
                vec![charge(&requests, 1, 1), charge(&tokens, 30, 0)],
            ),
            // Admitted on the offline allowance (epoch 0), and under an epoch the node no
            // longer holds: used only.
            record("dp-a", vec![charge(&requests, 1, 0)]),
            record("dp-a", vec![charge(&requests, 1, 5)]),
            // Another node's lease epoch 1 is not dp-a's.
            record("dp-b", vec![charge(&requests, 1, 1)]),
        ],
    };
    for _ in 0..3 {
        let ack = report(&mut client, batch.clone()).await.unwrap();
        assert_eq!(ack.ids.len(), 4);
        assert_eq!(records(&pool).await, 4);
        assert_eq!(used(&pool, "user", "requests").await, 4);
        assert_eq!(used(&pool, "user", "tokens").await, 30);
        let now = dp.grant(demand(&requests, 100, 0)).await;
        assert_eq!((now.epoch, now.used, now.held), (1, 4, 49));
    }
    // What is left: 100 - 4 used - 49 held.
    let rest = dp.grant(demand(&requests, 100, 1_000)).await;
    assert_eq!((rest.granted, rest.held), (47, 96));
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn an_invalid_charge_refuses_the_batch_by_record_id(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut wrong = bucket("user", "alice", "requests");
    wrong.metric = "dollars".into();
    let bad = record("dp-a", vec![charge(&wrong, 1, 0)]);
    let mut foreign = bucket("user", "alice", "requests");
    foreign.org = "globex".into();
    for record in [bad, record("dp-a", vec![charge(&foreign, 1, 0)])] {
        let id = record.id.clone();
        let batch = UsageBatch {
            records: vec![crate::lease_client::record("dp-a", vec![]), record],
        };
        let status = report(&mut client, batch).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().contains(&id) && status.message().contains("charges[0]"),
            "{}",
            status.message()
        );
    }
    assert_eq!(records(&pool).await, 0);
    assert_eq!(used(&pool, "user", "requests").await, 0);
    server.stop().await;
}

/// `policy("support")` with a daily user quota of `user_requests` requests.
fn with_user_quota(user_requests: u64) -> Value {
    let mut doc = api::policy("support");
    doc["org_controls"]["user_quotas"] = json!(true);
    doc["org_controls"]["user_quota"] =
        json!({ "requests": user_requests, "tokens": 1000, "window": "daily" });
    doc
}

fn user_row<'a>(usage: &'a Value, subject: &str) -> &'a Value {
    usage["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["source"] == "user" && q["subject"] == subject)
        .unwrap_or_else(|| panic!("no user quota of {subject} in {usage}"))
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn usage_survives_a_policy_save_and_a_control_plane_restart(pool: PgPool) {
    let app = App::new(pool.clone());
    app.save(&with_user_quota(50)).await;
    let created = app
        .post(
            "/projects",
            &api::admin(),
            json!({ "name": "Bot", "policy_id": "support", "monthly_request_limit": 10 }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let requests = bucket("user", "alice", "requests");
    let mut dp = LeaseStream::open(&mut client, "dp-a").await.unwrap();
    let lease = dp.grant(demand(&requests, 50, 20)).await;
    let project = bucket("project", "bot", "requests");
    let record_limit = bucket("project_record", "bot", "requests");
    let batch = UsageBatch {
        records: (0..3)
            .map(|_| {
                record(
                    "dp-a",
                    vec![
                        charge(&requests, 1, lease.epoch),
                        charge(&project, 1, 0),
                        charge(&record_limit, 1, 0),
                    ],
                )
            })
            .collect(),
    };
    report(&mut client, batch).await.unwrap();

    let usage = app.get("/usage?project_id=bot", &api::viewer()).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    let alice = user_row(&usage.body, "alice");
    assert_eq!(
        alice["requests"],
        json!({ "limit": 50, "used": 3, "leased": 17, "remaining": 47 })
    );
    assert_eq!(usage.body["quotas"][0]["requests"]["used"], 3);
    assert_eq!(usage.body["quotas"][1]["requests"]["used"], 3);

    // A new revision changes the limit, not the count: counters are per policy id.
    let saved = app.save(&with_user_quota(60)).await;
    assert_eq!(saved["revision"], 2);
    let usage = app.get("/usage?project_id=bot", &api::viewer()).await;
    assert_eq!(
        user_row(&usage.body, "alice")["requests"],
        json!({ "limit": 60, "used": 3, "leased": 17, "remaining": 57 })
    );

    // A restarted control plane (a new server on the same database) knows the lease.
    drop(dp);
    server.stop().await;
    let restarted = Server::start(pool.clone()).await;
    let mut client = restarted.client().await;
    let mut dp = LeaseStream::open(&mut client, "dp-a").await.unwrap();
    let mut extend = demand(&requests, 60, 0);
    extend.epoch = lease.epoch;
    let extended = dp.grant(extend).await;
    assert_eq!(
        (extended.epoch, extended.used, extended.held),
        (lease.epoch, 3, 17)
    );
    let again = app.get("/usage?project_id=bot", &api::viewer()).await;
    assert_eq!(user_row(&again.body, "alice")["requests"]["used"], 3);
    restarted.stop().await;
}
