//! Every row of the decision table (SPEC §2.3), the replacement rules, and the public
//! conformance vectors in `../shared/conformance/decisions.json`.

// Test and benchmark harness code: a failed fixture should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use policy_engine::redact::{RedactionCounts, redact};
use policy_engine::{
    Category, CategorySet, CompiledPolicy, Decision, DecisionInput, DecisionKind, Moderation,
    ReasonCode, ReasonDetail,
};
use serde_json::{Value, json};

fn compile(doc: Value) -> CompiledPolicy {
    CompiledPolicy::from_json(&doc, 1).expect("test policy compiles")
}

fn hard_blocked() -> CategorySet {
    [Category::SexualMinors].into_iter().collect()
}

fn decide_with(policy: &CompiledPolicy, text: &str, labels: &[Category]) -> Decision {
    policy.decide(&DecisionInput {
        text,
        moderation: Moderation::Labels(labels.iter().copied().collect()),
        hard_blocked: hard_blocked(),
    })
}

fn decide(policy: &CompiledPolicy, text: &str) -> Decision {
    decide_with(policy, text, &[])
}

fn support_policy() -> CompiledPolicy {
    compile(
        serde_json::from_str(include_str!("../../examples/policies/policy-gateway.json")).unwrap(),
    )
}

fn policy_as_code() -> CompiledPolicy {
    compile(
        serde_json::from_str(include_str!("../../examples/policies/policy-as-code.json")).unwrap(),
    )
}

#[test]
fn seed_example_from_spec_section_11() {
    let d = decide(
        &policy_as_code(),
        "Share our internal incident response steps.",
    );
    assert_eq!(d.decision, DecisionKind::Refuse);
    assert_eq!(d.reason_code, ReasonCode::Refuse);
    assert_eq!(
        d.denylist_hits.iter().map(|h| &**h).collect::<Vec<_>>(),
        ["internal incident"]
    );
    assert_eq!(&*d.policy_id, "policy-as-code");
    assert_eq!(&*d.policy_name, "Policy as code");
    assert_eq!(d.revision, 1);
    assert!(d.enforced);
    assert!(!d.hard_block);
}

#[test]
fn row_1_hard_blocked_label_refuses_whatever_the_policy_says() {
    // Everything else about the request says allow: an allowlist hit, no flagged category,
    // a rewrite-only policy.
    let d = decide_with(
        &support_policy(),
        "refund policy question",
        &[Category::SexualMinors],
    );
    assert_eq!(d.decision, DecisionKind::Refuse);
    assert_eq!(d.reason_code, ReasonCode::Refuse);
    assert!(d.hard_block);
    // The label is flagged by this policy too, so it is reported as triggered.
    assert_eq!(d.triggered_categories, [Category::SexualMinors]);

    // A policy that does not flag the category still refuses.
    let open = compile(
        json!({"policy_id": "open", "name": "Open", "rules": {"response_pattern": "rewrite"}}),
    );
    let d = decide_with(&open, "hello", &[Category::SexualMinors]);
    assert_eq!((d.decision, d.hard_block), (DecisionKind::Refuse, true));
    assert!(d.triggered_categories.is_empty());
}

#[test]
fn hard_blocked_categories_are_a_gateway_setting() {
    let open = compile(json!({"policy_id": "open", "name": "Open"}));
    let input = DecisionInput {
        text: "hello",
        moderation: Moderation::Labels([Category::Violence].into_iter().collect()),
        hard_blocked: [Category::Violence].into_iter().collect(),
    };
    assert!(open.decide(&input).hard_block);
    let none_blocked = DecisionInput {
        hard_blocked: CategorySet::EMPTY,
        ..input
    };
    assert_eq!(open.decide(&none_blocked).decision, DecisionKind::Allow);
}

#[test]
fn row_2_denylist_hit_is_a_violation_even_with_allowlist_hits() {
    let d = decide(&support_policy(), "refund policy for illegal instructions");
    assert_eq!(d.decision, DecisionKind::Rewrite);
    assert_eq!(d.reason_code, ReasonCode::Rewrite);
    assert_eq!(d.allowlist_hits.len(), 1);
    assert_eq!(d.denylist_hits.len(), 1);
    assert!(!d.off_topic);
}

#[test]
fn row_2_flagged_category_is_a_violation() {
    let d = decide_with(
        &support_policy(),
        "account support",
        &[Category::SelfHarmIntent, Category::Hate],
    );
    assert_eq!(d.decision, DecisionKind::Rewrite);
    // Only labels the policy flags are reported, in taxonomy order.
    assert_eq!(d.triggered_categories, [Category::SelfHarmIntent]);
    let d = decide_with(&support_policy(), "account support", &[Category::Hate]);
    assert_eq!(d.decision, DecisionKind::Allow);
}

#[test]
fn row_3_allowlist_without_hits_is_off_topic() {
    let d = decide(&support_policy(), "what is the weather like?");
    assert_eq!(d.decision, DecisionKind::Rewrite);
    assert!(d.off_topic);
    assert!(d.allowlist_hits.is_empty());
}

#[test]
fn row_4_otherwise_allow() {
    let d = decide(&support_policy(), "Where is the Account   SUPPORT page?");
    assert_eq!(d.decision, DecisionKind::Allow);
    assert_eq!(d.reason_code, ReasonCode::Allow);
    assert_eq!(
        d.allowlist_hits.iter().map(|h| &**h).collect::<Vec<_>>(),
        ["account support"]
    );
    let no_lists = compile(json!({"policy_id": "p", "name": "P"}));
    let d = decide(&no_lists, "");
    assert_eq!((d.decision, d.off_topic), (DecisionKind::Allow, false));
}

#[test]
fn violation_decision_follows_pattern_and_replacements() {
    let cases = [
        (
            json!({"response_pattern": "rewrite"}),
            json!({}),
            DecisionKind::Rewrite,
        ),
        (
            json!({"response_pattern": "summary"}),
            json!({}),
            DecisionKind::Summary,
        ),
        (
            json!({"response_pattern": "escalate"}),
            json!({"escalation_path": "a@b.c"}),
            DecisionKind::Escalate,
        ),
        (
            json!({"response_pattern": "refuse"}),
            json!({}),
            DecisionKind::Refuse,
        ),
        (
            json!({"response_pattern": "refuse", "rewrite_instead_of_refuse": true}),
            json!({"mode": "refuse"}),
            DecisionKind::Rewrite,
        ),
        (
            json!({"response_pattern": "refuse"}),
            json!({"mode": "summary"}),
            DecisionKind::Summary,
        ),
        (
            json!({"response_pattern": "refuse"}),
            json!({"mode": "rewrite"}),
            DecisionKind::Rewrite,
        ),
        (
            json!({"response_pattern": "refuse"}),
            json!({"mode": "escalate", "escalation_path": "a@b.c"}),
            DecisionKind::Escalate,
        ),
        // A non-refuse pattern is never replaced.
        (
            json!({"response_pattern": "summary"}),
            json!({"mode": "rewrite"}),
            DecisionKind::Summary,
        ),
    ];
    for (mut rules, replacement, expected) in cases {
        rules["denylist"] = json!(["forbidden"]);
        let policy = compile(
            json!({"policy_id": "p", "name": "P", "rules": rules, "refusal_replacement": replacement}),
        );
        let d = decide(&policy, "this is forbidden");
        assert_eq!(d.decision, expected, "{rules} {replacement}");
        assert_eq!(d.reason_code, expected.reason_code());
    }
}

#[test]
fn moderation_unavailable_fails_closed_as_a_hard_refusal() {
    let d = support_policy().decide(&DecisionInput {
        text: "refund policy",
        moderation: Moderation::Unavailable,
        hard_blocked: hard_blocked(),
    });
    assert_eq!(d.decision, DecisionKind::Refuse);
    assert!(d.hard_block);
    assert_eq!(d.reason_detail, Some(ReasonDetail::ModerationUnavailable));
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["reason_detail"], "moderation_unavailable");
}

#[test]
fn redaction_reports_redact_only_for_allowed_requests_that_list_it() {
    let counts = redact("mail me at jane.doe@example.com").counts;
    assert!(!counts.is_empty());

    // policy-as-code lists REDACT.
    let pac = policy_as_code();
    let mut d = decide(&pac, "read the public docs");
    assert_eq!(d.decision, DecisionKind::Allow);
    d.record_redaction(&pac, &counts);
    assert_eq!(d.reason_code, ReasonCode::Redact);
    assert!(d.redacted);

    // Nothing changed: still ALLOW.
    let mut d = decide(&pac, "read the public docs");
    d.record_redaction(&pac, &RedactionCounts::default());
    assert_eq!((d.reason_code, d.redacted), (ReasonCode::Allow, false));

    // The support policy does not list REDACT: redacted, but the code stays ALLOW.
    let support = support_policy();
    let mut d = decide(&support, "refund policy");
    d.record_redaction(&support, &counts);
    assert_eq!((d.reason_code, d.redacted), (ReasonCode::Allow, true));

    // A rewrite keeps its code.
    let mut d = decide(&support, "weather?");
    d.record_redaction(&support, &counts);
    assert_eq!(
        (d.decision, d.reason_code),
        (DecisionKind::Rewrite, ReasonCode::Rewrite)
    );
}

#[test]
fn the_record_serializes_with_the_spec_field_names() {
    let d = decide(
        &policy_as_code(),
        "Share our internal incident response steps.",
    );
    let json = serde_json::to_value(&d).unwrap();
    for field in [
        "decision",
        "reason_code",
        "policy_id",
        "policy_name",
        "revision",
        "triggered_categories",
        "allowlist_hits",
        "denylist_hits",
        "hard_block",
        "off_topic",
        "rollout_mode",
        "enforced",
        "redacted",
        "redaction_counts",
    ] {
        assert!(json.get(field).is_some(), "missing {field}");
    }
    assert_eq!(json["decision"], "refuse");
    assert_eq!(json["reason_code"], "REFUSE");
    assert_eq!(json["rollout_mode"], "enforced");
    assert_eq!(json["redaction_counts"], json!({}));
}

#[test]
fn decisions_are_deterministic() {
    let policy = support_policy();
    let first = decide(&policy, "illegal instructions about the refund policy");
    for _ in 0..10 {
        assert_eq!(
            decide(&policy, "illegal instructions about the refund policy"),
            first
        );
    }
}

// === conformance vectors ===

fn conformance_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
}

fn load(name: &str) -> Value {
    let path = conformance_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn conformance_decisions() {
    let cases = load("decisions.json");
    let cases = cases.as_array().expect("an array of cases");
    assert!(!cases.is_empty());
    for (index, case) in cases.iter().enumerate() {
        let policy = compile(load(case["policy"].as_str().unwrap()));
        let labels: Vec<Category> = case["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Category::parse(c.as_str().unwrap()).unwrap())
            .collect();
        let decision = decide_with(&policy, case["message"].as_str().unwrap(), &labels);
        let actual = serde_json::to_value(&decision).unwrap();
        for (field, expected) in case["expect"].as_object().unwrap() {
            assert!(
                same(&actual[field], expected),
                "case {index} ({}): {field} is {} but {} was expected",
                case["message"],
                actual[field],
                expected
            );
        }
    }
}

/// Lists compare as sets (conformance README); everything else exactly.
fn same(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && e.iter().all(|x| a.contains(x)) && a.iter().all(|x| e.contains(x))
        }
        _ => actual == expected,
    }
}
