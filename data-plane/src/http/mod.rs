//! The data plane's HTTP surface (SPEC §3.1): chat completions on two paths, the
//! upstream's model list, health, readiness and metrics. Every response carries
//! `X-Request-Id` (the client's, when it sent a sane one, else a fresh UUIDv7); unknown
//! paths and methods get OpenAI-shaped errors.

mod auth;
mod chat;
mod forward;
pub mod quota;
pub mod record;
pub mod request;
mod respond;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};

use crate::error::ApiError;
use crate::state::AppState;
use crate::upstream::read_body;

/// The request id, set by the middleware for handlers to use.
#[derive(Clone, Debug)]
pub struct RequestId(pub HeaderValue);

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/policy/chat/completions",
            post(chat::chat_completions).fallback(method_not_allowed),
        )
        .route(
            "/v1/chat/completions",
            post(chat::chat_completions).fallback(method_not_allowed),
        )
        .route("/v1/models", get(models).fallback(method_not_allowed))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Longest client-sent request id kept; anything longer or odd is replaced.
const MAX_REQUEST_ID: usize = 128;

async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .filter(|v| {
            let bytes = v.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_REQUEST_ID
                && bytes.iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .or_else(|| HeaderValue::from_str(&uuid::Uuid::now_v7().to_string()).ok())
        .unwrap_or_else(|| HeaderValue::from_static("unknown"));
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    response.headers_mut().insert("x-request-id", id);
    response
}

async fn not_found(request: Request) -> Response {
    ApiError::NotFound(format!("{} {}", request.method(), request.uri().path())).into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    match app.snapshot.load().as_ref() {
        Some(snapshot) => format!("ready: snapshot {}\n", snapshot.version).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no snapshot yet\n",
        )
            .into_response(),
    }
}

async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    let mut response = app.metrics.render().into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `GET /v1/models`: the upstream's list, passed through. It needs a valid key like
/// every other route that reaches the upstream.
async fn models(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_else(|| HeaderValue::from_static("unknown"));
    let (parts, _) = request.into_parts();
    let result = async {
        let snapshot = app.snapshot.load_full().ok_or(ApiError::NoSnapshot)?;
        auth::authenticate(&snapshot, &parts.headers)?;
        let upstream = app.upstream.models(&id).await?;
        let status = upstream.status();
        let content_type = upstream.headers().get(CONTENT_TYPE).cloned();
        let body = read_body(upstream.into_body(), app.upstream.timeout).await?;
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        if let Some(content_type) = content_type {
            response.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        Ok::<_, ApiError>(response)
    }
    .await;
    result.unwrap_or_else(|error| {
        app.metrics.error(error.status().as_u16());
        error.into_response()
    })
}
