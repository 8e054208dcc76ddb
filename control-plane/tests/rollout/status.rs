//! `GET /rollout/status?policy_id=`: what `policyctl rollout status` prints.

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::{App, error_of, token_for, viewer};
use crate::support::*;

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn status_shows_pointers_settings_and_the_current_window(pool: PgPool) {
    let app = App::new(pool.clone());
    app.save(&crate::common::policy("support")).await;
    let stable_only = app
        .get("/rollout/status?policy_id=support", &viewer())
        .await;
    assert_eq!(stable_only.status, StatusCode::OK, "{}", stable_only.body);
    assert_eq!(
        stable_only.body,
        json!({"policy_id": "support", "stable_revision": 1, "candidate_revision": null,
               "rollout": {"state": "none", "started_at": null, "cooldown_until": null},
               "rollback": null, "window": null})
    );

    app.save(&guarded("support", false, true)).await;
    let now = time::OffsetDateTime::now_utc();
    observe(&pool, "support", 2, now, "allow", 9).await;
    observe(&pool, "support", 2, now, "refuse", 3).await;
    observe(&pool, "support", 2, now - minutes(20), "refuse", 100).await;
    let reply = app
        .get("/rollout/status?policy_id=support", &viewer())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = reply.body;
    assert_eq!(body["candidate_revision"], 2);
    assert_eq!(body["rollout"]["state"], "canary");
    assert!(body["rollout"]["started_at"].is_string());
    assert_eq!(
        body["rollback"],
        json!({"on_spike": true, "threshold": 0.25, "min_requests": 20, "window_minutes": 15,
               "cooldown_minutes": 30, "watched": ["refuse", "escalate"]})
    );
    let window = &body["window"];
    assert_eq!(window["decisions"], json!({"allow": 9, "refuse": 3}));
    assert_eq!(window["candidate_decisions"], 12);
    assert_eq!(window["watched_decisions"], 3);
    assert_eq!(window["share"], 0.25);
    assert_eq!(window["spike"], false);
    let (from, to) = (parse_time(&window["from"]), parse_time(&window["to"]));
    assert_eq!(to - from, minutes(15));
    assert!((to - now).abs() < time::Duration::seconds(30));

    observe(&pool, "support", 2, now, "escalate", 10).await;
    let reply = app
        .get("/rollout/status?policy_id=support", &viewer())
        .await;
    assert_eq!(reply.body["window"]["spike"], true);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn status_is_scoped_and_checked_like_the_rest_of_the_api(pool: PgPool) {
    let app = App::new(pool.clone());
    app.save(&crate::common::policy("support")).await;
    let missing = app.get("/rollout/status", &viewer()).await;
    error_of(&missing, StatusCode::BAD_REQUEST);
    let unknown = app.get("/rollout/status?policy_id=nope", &viewer()).await;
    error_of(&unknown, StatusCode::NOT_FOUND);
    let other_org = app
        .get(
            "/rollout/status?policy_id=support",
            &token_for(crate::common::OTHER_ORG, "admin"),
        )
        .await;
    error_of(&other_org, StatusCode::NOT_FOUND);
    let anonymous = app.get("/rollout/status?policy_id=support", "").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}
