use policy_proto::v1::{SubscribeResponse, subscribe_response};

use super::*;

fn sample() -> Snapshot {
    Snapshot {
        policies: vec![PolicyState {
            org: "acme".into(),
            policy_id: "support".into(),
            stable: Some(revision(1, r#"{"policy_id": "support"}"#.into())),
            candidate: Some(revision(
                2,
                r#"{"policy_id": "support", "name": "x"}"#.into(),
            )),
        }],
        projects: vec![Project {
            org: "acme".into(),
            id: "bot".into(),
            name: "Bot".into(),
            suspended: true,
            default_policy_id: Some("support".into()),
            monthly_request_limit: Some(10),
            monthly_token_limit: None,
        }],
        keys: vec![ApiKey {
            org: "acme".into(),
            key_id: "0190c1a2-0000-7000-8000-000000000001".into(),
            key_hash: vec![7; 32],
            project_id: "bot".into(),
            label: "ci".into(),
        }],
        settings: Some(GatewaySettings {
            hard_blocked_categories: vec!["sexual/minors".into()],
        }),
        ..Snapshot::default()
    }
}

#[test]
fn the_frame_is_a_subscribe_response_carrying_the_payload_and_its_hash() {
    let published = encode(42, sample());
    let decoded = SubscribeResponse::decode(published.frame.clone()).unwrap();
    let Some(subscribe_response::Message::Snapshot(snapshot)) = decoded.message else {
        panic!("no snapshot in the frame");
    };
    assert_eq!(snapshot.version, 42);
    assert_eq!(snapshot.content_hash, published.content_hash.to_vec());
    assert!(snapshot.created_at_unix_ms > 0);
    assert_eq!(
        Snapshot {
            version: 0,
            content_hash: Vec::new(),
            created_at_unix_ms: 0,
            ..snapshot.clone()
        },
        sample()
    );
    // What a data plane recomputes from what it received matches what was sent.
    assert_eq!(content_hash(&snapshot), published.content_hash);
    assert_eq!(
        (published.policies, published.projects, published.keys),
        (1, 1, 1)
    );
}

#[test]
fn the_hash_depends_on_content_only() {
    let first = encode(1, sample());
    let second = encode(2, sample());
    assert_eq!(first.content_hash, second.content_hash);
    let mut changed = sample();
    changed.keys.clear();
    assert_ne!(encode(2, changed).content_hash, first.content_hash);
}
