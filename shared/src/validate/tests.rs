use serde_json::{Value, json};

use super::*;

const SUPPORT: &str = include_str!("../../../examples/policies/policy-gateway.json");
const POLICY_AS_CODE: &str = include_str!("../../../examples/policies/policy-as-code.json");

fn minimal() -> Value {
    json!({"policy_id": "p", "name": "P"})
}

/// `minimal()` with `patch` merged in at the top level (objects merged one level deep).
fn with(patch: Value) -> Value {
    let mut doc = minimal();
    let (Value::Object(doc_map), Value::Object(patch_map)) = (&mut doc, patch) else {
        unreachable!("both are objects");
    };
    for (key, value) in patch_map {
        doc_map.insert(key, value);
    }
    doc
}

fn errors(doc: Value) -> Vec<(String, String)> {
    validate(&doc)
        .expect_err("document should be invalid")
        .into_iter()
        .map(|e| (e.pointer, e.message))
        .collect()
}

fn pointers(doc: Value) -> Vec<String> {
    errors(doc).into_iter().map(|(p, _)| p).collect()
}

#[test]
fn both_seed_policies_validate_unchanged() {
    let support = validate_json(SUPPORT).unwrap();
    assert_eq!(support.policy_id, "policy-gateway");
    assert_eq!(support.rules.response_pattern, ResponsePattern::Rewrite);
    let pac = validate_json(POLICY_AS_CODE).unwrap();
    assert_eq!(pac.rollout.canary.targets, ["knowledge-bot"]);
    assert!(pac.rollout.is_staged());
}

#[test]
fn defaults_are_filled_in() {
    let policy = validate(&minimal()).unwrap();
    assert_eq!(policy.rules.response_pattern, ResponsePattern::Refuse);
    assert_eq!(policy.refusal_replacement.mode, ReplacementMode::Refuse);
    assert!(policy.org_controls.audit_logs);
    assert!(!policy.rules.redact);
    assert!(!policy.rollout.is_staged());
    assert_eq!(
        policy.rollout.rollback_decisions,
        [DecisionKind::Refuse, DecisionKind::Escalate]
    );
}

#[test]
fn the_canonical_form_round_trips_through_serde() {
    let policy = validate_json(SUPPORT).unwrap();
    let canonical = serde_json::to_value(&policy).unwrap();
    assert_eq!(validate(&canonical).unwrap(), policy);
    let typed: Policy = serde_json::from_value(canonical).unwrap();
    assert_eq!(typed, policy);
}

#[test]
fn policy_id_must_be_a_slug() {
    for bad in [
        json!("Upper"),
        json!("-lead"),
        json!(""),
        json!("a".repeat(65)),
        json!("a b"),
        json!(7),
    ] {
        assert_eq!(
            pointers(with(json!({"policy_id": bad}))),
            ["/policy_id"],
            "{bad}"
        );
    }
    for good in ["a", "a_b-c", "0abc", &"a".repeat(64)] {
        assert!(
            validate(&with(json!({"policy_id": good}))).is_ok(),
            "{good}"
        );
    }
    assert_eq!(pointers(json!({"name": "x"})), ["/policy_id"]);
}

#[test]
fn name_is_required_and_bounded() {
    assert_eq!(pointers(json!({"policy_id": "p"})), ["/name"]);
    assert_eq!(pointers(with(json!({"name": "  "}))), ["/name"]);
    assert_eq!(pointers(with(json!({"name": "n".repeat(201)}))), ["/name"]);
    assert!(validate(&with(json!({"name": "n".repeat(200)}))).is_ok());
}

#[test]
fn every_violation_is_reported_at_once() {
    let doc = json!({
        "policy_id": "Bad Id",
        "rules": {"response_pattern": "ignore", "allowlist": "refunds"},
        "org_controls": {"data_classification": "secret"},
        "rollout": {"rollback_threshold": 2}
    });
    assert_eq!(
        pointers(doc),
        [
            "/policy_id",
            "/name",
            "/rules/allowlist",
            "/rules/response_pattern",
            "/org_controls/data_classification",
            "/rollout/rollback_threshold"
        ]
    );
}

#[test]
fn response_pattern_error_names_the_choices() {
    let errs = errors(with(json!({"rules": {"response_pattern": "ignore"}})));
    assert_eq!(
        errs,
        [(
            "/rules/response_pattern".to_string(),
            "expected one of rewrite, summary, escalate, refuse".to_string()
        )]
    );
}

#[test]
fn unknown_fields_are_errors_with_a_suggestion() {
    let errs = errors(with(
        json!({"rules": {"respons_pattern": "refuse"}, "extra": 1}),
    ));
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0].0, "/extra");
    assert_eq!(errs[1].0, "/rules/respons_pattern");
    assert!(
        errs[1].1.contains("did you mean \"response_pattern\""),
        "{}",
        errs[1].1
    );
    // Unknown keys at every level.
    for doc in [
        json!({"org_controls": {"user_quota": {"window": "daily", "request": 5}}}),
        json!({"rollout": {"canary": {"enable": true}}}),
        json!({"refusal_replacement": {"mod": "refuse"}}),
    ] {
        assert_eq!(errors(with(doc)).len(), 1);
    }
}

#[test]
fn pointers_escape_slashes_and_tildes() {
    assert_eq!(pointers(with(json!({"a/b~c": 1}))), ["/a~1b~0c"]);
}

#[test]
fn term_lists_are_trimmed_bounded_and_free_of_duplicates() {
    let policy = validate(&with(
        json!({"rules": {"allowlist": ["  refund policy  "]}}),
    ))
    .unwrap();
    assert_eq!(policy.rules.allowlist, ["refund policy"]);

    let errs = errors(with(json!({"rules": {
        "allowlist": ["ok", "", 3, "t".repeat(257), "Refund  Policy", "refund policy"],
        "denylist": ["x"]
    }})));
    let ptrs: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        ptrs,
        [
            "/rules/allowlist/1",
            "/rules/allowlist/2",
            "/rules/allowlist/3",
            "/rules/allowlist/5"
        ]
    );
    assert!(
        errs[3].1.contains("duplicate of /rules/allowlist/4"),
        "{}",
        errs[3].1
    );

    let too_many: Vec<String> = (0..=MAX_TERMS).map(|i| format!("term {i}")).collect();
    assert_eq!(
        pointers(with(json!({"rules": {"denylist": too_many}}))),
        ["/rules/denylist"]
    );
    let exactly: Vec<String> = (0..MAX_TERMS).map(|i| format!("term {i}")).collect();
    assert!(validate(&with(json!({"rules": {"denylist": exactly}}))).is_ok());
}

#[test]
fn long_error_lists_are_capped_with_a_summary() {
    let bad: Vec<i32> = (0..1000).collect();
    let errs = errors(with(json!({"rules": {"denylist": bad}})));
    assert_eq!(errs.len(), 201);
    assert_eq!(errs[200].1, "800 more problems not listed");
}

#[test]
fn reason_codes_must_be_known_and_cover_allow_and_the_violation() {
    assert_eq!(
        pointers(with(
            json!({"rules": {"reason_codes": ["ALLOW", "REFUSE", "NOPE"]}})
        )),
        ["/rules/reason_codes/2"]
    );
    let errs = errors(with(json!({"rules": {"reason_codes": ["REFUSE"]}})));
    assert_eq!(
        errs,
        [(
            "/rules/reason_codes".to_string(),
            "must contain ALLOW".to_string()
        )]
    );
    // The violation code follows the replacement rules of §2.3.
    let errs = errors(with(
        json!({"rules": {"reason_codes": ["ALLOW", "REFUSE"], "response_pattern": "summary"}}),
    ));
    assert!(errs[0].1.starts_with("must contain SUMMARY"), "{:?}", errs);
    let errs = errors(with(
        json!({"rules": {"reason_codes": ["ALLOW", "REFUSE"], "rewrite_instead_of_refuse": true}}),
    ));
    assert!(errs[0].1.starts_with("must contain REWRITE"), "{:?}", errs);
    assert!(validate(&with(json!({"rules": {"reason_codes": ["ALLOW", "REWRITE"], "rewrite_instead_of_refuse": true}}))).is_ok());
    assert_eq!(
        pointers(with(
            json!({"rules": {"reason_codes": ["ALLOW", "ALLOW", "REFUSE"]}})
        )),
        ["/rules/reason_codes/1"]
    );
}

#[test]
fn unknown_categories_list_the_known_ones() {
    let errs = errors(with(
        json!({"rules": {"flagged_categories": ["hate", "gore"]}}),
    ));
    assert_eq!(errs[0].0, "/rules/flagged_categories/1");
    assert!(errs[0].1.contains("\"gore\""));
    assert!(errs[0].1.contains("self-harm/instructions"));
    let policy = validate(&with(
        json!({"rules": {"flagged_categories": ["violence", "hate", "hate"]}}),
    ))
    .unwrap();
    assert_eq!(
        policy.rules.flagged_categories,
        [Category::Hate, Category::Violence]
    );
}

#[test]
fn data_classification_is_one_of_four() {
    for good in DataClassification::NAMES {
        assert!(
            validate(&with(
                json!({"org_controls": {"data_classification": good}})
            ))
            .is_ok()
        );
    }
    assert_eq!(
        pointers(with(
            json!({"org_controls": {"data_classification": "Public"}})
        )),
        ["/org_controls/data_classification"]
    );
}

#[test]
fn quotas_take_non_negative_integers_and_a_window() {
    let ok = validate(&with(
        json!({"org_controls": {"user_quota": {"requests": 0, "window": "weekly"}}}),
    ))
    .unwrap();
    assert_eq!(ok.org_controls.user_quota.unwrap().requests, Some(0));
    assert_eq!(ok.org_controls.user_quota.unwrap().tokens, None);
    assert_eq!(
        pointers(with(
            json!({"org_controls": {"user_quota": {"requests": -1, "tokens": 1.5, "window": "hourly"}}})
        )),
        [
            "/org_controls/user_quota/requests",
            "/org_controls/user_quota/tokens",
            "/org_controls/user_quota/window"
        ]
    );
    assert_eq!(
        pointers(with(
            json!({"org_controls": {"project_quota": {"requests": 5}}})
        )),
        ["/org_controls/project_quota/window"]
    );
    assert_eq!(
        pointers(with(json!({"org_controls": {"project_quota": "lots"}}))),
        ["/org_controls/project_quota"]
    );
}

#[test]
fn rollout_numbers_are_range_checked() {
    let cases = [
        (
            json!({"shadow": {"sample_percent": 100.5}}),
            "/rollout/shadow/sample_percent",
        ),
        (
            json!({"canary": {"sample_percent": -1}}),
            "/rollout/canary/sample_percent",
        ),
        (
            json!({"rollback_threshold": 1.01}),
            "/rollout/rollback_threshold",
        ),
        (
            json!({"rollback_min_requests": 0}),
            "/rollout/rollback_min_requests",
        ),
        (
            json!({"rollback_window_minutes": 1.5}),
            "/rollout/rollback_window_minutes",
        ),
        (
            json!({"rollback_cooldown_minutes": "30"}),
            "/rollout/rollback_cooldown_minutes",
        ),
        (
            json!({"rollback_decisions": ["allow"]}),
            "/rollout/rollback_decisions/0",
        ),
        (
            json!({"rollback_decisions": [], "rollback_on_spike": true}),
            "/rollout/rollback_decisions",
        ),
        (
            json!({"canary": {"enabled": true}}),
            "/rollout/canary/sample_percent",
        ),
        (
            json!({"shadow": {"enabled": true, "sample_percent": 5, "targets": [" "]}}),
            "/rollout/shadow/targets/0",
        ),
    ];
    for (rollout, pointer) in cases {
        assert_eq!(
            pointers(with(json!({"rollout": rollout.clone()}))),
            [pointer],
            "{rollout}"
        );
    }
    let ok = validate(&with(json!({"rollout": {
        "canary": {"enabled": true, "sample_percent": 12.5, "targets": ["Knowledge  Bot", "knowledge bot"]},
        "rollback_threshold": 0, "rollback_decisions": ["summary"]
    }})))
    .unwrap();
    assert_eq!(ok.rollout.canary.sample_percent, 12.5);
    assert_eq!(ok.rollout.canary.targets, ["knowledge bot"]);
}

#[test]
fn rewrite_instead_of_refuse_conflicts_with_other_replacement_modes() {
    for mode in ["summary", "escalate"] {
        let doc = with(json!({
            "rules": {"rewrite_instead_of_refuse": true},
            "refusal_replacement": {"mode": mode, "escalation_path": "x@example.com"}
        }));
        assert_eq!(
            pointers(doc),
            ["/rules/rewrite_instead_of_refuse"],
            "{mode}"
        );
    }
    for mode in ["rewrite", "refuse"] {
        let doc = with(
            json!({"rules": {"rewrite_instead_of_refuse": true}, "refusal_replacement": {"mode": mode}}),
        );
        assert!(validate(&doc).is_ok(), "{mode}");
    }
}

#[test]
fn escalation_path_is_required_when_escalation_can_be_chosen() {
    assert_eq!(
        pointers(with(json!({"rules": {"response_pattern": "escalate"}}))),
        ["/refusal_replacement/escalation_path"]
    );
    assert_eq!(
        pointers(with(json!({"refusal_replacement": {"mode": "escalate"}}))),
        ["/refusal_replacement/escalation_path"]
    );
    // Not reachable: refusals become rewrites before the replacement mode is consulted.
    assert!(validate(&with(json!({"rules": {"response_pattern": "rewrite"}, "refusal_replacement": {"mode": "escalate"}}))).is_ok());
}

#[test]
fn optional_texts_are_bounded() {
    for (doc, pointer) in [
        (
            json!({"rules": {"rewrite_instruction": "x".repeat(4001)}}),
            "/rules/rewrite_instruction",
        ),
        (
            json!({"rules": {"summary_instruction": ""}}),
            "/rules/summary_instruction",
        ),
        (
            json!({"refusal_replacement": {"message": "x".repeat(4001)}}),
            "/refusal_replacement/message",
        ),
        (json!({"description": 5}), "/description"),
    ] {
        assert_eq!(pointers(with(doc.clone())), [pointer], "{doc}");
    }
    assert!(
        validate(&with(
            json!({"rules": {"rewrite_instruction": "x".repeat(4000)}})
        ))
        .is_ok()
    );
}

#[test]
fn wrong_types_never_panic() {
    for doc in [json!(null), json!([]), json!("policy"), json!(1)] {
        assert_eq!(pointers(doc), [""]);
    }
    for doc in [
        json!({"rules": []}),
        json!({"rules": {"redact": "yes"}}),
        json!({"rollout": {"shadow": 1}}),
        json!({"org_controls": {"audit_logs": null, "project_keys": 1}}),
    ] {
        assert_eq!(errors(with(doc.clone())).len(), 1, "{doc}");
    }
}

#[test]
fn malformed_json_text_is_one_error_at_the_root() {
    let errs = validate_json("{\"policy_id\": ").unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].pointer, "");
    assert!(errs[0].message.starts_with("not valid JSON"));
}

#[test]
fn null_reads_as_absent() {
    let policy = validate(&with(
        json!({"owner": null, "rules": {"reason_codes": null}}),
    ))
    .unwrap();
    assert_eq!(policy.owner, None);
    assert_eq!(policy.rules.reason_codes, None);
}

#[test]
fn field_pointers_cover_the_serde_model() {
    // Every field of a fully populated canonical document is a known field, and back.
    let full = with(json!({
        "owner": "o", "description": "d",
        "rules": {"reason_codes": ["ALLOW", "REFUSE"], "rewrite_instruction": "r", "summary_instruction": "s"},
        "org_controls": {"user_quota": {"requests": 1, "tokens": 1, "window": "daily"},
                         "project_quota": {"requests": 1, "tokens": 1, "window": "daily"}},
        "refusal_replacement": {"escalation_path": "e", "message": "m"}
    }));
    let canonical = serde_json::to_value(validate(&full).unwrap()).unwrap();
    let mut found = Vec::new();
    collect_pointers(&canonical, "", &mut found);
    let mut known = field_pointers();
    known.sort();
    found.sort();
    assert_eq!(found, known);
}

fn collect_pointers(value: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(map) = value {
        for (key, child) in map {
            let pointer = format!("{prefix}/{key}");
            if matches!(child, Value::Object(_)) {
                out.push(pointer.clone());
                collect_pointers(child, &pointer, out);
            } else {
                out.push(pointer);
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn validation_never_panics_on_arbitrary_json(doc in arbitrary_json()) {
        let _ = validate(&doc);
    }

    #[test]
    fn validation_never_panics_on_arbitrary_policy_shaped_json(
        rules in arbitrary_json(), org in arbitrary_json(), rollout in arbitrary_json(), replacement in arbitrary_json()
    ) {
        let doc = json!({"policy_id": "p", "name": "n", "rules": rules, "org_controls": org,
                         "rollout": rollout, "refusal_replacement": replacement});
        let _ = validate(&doc);
    }
}

fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z_/~ ]{0,12}".prop_map(Value::String),
        prop::sample::select(field_pointers())
            .prop_map(|p| Value::String(p.rsplit('/').next().unwrap_or("").to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            "[a-z_]{1,10}",
            prop::sample::select(field_pointers()).prop_map(|p| p
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
