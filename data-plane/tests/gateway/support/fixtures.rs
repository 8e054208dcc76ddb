//! The snapshot the tests serve: the repository's example policies plus a few built
//! here, projects for each situation, and keys hashed with the engine.

use policy_engine::keys::{hash_key, raw_key_from_bytes};
use policy_proto::v1 as pb;
use serde_json::{Value, json};

pub const ORG: &str = "acme";

const SUPPORT: &str = include_str!("../../../../examples/policies/policy-gateway.json");
const AS_CODE: &str = include_str!("../../../../examples/policies/policy-as-code.json");
const AS_CODE_CANDIDATE: &str =
    include_str!("../../../../examples/policies/policy-as-code.candidate.json");

/// Raw keys (the CP would have shown each once, at creation).
pub fn key(n: u8) -> String {
    raw_key_from_bytes(&[n; 32])
}
pub fn support_key() -> String {
    key(1)
}
pub fn knowledge_key() -> String {
    key(2)
}
pub fn suspended_key() -> String {
    key(3)
}
pub fn open_key() -> String {
    key(4)
}
pub fn org_key() -> String {
    key(5)
}

pub fn revision(revision: u64, document: impl Into<String>) -> pb::PolicyRevision {
    pb::PolicyRevision {
        revision,
        document_json: document.into(),
    }
}

/// A policy that only redacts, with `REDACT` among its codes and audit logs off.
pub fn open_policy() -> Value {
    json!({
        "policy_id": "open-policy", "name": "Open policy",
        "rules": {"redact": true, "reason_codes": ["ALLOW", "REFUSE", "REDACT"]},
        "org_controls": {"audit_logs": false}
    })
}

fn pattern_policy(id: &str, pattern: &str) -> Value {
    json!({
        "policy_id": id, "name": format!("{pattern} on lock picking"),
        "rules": {"denylist": ["lock picking"], "response_pattern": pattern, "redact": true},
        "refusal_replacement": {"mode": pattern, "escalation_path": "review@acme.test"}
    })
}

pub fn project(id: &str, name: &str, policy: &str, suspended: bool) -> pb::Project {
    pb::Project {
        org: ORG.into(),
        id: id.into(),
        name: name.into(),
        suspended,
        default_policy_id: Some(policy.into()),
        monthly_request_limit: None,
        monthly_token_limit: None,
    }
}

pub fn api_key(id: &str, raw: &str, project: &str) -> pb::ApiKey {
    pb::ApiKey {
        org: ORG.into(),
        key_id: id.into(),
        key_hash: hash_key(raw).to_vec(),
        project_id: project.into(),
        label: id.into(),
    }
}

pub fn policy(
    id: &str,
    stable: pb::PolicyRevision,
    candidate: Option<pb::PolicyRevision>,
) -> pb::PolicyState {
    pb::PolicyState {
        org: ORG.into(),
        policy_id: id.into(),
        stable: Some(stable),
        candidate,
    }
}

/// The full test snapshot at `version`.
pub fn snapshot(version: u64) -> pb::Snapshot {
    pb::Snapshot {
        version,
        content_hash: vec![],
        created_at_unix_ms: 1_700_000_000_000,
        policies: vec![
            policy("policy-gateway", revision(1, SUPPORT), None),
            policy(
                "policy-as-code",
                revision(1, AS_CODE),
                Some(revision(2, AS_CODE_CANDIDATE)),
            ),
            policy("open-policy", revision(1, open_policy().to_string()), None),
            policy(
                "summary-policy",
                revision(1, pattern_policy("summary-policy", "summary").to_string()),
                None,
            ),
            policy(
                "escalate-policy",
                revision(1, pattern_policy("escalate-policy", "escalate").to_string()),
                None,
            ),
        ],
        projects: vec![
            project("support-bot", "Support bot", "policy-gateway", false),
            project("knowledge-bot", "Knowledge bot", "policy-as-code", false),
            project("suspended-bot", "Suspended bot", "policy-gateway", true),
            project("open-bot", "Open bot", "open-policy", false),
        ],
        keys: vec![
            api_key("key-support", &support_key(), "support-bot"),
            api_key("key-knowledge", &knowledge_key(), "knowledge-bot"),
            api_key("key-suspended", &suspended_key(), "suspended-bot"),
            api_key("key-open", &open_key(), "open-bot"),
            api_key("key-org", &org_key(), ""),
        ],
        settings: Some(pb::GatewaySettings {
            hard_blocked_categories: vec!["sexual/minors".into()],
        }),
    }
}

/// A user whose sample bucket for policy-as-code's candidate (revision 2) lands in the
/// shadow arm (canary 10 %, shadow 25 %).
pub fn shadow_user() -> String {
    (0..10_000)
        .map(|i| format!("user-{i}"))
        .find(|user| {
            let bucket = policy_engine::rollout::sample_bucket("policy-as-code", 2, user);
            (1000..2500).contains(&bucket)
        })
        .unwrap()
}

/// A user that policy-as-code's candidate leaves on the stable revision.
pub fn stable_user() -> String {
    (0..10_000)
        .map(|i| format!("user-{i}"))
        .find(|user| policy_engine::rollout::sample_bucket("policy-as-code", 2, user) >= 2500)
        .unwrap()
}
