use std::sync::Arc;

use policy_proto::v1 as pb;

use super::*;

const SUPPORT: &str = include_str!("../../../examples/policies/policy-gateway.json");

fn proto(version: u64, document: &str) -> pb::Snapshot {
    pb::Snapshot {
        version,
        created_at_unix_ms: 1_700_000_000_000,
        policies: vec![pb::PolicyState {
            org: "acme".into(),
            policy_id: "policy-gateway".into(),
            stable: Some(pb::PolicyRevision {
                revision: 3,
                document_json: document.into(),
            }),
            candidate: None,
        }],
        projects: vec![pb::Project {
            org: "acme".into(),
            id: "support-bot".into(),
            name: "Support bot".into(),
            default_policy_id: Some("policy-gateway".into()),
            ..Default::default()
        }],
        keys: vec![pb::ApiKey {
            org: "acme".into(),
            key_id: "k1".into(),
            key_hash: policy_engine::keys::hash_key("ak_test").to_vec(),
            project_id: "support-bot".into(),
            label: "test".into(),
        }],
        settings: None,
        ..Default::default()
    }
}

#[test]
fn indexes_keys_projects_and_policies_by_org() {
    let snapshot = build(&proto(1, SUPPORT), None, None).unwrap();
    let key = snapshot
        .key(&policy_engine::keys::hash_key("ak_test"))
        .unwrap();
    assert_eq!(key.project_id.as_deref(), Some("support-bot"));
    assert!(
        snapshot
            .key(&policy_engine::keys::hash_key("ak_other"))
            .is_none()
    );
    let project = snapshot.project("acme", "support-bot").unwrap();
    assert_eq!(project.default_policy_id.as_deref(), Some("policy-gateway"));
    assert!(snapshot.project("other-org", "support-bot").is_none());
    let policy = snapshot.policy("acme", "policy-gateway").unwrap();
    assert_eq!(policy.revisions.stable.revision(), 3);
    assert!(snapshot.policy("other-org", "policy-gateway").is_none());
    assert_eq!(
        snapshot.hard_blocked.names(),
        ["sexual/minors"],
        "the SPEC default without settings"
    );
}

#[test]
fn unchanged_revisions_are_reused_not_recompiled() {
    let first = build(&proto(1, SUPPORT), None, None).unwrap();
    let second = build(&proto(2, SUPPORT), Some(&first), None).unwrap();
    let a = &first
        .policy("acme", "policy-gateway")
        .unwrap()
        .revisions
        .stable;
    let b = &second
        .policy("acme", "policy-gateway")
        .unwrap()
        .revisions
        .stable;
    assert!(Arc::ptr_eq(a, b));
}

#[test]
fn every_problem_is_reported_and_nothing_is_built() {
    let mut bad = proto(
        5,
        r#"{"policy_id": "policy-gateway", "rules": {"response_pattern": "shout"}}"#,
    );
    bad.keys[0].key_hash = vec![1, 2, 3];
    bad.settings = Some(pb::GatewaySettings {
        hard_blocked_categories: vec!["gore".into()],
    });
    let error = build(&bad, None, None).unwrap_err();
    assert_eq!(error.version, 5);
    let message = error.to_string();
    assert!(
        message.contains("acme/policy-gateway revision 3"),
        "{message}"
    );
    assert!(message.contains("/rules/response_pattern"), "{message}");
    assert!(message.contains("hash is 3 bytes"), "{message}");
    assert!(message.contains("\"gore\""), "{message}");
}

#[test]
fn the_hard_block_override_wins_over_settings() {
    let mut snapshot = proto(1, SUPPORT);
    snapshot.settings = Some(pb::GatewaySettings {
        hard_blocked_categories: vec!["violence".into()],
    });
    assert_eq!(
        build(&snapshot, None, None).unwrap().hard_blocked.names(),
        ["violence"]
    );
    let none = policy_engine::CategorySet::EMPTY;
    assert!(
        build(&snapshot, None, Some(none))
            .unwrap()
            .hard_blocked
            .is_empty()
    );
}

#[test]
fn the_content_hash_is_checked_when_present() {
    let mut snapshot = proto(1, SUPPORT);
    // What the control plane computes: the encoding with the header fields cleared.
    let cleared = pb::Snapshot {
        version: 0,
        content_hash: vec![],
        created_at_unix_ms: 0,
        ..snapshot.clone()
    };
    use sha2::Digest as _;
    let expected: [u8; 32] = sha2::Sha256::digest(prost::Message::encode_to_vec(&cleared)).into();
    assert_eq!(content_hash(&snapshot), expected);
    snapshot.content_hash = expected.to_vec();
    assert!(build(&snapshot, None, None).is_ok());
    snapshot.keys.clear();
    let error = build(&snapshot, None, None).unwrap_err();
    assert!(
        error.to_string().contains("content hash mismatch"),
        "{error}"
    );
}
