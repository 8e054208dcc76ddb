//! JWT verification (SPEC §7) and role checks.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use control_plane::auth::{JwtSettings, Verifier};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::common::*;

fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api/keys")
        .join(name)
}

fn key_bytes(name: &str) -> Vec<u8> {
    std::fs::read(key_file(name)).unwrap()
}

fn claims(role: &str) -> Value {
    json!({ "sub": "someone", "org": ORG, "role": role, "exp": now() + 600 })
}

fn public_keys() -> JwtSettings {
    JwtSettings {
        public_key_files: vec![key_file("rsa_public.pem"), key_file("ec_public.pem")],
        ..JwtSettings::default()
    }
}

fn b64(value: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn status_with(app: &App, token: &str) -> StatusCode {
    let reply = app.get("/configs", token).await;
    if reply.status == StatusCode::UNAUTHORIZED {
        error_of(&reply, StatusCode::UNAUTHORIZED);
        let challenge = reply
            .headers
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(challenge.starts_with("Bearer"));
    }
    reply.status
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn missing_and_malformed_tokens_are_401(pool: PgPool) {
    let app = App::new(pool);
    let reply = app
        .send(
            Request::builder()
                .uri("/api/policy-gateway/configs")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    error_of(&reply, StatusCode::UNAUTHORIZED);
    assert!(reply.headers.contains_key("www-authenticate"));
    let basic = app
        .send(
            Request::builder()
                .uri("/api/policy-gateway/configs")
                .header("authorization", "Basic dXNlcjpwYXNz")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    error_of(&basic, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status_with(&app, "not-a-jwt").await,
        StatusCode::UNAUTHORIZED
    );
    // 401 comes before the body is looked at.
    let reply = app.post("/config", "nope", json!({"garbage": true})).await;
    error_of(&reply, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn hs256_tokens_are_checked(pool: PgPool) {
    let app = App::new(pool);
    let secret = EncodingKey::from_secret(SECRET.as_bytes());
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &secret, &claims("viewer"))).await,
        StatusCode::OK
    );

    let mut expired = claims("viewer");
    expired["exp"] = json!(now() - 3600);
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &secret, &expired)).await,
        StatusCode::UNAUTHORIZED
    );

    let mut no_exp = claims("viewer");
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &secret, &no_exp)).await,
        StatusCode::UNAUTHORIZED
    );

    let wrong = EncodingKey::from_secret(b"another-secret");
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &wrong, &claims("viewer"))).await,
        StatusCode::UNAUTHORIZED
    );

    let mut bad_role = claims("viewer");
    bad_role["role"] = json!("owner");
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &secret, &bad_role)).await,
        StatusCode::UNAUTHORIZED
    );

    let mut no_org = claims("viewer");
    no_org.as_object_mut().unwrap().remove("org");
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &secret, &no_org)).await,
        StatusCode::UNAUTHORIZED
    );

    // alg: none, unsigned.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("admin"))
    );
    assert_eq!(status_with(&app, &none).await, StatusCode::UNAUTHORIZED);

    // An RS256 token when only an HS256 secret is configured.
    let rsa = EncodingKey::from_rsa_pem(&key_bytes("rsa_private.pem")).unwrap();
    assert_eq!(
        status_with(&app, &mint(Algorithm::RS256, &rsa, &claims("viewer"))).await,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn rs256_and_es256_tokens_verify_with_public_keys(pool: PgPool) {
    let app = App::with(pool, public_keys(), 50);
    let rsa = EncodingKey::from_rsa_pem(&key_bytes("rsa_private.pem")).unwrap();
    assert_eq!(
        status_with(&app, &mint(Algorithm::RS256, &rsa, &claims("viewer"))).await,
        StatusCode::OK
    );
    let ec = EncodingKey::from_ec_pem(&key_bytes("ec_private.pem")).unwrap();
    assert_eq!(
        status_with(&app, &mint(Algorithm::ES256, &ec, &claims("viewer"))).await,
        StatusCode::OK
    );

    let other = EncodingKey::from_rsa_pem(&key_bytes("rsa_other_private.pem")).unwrap();
    assert_eq!(
        status_with(&app, &mint(Algorithm::RS256, &other, &claims("viewer"))).await,
        StatusCode::UNAUTHORIZED
    );

    // Algorithm confusion: HS256 "signed" with the RSA public key PEM as the secret.
    let confused = EncodingKey::from_secret(&key_bytes("rsa_public.pem"));
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &confused, &claims("admin"))).await,
        StatusCode::UNAUTHORIZED
    );

    let mut expired = claims("viewer");
    expired["exp"] = json!(now() - 3600);
    assert_eq!(
        status_with(&app, &mint(Algorithm::RS256, &rsa, &expired)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn issuer_and_audience_are_checked_when_configured(pool: PgPool) {
    let settings = JwtSettings {
        issuer: Some("https://auth.example.com".into()),
        audience: Some("policy-gateway".into()),
        ..hs256()
    };
    let app = App::with(pool, settings, 50);
    let secret = EncodingKey::from_secret(SECRET.as_bytes());
    let mut good = claims("viewer");
    good["iss"] = json!("https://auth.example.com");
    good["aud"] = json!("policy-gateway");
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &secret, &good)).await,
        StatusCode::OK
    );

    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("someone-else");
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &secret, &wrong_aud)).await,
        StatusCode::UNAUTHORIZED
    );
    let mut no_aud = good.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &secret, &no_aud)).await,
        StatusCode::UNAUTHORIZED
    );
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("https://evil.example.com");
    assert_eq!(
        status_with(&app, &mint(Algorithm::HS256, &secret, &wrong_iss)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn a_verifier_needs_a_key() {
    let error = Verifier::from_settings(&JwtSettings::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("CP_JWT_HS256_SECRET or CP_JWT_PUBLIC_KEYS"),
        "{error}"
    );
    let missing = JwtSettings {
        public_key_files: vec![key_file("nope.pem")],
        ..JwtSettings::default()
    };
    assert!(Verifier::from_settings(&missing).is_err());
    let private_as_public = JwtSettings {
        public_key_files: vec![key_file("README.md")],
        ..JwtSettings::default()
    };
    assert!(Verifier::from_settings(&private_as_public).is_err());
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn roles_gate_what_a_caller_may_do(pool: PgPool) {
    let app = App::new(pool);
    let doc = json!({ "config": policy("support") });
    // Viewers read only.
    error_of(
        &app.post("/config", &viewer(), doc.clone()).await,
        StatusCode::FORBIDDEN,
    );
    assert_eq!(
        app.post("/config", &editor(), doc.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/configs", &viewer()).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/config?policy_id=support", &viewer()).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/history", &viewer()).await.status, StatusCode::OK);
    let simulate = json!({ "policy_id": "support", "categories": [] });
    error_of(
        &app.post("/simulate", &viewer(), simulate.clone()).await,
        StatusCode::FORBIDDEN,
    );
    assert_eq!(
        app.post("/simulate", &editor(), simulate).await.status,
        StatusCode::OK
    );
    let rollback = json!({ "policy_id": "support", "revision": 1 });
    error_of(
        &app.post("/config/rollback", &viewer(), rollback).await,
        StatusCode::FORBIDDEN,
    );
    error_of(
        &app.post(
            "/rollout/promote",
            &viewer(),
            json!({"policy_id": "support"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    );

    // Editors change policies, not projects or keys.
    let project = json!({ "name": "Support bot" });
    let denied = app.post("/projects", &editor(), project.clone()).await;
    assert_eq!(
        error_of(&denied, StatusCode::FORBIDDEN)["code"],
        "insufficient_role"
    );
    assert_eq!(
        app.post("/projects", &admin(), project).await.status,
        StatusCode::CREATED
    );
    error_of(
        &app.patch("/projects/support-bot", &editor(), json!({"name": "x"}))
            .await,
        StatusCode::FORBIDDEN,
    );
    error_of(
        &app.delete("/projects/support-bot", &editor()).await,
        StatusCode::FORBIDDEN,
    );
    error_of(
        &app.post(
            "/projects/support-bot/keys",
            &editor(),
            json!({"label": "x"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    error_of(
        &app.post("/keys", &viewer(), json!({"label": "x"})).await,
        StatusCode::FORBIDDEN,
    );
    assert_eq!(app.get("/projects", &viewer()).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/projects/support-bot/keys", &viewer())
            .await
            .status,
        StatusCode::OK
    );

    // The fleet is admin-only.
    error_of(&app.get("/nodes", &editor()).await, StatusCode::FORBIDDEN);
    sqlx::query("INSERT INTO data_plane_nodes (node_id, region, connected, applied_version) VALUES ('dp-1', 'eu', true, 7)")
        .execute(&app.pool)
        .await
        .unwrap();
    let nodes = app.get("/nodes", &admin()).await;
    assert_eq!(nodes.status, StatusCode::OK);
    assert_eq!(nodes.body["data"][0]["node_id"], "dp-1");
    assert_eq!(nodes.body["data"][0]["applied_version"], 7);
}
