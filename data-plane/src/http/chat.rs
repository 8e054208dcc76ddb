//! `POST /policy/chat/completions` and `POST /v1/chat/completions` (SPEC §3): one
//! handler, every decision enforced the same way in both stream modes.
//!
//! The order of checks: snapshot (503) → key (401) → body size (413) → body shape (400)
//! → project scope (403/404) → policy (400/404) → moderation and decision. The snapshot
//! is loaded once and pinned for the request's whole life.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderValue;
use http::header::CONTENT_LENGTH;
use policy_engine::chat::last_user_text;
use policy_engine::{DecisionInput, RolloutMode, RolloutRequest};
use serde_json::{Value, json};
use tracing::{Instrument, field, info_span};

use super::RequestId;
use super::auth::{authenticate, resolve};
use super::forward::{Forward, forward};
use super::quota;
use super::record::Facts;
use super::request::{self, ChatRequest};
use super::respond::{blocked_response, instruction};
use crate::error::ApiError;
use crate::state::AppState;
use crate::trace_span;

pub async fn chat_completions(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_else(|| HeaderValue::from_static("unknown"));
    let span = info_span!(
        "chat_completion",
        request_id = request_id.to_str().unwrap_or_default(),
        policy.id = field::Empty,
        policy.revision = field::Empty,
        policy.decision = field::Empty,
        policy.reason_code = field::Empty,
        policy.rollout_mode = field::Empty,
        policy.enforced = field::Empty,
        project.id = field::Empty,
        http.response.status_code = field::Empty,
        otel.kind = "server",
        otel.status_code = field::Empty,
    );
    // The request continues the client's trace (W3C `traceparent`), when traced.
    crate::telemetry::set_parent_from(&span, request.headers());
    let outcome = handle(&app, request, request_id, started)
        .instrument(span.clone())
        .await;
    match outcome {
        Ok(response) => {
            record_status(&span, response.status());
            response
        }
        Err(error) => {
            record_status(&span, error.status());
            let status = error.status();
            app.metrics.error(status.as_u16());
            if let ApiError::Upstream(detail) = &error {
                tracing::warn!(%detail, "upstream failure");
            }
            tracing::debug!(status = status.as_u16(), error = %error, "request rejected");
            error.into_response()
        }
    }
}

/// The answer's status on the request span, for traces only: recording a field re-renders
/// the span's fields for JSON logs, a cost not worth paying when no trace is exported.
fn record_status(span: &tracing::Span, status: http::StatusCode) {
    if crate::telemetry::enabled() {
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
}

async fn handle(
    app: &Arc<AppState>,
    request: Request,
    request_id: HeaderValue,
    started: Instant,
) -> Result<Response, ApiError> {
    let snapshot = app.snapshot.load_full().ok_or(ApiError::NoSnapshot)?;
    let (parts, body) = request.into_parts();
    let key = trace_span!("auth").in_scope(|| authenticate(&snapshot, &parts.headers))?;
    let bytes = read_limited(body, &parts.headers, app.limits.max_body_bytes).await?;
    let ChatRequest {
        mut body,
        model,
        stream,
        include_usage,
        meta,
        modified,
    } = request::parse(&bytes, &parts.headers, &app.limits)?;
    let scope = resolve(&snapshot, key, &meta)?;

    let span = tracing::Span::current();
    span.record("policy.id", &*scope.policy_id);
    if let Some(project) = scope.project {
        span.record("project.id", &*project.id);
    }

    let request_id_text = request_id.to_str().unwrap_or_default().to_string();
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text = last_user_text(messages).unwrap_or_default();
    let moderation = app
        .moderation
        .classify(&text)
        .instrument(trace_span!("moderation"))
        .await;
    let target = meta
        .target
        .as_deref()
        .or(scope.project.map(|p| p.id.as_ref()));
    let evaluation = trace_span!("policy_evaluation").in_scope(|| {
        scope.policy.revisions.evaluate(
            &RolloutRequest {
                sample_key: meta.user.as_deref().unwrap_or(&request_id_text),
                target,
            },
            &DecisionInput {
                text: &text,
                moderation,
                hard_blocked: snapshot.hard_blocked,
            },
        )
    });
    let decision = evaluation.enforced;
    span.record("policy.revision", decision.revision);
    span.record("policy.decision", decision.decision.name());
    span.record("policy.reason_code", decision.reason_code.name());
    span.record("policy.rollout_mode", decision.rollout_mode.name());
    span.record("policy.enforced", decision.enforced);
    app.metrics
        .decision(decision.decision, decision.reason_code);

    let revisions = &scope.policy.revisions;
    let deciding = match (decision.rollout_mode, &revisions.candidate) {
        (RolloutMode::Canary, Some(candidate)) => candidate.clone(),
        _ => revisions.stable.clone(),
    };
    let facts = Arc::new(Facts {
        request_id: request_id_text,
        node_id: app.node_id.clone(),
        org: key.org.clone(),
        key_id: key.key_id.clone(),
        project_id: scope.project.map(|p| p.id.clone()),
        project_label: scope.project.map(|p| p.name.clone()),
        policy_id: scope.policy_id.clone(),
        user: meta.user,
        target: meta.target,
        model,
    });
    // The candidate's decision is recorded, never acted on (SPEC §2.6).
    if let (Some(shadow), Some(candidate)) = (&evaluation.shadow, &revisions.candidate) {
        app.reporter.audit(facts.audit(shadow, candidate));
    }
    tracing::debug!(
        decision = decision.decision.name(),
        reason_code = decision.reason_code.name(),
        "decided"
    );

    if !decision.decision.is_forwarded() {
        app.reporter.audit(facts.audit(&decision, &deciding));
        let response = blocked_response(
            &decision,
            &deciding,
            &facts.model,
            stream,
            include_usage == Some(true),
        );
        app.metrics.overhead.observe(started.elapsed());
        return Ok(response);
    }

    let mut modified = modified;
    if let Some(instruction) = instruction(&decision, &deciding)
        && let Some(Value::Array(messages)) = body.get_mut("messages")
    {
        messages.insert(0, json!({"role": "system", "content": instruction}));
        modified = true;
    }
    // Ask for usage so token counts are exact, and hide that chunk from a client that
    // did not ask for it (SPEC §3.4).
    let strip_usage = stream && include_usage.is_none();
    if strip_usage {
        match body
            .get_mut("stream_options")
            .and_then(Value::as_object_mut)
        {
            Some(options) => {
                options.insert("include_usage".into(), Value::Bool(true));
            }
            None => {
                body.insert("stream_options".into(), json!({"include_usage": true}));
            }
        }
        modified = true;
    }
    let prompt_bytes = request::prompt_bytes(&body);
    // Quotas count forwarded requests only, admitted before the upstream call (SPEC §4).
    let project = scope.project.map(|p| &**p);
    let quota = match quota::admit(
        app,
        &deciding,
        project,
        &facts,
        &body,
        prompt_bytes,
        &decision,
    )
    .await
    {
        Ok(quota) => quota,
        Err(refused) => return Ok(refused),
    };
    let upstream_body = if modified {
        Bytes::from(serde_json::to_vec(&body).map_err(|e| ApiError::MalformedJson(e.to_string()))?)
    } else {
        // Nothing changed: forward the client's bytes exactly as sent.
        bytes
    };
    Ok(forward(
        app,
        Forward {
            body: upstream_body,
            stream,
            strip_usage,
            decision,
            policy: deciding,
            facts,
            request_id,
            prompt_bytes,
            started,
            quota,
        },
    )
    .await)
}

/// Reads the body, answering 413 past `limit` (early, from `Content-Length`, when the
/// client declares it).
async fn read_limited(
    body: Body,
    headers: &http::HeaderMap,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                Err(ApiError::PayloadTooLarge(limit))
            } else {
                Err(ApiError::BodyUnreadable)
            }
        }
    }
}
