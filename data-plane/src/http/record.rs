//! Audit entries and usage records of one request (SPEC §6): identifiers, counts and
//! decisions only — never prompt or completion text, never the raw key.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use policy_engine::{CompiledPolicy, Decision, ReasonDetail};
use policy_proto::v1 as pb;

use crate::upstream::relay::Usage;

/// Who sent a request and under which policy: everything reports need besides the
/// decision.
#[derive(Debug)]
pub struct Facts {
    pub request_id: String,
    pub node_id: Arc<str>,
    pub org: Arc<str>,
    pub key_id: Arc<str>,
    pub project_id: Option<Arc<str>>,
    pub project_label: Option<Arc<str>>,
    pub policy_id: Arc<str>,
    /// Normalized `policy_user`.
    pub user: Option<String>,
    /// Normalized `policy_target` as sent.
    pub target: Option<String>,
    pub model: String,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Facts {
    /// SPEC §4: the normalized user, else the key's id.
    pub fn quota_subject(&self) -> &str {
        self.user.as_deref().unwrap_or(&self.key_id)
    }

    /// The audit entry of one decision; `policy` is the revision that took it (its
    /// `audit_logs` and classification apply).
    pub fn audit(&self, decision: &Decision, policy: &CompiledPolicy) -> pb::AuditEntry {
        let controls = &policy.policy().org_controls;
        pb::AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            created_at_unix_ms: now_ms(),
            org: self.org.to_string(),
            node_id: self.node_id.to_string(),
            decision: Some(decision_record(decision)),
            policy_user: self.user.clone().unwrap_or_default(),
            quota_subject: self.quota_subject().to_string(),
            policy_target: self.target.clone().unwrap_or_default(),
            project_id: self.project_id.as_deref().unwrap_or_default().to_string(),
            project_label: self
                .project_label
                .as_deref()
                .unwrap_or_default()
                .to_string(),
            data_classification: controls.data_classification.name().to_string(),
            model: self.model.clone(),
            request_id: self.request_id.clone(),
            audit_logs: controls.audit_logs,
        }
    }

    /// The usage record of one forwarded request, with what its settlement charged to
    /// each quota bucket (SPEC §4).
    pub fn usage(&self, usage: Usage, charges: Vec<pb::QuotaCharge>) -> pb::UsageRecord {
        pb::UsageRecord {
            id: uuid::Uuid::now_v7().to_string(),
            created_at_unix_ms: now_ms(),
            org: self.org.to_string(),
            node_id: self.node_id.to_string(),
            project_id: self.project_id.as_deref().unwrap_or_default().to_string(),
            key_id: self.key_id.to_string(),
            policy_id: self.policy_id.to_string(),
            model: self.model.clone(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            quota_subject: self.quota_subject().to_string(),
            charges,
        }
    }
}

/// The wire form of a decision record (SPEC §2.5).
pub fn decision_record(decision: &Decision) -> pb::DecisionRecord {
    pb::DecisionRecord {
        decision: decision.decision.name().to_string(),
        reason_code: decision.reason_code.name().to_string(),
        policy_id: decision.policy_id.to_string(),
        policy_name: decision.policy_name.to_string(),
        revision: decision.revision,
        triggered_categories: decision
            .triggered_categories
            .iter()
            .map(|c| c.name().to_string())
            .collect(),
        allowlist_hits: decision
            .allowlist_hits
            .iter()
            .map(|t| t.to_string())
            .collect(),
        denylist_hits: decision
            .denylist_hits
            .iter()
            .map(|t| t.to_string())
            .collect(),
        hard_block: decision.hard_block,
        off_topic: decision.off_topic,
        rollout_mode: decision.rollout_mode.name().to_string(),
        enforced: decision.enforced,
        redacted: decision.redacted,
        redaction_counts: decision
            .redaction_counts
            .iter()
            .map(|(kind, n)| (kind.name().to_string(), n))
            .collect(),
        reason_detail: match decision.reason_detail {
            Some(ReasonDetail::ModerationUnavailable) => "moderation_unavailable".to_string(),
            None => String::new(),
        },
    }
}

/// Tokens estimated from text when the upstream reports none (SPEC §4): about four bytes
/// of English per token, at least one for any text.
pub fn estimate_tokens(bytes: usize) -> u64 {
    if bytes == 0 {
        0
    } else {
        (bytes as u64).div_ceil(4)
    }
}
