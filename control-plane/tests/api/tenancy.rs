//! Every row is scoped to the caller's org (SPEC §7): another org's policy, project or key
//! is a 404, never visible, never changeable.

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::*;

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn another_orgs_resources_are_404_everywhere(pool: PgPool) {
    let app = App::new(pool);
    // Org A: a policy with a rollout, a project, a project key and an org key.
    app.save(&policy("support")).await;
    app.save(&staged("support", true, false)).await;
    app.post(
        "/projects",
        &admin(),
        json!({ "name": "Bot", "policy_id": "support" }),
    )
    .await;
    let project_key = app
        .post("/projects/bot/keys", &admin(), json!({ "label": "p" }))
        .await;
    let org_key = app.post("/keys", &admin(), json!({ "label": "o" })).await;
    let project_key_id = project_key.body["id"].as_str().unwrap();
    let org_key_id = org_key.body["id"].as_str().unwrap();

    let b_admin = token_for(OTHER_ORG, "admin");
    let b = b_admin.as_str();
    let not_found = [
        app.get("/config?policy_id=support", b).await,
        app.get("/config/revisions?policy_id=support", b).await,
        app.get("/config/revisions/1?policy_id=support", b).await,
        app.post(
            "/config/rollback",
            b,
            json!({ "policy_id": "support", "revision": 1 }),
        )
        .await,
        app.post("/rollout/promote", b, json!({ "policy_id": "support" }))
            .await,
        app.post("/rollout/abort", b, json!({ "policy_id": "support" }))
            .await,
        app.post(
            "/simulate",
            b,
            json!({ "policy_id": "support", "categories": [] }),
        )
        .await,
        app.get("/projects/bot", b).await,
        app.patch("/projects/bot", b, json!({ "name": "Mine now" }))
            .await,
        app.delete("/projects/bot", b).await,
        app.get("/projects/bot/keys", b).await,
        app.post("/projects/bot/keys", b, json!({ "label": "x" }))
            .await,
        app.delete(&format!("/projects/bot/keys/{project_key_id}"), b)
            .await,
        app.delete(&format!("/keys/{org_key_id}"), b).await,
        app.get("/usage?project_id=bot", b).await,
    ];
    for reply in &not_found {
        error_of(reply, StatusCode::NOT_FOUND);
    }
    // A project of org B cannot point at org A's policy either.
    let borrowed = app
        .post(
            "/projects",
            b,
            json!({ "name": "Thief", "policy_id": "support" }),
        )
        .await;
    error_of(&borrowed, StatusCode::BAD_REQUEST);

    // Lists show nothing of org A.
    for path in ["/configs", "/projects", "/keys", "/history"] {
        let reply = app.get(path, b).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body["data"], json!([]), "{path}");
    }

    // Org B can use the same ids independently.
    let own = app
        .post("/config", b, json!({ "config": policy("support") }))
        .await;
    assert_eq!(own.body["revision"], 1);
    let own_project = app.post("/projects", b, json!({ "name": "Bot" })).await;
    assert_eq!(own_project.status, StatusCode::CREATED);

    // And org A is untouched.
    let a = app.get("/config?policy_id=support", &viewer()).await;
    assert_eq!(a.body["revision"], 2);
    assert_eq!(a.body["candidate_revision"], 2);
    let a_project = app.get("/projects/bot", &viewer()).await;
    assert_eq!(a_project.body["name"], "Bot");
    assert_eq!(a_project.body["policy_id"], "support");
    let a_keys = app.get("/projects/bot/keys", &viewer()).await;
    assert_eq!(a_keys.body["data"][0]["revoked_at"], json!(null));
    let a_history = app.get("/history", &viewer()).await;
    assert!(
        a_history.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["author"] != "admin@globex")
    );
}
