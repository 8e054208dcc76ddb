//! The fields a policy document may contain. The validator rejects anything else, and the
//! documentation test checks `docs/policy-reference.md` against [`field_pointers`], so the
//! reference cannot drift from what is enforced.

pub(crate) const TOP: &[&str] = &[
    "policy_id",
    "name",
    "owner",
    "description",
    "rules",
    "org_controls",
    "rollout",
    "refusal_replacement",
];
pub(crate) const RULES: &[&str] = &[
    "allowlist",
    "denylist",
    "redact",
    "rewrite_instead_of_refuse",
    "response_pattern",
    "reason_codes",
    "flagged_categories",
    "rewrite_instruction",
    "summary_instruction",
];
pub(crate) const ORG_CONTROLS: &[&str] = &[
    "project_keys",
    "user_quotas",
    "audit_logs",
    "data_classification",
    "user_quota",
    "project_quota",
];
pub(crate) const QUOTA: &[&str] = &["requests", "tokens", "window"];
pub(crate) const ROLLOUT: &[&str] = &[
    "shadow",
    "canary",
    "rollback_on_spike",
    "rollback_threshold",
    "rollback_min_requests",
    "rollback_window_minutes",
    "rollback_cooldown_minutes",
    "rollback_decisions",
];
pub(crate) const STAGE: &[&str] = &["enabled", "sample_percent", "targets"];
pub(crate) const REFUSAL_REPLACEMENT: &[&str] = &["mode", "escalation_path", "message"];

/// Every field a document may hold, as JSON pointers (`/rules/allowlist`, ...).
pub fn field_pointers() -> Vec<String> {
    let mut out = Vec::new();
    let mut nest = |prefix: &str, fields: &[&str]| {
        out.extend(fields.iter().map(|f| format!("{prefix}/{f}")));
    };
    nest("", TOP);
    nest("/rules", RULES);
    nest("/org_controls", ORG_CONTROLS);
    nest("/org_controls/user_quota", QUOTA);
    nest("/org_controls/project_quota", QUOTA);
    nest("/rollout", ROLLOUT);
    nest("/rollout/shadow", STAGE);
    nest("/rollout/canary", STAGE);
    nest("/refusal_replacement", REFUSAL_REPLACEMENT);
    out
}
