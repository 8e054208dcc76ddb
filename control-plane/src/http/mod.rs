//! The management REST API under `/api/policy-gateway` (SPEC §7).
//!
//! Handlers are thin: authenticate (the [`Caller`](crate::auth::Caller) extractor, first so
//! a 401 comes before any body parsing), check the role, call the service, answer JSON.

mod extract;
pub(crate) mod handlers;
pub mod health;
mod observe;
mod resources;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{delete, get, post};
use sqlx::PgPool;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use crate::auth::Verifier;
use crate::error::ApiError;
use crate::service::Settings;

/// The path prefix of every route.
pub const PREFIX: &str = "/api/policy-gateway";

/// Largest request body: a policy with two lists of 10,000 terms of 256 characters fits.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: Arc<Verifier>,
    pub settings: Arc<Settings>,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// The API router, ready to serve (tests drive it with `oneshot`).
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/config",
            post(handlers::save_config).get(handlers::get_config),
        )
        .route("/configs", get(handlers::list_configs))
        .route("/config/revisions", get(handlers::list_revisions))
        .route("/config/revisions/{revision}", get(handlers::get_revision))
        .route("/config/rollback", post(handlers::rollback))
        .route("/rollout/promote", post(handlers::promote))
        .route("/rollout/abort", post(handlers::abort))
        .route("/rollout/status", get(handlers::rollout_status))
        .route("/simulate", post(handlers::simulate))
        .route("/history", get(handlers::history))
        .route("/usage", get(handlers::usage))
        .route("/nodes", get(handlers::nodes))
        .route(
            "/projects",
            post(resources::create_project).get(resources::list_projects),
        )
        .route(
            "/projects/{id}",
            get(resources::get_project)
                .patch(resources::update_project)
                .delete(resources::delete_project),
        )
        .route(
            "/projects/{id}/keys",
            post(resources::create_project_key).get(resources::list_project_keys),
        )
        .route(
            "/projects/{id}/keys/{key_id}",
            delete(resources::revoke_project_key),
        )
        .route(
            "/keys",
            post(resources::create_org_key).get(resources::list_org_keys),
        )
        .route("/keys/{key_id}", delete(resources::revoke_org_key))
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .route("/metrics", get(prometheus_metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest(PREFIX, api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Inside the request-id layer (the span names the id), outside the timeout (a
        // 504 is counted too).
        .layer(axum::middleware::from_fn(observe::observe))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// `GET /metrics`: the Prometheus exposition (SPEC §10), without authentication like
/// the data plane's; it names no tenant data.
async fn prometheus_metrics() -> Response {
    let mut response = crate::metrics::metrics().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
