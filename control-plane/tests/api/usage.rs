//! `GET /usage`: what a project used in the current UTC window and what is left.

use axum::http::StatusCode;
use policy_engine::Window;
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::common::*;

fn window_start(window: Window) -> OffsetDateTime {
    let bounds = window
        .bounds(OffsetDateTime::now_utc().unix_timestamp())
        .unwrap();
    OffsetDateTime::from_unix_timestamp(bounds.start).unwrap()
}

async fn record_usage(
    app: &App,
    project: &str,
    policy: &str,
    at: OffsetDateTime,
    prompt: i64,
    completion: i64,
) {
    sqlx::query(
        "INSERT INTO usage_records (id, org, created_at, project_id, policy_id, model,
                                    prompt_tokens, completion_tokens, node_id)
         VALUES ($1, $2, $3, $4, $5, 'gpt-4o-mini', $6, $7, 'dp-1')",
    )
    .bind(Uuid::now_v7())
    .bind(ORG)
    .bind(at)
    .bind(project)
    .bind(policy)
    .bind(prompt)
    .bind(completion)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn usage_reports_used_and_remaining_per_quota(pool: PgPool) {
    let app = App::new(pool);
    app.save(&policy("support")).await; // project_quota: 100 requests, 5000 tokens, monthly
    app.post(
        "/projects",
        &admin(),
        json!({ "name": "Bot", "policy_id": "support", "monthly_request_limit": 10, "monthly_token_limit": 1000 }),
    )
    .await;
    let now = OffsetDateTime::now_utc();
    record_usage(&app, "bot", "support", now, 100, 50).await;
    record_usage(&app, "bot", "support", now, 200, 25).await;
    // Last month's usage is outside every current window.
    record_usage(
        &app,
        "bot",
        "support",
        window_start(Window::Monthly) - time::Duration::days(3),
        999,
        999,
    )
    .await;
    // The policy quota's counter is the authority once it exists.
    sqlx::query(
        "INSERT INTO quota_counters (org, policy_id, subject_kind, subject, metric, window_start, used, leased)
         VALUES ($1, 'support', 'project', 'bot', 'requests', $2, 7, 3)",
    )
    .bind(ORG)
    .bind(window_start(Window::Monthly))
    .execute(&app.pool)
    .await
    .unwrap();

    let reply = app.get("/usage?project_id=bot", &viewer()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["window"], "monthly");
    assert_eq!(body["requests"], 2);
    assert_eq!(body["tokens"], 375);
    let start = window_start(Window::Monthly)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(body["window_start"], start.as_str());

    let project = &body["quotas"][0];
    assert_eq!(project["source"], "project");
    assert_eq!(
        project["requests"],
        json!({ "limit": 10, "used": 2, "leased": 0, "remaining": 8 })
    );
    assert_eq!(
        project["tokens"],
        json!({ "limit": 1000, "used": 375, "leased": 0, "remaining": 625 })
    );

    let policy = &body["quotas"][1];
    assert_eq!(policy["source"], "policy");
    assert_eq!(policy["policy_id"], "support");
    assert_eq!(
        policy["requests"],
        json!({ "limit": 100, "used": 7, "leased": 3, "remaining": 90 })
    );
    assert_eq!(
        policy["tokens"],
        json!({ "limit": 5000, "used": 375, "leased": 0, "remaining": 4625 })
    );

    let daily = app
        .get("/usage?project_id=bot&window=daily", &viewer())
        .await;
    assert_eq!(daily.body["window"], "daily");
    let day_start = window_start(Window::Daily)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(daily.body["window_start"], day_start.as_str());
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn usage_of_an_unlimited_project_without_policy(pool: PgPool) {
    let app = App::new(pool);
    app.post("/projects", &admin(), json!({ "name": "Free" }))
        .await;
    let reply = app
        .get("/usage?project_id=free&window=weekly", &viewer())
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["requests"], 0);
    let quotas = reply.body["quotas"].as_array().unwrap();
    assert_eq!(quotas.len(), 1);
    assert_eq!(quotas[0]["requests"]["remaining"], json!(null));
    error_of(
        &app.get("/usage?project_id=ghost", &viewer()).await,
        StatusCode::NOT_FOUND,
    );
}
