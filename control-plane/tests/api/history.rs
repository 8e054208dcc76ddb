//! History listing and pruning (SPEC §6).

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::*;

async fn count(app: &App, policy_id: Option<&str>) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM history WHERE policy_id IS NOT DISTINCT FROM $1")
        .bind(policy_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn history_is_pruned_per_policy_oldest_first(pool: PgPool) {
    let limit = 5;
    let app = App::with(pool, hs256(), limit);
    app.save(&policy("other")).await;
    for n in 1..=8 {
        let mut doc = policy("support");
        doc["name"] = json!(format!("v{n}"));
        app.save(&doc).await;
    }
    assert_eq!(count(&app, Some("support")).await, i64::from(limit));
    // Another policy's history is its own.
    assert_eq!(count(&app, Some("other")).await, 1);
    let listed = app.get("/history?policy_id=support", &viewer()).await;
    let revisions: Vec<i64> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(revisions, [8, 7, 6, 5, 4]);

    // Key events (no policy) are kept as their own group under the same limit.
    app.post("/projects", &admin(), json!({ "name": "Bot" }))
        .await;
    for n in 0..7 {
        app.post(
            "/projects/bot/keys",
            &admin(),
            json!({ "label": format!("k{n}") }),
        )
        .await;
    }
    assert_eq!(count(&app, None).await, i64::from(limit));
    assert_eq!(count(&app, Some("support")).await, i64::from(limit));
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn history_pages_cover_everything_once_newest_first(pool: PgPool) {
    let app = App::new(pool);
    for n in 1..=7 {
        let mut doc = policy("support");
        doc["name"] = json!(format!("v{n}"));
        app.save(&doc).await;
    }
    app.post(
        "/simulate",
        &editor(),
        json!({ "policy_id": "support", "categories": [] }),
    )
    .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/history?limit=3&cursor={c}"),
            None => "/history?limit=3".to_owned(),
        };
        let page = app.get(&path, &viewer()).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for entry in page.body["data"].as_array().unwrap() {
            seen.push((
                entry["type"].as_str().unwrap().to_owned(),
                entry["revision"].as_i64(),
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert_eq!(seen[0].0, "simulation");
    let revisions: Vec<i64> = seen[1..].iter().map(|(_, r)| r.unwrap()).collect();
    assert_eq!(revisions, [7, 6, 5, 4, 3, 2, 1]);

    let only = app.get("/history?type=simulation", &viewer()).await;
    assert_eq!(only.body["data"].as_array().unwrap().len(), 1);
    let limited = app.get("/history?limit=2", &viewer()).await;
    assert_eq!(limited.body["data"].as_array().unwrap().len(), 2);
    let none = app.get("/history?policy_id=nothing", &viewer()).await;
    assert_eq!(none.body["data"], json!([]));
}
