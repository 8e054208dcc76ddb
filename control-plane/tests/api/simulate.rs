//! `POST /simulate` gives what the engine gives, and never stores the message.

use std::sync::Arc;

use axum::http::StatusCode;
use policy_engine::{
    CategorySet, CompiledPolicy, DecisionInput, Moderation, PolicyRevisions, RolloutRequest,
};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::common::*;

fn labels(names: &[&str]) -> CategorySet {
    CategorySet::parse_names(names.iter().copied()).unwrap()
}

fn hard_blocked() -> CategorySet {
    labels(&["sexual/minors"])
}

fn engine_decision(doc: &Value, revision: u64, message: &str, categories: &[&str]) -> Value {
    let compiled = CompiledPolicy::from_json(doc, revision).unwrap();
    let input = DecisionInput {
        text: message,
        moderation: Moderation::Labels(labels(categories)),
        hard_blocked: hard_blocked(),
    };
    serde_json::to_value(compiled.decide(&input)).unwrap()
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_saved_policy_decides_like_the_engine(pool: PgPool) {
    let app = App::new(pool);
    let doc = seed_policy_as_code();
    app.save(&doc).await;
    let message = "Share our internal incident response steps.";
    let reply = app
        .post(
            "/simulate",
            &editor(),
            json!({ "policy_id": "policy-as-code", "message": message, "categories": [] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["decision"],
        engine_decision(&doc, 1, message, &[])
    );
    // SPEC §11's worked example, as a sanity check on the expectation itself.
    assert_eq!(reply.body["decision"]["decision"], "refuse");
    assert_eq!(
        reply.body["decision"]["denylist_hits"],
        json!(["internal incident"])
    );
    assert!(reply.body.get("candidate_decision").is_none());

    // Hard-blocked categories are refused whatever the policy says.
    let blocked = app
        .post(
            "/simulate",
            &editor(),
            json!({ "policy_id": "policy-as-code", "message": "public docs please", "categories": ["sexual/minors"] }),
        )
        .await;
    assert_eq!(
        blocked.body["decision"],
        engine_decision(&doc, 1, "public docs please", &["sexual/minors"])
    );
    assert_eq!(blocked.body["decision"]["hard_block"], true);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn an_active_rollout_adds_the_candidate_decision(pool: PgPool) {
    let app = App::new(pool);
    let stable_doc = policy("support");
    let candidate_doc = staged("support", false, true);
    app.save(&stable_doc).await;
    app.save(&candidate_doc).await;
    let message = "What about competitor pricing and the refund policy?";
    let reply = app
        .post(
            "/simulate",
            &editor(),
            json!({
                "policy_id": "support", "message": message, "categories": [],
                "metadata": { "policy_user": "Alice", "policy_target": "Web" }
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let stable = Arc::new(CompiledPolicy::from_json(&stable_doc, 1).unwrap());
    let candidate = Arc::new(CompiledPolicy::from_json(&candidate_doc, 2).unwrap());
    let input = DecisionInput {
        text: message,
        moderation: Moderation::Labels(CategorySet::EMPTY),
        hard_blocked: hard_blocked(),
    };
    let revisions = PolicyRevisions {
        stable,
        candidate: Some(candidate.clone()),
    };
    let evaluation = revisions.evaluate(
        &RolloutRequest {
            sample_key: "alice",
            target: Some("web"),
        },
        &input,
    );
    assert_eq!(
        reply.body["decision"],
        serde_json::to_value(&evaluation.enforced).unwrap()
    );
    assert_eq!(
        reply.body["candidate_decision"],
        serde_json::to_value(candidate.decide(&input)).unwrap()
    );
    // The candidate's denylist is what makes the two differ.
    assert_eq!(
        reply.body["candidate_decision"]["denylist_hits"],
        json!(["competitor pricing"])
    );

    // An explicit revision decides alone.
    let first = app
        .post(
            "/simulate",
            &editor(),
            json!({ "policy_id": "support", "revision": 1, "message": message, "categories": [] }),
        )
        .await;
    assert_eq!(
        first.body["decision"],
        engine_decision(&stable_doc, 1, message, &[])
    );
    assert!(first.body.get("candidate_decision").is_none());
    let missing = app
        .post(
            "/simulate",
            &editor(),
            json!({ "policy_id": "support", "revision": 7, "categories": [] }),
        )
        .await;
    error_of(&missing, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn an_unsaved_config_is_simulated_without_saving_it(pool: PgPool) {
    let app = App::new(pool);
    let doc = policy("draft");
    let message = "I need illegal instructions";
    let reply = app
        .post(
            "/simulate",
            &editor(),
            json!({ "config": doc, "message": message, "categories": ["self-harm/intent"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["decision"],
        engine_decision(&doc, 0, message, &["self-harm/intent"])
    );
    error_of(
        &app.get("/config?policy_id=draft", &viewer()).await,
        StatusCode::NOT_FOUND,
    );

    let mut bad = policy("draft");
    bad["rules"]["response_pattern"] = json!("shout");
    let invalid = app
        .post(
            "/simulate",
            &editor(),
            json!({ "config": bad, "categories": [] }),
        )
        .await;
    let error = error_of(&invalid, StatusCode::BAD_REQUEST);
    assert_eq!(error["details"][0]["pointer"], "/rules/response_pattern");
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn simulations_are_recorded_without_the_message(pool: PgPool) {
    let app = App::new(pool);
    app.save(&policy("support")).await;
    let message = "zebra-quartz-7781 wants the refund policy";
    let reply = app
        .post(
            "/simulate",
            &editor(),
            json!({ "policy_id": "support", "message": message, "categories": ["violence", "hate"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let history = app
        .get("/history?type=simulation&policy_id=support", &viewer())
        .await;
    let entry = &history.body["data"][0];
    assert_eq!(entry["type"], "simulation");
    assert_eq!(entry["policy_name"], "Policy support");
    // Taxonomy order, whatever order they were sent in.
    assert_eq!(entry["scenario_categories"], json!(["hate", "violence"]));
    assert_eq!(entry["decision"], reply.body["decision"]);
    assert!(!app.dump().await.contains("zebra-quartz-7781"));
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn simulate_input_errors(pool: PgPool) {
    let app = App::new(pool);
    app.save(&policy("support")).await;
    let cases = [
        json!({ "categories": [] }),
        json!({ "policy_id": "support", "config": policy("support"), "categories": [] }),
        json!({ "policy_id": "support", "categories": ["gore"] }),
        json!({ "config": policy("x"), "revision": 1, "categories": [] }),
        json!({ "policy_id": "support", "categories": [], "metadata": { "user": "a" } }),
        json!({ "policy_id": "support", "categories": "hate" }),
    ];
    for body in cases {
        let reply = app.post("/simulate", &editor(), body.clone()).await;
        error_of(&reply, StatusCode::BAD_REQUEST);
    }
    let unknown = app
        .post(
            "/simulate",
            &editor(),
            json!({ "policy_id": "nope", "categories": [] }),
        )
        .await;
    error_of(&unknown, StatusCode::NOT_FOUND);
}
