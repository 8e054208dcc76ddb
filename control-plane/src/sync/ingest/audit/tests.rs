use policy_proto::v1::{AuditBatch, AuditEntry, DecisionRecord};

use super::*;

fn entry(id: &str) -> AuditEntry {
    AuditEntry {
        id: id.to_owned(),
        created_at_unix_ms: 1_700_000_123_456,
        org: "acme".into(),
        node_id: "dp-1".into(),
        decision: Some(DecisionRecord {
            decision: "refuse".into(),
            reason_code: "REFUSE".into(),
            policy_id: "support".into(),
            policy_name: "Support".into(),
            revision: 3,
            denylist_hits: vec!["internal incident".into()],
            rollout_mode: "canary".into(),
            enforced: true,
            redaction_counts: [("email".to_owned(), 2)].into_iter().collect(),
            ..DecisionRecord::default()
        }),
        policy_user: "alice".into(),
        audit_logs: true,
        ..AuditEntry::default()
    }
}

#[test]
fn a_valid_batch_keeps_the_ids_as_sent() {
    let id = Uuid::now_v7().to_string();
    let (ids, checked) = check(AuditBatch {
        entries: vec![entry(&id)],
    })
    .unwrap();
    assert_eq!(ids, [id]);
    assert_eq!(checked.len(), 1);
}

#[test]
fn one_bad_entry_refuses_the_batch_and_is_named() {
    let good = Uuid::now_v7().to_string();
    let bad = Uuid::now_v7().to_string();
    let mut without_decision = entry(&bad);
    without_decision.decision = None;
    let status = check(AuditBatch {
        entries: vec![entry(&good), without_decision],
    })
    .err()
    .unwrap();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains(&bad), "{}", status.message());

    let mut unknown_mode = entry(&bad);
    if let Some(d) = unknown_mode.decision.as_mut() {
        d.rollout_mode = "Canary".into();
    }
    assert!(
        check(AuditBatch {
            entries: vec![unknown_mode]
        })
        .is_err()
    );
}

#[test]
fn the_history_entry_has_identifiers_and_the_decision_record() {
    let id = Uuid::now_v7().to_string();
    let (_, checked) = check(AuditBatch {
        entries: vec![entry(&id)],
    })
    .unwrap();
    let json = history_entry(&checked[0]);
    assert_eq!(json["decision"], "refuse");
    assert_eq!(json["denylist_hits"][0], "internal incident");
    assert_eq!(json["redaction_counts"]["email"], 2);
    assert_eq!(json["policy_user"], "alice");
    assert!(json["policy_target"].is_null());
    assert_eq!(json["created_at"], "2023-11-14T22:15:23.456Z");
}

#[test]
fn minutes_are_utc_buckets() {
    let at = fields::created_at(KIND, &Uuid::nil(), 1_700_000_123_456).unwrap();
    assert_eq!(minute(at).unix_timestamp(), 1_700_000_100);
}
