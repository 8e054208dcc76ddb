//! The policy document (SPEC §1) as typed values, after validation.
//!
//! Documents arrive as JSON and go through [`crate::validate`], which reports every problem
//! at once with JSON pointers. These types are what validation produces; their serde form
//! (`deny_unknown_fields`, defaults filled in) is the canonical document, so a typo can
//! never deserialize into a silently ignored field.

use serde::{Deserialize, Serialize};

use crate::category::Category;

/// A validated policy document with every default made explicit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub policy_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub rules: Rules,
    #[serde(default)]
    pub org_controls: OrgControls,
    #[serde(default)]
    pub rollout: Rollout,
    #[serde(default)]
    pub refusal_replacement: RefusalReplacement,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    pub allowlist: Vec<String>,
    pub denylist: Vec<String>,
    pub redact: bool,
    pub rewrite_instead_of_refuse: bool,
    pub response_pattern: ResponsePattern,
    /// `None` means the policy did not restrict its codes (see [`Rules::allows_code`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_codes: Option<Vec<ReasonCode>>,
    pub flagged_categories: Vec<Category>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite_instruction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_instruction: Option<String>,
}

impl Rules {
    /// Whether the policy lets the gateway report `code`. Without an explicit list the five
    /// decision codes are allowed and `REDACT` is not: reporting redaction as its own code is
    /// an opt-in, because callers that branch on `ALLOW` would otherwise see a new value.
    pub fn allows_code(&self, code: ReasonCode) -> bool {
        match &self.reason_codes {
            Some(codes) => codes.contains(&code),
            None => code != ReasonCode::Redact,
        }
    }

    /// The decision a violation produces (SPEC §2.3): the response pattern, with `refuse`
    /// replaced by `rewrite` or by the replacement mode.
    pub fn violation_decision(&self, replacement: &RefusalReplacement) -> DecisionKind {
        match self.response_pattern {
            ResponsePattern::Rewrite => DecisionKind::Rewrite,
            ResponsePattern::Summary => DecisionKind::Summary,
            ResponsePattern::Escalate => DecisionKind::Escalate,
            ResponsePattern::Refuse if self.rewrite_instead_of_refuse => DecisionKind::Rewrite,
            ResponsePattern::Refuse => replacement.mode.decision(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponsePattern {
    Rewrite,
    Summary,
    Escalate,
    #[default]
    Refuse,
}

impl ResponsePattern {
    pub const NAMES: [&'static str; 4] = ["rewrite", "summary", "escalate", "refuse"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "rewrite" => Some(Self::Rewrite),
            "summary" => Some(Self::Summary),
            "escalate" => Some(Self::Escalate),
            "refuse" => Some(Self::Refuse),
            _ => None,
        }
    }
}

/// What the gateway does with a request (SPEC §2.4), lowercase on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    Allow,
    Rewrite,
    Summary,
    Escalate,
    Refuse,
}

impl DecisionKind {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Rewrite => "rewrite",
            Self::Summary => "summary",
            Self::Escalate => "escalate",
            Self::Refuse => "refuse",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "allow" => Some(Self::Allow),
            "rewrite" => Some(Self::Rewrite),
            "summary" => Some(Self::Summary),
            "escalate" => Some(Self::Escalate),
            "refuse" => Some(Self::Refuse),
            _ => None,
        }
    }

    /// The reason code a decision reports before redaction is considered.
    pub const fn reason_code(self) -> ReasonCode {
        match self {
            Self::Allow => ReasonCode::Allow,
            Self::Rewrite => ReasonCode::Rewrite,
            Self::Summary => ReasonCode::Summary,
            Self::Escalate => ReasonCode::Escalate,
            Self::Refuse => ReasonCode::Refuse,
        }
    }

    /// Whether the request goes to the upstream model at all.
    pub const fn is_forwarded(self) -> bool {
        match self {
            Self::Allow | Self::Rewrite | Self::Summary => true,
            Self::Escalate | Self::Refuse => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReasonCode {
    Allow,
    Rewrite,
    Summary,
    Escalate,
    Refuse,
    Redact,
}

impl ReasonCode {
    pub const NAMES: [&'static str; 6] = [
        "ALLOW", "REWRITE", "SUMMARY", "ESCALATE", "REFUSE", "REDACT",
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Allow => "ALLOW",
            Self::Rewrite => "REWRITE",
            Self::Summary => "SUMMARY",
            Self::Escalate => "ESCALATE",
            Self::Refuse => "REFUSE",
            Self::Redact => "REDACT",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ALLOW" => Some(Self::Allow),
            "REWRITE" => Some(Self::Rewrite),
            "SUMMARY" => Some(Self::Summary),
            "ESCALATE" => Some(Self::Escalate),
            "REFUSE" => Some(Self::Refuse),
            "REDACT" => Some(Self::Redact),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrgControls {
    pub project_keys: bool,
    pub user_quotas: bool,
    pub audit_logs: bool,
    pub data_classification: DataClassification,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_quota: Option<Quota>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_quota: Option<Quota>,
}

impl Default for OrgControls {
    fn default() -> Self {
        // Audit is on unless a policy turns it off: an operator should have to choose to
        // lose the trail, not choose to keep it.
        Self {
            project_keys: false,
            user_quotas: false,
            audit_logs: true,
            data_classification: DataClassification::default(),
            user_quota: None,
            project_quota: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataClassification {
    Public,
    #[default]
    Internal,
    Confidential,
    Restricted,
}

impl DataClassification {
    pub const NAMES: [&'static str; 4] = ["public", "internal", "confidential", "restricted"];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Confidential => "confidential",
            Self::Restricted => "restricted",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "public" => Some(Self::Public),
            "internal" => Some(Self::Internal),
            "confidential" => Some(Self::Confidential),
            "restricted" => Some(Self::Restricted),
            _ => None,
        }
    }
}

/// A request and token budget over one UTC window; an absent limit is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    pub window: crate::window::Window,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rollout {
    pub shadow: RolloutStage,
    pub canary: RolloutStage,
    pub rollback_on_spike: bool,
    pub rollback_threshold: f64,
    pub rollback_min_requests: u64,
    pub rollback_window_minutes: u64,
    pub rollback_cooldown_minutes: u64,
    pub rollback_decisions: Vec<DecisionKind>,
}

impl Rollout {
    /// A save under these settings starts a rollout instead of being promoted at once.
    pub fn is_staged(&self) -> bool {
        self.shadow.enabled || self.canary.enabled
    }
}

impl Default for Rollout {
    fn default() -> Self {
        Self {
            shadow: RolloutStage::default(),
            canary: RolloutStage::default(),
            rollback_on_spike: false,
            rollback_threshold: 0.25,
            rollback_min_requests: 20,
            rollback_window_minutes: 15,
            rollback_cooldown_minutes: 30,
            rollback_decisions: vec![DecisionKind::Refuse, DecisionKind::Escalate],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutStage {
    pub enabled: bool,
    pub sample_percent: f64,
    /// Normalized policy targets (SPEC §3.2); empty means every request is in scope.
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefusalReplacement {
    pub mode: ReplacementMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplacementMode {
    #[default]
    Refuse,
    Rewrite,
    Summary,
    Escalate,
}

impl ReplacementMode {
    pub const NAMES: [&'static str; 4] = ["refuse", "rewrite", "summary", "escalate"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "refuse" => Some(Self::Refuse),
            "rewrite" => Some(Self::Rewrite),
            "summary" => Some(Self::Summary),
            "escalate" => Some(Self::Escalate),
            _ => None,
        }
    }

    pub const fn decision(self) -> DecisionKind {
        match self {
            Self::Refuse => DecisionKind::Refuse,
            Self::Rewrite => DecisionKind::Rewrite,
            Self::Summary => DecisionKind::Summary,
            Self::Escalate => DecisionKind::Escalate,
        }
    }
}
