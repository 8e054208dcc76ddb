//! Test harness: an app over a test database, JWT minting, seed policies, dumps of every
//! table for "never stored" checks.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use control_plane::auth::{JwtSettings, Verifier};
use control_plane::config::parse_hard_blocked;
use control_plane::http::{AppState, router};
use control_plane::service::Settings;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt as _;

pub const SECRET: &str = "test-hs256-secret-of-reasonable-length";
pub const ORG: &str = "acme";
pub const OTHER_ORG: &str = "globex";

pub struct App {
    pub router: Router,
    pub pool: PgPool,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl App {
    pub fn new(pool: PgPool) -> Self {
        Self::with(pool, hs256(), 50)
    }

    pub fn with(pool: PgPool, jwt: JwtSettings, history_limit: u32) -> Self {
        let verifier = Verifier::from_settings(&jwt).expect("verifier");
        let state = AppState {
            pool: pool.clone(),
            verifier: Arc::new(verifier),
            settings: Arc::new(Settings {
                history_limit,
                hard_blocked: parse_hard_blocked("sexual/minors").expect("categories"),
            }),
        };
        App {
            router: router(state),
            pool,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/api/policy-gateway{path}"))
            .header("authorization", format!("Bearer {token}"));
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Saves a policy as an editor of `ORG`, asserting success.
    pub async fn save(&self, config: &Value) -> Value {
        let reply = self
            .post("/config", &editor(), json!({ "config": config }))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    pub async fn config_version(&self) -> i64 {
        control_plane::db::config_version::current(&self.pool)
            .await
            .expect("version")
    }

    /// Every row of every table as text, for "never stored" assertions.
    pub async fn dump(&self) -> String {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text,
                    query_to_xml(format('SELECT * FROM %I', table_name), true, false, '')::text
             FROM information_schema.tables
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&self.pool)
        .await
        .expect("dump");
        let tables: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
        assert!(
            tables.contains(&"history") && tables.contains(&"api_keys"),
            "{tables:?}"
        );
        rows.into_iter()
            .map(|(_, dump)| dump)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn hs256() -> JwtSettings {
    JwtSettings {
        hs256_secret: Some(SECRET.to_owned()),
        ..JwtSettings::default()
    }
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

pub fn mint(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).expect("encode")
}

pub fn token_for(org: &str, role: &str) -> String {
    let claims =
        json!({ "sub": format!("{role}@{org}"), "org": org, "role": role, "exp": now() + 3600 });
    mint(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        &claims,
    )
}

pub fn admin() -> String {
    token_for(ORG, "admin")
}

pub fn editor() -> String {
    token_for(ORG, "editor")
}

pub fn viewer() -> String {
    token_for(ORG, "viewer")
}

/// A small valid policy with its own id.
pub fn policy(policy_id: &str) -> Value {
    json!({
        "policy_id": policy_id,
        "name": format!("Policy {policy_id}"),
        "rules": {
            "allowlist": ["refund policy", "account support"],
            "denylist": ["illegal instructions"],
            "response_pattern": "refuse",
            "flagged_categories": ["self-harm/intent"]
        },
        "org_controls": {
            "project_quota": { "requests": 100, "tokens": 5000, "window": "monthly" }
        }
    })
}

/// `policy(id)` with a staged rollout: canary and/or shadow enabled.
pub fn staged(policy_id: &str, shadow: bool, canary: bool) -> Value {
    let mut doc = policy(policy_id);
    doc["rules"]["denylist"] = json!(["illegal instructions", "competitor pricing"]);
    doc["rollout"] = json!({
        "shadow": { "enabled": shadow, "sample_percent": 100, "targets": [] },
        "canary": { "enabled": canary, "sample_percent": 100, "targets": [] }
    });
    doc
}

/// The second seed policy of SPEC §11, as written there.
pub fn seed_policy_as_code() -> Value {
    json!({ "policy_id": "policy-as-code", "name": "Policy as code", "owner": "Security team",
      "description": "Explicit allowlist and denylist behavior.",
      "rules": { "allowlist": ["public docs", "status page"],
        "denylist": ["internal incident", "credential sharing", "security bypass"],
        "flagged_categories": ["self-harm/intent", "violence/graphic", "sexual/minors"],
        "response_pattern": "refuse", "rewrite_instead_of_refuse": false, "redact": true,
        "reason_codes": ["ALLOW", "REFUSE", "REDACT"] },
      "org_controls": { "project_keys": true, "user_quotas": true, "audit_logs": true,
        "data_classification": "restricted",
        "user_quota": { "requests": 100, "tokens": 10000, "window": "daily" },
        "project_quota": { "requests": 5000, "tokens": 500000, "window": "monthly" } },
      "rollout": { "shadow": { "enabled": true, "sample_percent": 25, "targets": ["knowledge-bot"] },
        "canary": { "enabled": true, "sample_percent": 10, "targets": ["knowledge-bot"] },
        "rollback_on_spike": true },
      "refusal_replacement": { "mode": "refuse", "escalation_path": "security@company.com" } })
}

/// Asserts the OpenAI error shape and returns the error object.
pub fn error_of(reply: &Reply, status: StatusCode) -> &Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    let error = &reply.body["error"];
    for field in ["message", "type", "param", "code"] {
        assert!(
            error.get(field).is_some(),
            "missing {field} in {}",
            reply.body
        );
    }
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    error
}
