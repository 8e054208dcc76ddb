use std::sync::Arc;
use std::time::{Duration, Instant};

use policy_engine::Window;
use policy_proto::v1 as pb;

use super::bucket::{Bucket, Take};
use super::*;

fn settings(offline_requests: u64, offline_tokens: u64) -> Settings {
    Settings {
        offline_requests,
        offline_tokens,
        lease_percent: 10,
        wait: Duration::from_millis(500),
    }
}

fn demand(limit: Limit, max: u64) -> Demand {
    let window = Window::Daily;
    let bounds = window.bounds(1_700_000_000).unwrap();
    Demand {
        key: BucketKey {
            org: Arc::from("acme"),
            policy_id: Arc::from("p"),
            subject: Arc::from("alice"),
            limit,
            window,
            window_start: bounds.start,
        },
        max,
        window_end: bounds.end,
    }
}

fn grant(epoch: u64, granted: u64, used: u64, held: u64, limit: u64) -> pb::LeaseGrant {
    pb::LeaseGrant {
        bucket: None,
        epoch,
        granted,
        held,
        used,
        held_by_others: 0,
        limit,
        expires_in_ms: 60_000,
    }
}

#[test]
fn chunks_are_a_percentage_of_the_limit_and_never_zero() {
    let s = settings(0, 0);
    assert_eq!(s.chunk(1000), 100);
    assert_eq!(s.chunk(5), 1);
    assert_eq!(s.chunk(0), 1);
    assert_eq!(s.chunk(u64::MAX), u64::MAX / 10 + 1);
}

#[test]
fn tokens_clamp_to_what_is_left_only_when_the_authority_has_no_more() {
    let s = settings(0, 0);
    let d = demand(Limit::UserTokens, 50);
    let bucket = Bucket::new(d.key.clone(), d.window_end);
    let now = Instant::now();
    assert_eq!(
        bucket.take(50, 10, false, &s, now).0,
        Take::Short,
        "no lease yet"
    );

    // Asked for 102, got 40: the authority has no more, so a reservation is clamped.
    bucket.granted(&grant(1, 40, 0, 40, 50), 102, now);
    let (take, _) = bucket.take(50, 102, false, &s, now);
    assert_eq!(
        take,
        Take::Taken {
            amount: 40,
            epoch: 1
        }
    );
    assert_eq!(bucket.take(50, 1, false, &s, now).0, Take::Short);

    // Settling below the reservation returns the rest; a replaced epoch's does not.
    bucket.give_back(22, 1);
    assert_eq!(
        bucket.take(50, 5, false, &s, now).0,
        Take::Taken {
            amount: 5,
            epoch: 1
        }
    );
    bucket.granted(&grant(2, 10, 30, 10, 50), 1000, now);
    bucket.give_back(100, 1);
    let (take, _) = bucket.take(50, 1000, false, &s, now);
    assert_eq!(
        take,
        Take::Taken {
            amount: 10,
            epoch: 2
        },
        "only the new lease's budget"
    );
}

#[test]
fn requests_never_clamp_and_the_offline_allowance_is_per_bucket() {
    let s = settings(2, 0);
    let d = demand(Limit::UserRequests, 5);
    let bucket = Bucket::new(d.key.clone(), d.window_end);
    let now = Instant::now();
    for _ in 0..2 {
        assert_eq!(
            bucket.take(5, 1, true, &s, now).0,
            Take::Taken {
                amount: 1,
                epoch: 0
            }
        );
    }
    assert_eq!(bucket.take(5, 1, true, &s, now).0, Take::Short);
    // A refunded offline admission frees its allowance again.
    bucket.give_back(1, 0);
    assert_eq!(
        bucket.take(5, 1, true, &s, now).0,
        Take::Taken {
            amount: 1,
            epoch: 0
        }
    );
    // A grant starts the allowance over.
    bucket.granted(&grant(1, 0, 5, 0, 5), 1, now);
    assert_eq!(
        bucket.take(5, 1, true, &s, now).0,
        Take::Taken {
            amount: 1,
            epoch: 0
        }
    );
}

#[test]
fn leases_expire_locally_before_the_authority_reclaims_them() {
    let s = settings(0, 0);
    let d = demand(Limit::UserRequests, 5);
    let bucket = Bucket::new(d.key.clone(), d.window_end);
    let sent = Instant::now();
    let mut short_lease = grant(1, 5, 0, 5, 5);
    short_lease.expires_in_ms = 1_000;
    bucket.granted(&short_lease, 5, sent);
    assert!(matches!(
        bucket.take(5, 1, false, &s, sent).0,
        Take::Taken { .. }
    ));
    // A quarter of the TTL before the authority's end, nothing is spent any more.
    let late = sent + Duration::from_millis(800);
    assert_eq!(bucket.take(5, 1, false, &s, late).0, Take::Short);
}

#[test]
fn a_refresh_is_wanted_at_half_the_grant_or_half_the_ttl() {
    let s = settings(0, 0);
    let d = demand(Limit::UserRequests, 100);
    let bucket = Bucket::new(d.key.clone(), d.window_end);
    let now = Instant::now();
    bucket.granted(&grant(1, 10, 0, 10, 100), 10, now);
    let mut refreshes = 0;
    for _ in 0..6 {
        let (take, refresh) = bucket.take(100, 1, false, &s, now);
        assert!(matches!(take, Take::Taken { .. }));
        refreshes += usize::from(refresh);
    }
    assert_eq!(
        refreshes, 1,
        "one refresh once below 5, none while it is under way"
    );
    let demand = bucket.demand(&s);
    assert_eq!(demand.want, 6, "tops the lease up to one chunk");
    assert_eq!(demand.epoch, 1);
}

#[tokio::test]
async fn admission_is_all_or_nothing() {
    let (quotas, mut asks) = Quotas::new(settings(0, 0));
    let requests = demand(Limit::UserRequests, 10);
    let tokens = demand(Limit::UserTokens, 10);
    // The authority: requests have budget, tokens are used up.
    let authority = tokio::spawn(async move {
        while let Some(bucket) = asks.recv().await {
            let d = bucket.demand(&settings(0, 0));
            let g = match bucket.key.limit {
                Limit::UserRequests => grant(1, d.want, 0, d.want, 10),
                _ => grant(1, 0, 10, 0, 10),
            };
            bucket.granted(&g, d.want, Instant::now());
        }
    });
    let both = [requests.clone(), tokens];
    let rejection = quotas.admit(&both, 5).await.unwrap_err();
    assert_eq!(rejection.limit, Limit::UserTokens);
    assert_eq!(rejection.reason, RejectionReason::Exhausted);
    assert!(rejection.final_for_window());
    // The request taken from the first bucket went back: all 10 are still there.
    for _ in 0..10 {
        let guard = quotas
            .admit(std::slice::from_ref(&requests), 5)
            .await
            .unwrap();
        let charges = guard.settle(7);
        assert_eq!(charges.len(), 1);
        assert_eq!(charges[0].amount, 1);
        assert_eq!(charges[0].epoch, 1);
    }
    authority.abort();
}

#[tokio::test]
async fn an_unanswered_ask_counts_as_unreachable_after_the_wait() {
    let mut s = settings(1, 0);
    s.wait = Duration::from_millis(50);
    let (quotas, _asks) = Quotas::new(s);
    let d = [demand(Limit::UserRequests, 10)];
    let guard = quotas.admit(&d, 1).await.unwrap();
    let charges = guard.settle(0);
    assert_eq!(charges[0].epoch, 0, "admitted on the offline allowance");
    let rejection = quotas.admit(&d, 1).await.unwrap_err();
    assert_eq!(rejection.reason, RejectionReason::Unreachable);
    assert_eq!(rejection.retry_after, 1);
    assert!(!rejection.final_for_window());
}

#[tokio::test]
async fn a_dropped_guard_returns_its_reservation() {
    let (quotas, mut asks) = Quotas::new(settings(0, 0));
    let d = [demand(Limit::UserTokens, 100)];
    let authority = tokio::spawn(async move {
        while let Some(bucket) = asks.recv().await {
            let want = bucket.demand(&settings(0, 0)).want;
            let granted = want.min(100);
            bucket.granted(&grant(1, granted, 0, granted, 100), want, Instant::now());
        }
    });
    let guard = quotas.admit(&d, 100).await.unwrap();
    assert_eq!(guard.reserved_tokens(), 100);
    drop(guard);
    let guard = quotas.admit(&d, 100).await.unwrap();
    assert_eq!(guard.reserved_tokens(), 100, "everything came back");
    let charges = guard.settle_reserved();
    assert_eq!(charges[0].amount, 100);
    authority.abort();
}

#[test]
fn use_beyond_a_reservation_is_paid_off_by_the_next_grants() {
    let s = settings(0, 0);
    let d = demand(Limit::UserTokens, 1000);
    let bucket = Bucket::new(d.key.clone(), d.window_end);
    let now = Instant::now();
    bucket.granted(&grant(1, 10, 0, 10, 1000), 10, now);
    assert_eq!(
        bucket.take(1000, 6, false, &s, now).0,
        Take::Taken {
            amount: 6,
            epoch: 1
        }
    );
    // The answer used 163 tokens: 4 left absorb some, 153 are owed.
    bucket.overspent(157, 1);
    assert_eq!(bucket.take(1000, 1, false, &s, now).0, Take::Short);
    assert_eq!(bucket.demand(&s).want, 100 + 153, "a chunk plus the debt");
    bucket.granted(&grant(1, 200, 0, 210, 1000), 253, now);
    assert_eq!(
        bucket.take(1000, 1000, false, &s, now).0,
        Take::Taken {
            amount: 47,
            epoch: 1
        },
        "what is left after the debt (clamped: the grant was short)"
    );
}
