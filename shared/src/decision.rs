//! The decision table (SPEC §2.3) and the decision record (SPEC §2.5).

use std::sync::Arc;

use serde::Serialize;

use crate::category::{Category, CategorySet};
use crate::compile::CompiledPolicy;
use crate::model::{DecisionKind, ReasonCode};
use crate::redact::RedactionCounts;

/// What moderation said about the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderation {
    /// Labels from the configured provider (empty with provider `none`).
    Labels(CategorySet),
    /// The provider failed and the gateway is configured to fail closed.
    Unavailable,
}

/// Everything one decision depends on besides the policy.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    /// The text of the last user message (SPEC §2).
    pub text: &'a str,
    pub moderation: Moderation,
    /// Categories the gateway refuses whatever the policy says (SPEC §2.2).
    pub hard_blocked: CategorySet,
}

/// Which arm of a rollout produced a decision (SPEC §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutMode {
    Enforced,
    Canary,
    Shadow,
}

impl RolloutMode {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Enforced => "enforced",
            Self::Canary => "canary",
            Self::Shadow => "shadow",
        }
    }
}

/// Why a decision was taken beyond the table's own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonDetail {
    /// Moderation failed and the gateway fails closed (SPEC §2.2).
    ModerationUnavailable,
}

/// The decision record (SPEC §2.5): returned to callers, written to history, traced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub decision: DecisionKind,
    pub reason_code: ReasonCode,
    pub policy_id: Arc<str>,
    pub policy_name: Arc<str>,
    pub revision: u64,
    pub triggered_categories: Vec<Category>,
    pub allowlist_hits: Vec<Arc<str>>,
    pub denylist_hits: Vec<Arc<str>>,
    pub hard_block: bool,
    pub off_topic: bool,
    pub rollout_mode: RolloutMode,
    pub enforced: bool,
    pub redacted: bool,
    pub redaction_counts: RedactionCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_detail: Option<ReasonDetail>,
}

impl Decision {
    /// Records what redaction did to the forwarded response (SPEC §2.4): an allowed request
    /// whose output changed reports `REDACT` when the policy lists that code.
    pub fn record_redaction(&mut self, policy: &CompiledPolicy, counts: &RedactionCounts) {
        self.redaction_counts.add(counts);
        self.redacted = !self.redaction_counts.is_empty();
        if self.redacted
            && self.decision == DecisionKind::Allow
            && policy.policy().rules.allows_code(ReasonCode::Redact)
        {
            self.reason_code = ReasonCode::Redact;
        }
    }
}

/// Applies the decision table of SPEC §2.3 for one revision; the first matching row wins.
pub(crate) fn decide(
    policy: &CompiledPolicy,
    input: &DecisionInput<'_>,
    mode: RolloutMode,
) -> Decision {
    let hits = policy.terms().find(input.text);
    let labels = match input.moderation {
        Moderation::Labels(labels) => labels,
        Moderation::Unavailable => CategorySet::EMPTY,
    };
    let triggered = labels.intersection(policy.flagged());
    let hard_blocked = !labels.intersection(input.hard_blocked).is_empty();
    let unavailable = input.moderation == Moderation::Unavailable;
    let off_topic = policy.terms().has_allowlist() && hits.allow.is_empty();
    let violation = !hits.deny.is_empty() || !triggered.is_empty() || off_topic;

    let decision = if hard_blocked || unavailable {
        DecisionKind::Refuse
    } else if violation {
        policy.violation_decision()
    } else {
        DecisionKind::Allow
    };
    Decision {
        decision,
        reason_code: decision.reason_code(),
        policy_id: policy.policy_id().clone(),
        policy_name: policy.policy_name().clone(),
        revision: policy.revision(),
        triggered_categories: triggered.iter().collect(),
        allowlist_hits: hits.allow,
        denylist_hits: hits.deny,
        hard_block: hard_blocked || unavailable,
        off_topic,
        rollout_mode: mode,
        enforced: mode != RolloutMode::Shadow,
        redacted: false,
        redaction_counts: RedactionCounts::default(),
        reason_detail: unavailable.then_some(ReasonDetail::ModerationUnavailable),
    }
}
