//! Bad input is a 400 (never a 500), unknown paths a 404, an unreachable database a 503,
//! all in the OpenAI error shape.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::common::*;

fn raw(method: Method, path: &str, content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("/api/policy-gateway{path}"))
        .header("authorization", format!("Bearer {}", admin()));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn malformed_bodies_are_400_with_our_shape(pool: PgPool) {
    let app = App::new(pool);
    let cases = [
        (Some("application/json"), "{not json"),
        (Some("application/json"), ""),
        (None, r#"{"config": {}}"#),
        (Some("text/plain"), r#"{"config": {}}"#),
        (Some("application/json"), r#"{"config": {}, "extra": 1}"#),
        (Some("application/json"), r#"["config"]"#),
    ];
    for (content_type, body) in cases {
        let reply = app
            .send(raw(Method::POST, "/config", content_type, body))
            .await;
        let error = error_of(&reply, StatusCode::BAD_REQUEST);
        assert_eq!(error["type"], "invalid_request_error", "{body:?}");
    }
    let wrong_type = app
        .send(raw(
            Method::POST,
            "/config/rollback",
            Some("application/json"),
            r#"{"policy_id": "x", "revision": "one"}"#,
        ))
        .await;
    error_of(&wrong_type, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn bad_query_and_path_parameters_are_400(pool: PgPool) {
    let app = App::new(pool);
    for path in [
        "/configs?limit=abc",
        "/configs?limit=0",
        "/history?limit=501",
        "/history?type=gossip",
        "/history?cursor=garbage",
        "/config/revisions/abc?policy_id=x",
        "/usage?project_id=x&window=yearly",
        "/usage",
        "/config",
    ] {
        let reply = app.get(path, &admin()).await;
        error_of(&reply, StatusCode::BAD_REQUEST);
    }
    let bad_key_id = app.delete("/keys/not-a-uuid", &admin()).await;
    error_of(&bad_key_id, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn unknown_paths_and_methods_answer_json(pool: PgPool) {
    let app = App::new(pool);
    let reply = app.get("/no-such-thing", &admin()).await;
    assert_eq!(error_of(&reply, StatusCode::NOT_FOUND)["code"], "not_found");
    let outside = app
        .send(
            Request::builder()
                .uri("/elsewhere")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    error_of(&outside, StatusCode::NOT_FOUND);
    let method = app.call(Method::PUT, "/configs", &admin(), None).await;
    error_of(&method, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.headers.contains_key("x-request-id"));
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn oversized_bodies_are_413(pool: PgPool) {
    let app = App::new(pool);
    let huge = format!(
        r#"{{"config": {{"name": "{}"}}}}"#,
        "x".repeat(17 * 1024 * 1024)
    );
    let reply = app
        .send(raw(
            Method::POST,
            "/config",
            Some("application/json"),
            &huge,
        ))
        .await;
    error_of(&reply, StatusCode::PAYLOAD_TOO_LARGE);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_closed_pool_answers_503(pool: PgPool) {
    let app = App::new(pool.clone());
    app.save(&policy("support")).await;
    pool.close().await;
    for reply in [
        app.get("/config?policy_id=support", &viewer()).await,
        app.post("/config", &editor(), json!({"config": policy("support")}))
            .await,
        app.get("/history", &viewer()).await,
    ] {
        let error = error_of(&reply, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            error["message"],
            "the database is unavailable; try again shortly"
        );
        assert_eq!(error["code"], "database_unavailable");
    }
}

#[tokio::test]
async fn an_unreachable_database_answers_503() {
    // Nothing listens on port 1: every connection attempt is refused.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://postgres@127.0.0.1:1/postgres")
        .unwrap();
    let app = App::new(pool);
    let reply = app.get("/configs", &viewer()).await;
    error_of(&reply, StatusCode::SERVICE_UNAVAILABLE);
    // Auth and validation still answer without the database.
    let anonymous = app
        .send(
            Request::builder()
                .uri("/api/policy-gateway/configs")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    error_of(&anonymous, StatusCode::UNAUTHORIZED);
    let invalid = app
        .post("/config", &editor(), json!({"config": {"name": "x"}}))
        .await;
    error_of(&invalid, StatusCode::BAD_REQUEST);
}
