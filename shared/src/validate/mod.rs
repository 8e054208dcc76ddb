//! Validation of policy documents (SPEC §1.1): JSON in, a typed [`Policy`] out, or every
//! problem at once with a JSON pointer each. Never panics, whatever the input.

mod reader;
mod schema;

use std::collections::HashMap;

use serde_json::Value;

use crate::category::Category;
use crate::matcher::normalize_term;
use crate::model::{
    DataClassification, DecisionKind, OrgControls, Policy, Quota, ReasonCode, RefusalReplacement,
    ReplacementMode, ResponsePattern, Rollout, RolloutStage, Rules,
};
use crate::normalize;
use crate::window::Window;
use reader::{Object, Problems, kind};

pub use reader::ValidationError;
pub use schema::field_pointers;

pub const MAX_TERMS: usize = 10_000;
pub const MAX_TERM_CHARS: usize = 256;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TEXT_CHARS: usize = 4_000;
const MAX_ESCALATION_PATH_CHARS: usize = 256;

/// Parses and validates a policy document given as JSON text.
pub fn validate_json(text: &str) -> Result<Policy, Vec<ValidationError>> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => validate(&value),
        Err(e) => Err(vec![ValidationError {
            pointer: String::new(),
            message: format!("not valid JSON: {e}"),
        }]),
    }
}

/// Validates a policy document, filling in every default.
pub fn validate(doc: &Value) -> Result<Policy, Vec<ValidationError>> {
    let mut problems = Problems::default();
    if !doc.is_object() {
        problems.add(
            "",
            format!("a policy must be a JSON object, found {}", kind(doc)),
        );
        return Err(problems.into_errors());
    }
    let policy = read_policy(&mut problems, doc);
    match policy {
        Some(policy) if problems.is_empty() => Ok(policy),
        _ => Err(problems.into_errors()),
    }
}

fn read_policy(problems: &mut Problems, doc: &Value) -> Option<Policy> {
    let top = Object::read(problems, Some(doc), "", schema::TOP)?;
    let policy_id = read_policy_id(problems, &top);
    let name = top.required_text(problems, "name", MAX_NAME_CHARS);
    let owner = top.text(problems, "owner", MAX_NAME_CHARS);
    let description = top.text(problems, "description", MAX_TEXT_CHARS);
    let rules = read_rules(problems, top.get("rules"));
    let org_controls = read_org_controls(problems, top.get("org_controls"));
    let rollout = read_rollout(problems, top.get("rollout"));
    let refusal_replacement = read_refusal_replacement(problems, top.get("refusal_replacement"));
    let policy = Policy {
        policy_id: policy_id?,
        name: name?,
        owner,
        description,
        rules: rules?,
        org_controls: org_controls?,
        rollout: rollout?,
        refusal_replacement: refusal_replacement?,
    };
    check_consistency(problems, &policy);
    Some(policy)
}

fn read_policy_id(problems: &mut Problems, top: &Object<'_>) -> Option<String> {
    let pointer = top.pointer("policy_id");
    let Some(value) = top.get("policy_id") else {
        problems.add(&pointer, "is required");
        return None;
    };
    let Some(id) = value.as_str() else {
        problems.add(
            &pointer,
            format!("expected a string, found {}", kind(value)),
        );
        return None;
    };
    let valid = id.len() <= 64
        && id.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'_' || b == b'-'))
        })
        && !id.is_empty();
    if !valid {
        problems.add(
            &pointer,
            "must be a slug of 1-64 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit",
        );
        return None;
    }
    Some(id.to_string())
}

fn read_rules(problems: &mut Problems, value: Option<&Value>) -> Option<Rules> {
    let obj = Object::read(problems, value, "/rules", schema::RULES)?;
    let defaults = Rules::default();
    Some(Rules {
        allowlist: read_terms(problems, &obj, "allowlist"),
        denylist: read_terms(problems, &obj, "denylist"),
        redact: obj.bool_or(problems, "redact", defaults.redact),
        rewrite_instead_of_refuse: obj.bool_or(
            problems,
            "rewrite_instead_of_refuse",
            defaults.rewrite_instead_of_refuse,
        ),
        response_pattern: obj
            .choice(
                problems,
                "response_pattern",
                &ResponsePattern::NAMES,
                ResponsePattern::parse,
            )
            .unwrap_or_default(),
        reason_codes: read_reason_codes(problems, &obj),
        flagged_categories: read_categories(problems, &obj),
        rewrite_instruction: obj.text(problems, "rewrite_instruction", MAX_TEXT_CHARS),
        summary_instruction: obj.text(problems, "summary_instruction", MAX_TEXT_CHARS),
    })
}

/// A term list: trimmed, non-empty, bounded, and free of duplicates as the matcher sees them
/// (case-folded, whitespace collapsed), since a duplicate is always a mistake.
fn read_terms(problems: &mut Problems, obj: &Object<'_>, key: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let len = obj.array(problems, key, |problems, pointer, item| {
        let Some(raw) = item.as_str() else {
            problems.add(pointer, format!("expected a string, found {}", kind(item)));
            return;
        };
        let term = raw.trim();
        if term.is_empty() {
            problems.add(pointer, "terms must not be blank");
            return;
        }
        let chars = term.chars().count();
        if chars > MAX_TERM_CHARS {
            problems.add(
                pointer,
                format!("terms must be at most {MAX_TERM_CHARS} characters, found {chars}"),
            );
            return;
        }
        match seen.get(&normalize_term(term)) {
            Some(first) => problems.add(
                pointer,
                format!("duplicate of {first} ({term:?}; terms compare case-insensitively)"),
            ),
            None => {
                seen.insert(normalize_term(term), pointer.to_string());
                terms.push(term.to_string());
            }
        }
    });
    if let Some(len) = len.filter(|len| *len > MAX_TERMS) {
        problems.add(
            &obj.pointer(key),
            format!("at most {MAX_TERMS} terms are allowed, found {len}"),
        );
    }
    terms
}

fn read_reason_codes(problems: &mut Problems, obj: &Object<'_>) -> Option<Vec<ReasonCode>> {
    let mut codes = Vec::new();
    obj.array(
        problems,
        "reason_codes",
        |problems, pointer, item| match item.as_str().and_then(ReasonCode::parse) {
            Some(code) if codes.contains(&code) => {
                problems.add(pointer, format!("duplicate reason code {}", code.name()))
            }
            Some(code) => codes.push(code),
            None => problems.add(
                pointer,
                format!("expected one of {}", ReasonCode::NAMES.join(", ")),
            ),
        },
    )?;
    Some(codes)
}

fn read_categories(problems: &mut Problems, obj: &Object<'_>) -> Vec<Category> {
    let mut categories = Vec::new();
    obj.array(
        problems,
        "flagged_categories",
        |problems, pointer, item| match item.as_str().and_then(Category::parse) {
            Some(category) if categories.contains(&category) => {}
            Some(category) => categories.push(category),
            None => problems.add(
                pointer,
                format!(
                    "unknown moderation category {}; known: {}",
                    item.as_str()
                        .map_or_else(|| kind(item).to_string(), |s| format!("{s:?}")),
                    Category::known_names()
                ),
            ),
        },
    );
    categories.sort();
    categories
}

fn read_org_controls(problems: &mut Problems, value: Option<&Value>) -> Option<OrgControls> {
    let obj = Object::read(problems, value, "/org_controls", schema::ORG_CONTROLS)?;
    let defaults = OrgControls::default();
    Some(OrgControls {
        project_keys: obj.bool_or(problems, "project_keys", defaults.project_keys),
        user_quotas: obj.bool_or(problems, "user_quotas", defaults.user_quotas),
        audit_logs: obj.bool_or(problems, "audit_logs", defaults.audit_logs),
        data_classification: obj
            .choice(
                problems,
                "data_classification",
                &DataClassification::NAMES,
                DataClassification::parse,
            )
            .unwrap_or_default(),
        user_quota: read_quota(problems, &obj, "user_quota"),
        project_quota: read_quota(problems, &obj, "project_quota"),
    })
}

fn read_quota(problems: &mut Problems, parent: &Object<'_>, key: &str) -> Option<Quota> {
    let value = parent.get(key)?;
    let obj = Object::read(problems, Some(value), &parent.pointer(key), schema::QUOTA)?;
    let requests = obj.count(problems, "requests");
    let tokens = obj.count(problems, "tokens");
    // No default window: guessing daily or monthly would change a limit's meaning 30-fold.
    if obj.get("window").is_none() {
        problems.add(
            &obj.pointer("window"),
            format!("is required: one of {}", Window::NAMES.join(", ")),
        );
    }
    let window = obj.choice(problems, "window", &Window::NAMES, Window::parse)?;
    Some(Quota {
        requests,
        tokens,
        window,
    })
}

fn read_rollout(problems: &mut Problems, value: Option<&Value>) -> Option<Rollout> {
    let obj = Object::read(problems, value, "/rollout", schema::ROLLOUT)?;
    let defaults = Rollout::default();
    let shadow = read_stage(problems, &obj, "shadow");
    let canary = read_stage(problems, &obj, "canary");
    let rollback_on_spike = obj.bool_or(problems, "rollback_on_spike", defaults.rollback_on_spike);
    let mut rollback_decisions = Vec::new();
    let given = obj.array(
        problems,
        "rollback_decisions",
        |problems, pointer, item| match item.as_str().and_then(DecisionKind::parse) {
            Some(DecisionKind::Allow) | None => problems.add(
                pointer,
                "expected one of rewrite, summary, escalate, refuse",
            ),
            Some(decision) if rollback_decisions.contains(&decision) => {}
            Some(decision) => rollback_decisions.push(decision),
        },
    );
    if given.is_none() {
        rollback_decisions = defaults.rollback_decisions;
    } else if given == Some(0) && rollback_on_spike {
        problems.add(
            &obj.pointer("rollback_decisions"),
            "must name at least one decision while rollback_on_spike is true",
        );
    }
    Some(Rollout {
        shadow: shadow?,
        canary: canary?,
        rollback_on_spike,
        rollback_threshold: obj
            .number_in(problems, "rollback_threshold", 0.0, 1.0)
            .unwrap_or(defaults.rollback_threshold),
        rollback_min_requests: obj.positive_or(
            problems,
            "rollback_min_requests",
            defaults.rollback_min_requests,
        ),
        rollback_window_minutes: obj.positive_or(
            problems,
            "rollback_window_minutes",
            defaults.rollback_window_minutes,
        ),
        rollback_cooldown_minutes: obj.positive_or(
            problems,
            "rollback_cooldown_minutes",
            defaults.rollback_cooldown_minutes,
        ),
        rollback_decisions,
    })
}

fn read_stage(problems: &mut Problems, parent: &Object<'_>, key: &str) -> Option<RolloutStage> {
    let obj = Object::read(
        problems,
        parent.get(key),
        &parent.pointer(key),
        schema::STAGE,
    )?;
    let enabled = obj.bool_or(problems, "enabled", false);
    let sample_percent = obj.number_in(problems, "sample_percent", 0.0, 100.0);
    // An enabled stage without a share would either do nothing or take all traffic; both
    // are surprises, so the operator has to say which.
    if enabled && obj.get("sample_percent").is_none() {
        problems.add(
            &obj.pointer("sample_percent"),
            "is required when the stage is enabled",
        );
    }
    let mut targets: Vec<String> = Vec::new();
    obj.array(problems, "targets", |problems, pointer, item| {
        match item.as_str().and_then(normalize::target) {
            Some(target) if targets.contains(&target) => {}
            Some(target) => targets.push(target),
            None => problems.add(pointer, "expected a non-blank string"),
        }
    });
    Some(RolloutStage {
        enabled,
        sample_percent: sample_percent.unwrap_or(0.0),
        targets,
    })
}

fn read_refusal_replacement(
    problems: &mut Problems,
    value: Option<&Value>,
) -> Option<RefusalReplacement> {
    let obj = Object::read(
        problems,
        value,
        "/refusal_replacement",
        schema::REFUSAL_REPLACEMENT,
    )?;
    Some(RefusalReplacement {
        mode: obj
            .choice(
                problems,
                "mode",
                &ReplacementMode::NAMES,
                ReplacementMode::parse,
            )
            .unwrap_or_default(),
        escalation_path: obj.text(problems, "escalation_path", MAX_ESCALATION_PATH_CHARS),
        message: obj.text(problems, "message", MAX_TEXT_CHARS),
    })
}

/// Rules that tie fields together; only checked once each field is valid on its own.
fn check_consistency(problems: &mut Problems, policy: &Policy) {
    let rules = &policy.rules;
    let replacement = &policy.refusal_replacement;
    if rules.rewrite_instead_of_refuse
        && !matches!(
            replacement.mode,
            ReplacementMode::Rewrite | ReplacementMode::Refuse
        )
    {
        problems.add(
            "/rules/rewrite_instead_of_refuse",
            format!(
                "conflicts with refusal_replacement.mode {:?}: rewrite_instead_of_refuse already replaces refusals with rewrites; set one or the other",
                replacement.mode.decision().name()
            ),
        );
        return;
    }
    let violation = rules.violation_decision(replacement);
    if violation == DecisionKind::Escalate && replacement.escalation_path.is_none() {
        problems.add(
            "/refusal_replacement/escalation_path",
            "is required because violations are escalated under this policy",
        );
    }
    if let Some(codes) = &rules.reason_codes {
        for required in [ReasonCode::Allow, violation.reason_code()] {
            if !codes.contains(&required) {
                problems.add(
                    "/rules/reason_codes",
                    format!(
                        "must contain {}{}",
                        required.name(),
                        if required == ReasonCode::Allow {
                            String::new()
                        } else {
                            format!(
                                ", the code a violation produces under this policy ({})",
                                violation.name()
                            )
                        }
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
