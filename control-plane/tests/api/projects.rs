//! Project lifecycle (SPEC §5, §7).

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::*;

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn projects_are_created_read_changed_and_deleted(pool: PgPool) {
    let app = App::new(pool);
    app.save(&policy("support")).await;

    let created = app
        .post(
            "/projects",
            &admin(),
            json!({ "name": "Support bot", "policy_id": "support", "monthly_request_limit": 1000 }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // The id defaults to the engine's slug of the name.
    let expected_id = policy_engine::normalize::slug("Support bot").unwrap();
    assert_eq!(created.body["id"], expected_id.as_str());
    assert_eq!(created.body["status"], "active");
    assert_eq!(created.body["policy_id"], "support");
    assert_eq!(created.body["monthly_request_limit"], 1000);
    assert_eq!(created.body["monthly_token_limit"], json!(null));

    let duplicate = app
        .post("/projects", &admin(), json!({ "name": "support BOT" }))
        .await;
    error_of(&duplicate, StatusCode::CONFLICT);
    let explicit = app
        .post(
            "/projects",
            &admin(),
            json!({ "id": "support-bot", "name": "Other" }),
        )
        .await;
    error_of(&explicit, StatusCode::CONFLICT);

    let fetched = app.get("/projects/support-bot", &viewer()).await;
    assert_eq!(fetched.body, created.body);

    let patched = app
        .patch(
            "/projects/support-bot",
            &admin(),
            json!({ "status": "suspended", "policy_id": null, "monthly_token_limit": 5000 }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["status"], "suspended");
    assert_eq!(patched.body["policy_id"], json!(null));
    assert_eq!(patched.body["monthly_token_limit"], 5000);
    // Fields left out stay as they were.
    assert_eq!(patched.body["name"], "Support bot");
    assert_eq!(patched.body["monthly_request_limit"], 1000);

    app.post(
        "/projects",
        &admin(),
        json!({ "id": "alpha", "name": "Alpha" }),
    )
    .await;
    let list = app.get("/projects?limit=1", &viewer()).await;
    assert_eq!(list.body["data"][0]["id"], "alpha");
    let cursor = list.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/projects?limit=1&cursor={cursor}"), &viewer())
        .await;
    assert_eq!(rest.body["data"][0]["id"], "support-bot");

    let deleted = app.delete("/projects/support-bot", &admin()).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body["deleted"], true);
    error_of(
        &app.get("/projects/support-bot", &viewer()).await,
        StatusCode::NOT_FOUND,
    );
    error_of(
        &app.delete("/projects/support-bot", &admin()).await,
        StatusCode::NOT_FOUND,
    );
    error_of(
        &app.patch("/projects/support-bot", &admin(), json!({"name": "x"}))
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn project_input_is_validated(pool: PgPool) {
    let app = App::new(pool);
    app.save(&policy("support")).await;
    let cases = [
        (json!({ "name": "" }), "name"),
        (json!({ "name": "  " }), "name"),
        (json!({ "name": "!!!" }), "name"),
        (json!({ "id": "Not A Slug", "name": "x" }), "id"),
        (json!({ "name": "x", "status": "paused" }), "status"),
        (
            json!({ "name": "x", "monthly_request_limit": -1 }),
            "monthly_request_limit",
        ),
        (json!({ "name": "x", "policy_id": "missing" }), "policy_id"),
    ];
    for (body, param) in cases {
        let reply = app.post("/projects", &admin(), body.clone()).await;
        assert_eq!(
            error_of(&reply, StatusCode::BAD_REQUEST)["param"],
            param,
            "{body}"
        );
    }
    let unknown_field = app
        .post("/projects", &admin(), json!({ "name": "x", "owner": "me" }))
        .await;
    error_of(&unknown_field, StatusCode::BAD_REQUEST);

    app.post("/projects", &admin(), json!({ "name": "Bot" }))
        .await;
    for (body, param) in [
        (json!({ "status": "gone" }), Some("status")),
        (json!({ "policy_id": "missing" }), Some("policy_id")),
        (
            json!({ "monthly_token_limit": -5 }),
            Some("monthly_token_limit"),
        ),
        (json!({ "name": "" }), Some("name")),
        (json!({ "id": "renamed" }), None),
    ] {
        let reply = app.patch("/projects/bot", &admin(), body.clone()).await;
        let error = error_of(&reply, StatusCode::BAD_REQUEST);
        if let Some(param) = param {
            assert_eq!(error["param"], param, "{body}");
        }
    }
    let ok = app
        .patch("/projects/bot", &admin(), json!({ "policy_id": "support" }))
        .await;
    assert_eq!(ok.body["policy_id"], "support");
}
