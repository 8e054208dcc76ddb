//! One span and one count per REST request (SPEC §10).
//!
//! Runs inside the router, where the matched route template is known: the span and the
//! `cp_http_requests_total` label carry the template, never the raw path with its ids.
//! The span continues the caller's W3C `traceparent` when traces are exported.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::{Instrument as _, field};

use crate::metrics::{UNMATCHED_ROUTE, metrics};

pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!(
        "http_request",
        http.request.method = %request.method(),
        http.route = %route,
        http.response.status_code = field::Empty,
        request_id = %request_id,
        otel.kind = "server",
    );
    policy_telemetry::set_parent_from(&span, request.headers());
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    metrics().http_request(&route, status);
    tracing::debug!(parent: &span, status, latency_ms = started.elapsed().as_millis() as u64,
        "request finished");
    response
}
