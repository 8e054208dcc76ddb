//! The Lease RPC (SPEC §4, docs/quotas.md): grants never exceed the limit however many
//! nodes ask at once, given-back and expired budget returns to the pool, and a request the
//! control plane cannot decide gets an error answer on a stream that stays up.

use std::time::{Duration, Instant};

use policy_proto::v1::{LeaseGrant, LeaseResponse, QuotaBucket, UsageBatch};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tonic::Code;

use crate::common::{DEADLINE, Server, admin, bring_back, database_name, second_pool, take_down};
use crate::lease_client::{LeaseStream, bucket, charge, demand, record, report};

const NODES: usize = 8;

fn by_metric(response: &LeaseResponse, metric: &str) -> LeaseGrant {
    response
        .grants
        .iter()
        .find(|grant| grant.bucket.as_ref().unwrap().metric == metric)
        .unwrap_or_else(|| panic!("no {metric} grant in {response:?}"))
        .clone()
}

async fn held_in_db(pool: &PgPool, metric: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(held), 0)::bigint FROM quota_leases \
         WHERE metric = $1 AND expires_at > now()",
    )
    .bind(metric)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn concurrent_demands_from_many_nodes_grant_exactly_the_limit(pool: PgPool) {
    const REQUESTS: u64 = 1_000;
    const TOKENS: u64 = 50_000;
    // Two replicas on one database, each with its own pool: half the nodes on each.
    let replica_a = Server::start_with(pool.clone(), "replica-a", 50).await;
    let pool_b = second_pool(&pool).await;
    let replica_b = Server::start_with(pool_b.clone(), "replica-b", 50).await;
    let requests = bucket("project", "bot", "requests");
    let tokens = bucket("project", "bot", "tokens");
    let mut nodes = Vec::new();
    for n in 0..NODES {
        let replica = if n % 2 == 0 { &replica_a } else { &replica_b };
        let mut client = replica.client().await;
        let (requests, tokens) = (requests.clone(), tokens.clone());
        nodes.push(tokio::spawn(async move {
            let mut stream = LeaseStream::open(&mut client, &format!("dp-{n}"))
                .await
                .unwrap();
            let (mut got_requests, mut got_tokens) = (0, 0);
            loop {
                // Every other node lists the buckets the other way round: the control
                // plane must lock them in one order regardless, or transactions deadlock.
                let mut demands = vec![
                    demand(&requests, REQUESTS, 37),
                    demand(&tokens, TOKENS, 1_234),
                ];
                if n % 4 >= 2 {
                    demands.reverse();
                }
                let response = stream.ask(demands).await;
                assert_eq!(response.error, "");
                let (r, t) = (
                    by_metric(&response, "requests"),
                    by_metric(&response, "tokens"),
                );
                assert!(r.used + r.held + r.held_by_others <= REQUESTS, "{r:?}");
                assert!(t.used + t.held + t.held_by_others <= TOKENS, "{t:?}");
                got_requests += r.granted;
                got_tokens += t.granted;
                assert_eq!((r.held, t.held), (got_requests, got_tokens));
                if r.granted == 0 && t.granted == 0 {
                    return (got_requests, got_tokens);
                }
            }
        }));
    }
    let (mut total_requests, mut total_tokens) = (0, 0);
    for node in nodes {
        let (r, t) = node.await.unwrap();
        total_requests += r;
        total_tokens += t;
    }
    // Never more than the limit in total, and all of it once everybody asked for more.
    assert_eq!(total_requests, REQUESTS);
    assert_eq!(total_tokens, TOKENS);
    assert_eq!(held_in_db(&pool, "requests").await, REQUESTS as i64);
    assert_eq!(held_in_db(&pool, "tokens").await, TOKENS as i64);
    replica_a.stop().await;
    replica_b.stop().await;
    pool_b.close().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn leases_and_charges_interleave_and_add_up(pool: PgPool) {
    const LIMIT: u64 = 300;
    const ROUNDS: usize = 15;
    const KINDS: [&str; 3] = ["user", "project", "project_record"];
    let server = Server::start(pool.clone()).await;
    let buckets = KINDS.map(|kind| {
        bucket(
            kind,
            if kind == "user" { "alice" } else { "bot" },
            "requests",
        )
    });
    let mut nodes = Vec::new();
    for n in 0..4 {
        let mut client = server.client().await;
        let buckets = buckets.clone();
        nodes.push(tokio::spawn(async move {
            let node_id = format!("dp-{n}");
            let mut stream = LeaseStream::open(&mut client, &node_id).await.unwrap();
            // Per bucket kind: granted to this node, and charged by it.
            let (mut granted, mut charged) = ([0; 3], 0);
            for round in 0..ROUNDS {
                // Lease and charge the buckets in orders that vary by node and round.
                let mut order: Vec<usize> = (0..3).collect();
                order.rotate_left((n + round) % 3);
                let demands = order
                    .iter()
                    .map(|&k| demand(&buckets[k], LIMIT, 5))
                    .collect();
                let response = stream.ask(demands).await;
                assert_eq!(response.error, "");
                for (&k, grant) in order.iter().zip(&response.grants) {
                    granted[k] += grant.granted;
                }
                let spend = response.grants.iter().map(|g| g.held).min().unwrap().min(3);
                if spend == 0 {
                    continue;
                }
                let charges = order
                    .iter()
                    .zip(&response.grants)
                    .rev()
                    .map(|(&k, grant)| charge(&buckets[k], spend, grant.epoch))
                    .collect();
                let batch = UsageBatch {
                    records: vec![record(&node_id, charges)],
                };
                report(&mut client, batch).await.unwrap();
                charged += spend;
            }
            (granted, charged)
        }));
    }
    let (mut granted, mut charged) = ([0; 3], 0);
    for node in nodes {
        let (node_granted, node_charged) = node.await.unwrap();
        for k in 0..3 {
            granted[k] += node_granted[k];
        }
        charged += node_charged;
    }
    assert!(charged > 0);
    for (k, kind) in KINDS.iter().enumerate() {
        let (used, held): (i64, i64) = sqlx::query_as(
            "SELECT c.used, (SELECT COALESCE(sum(held), 0)::bigint FROM quota_leases l \
                             WHERE l.subject_kind = c.subject_kind AND l.expires_at > now()) \
             FROM quota_counters c WHERE c.subject_kind = $1",
        )
        .bind(kind)
        .fetch_one(&pool)
        .await
        .unwrap();
        // Every charge counted once, and budget neither lost nor made up: what was granted
        // is now either used or still held.
        assert_eq!(used, charged as i64, "{kind}");
        assert_eq!(used + held, granted[k] as i64, "{kind}");
        assert!(used + held <= LIMIT as i64, "{kind}: {used} + {held}");
    }
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn budget_given_back_under_the_current_epoch_goes_to_other_nodes(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let users = bucket("user", "alice", "requests");
    let mut a = LeaseStream::open(&mut client, "dp-a").await.unwrap();
    let mut b = LeaseStream::open(&mut client, "dp-b").await.unwrap();

    let first = a.grant(demand(&users, 100, 100)).await;
    assert_eq!((first.epoch, first.granted, first.held), (1, 100, 100));
    assert_eq!(first.limit, 100);
    assert_eq!(first.bucket.as_ref(), Some(&users));
    let none = b.grant(demand(&users, 100, 10)).await;
    assert_eq!((none.granted, none.held, none.held_by_others), (0, 0, 100));

    // A give-back naming an epoch the node does not hold changes nothing.
    let mut stale = demand(&users, 100, 0);
    stale.give_back = 60;
    stale.epoch = 7;
    assert_eq!(a.grant(stale).await.held, 100);

    let mut back = demand(&users, 100, 0);
    back.give_back = 60;
    back.epoch = first.epoch;
    let after = a.grant(back).await;
    assert_eq!((after.epoch, after.granted, after.held), (1, 0, 40));
    let second = b.grant(demand(&users, 100, 100)).await;
    assert_eq!(
        (second.granted, second.held, second.held_by_others),
        (60, 60, 40)
    );
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn an_expired_lease_is_reclaimed_and_the_next_grant_has_a_new_epoch(pool: PgPool) {
    let server = Server::start_with_lease_ttl(pool.clone(), Duration::from_secs(1)).await;
    let mut client = server.client().await;
    let tokens = bucket("user", "alice", "tokens");
    let mut a = LeaseStream::open(&mut client, "dp-a").await.unwrap();
    let mut b = LeaseStream::open(&mut client, "dp-b").await.unwrap();

    let first = a.grant(demand(&tokens, 500, 500)).await;
    assert_eq!((first.epoch, first.granted), (1, 500));
    assert_eq!(first.expires_in_ms, 1_000);

    // dp-a never extends its lease: once it expires, dp-b gets the whole budget.
    let deadline = Instant::now() + DEADLINE;
    let taken = loop {
        let grant = b.grant(demand(&tokens, 500, 500)).await;
        if grant.granted > 0 {
            break grant;
        }
        assert_eq!(grant.held_by_others, 500);
        assert!(Instant::now() < deadline, "dp-a's lease never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((taken.granted, taken.held_by_others), (500, 0));

    // dp-a comes back under its old epoch: a new epoch starting from nothing.
    let mut again = demand(&tokens, 500, 100);
    again.epoch = first.epoch;
    again.give_back = 200;
    let renewed = a.grant(again).await;
    assert_eq!(
        (
            renewed.epoch,
            renewed.granted,
            renewed.held,
            renewed.held_by_others
        ),
        (2, 0, 0, 500)
    );

    // A late charge under the old epoch counts as used and leaves the new lease alone.
    let late = UsageBatch {
        records: vec![record("dp-a", vec![charge(&tokens, 120, first.epoch)])],
    };
    report(&mut client, late).await.unwrap();
    let mut extend = demand(&tokens, 500, 0);
    extend.epoch = renewed.epoch;
    let after = a.grant(extend).await;
    assert_eq!((after.epoch, after.used, after.held), (2, 120, 0));
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn invalid_demands_get_a_clear_error_and_the_stream_stays_up(pool: PgPool) {
    let server = Server::start(pool.clone()).await;
    let mut client = server.client().await;
    let mut dp = LeaseStream::open(&mut client, "dp-1").await.unwrap();
    let good = bucket("project_record", "bot", "requests");
    let broken = |change: fn(&mut QuotaBucket)| {
        let mut bucket = good.clone();
        change(&mut bucket);
        bucket
    };
    let cases = [
        (
            broken(|b| b.subject_kind = "team".into()),
            "bucket.subject_kind \"team\"",
        ),
        (
            broken(|b| b.metric = "dollars".into()),
            "bucket.metric \"dollars\"",
        ),
        (
            broken(|b| b.window = "hourly".into()),
            "bucket.window \"hourly\"",
        ),
        (broken(|b| b.org = String::new()), "bucket.org is empty"),
        (
            broken(|b| b.window_start_unix += 1),
            "is not the start of a UTC monthly window",
        ),
    ];
    for (bucket, expected) in cases {
        let response = dp
            .ask(vec![demand(&good, 10, 1), demand(&bucket, 10, 1)])
            .await;
        assert!(response.grants.is_empty(), "{response:?}");
        assert!(
            response.error.starts_with("demands[1]: ") && response.error.contains(expected),
            "{} does not say {expected}",
            response.error
        );
    }
    // Nothing was granted by the refused requests; the stream still answers.
    let grant = dp.grant(demand(&good, 10, 4)).await;
    assert_eq!((grant.granted, grant.held, grant.epoch), (4, 4, 1));

    let unauthenticated = LeaseStream::open_with_token(&mut client, "dp-x", Some("wrong"))
        .await
        .err()
        .expect("a wrong token opens no lease stream");
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    server.stop().await;
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn postgres_down_gives_an_error_answer_and_the_stream_survives(pool: PgPool) {
    // A pool that gives up on a connection quickly, so the outage shows within a second.
    let quick = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_millis(500))
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let server = Server::start(quick.clone()).await;
    let mut client = server.client().await;
    let mut dp = LeaseStream::open(&mut client, "dp-1").await.unwrap();
    let requests = bucket("project", "bot", "requests");
    assert_eq!(dp.grant(demand(&requests, 100, 10)).await.granted, 10);

    let database = database_name(&pool).await;
    let admin = admin(&pool).await;
    take_down(&admin, &database).await;
    let refused = dp.ask(vec![demand(&requests, 100, 10)]).await;
    assert!(refused.grants.is_empty());
    assert_eq!(refused.error, "the quota store is unavailable");

    bring_back(&admin, &database).await;
    let deadline = Instant::now() + DEADLINE;
    let grant = loop {
        let response = dp.ask(vec![demand(&requests, 100, 10)]).await;
        if response.error.is_empty() {
            break by_metric(&response, "requests");
        }
        assert!(
            Instant::now() < deadline,
            "still refused: {}",
            response.error
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The refused request granted nothing: the lease holds the first grant plus this one.
    assert_eq!((grant.granted, grant.held, grant.epoch), (10, 20, 1));
    admin.close().await;
    server.stop().await;
    quick.close().await;
}
