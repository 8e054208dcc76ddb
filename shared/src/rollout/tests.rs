use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::category::{Category, CategorySet};
use crate::decision::Moderation;
use crate::model::DecisionKind;

fn compiled(doc: Value, revision: u64) -> Arc<CompiledPolicy> {
    Arc::new(CompiledPolicy::from_json(&doc, revision).unwrap())
}

/// Stable allows everything; the candidate refuses "secret" and stages itself with `rollout`.
fn revisions(rollout: Value) -> PolicyRevisions {
    let stable = compiled(json!({"policy_id": "pol", "name": "Pol"}), 1);
    let candidate = compiled(
        json!({"policy_id": "pol", "name": "Pol", "rules": {"denylist": ["secret"]}, "rollout": rollout}),
        2,
    );
    PolicyRevisions {
        stable,
        candidate: Some(candidate),
    }
}

fn input(text: &str) -> DecisionInput<'_> {
    DecisionInput {
        text,
        moderation: Moderation::Labels(CategorySet::EMPTY),
        hard_blocked: [Category::SexualMinors].into_iter().collect(),
    }
}

fn request<'a>(user: &'a str, target: Option<&'a str>) -> RolloutRequest<'a> {
    RolloutRequest {
        sample_key: user,
        target,
    }
}

/// A user key whose bucket for candidate revision 2 of `pol` is below / above `percent`.
fn user_in_bucket(below: bool, percent: f64) -> String {
    (0..)
        .map(|i| format!("user-{i}"))
        .find(|u| ((sample_bucket("pol", 2, u) as f64) < percent * 100.0) == below)
        .unwrap()
}

#[test]
fn without_a_candidate_stable_decides_and_is_enforced() {
    let r = PolicyRevisions::stable(compiled(json!({"policy_id": "pol", "name": "Pol"}), 1));
    let e = r.evaluate(&request("u", None), &input("secret"));
    assert_eq!(e.enforced.decision, DecisionKind::Allow);
    assert_eq!(e.enforced.rollout_mode, RolloutMode::Enforced);
    assert!(e.enforced.enforced);
    assert_eq!(e.shadow, None);
}

#[test]
fn canary_in_scope_and_sampled_lets_the_candidate_decide() {
    let r = revisions(json!({"canary": {"enabled": true, "sample_percent": 30}}));
    let user = user_in_bucket(true, 30.0);
    let e = r.evaluate(&request(&user, None), &input("secret"));
    assert_eq!(e.enforced.decision, DecisionKind::Refuse);
    assert_eq!(e.enforced.revision, 2);
    assert_eq!(e.enforced.rollout_mode, RolloutMode::Canary);
    assert!(e.enforced.enforced);
    assert_eq!(e.shadow, None);
}

#[test]
fn canary_not_sampled_falls_to_stable() {
    let r = revisions(json!({"canary": {"enabled": true, "sample_percent": 30}}));
    let user = user_in_bucket(false, 30.0);
    let e = r.evaluate(&request(&user, None), &input("secret"));
    assert_eq!(e.enforced.revision, 1);
    assert_eq!(e.enforced.rollout_mode, RolloutMode::Enforced);
}

#[test]
fn shadow_enforces_stable_and_records_the_candidate() {
    let r = revisions(json!({"shadow": {"enabled": true, "sample_percent": 100}}));
    let e = r.evaluate(&request("anyone", None), &input("secret"));
    assert_eq!(e.enforced.decision, DecisionKind::Allow);
    assert_eq!(e.enforced.revision, 1);
    assert_eq!(e.enforced.rollout_mode, RolloutMode::Enforced);
    let shadow = e.shadow.unwrap();
    assert_eq!(shadow.decision, DecisionKind::Refuse);
    assert_eq!(shadow.revision, 2);
    assert_eq!(shadow.rollout_mode, RolloutMode::Shadow);
    assert!(!shadow.enforced);
}

#[test]
fn canary_wins_over_shadow_for_the_same_bucket() {
    let r = revisions(json!({
        "canary": {"enabled": true, "sample_percent": 10},
        "shadow": {"enabled": true, "sample_percent": 40}
    }));
    let canary_user = user_in_bucket(true, 10.0);
    assert_eq!(r.arm(&request(&canary_user, None)), Arm::Canary);
    let shadow_user = (0..)
        .map(|i| format!("s-{i}"))
        .find(|u| (1000..4000).contains(&sample_bucket("pol", 2, u)))
        .unwrap();
    assert_eq!(r.arm(&request(&shadow_user, None)), Arm::Shadow);
    let stable_user = (0..)
        .map(|i| format!("t-{i}"))
        .find(|u| sample_bucket("pol", 2, u) >= 4000)
        .unwrap();
    assert_eq!(r.arm(&request(&stable_user, None)), Arm::Stable);
}

#[test]
fn targets_limit_the_scope() {
    let r = revisions(
        json!({"canary": {"enabled": true, "sample_percent": 100, "targets": ["knowledge-bot"]}}),
    );
    assert_eq!(r.arm(&request("u", Some("knowledge-bot"))), Arm::Canary);
    assert_eq!(r.arm(&request("u", Some("support-bot"))), Arm::Stable);
    assert_eq!(r.arm(&request("u", None)), Arm::Stable);
}

#[test]
fn disabled_stages_never_select() {
    let r = revisions(json!({"canary": {"enabled": false, "sample_percent": 100},
                             "shadow": {"enabled": false, "sample_percent": 100}}));
    assert_eq!(r.arm(&request("u", None)), Arm::Stable);
}

#[test]
fn the_candidates_rollout_settings_govern() {
    // Stable says canary 100%, candidate says canary 0%: nobody is in the canary.
    let stable = compiled(
        json!({"policy_id": "pol", "name": "Pol",
        "rollout": {"canary": {"enabled": true, "sample_percent": 100}}}),
        1,
    );
    let candidate = compiled(
        json!({"policy_id": "pol", "name": "Pol",
        "rollout": {"canary": {"enabled": true, "sample_percent": 0}}}),
        2,
    );
    let r = PolicyRevisions {
        stable,
        candidate: Some(candidate),
    };
    assert!((0..200).all(|i| r.arm(&request(&format!("u{i}"), None)) == Arm::Stable));
}

#[test]
fn hard_blocks_are_enforced_in_every_arm() {
    let blocked = DecisionInput {
        moderation: Moderation::Labels([Category::SexualMinors].into_iter().collect()),
        ..input("hello")
    };
    for rollout in [
        json!({"canary": {"enabled": true, "sample_percent": 100}}),
        json!({"shadow": {"enabled": true, "sample_percent": 100}}),
        json!({}),
    ] {
        let e = revisions(rollout.clone()).evaluate(&request("u", None), &blocked);
        assert_eq!(e.enforced.decision, DecisionKind::Refuse, "{rollout}");
        assert!(e.enforced.hard_block);
        assert!(e.enforced.enforced);
    }
}

#[test]
fn buckets_are_stable_known_values() {
    // Pinned so that any change to the sampling function is a visible, deliberate change:
    // users would otherwise silently switch arms on upgrade.
    let pinned: Vec<u64> = ["alice", "bob", "req-1"]
        .iter()
        .map(|k| sample_bucket("policy-as-code", 7, k))
        .collect();
    assert_eq!(pinned, PINNED_BUCKETS);
    assert!(pinned.iter().all(|b| *b < BUCKETS));
}

// Computed with Python: int.from_bytes(sha256(b"policy-as-code\x007\x00" + key)[:8], "big") % 10000.
const PINNED_BUCKETS: [u64; 3] = [3297, 1452, 6501];

#[test]
fn sampling_share_converges_to_sample_percent() {
    for percent in [5.0, 10.0, 25.0, 50.0] {
        let r = revisions(json!({"canary": {"enabled": true, "sample_percent": percent}}));
        let keys = 100_000;
        let in_canary = (0..keys)
            .filter(|i| r.arm(&request(&format!("user-{i}"), None)) == Arm::Canary)
            .count();
        let share = in_canary as f64 * 100.0 / keys as f64;
        assert!(
            (share - percent).abs() <= 1.0,
            "{percent}% configured, {share}% observed"
        );
    }
}

proptest::proptest! {
    #[test]
    fn a_user_always_lands_in_the_same_arm(user in "[a-z0-9-]{1,32}", percent in 0.0f64..=100.0) {
        let r = revisions(json!({"canary": {"enabled": true, "sample_percent": percent}}));
        let first = r.arm(&request(&user, None));
        for _ in 0..3 {
            proptest::prop_assert_eq!(r.arm(&request(&user, None)), first);
        }
        let expected = if (sample_bucket("pol", 2, &user) as f64) < percent * 100.0 { Arm::Canary } else { Arm::Stable };
        proptest::prop_assert_eq!(first, expected);
    }
}
