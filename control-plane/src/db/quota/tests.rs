use policy_engine::Window;

use super::*;
use crate::quota::{Metric, SubjectKind};

fn demand(limit: i64, want: i64, give_back: i64, epoch: i64) -> Demand {
    Demand {
        bucket: Bucket {
            org: "acme".into(),
            policy_id: "support".into(),
            subject_kind: SubjectKind::User,
            subject: "alice".into(),
            metric: Metric::Requests,
            window: Window::Daily,
            window_start: 0,
        },
        limit,
        want,
        give_back,
        epoch,
    }
}

fn leases(others: i64, own: Option<(i64, i64, bool)>) -> Leases {
    Leases {
        others,
        own_epoch: own.map(|(epoch, _, _)| epoch),
        own_held: own.map(|(_, held, _)| held),
        own_live: own.map(|(_, _, live)| live),
    }
}

#[test]
fn a_first_grant_starts_epoch_one_and_never_exceeds_what_is_free() {
    let grant = decide(&demand(100, 30, 0, 0), 50, &leases(40, None));
    assert_eq!(
        grant,
        Grant {
            epoch: 1,
            granted: 10,
            held: 10,
            used: 50,
            held_by_others: 40,
            limit: 100
        }
    );
    let nothing_left = decide(&demand(100, 30, 0, 0), 120, &leases(0, None));
    assert_eq!((nothing_left.granted, nothing_left.held), (0, 0));
}

#[test]
fn a_live_lease_keeps_its_epoch_and_grows() {
    let grant = decide(&demand(100, 5, 0, 3), 10, &leases(20, Some((3, 40, true))));
    assert_eq!((grant.epoch, grant.granted, grant.held), (3, 5, 45));
    // Held counts against the limit: 10 + 20 + 65 = 95 leaves 5.
    let capped = decide(&demand(100, 50, 0, 3), 10, &leases(20, Some((3, 65, true))));
    assert_eq!((capped.granted, capped.held), (5, 70));
}

#[test]
fn give_back_applies_only_under_the_current_epoch() {
    let back = decide(&demand(100, 0, 15, 3), 0, &leases(0, Some((3, 40, true))));
    assert_eq!((back.epoch, back.held), (3, 25));
    let floor = decide(&demand(100, 0, 500, 3), 0, &leases(0, Some((3, 40, true))));
    assert_eq!(floor.held, 0);
    let stale = decide(&demand(100, 0, 15, 2), 0, &leases(0, Some((3, 40, true))));
    assert_eq!(stale.held, 40);
}

#[test]
fn an_expired_lease_is_reclaimed_and_the_next_grant_has_a_new_epoch() {
    let grant = decide(
        &demand(100, 10, 30, 3),
        20,
        &leases(0, Some((3, 60, false))),
    );
    assert_eq!((grant.epoch, grant.granted, grant.held), (4, 10, 10));
}

#[test]
fn huge_numbers_saturate_instead_of_overflowing() {
    let grant = decide(
        &demand(i64::MAX, i64::MAX, 0, 0),
        i64::MAX,
        &leases(i64::MAX, None),
    );
    assert_eq!(grant.granted, 0);
    let all = decide(&demand(i64::MAX, i64::MAX, 0, 0), 0, &leases(0, None));
    assert_eq!(all.granted, i64::MAX);
}

#[test]
fn charges_add_up_per_bucket_and_per_lease_epoch() {
    let mut charges = Charges::default();
    let bucket = demand(0, 0, 0, 0).bucket;
    charges.add(&bucket, "dp-1", 2, 5);
    charges.add(&bucket, "dp-1", 2, 7);
    charges.add(&bucket, "dp-1", 0, 1);
    charges.add(&bucket, "dp-2", 1, 3);
    charges.add(&bucket, "dp-2", 1, 0);
    assert_eq!(charges.used.get(&bucket), Some(&16));
    assert_eq!(charges.leases.len(), 2);
    assert_eq!(
        charges.leases.get(&(bucket.clone(), "dp-1".into(), 2)),
        Some(&12)
    );
    assert_eq!(charges.leases.get(&(bucket, "dp-2".into(), 1)), Some(&3));
}
