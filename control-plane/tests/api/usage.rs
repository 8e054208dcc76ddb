//! `GET /usage`: what a project used in the current UTC window and, per quota bucket,
//! the limit, used, leased and remaining figures (docs/quotas.md).

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

/// A quota counter of the current `window` with `used`.
#[allow(clippy::too_many_arguments)]
async fn counter(
    app: &App,
    org: &str,
    policy: &str,
    kind: &str,
    subject: &str,
    metric: &str,
    window: Window,
    used: i64,
) {
    sqlx::query(
        "INSERT INTO quota_counters (org, policy_id, subject_kind, subject, metric, window_start, used)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(org)
    .bind(policy)
    .bind(kind)
    .bind(subject)
    .bind(metric)
    .bind(window_start(window))
    .bind(used)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// A lease of `node` on a counter `counter` created, live or expired a minute ago.
#[allow(clippy::too_many_arguments)]
async fn lease(
    app: &App,
    org: &str,
    policy: &str,
    kind: &str,
    subject: &str,
    metric: &str,
    window: Window,
    node: &str,
    held: i64,
    live: bool,
) {
    sqlx::query(
        "INSERT INTO quota_leases (org, policy_id, subject_kind, subject, metric, window_start,
                                   node_id, epoch, held, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8,
                 now() + CASE WHEN $9 THEN interval '1 minute' ELSE interval '-1 minute' END)",
    )
    .bind(org)
    .bind(policy)
    .bind(kind)
    .bind(subject)
    .bind(metric)
    .bind(window_start(window))
    .bind(node)
    .bind(held)
    .bind(live)
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
    // The policy quota's counter is the authority once it exists; of its leases only the
    // unexpired one counts as leased.
    counter(
        &app,
        ORG,
        "support",
        "project",
        "bot",
        "requests",
        Window::Monthly,
        7,
    )
    .await;
    lease(
        &app,
        ORG,
        "support",
        "project",
        "bot",
        "requests",
        Window::Monthly,
        "dp-1",
        3,
        true,
    )
    .await;
    lease(
        &app,
        ORG,
        "support",
        "project",
        "bot",
        "requests",
        Window::Monthly,
        "dp-2",
        40,
        false,
    )
    .await;

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
    assert_eq!(project["subject_kind"], "project_record");
    assert_eq!(project["subject"], "bot");
    assert_eq!(project["resets_at"], project["window_end"]);
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
    assert_eq!(policy["subject_kind"], "project");
    assert_eq!(body["policy_id"], "support");
    assert_eq!(body["users_truncated"], false);
    assert_eq!(policy["policy_id"], "support");
    assert_eq!(
        policy["requests"],
        json!({ "limit": 100, "used": 7, "leased": 3, "remaining": 93 })
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

/// `policy(id)` with a daily user quota (and user quotas switched on).
fn with_user_quota(policy_id: &str) -> serde_json::Value {
    let mut doc = policy(policy_id);
    doc["org_controls"]["user_quotas"] = json!(true);
    doc["org_controls"]["user_quota"] = json!({ "requests": 20, "tokens": 900, "window": "daily" });
    doc
}

fn users(body: &serde_json::Value) -> Vec<&serde_json::Value> {
    body["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["source"] == "user")
        .collect()
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn usage_lists_user_quotas_of_subjects_with_counters(pool: PgPool) {
    let app = App::new(pool);
    app.save(&with_user_quota("support")).await;
    app.save(&with_user_quota("other")).await;
    app.post(
        "/projects",
        &admin(),
        json!({ "name": "Bot", "policy_id": "support" }),
    )
    .await;
    let day = Window::Daily;
    counter(&app, ORG, "support", "user", "alice", "requests", day, 4).await;
    counter(&app, ORG, "support", "user", "alice", "tokens", day, 950).await;
    lease(
        &app, ORG, "support", "user", "alice", "requests", day, "dp-1", 6, true,
    )
    .await;
    lease(
        &app, ORG, "support", "user", "alice", "requests", day, "dp-2", 2, true,
    )
    .await;
    counter(&app, ORG, "support", "user", "bob", "requests", day, 1).await;
    // Yesterday's window, another policy and another org are not this view's.
    sqlx::query(
        "INSERT INTO quota_counters (org, policy_id, subject_kind, subject, metric, window_start, used)
         VALUES ($1, 'support', 'user', 'carol', 'requests', $2, 9)",
    )
    .bind(ORG)
    .bind(window_start(day) - time::Duration::days(1))
    .execute(&app.pool)
    .await
    .unwrap();
    counter(&app, ORG, "other", "user", "dave", "requests", day, 3).await;
    counter(
        &app, OTHER_ORG, "support", "user", "eve", "requests", day, 3,
    )
    .await;

    let reply = app.get("/usage?project_id=bot", &viewer()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let listed = users(&reply.body);
    assert_eq!(listed.len(), 2, "{}", reply.body);
    let alice = listed[0];
    assert_eq!(alice["subject"], "alice");
    assert_eq!(alice["subject_kind"], "user");
    assert_eq!(alice["policy_id"], "support");
    assert_eq!(alice["window"], "daily");
    let day_start = window_start(day);
    let reset = (day_start + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(alice["resets_at"], reset.as_str());
    assert_eq!(
        alice["requests"],
        json!({ "limit": 20, "used": 4, "leased": 8, "remaining": 16 })
    );
    // Over the limit (the offline allowance can overspend): remaining stops at 0.
    assert_eq!(
        alice["tokens"],
        json!({ "limit": 900, "used": 950, "leased": 0, "remaining": 0 })
    );
    assert_eq!(listed[1]["subject"], "bob");
    assert_eq!(
        listed[1]["tokens"],
        json!({ "limit": 900, "used": 0, "leased": 0, "remaining": 900 })
    );

    // One subject; a subject without a counter shows zeros.
    let bob = app
        .get("/usage?project_id=bot&subject=bob", &viewer())
        .await;
    let listed = users(&bob.body);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["requests"]["used"], 1);
    let nobody = app
        .get("/usage?project_id=bot&subject=zed", &viewer())
        .await;
    let listed = users(&nobody.body);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["subject"], "zed");
    assert_eq!(listed[0]["requests"]["remaining"], 20);

    // Another policy's quotas for this project.
    let other = app
        .get("/usage?project_id=bot&policy_id=other", &viewer())
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    assert_eq!(other.body["policy_id"], "other");
    let listed = users(&other.body);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["subject"], "dave");
    assert_eq!(other.body["quotas"][1]["policy_id"], "other");

    // A policy of another org, or none at all, is not found; so is the project for them.
    let missing = app
        .get("/usage?project_id=bot&policy_id=ghost", &viewer())
        .await;
    assert!(
        error_of(&missing, StatusCode::NOT_FOUND)["message"]
            .as_str()
            .unwrap()
            .contains("ghost")
    );
    let outsider = token_for(OTHER_ORG, "admin");
    error_of(
        &app.get("/usage?project_id=bot", &outsider).await,
        StatusCode::NOT_FOUND,
    );
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn user_quotas_need_user_quotas_switched_on(pool: PgPool) {
    let app = App::new(pool);
    let mut doc = with_user_quota("support");
    doc["org_controls"]["user_quotas"] = json!(false);
    app.save(&doc).await;
    app.post(
        "/projects",
        &admin(),
        json!({ "name": "Bot", "policy_id": "support" }),
    )
    .await;
    counter(
        &app,
        ORG,
        "support",
        "user",
        "alice",
        "requests",
        Window::Daily,
        4,
    )
    .await;
    let reply = app
        .get("/usage?project_id=bot&subject=alice", &viewer())
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(users(&reply.body).is_empty(), "{}", reply.body);
    assert_eq!(reply.body["quotas"].as_array().unwrap().len(), 2);
}
