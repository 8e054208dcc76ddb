//! API key lifecycle (SPEC §5): the raw key once, only hash and preview stored.

use axum::http::StatusCode;
use policy_engine::keys::{hash_key, preview};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::common::*;

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn project_keys_return_the_raw_key_once_and_store_only_its_hash(pool: PgPool) {
    let app = App::new(pool);
    app.post("/projects", &admin(), json!({ "name": "Bot" }))
        .await;
    let created = app
        .post("/projects/bot/keys", &admin(), json!({ "label": "ci" }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let raw = created.body["key"].as_str().unwrap().to_owned();
    assert!(policy_engine::keys::is_well_formed(&raw), "{raw}");
    assert_eq!(created.body["key_preview"], preview(&raw).as_str());
    assert_eq!(created.body["project_id"], "bot");
    assert_eq!(created.body["label"], "ci");
    assert_eq!(created.body["revoked_at"], json!(null));
    let id: Uuid = created.body["id"].as_str().unwrap().parse().unwrap();

    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, hash_key(&raw));

    // Listed without the raw key, and the raw key is nowhere in the database.
    let list = app.get("/projects/bot/keys", &viewer()).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert!(list.body["data"][0].get("key").is_none());
    assert!(!list.body.to_string().contains(&raw));
    let dump = app.dump().await;
    let secret_part = raw.trim_start_matches("ak_");
    assert!(!dump.contains(secret_part), "the raw key was stored");
    assert!(
        dump.contains(&preview(&raw)),
        "the dump should see the preview"
    );

    // Revoke: revoked_at set, a history entry, and a repeat changes nothing.
    let revoked = app
        .delete(&format!("/projects/bot/keys/{id}"), &admin())
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string());
    assert!(revoked.body.get("key").is_none());
    let again = app
        .delete(&format!("/projects/bot/keys/{id}"), &admin())
        .await;
    assert_eq!(again.body["revoked_at"], revoked.body["revoked_at"]);

    let history = app.get("/history?type=key", &viewer()).await;
    let events: Vec<&str> = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["revoked", "created"]);
    assert_eq!(history.body["data"][0]["key_id"], id.to_string());
    assert!(!history.body.to_string().contains(secret_part));
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn org_wide_keys_have_their_own_scope(pool: PgPool) {
    let app = App::new(pool);
    app.post("/projects", &admin(), json!({ "name": "Bot" }))
        .await;
    let project_key = app
        .post("/projects/bot/keys", &admin(), json!({ "label": "p" }))
        .await;
    let org_key = app.post("/keys", &admin(), json!({ "label": "org" })).await;
    assert_eq!(org_key.status, StatusCode::CREATED);
    assert_eq!(org_key.body["project_id"], json!(null));
    let org_raw = org_key.body["key"].as_str().unwrap().to_owned();

    let list = app.get("/keys", &viewer()).await;
    let ids: Vec<&str> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [org_key.body["id"].as_str().unwrap()]);
    assert!(!list.body.to_string().contains(&org_raw));

    // Each DELETE route revokes keys of its own scope only.
    let project_key_id = project_key.body["id"].as_str().unwrap();
    error_of(
        &app.delete(&format!("/keys/{project_key_id}"), &admin())
            .await,
        StatusCode::NOT_FOUND,
    );
    let org_key_id = org_key.body["id"].as_str().unwrap();
    error_of(
        &app.delete(&format!("/projects/bot/keys/{org_key_id}"), &admin())
            .await,
        StatusCode::NOT_FOUND,
    );
    let revoked = app.delete(&format!("/keys/{org_key_id}"), &admin()).await;
    assert!(revoked.body["revoked_at"].is_string());
    error_of(
        &app.delete(&format!("/keys/{}", Uuid::now_v7()), &admin())
            .await,
        StatusCode::NOT_FOUND,
    );

    assert!(!app.dump().await.contains(org_raw.trim_start_matches("ak_")));
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn key_errors(pool: PgPool) {
    let app = App::new(pool);
    error_of(
        &app.post("/projects/ghost/keys", &admin(), json!({ "label": "x" }))
            .await,
        StatusCode::NOT_FOUND,
    );
    error_of(
        &app.get("/projects/ghost/keys", &admin()).await,
        StatusCode::NOT_FOUND,
    );
    app.post("/projects", &admin(), json!({ "name": "Bot" }))
        .await;
    let no_label = app.post("/projects/bot/keys", &admin(), json!({})).await;
    error_of(&no_label, StatusCode::BAD_REQUEST);
    let blank = app
        .post("/projects/bot/keys", &admin(), json!({ "label": " " }))
        .await;
    assert_eq!(error_of(&blank, StatusCode::BAD_REQUEST)["param"], "label");

    // Deleting a project takes its keys with it.
    app.post("/projects/bot/keys", &admin(), json!({ "label": "x" }))
        .await;
    app.delete("/projects/bot", &admin()).await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
