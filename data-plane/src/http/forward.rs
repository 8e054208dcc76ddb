//! Forwarding an allowed (or rewritten, or summarized) request and relaying the answer
//! (SPEC §2.4, §2.7, §3.4).
//!
//! Non-streamed answers are read whole, redacted (every text field of
//! `choices[].message`: content, refusal, tool-call arguments) when the policy redacts,
//! and returned with the `policy` record. Streamed
//! answers go through [`Relay`] event by event, so the first token reaches the client as
//! soon as the redactor releases it. Either way the request's audit entry (with the final
//! redaction counts) and usage record (exact upstream tokens, estimated only when none
//! were reported) are handed to the reporter when the answer is complete — or, for a
//! stream the client abandons, when it is dropped.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use policy_engine::redact::RedactionCounts;
use policy_engine::{CompiledPolicy, Decision};
use serde_json::Value;
use tokio::sync::watch;
use tracing::{Instrument as _, Span, debug, field, warn};

use super::record::{Facts, estimate_tokens};
use super::respond::{decision_headers, json_response, sse_response};
use crate::error::ApiError;
use crate::quota::QuotaGuard;
use crate::state::AppState;
use crate::trace_span;
use crate::upstream::relay::{Relay, Usage};
use crate::upstream::sse::SseParser;
use crate::upstream::text::{for_each_text, redact_whole};
use crate::upstream::{UpstreamError, read_body};

/// One forwarded request.
pub struct Forward {
    pub body: Bytes,
    pub stream: bool,
    /// The gateway added `stream_options.include_usage`: hide the usage chunk.
    pub strip_usage: bool,
    pub decision: Decision,
    /// The revision that took `decision`.
    pub policy: Arc<CompiledPolicy>,
    pub facts: Arc<Facts>,
    pub request_id: HeaderValue,
    pub prompt_bytes: usize,
    /// When the request arrived, for the overhead histogram.
    pub started: Instant,
    /// Its quota reservations, settled when the answer ends (SPEC §4).
    pub quota: QuotaGuard,
}

impl Forward {
    fn redact(&self) -> bool {
        self.policy.policy().rules.redact
    }
}

pub async fn forward(app: &Arc<AppState>, fwd: Forward) -> Response {
    let sent = Instant::now();
    let pre_upstream = sent - fwd.started;
    // The upstream continues the request's trace from this span (`traceparent`).
    let span = trace_span!(
        "upstream",
        otel.kind = "client",
        otel.status_code = field::Empty,
        http.response.status_code = field::Empty
    );
    let result = app
        .upstream
        .chat(fwd.body.clone(), &fwd.request_id, fwd.stream)
        .instrument(span.clone())
        .await;
    app.metrics.upstream_latency.observe(sent.elapsed());
    let upstream = match result {
        Ok(response) => response,
        Err(error) => {
            span.record("otel.status_code", "ERROR");
            return upstream_failed(app, &fwd, error);
        }
    };
    let status = upstream.status();
    span.record("http.response.status_code", status.as_u16());
    drop(span);
    let is_sse = upstream
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if status.is_success() && fwd.stream && is_sse {
        app.metrics.overhead.observe(pre_upstream);
        return stream_response(app, fwd, upstream.into_body());
    }
    let retry_after = upstream.headers().get(RETRY_AFTER).cloned();
    let body = match read_body(upstream.into_body(), app.upstream.timeout).await {
        Ok(body) => body,
        Err(error) => return upstream_failed(app, &fwd, error),
    };
    let after_body = Instant::now();
    let (mut response, decision) = if status.is_success() {
        match complete_json(app, &fwd, &body) {
            Some(done) => done,
            None => {
                let error = UpstreamError::Unavailable(
                    "the upstream answer is not a chat completion".into(),
                );
                return upstream_failed(app, &fwd, error);
            }
        }
    } else if status.is_server_error() {
        return upstream_failed(
            app,
            &fwd,
            UpstreamError::Unavailable(format!("status {status}")),
        );
    } else {
        // The upstream's own answer to a bad request (unknown model, context too long,
        // rate limit), passed through with its status. It consumed no quota.
        fwd.quota.refund();
        app.reporter
            .audit(fwd.facts.audit(&fwd.decision, &fwd.policy));
        let mut response = with_policy(status, &body, &fwd.decision);
        if let Some(retry_after) = retry_after {
            response.headers_mut().insert(RETRY_AFTER, retry_after);
        }
        (response, fwd.decision.clone())
    };
    // After redaction, so `X-Policy-Reason-Code` says REDACT when the body does.
    decision_headers(response.headers_mut(), &decision);
    app.metrics
        .overhead
        .observe(pre_upstream + after_body.elapsed());
    response
}

/// A non-streamed completion: redacted, `policy` attached, usage reported.
fn complete_json(app: &AppState, fwd: &Forward, body: &[u8]) -> Option<(Response, Decision)> {
    let mut completion: Value = serde_json::from_slice(body).ok()?;
    let object = completion.as_object_mut()?;
    let mut decision = fwd.decision.clone();
    let mut completion_bytes = 0;
    let _redaction = fwd.redact().then(|| trace_span!("redaction").entered());
    if let Some(choices) = object.get_mut("choices").and_then(Value::as_array_mut) {
        let mut counts = RedactionCounts::default();
        for choice in choices {
            let Some(message) = choice.get_mut("message").and_then(Value::as_object_mut) else {
                continue;
            };
            for_each_text(message, |field, text| {
                completion_bytes += text.len();
                if fwd.redact()
                    && let Some((redacted, found)) = redact_whole(field, text)
                {
                    counts.add(&found);
                    *text = redacted;
                }
            });
        }
        if fwd.redact() {
            decision.record_redaction(&fwd.policy, &counts);
        }
    }
    let usage = object
        .get("usage")
        .and_then(Usage::from_json)
        .unwrap_or(Usage {
            prompt_tokens: estimate_tokens(fwd.prompt_bytes),
            completion_tokens: estimate_tokens(completion_bytes),
        });
    object.insert(
        "policy".to_string(),
        serde_json::to_value(&decision).unwrap_or(Value::Null),
    );
    let charges = fwd
        .quota
        .settle(usage.prompt_tokens.saturating_add(usage.completion_tokens));
    app.reporter.usage(fwd.facts.usage(usage, charges));
    app.reporter.audit(fwd.facts.audit(&decision, &fwd.policy));
    let bytes = serde_json::to_vec(&completion).ok()?;
    Some((json_response(StatusCode::OK, Body::from(bytes)), decision))
}

/// An upstream error body with the `policy` record added when it is a JSON object.
fn with_policy(status: StatusCode, body: &Bytes, decision: &Decision) -> Response {
    let bytes = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut object)) => {
            object.insert(
                "policy".to_string(),
                serde_json::to_value(decision).unwrap_or(Value::Null),
            );
            Bytes::from(Value::Object(object).to_string())
        }
        _ => body.clone(),
    };
    json_response(status, Body::from(bytes))
}

/// 502/504 after a decision: OpenAI error body plus the `policy` record and headers.
fn upstream_failed(app: &AppState, fwd: &Forward, error: UpstreamError) -> Response {
    warn!(request_id = %fwd.facts.request_id, %error, "upstream call failed");
    fwd.quota.refund();
    app.reporter
        .audit(fwd.facts.audit(&fwd.decision, &fwd.policy));
    let error = ApiError::from(error);
    app.metrics.error(error.status().as_u16());
    let mut body = error.body();
    body["policy"] = serde_json::to_value(&fwd.decision).unwrap_or(Value::Null);
    let mut response = json_response(error.status(), Body::from(body.to_string()));
    decision_headers(response.headers_mut(), &fwd.decision);
    response
}

/// Streams the upstream's SSE answer through a [`Relay`].
fn stream_response(app: &Arc<AppState>, fwd: Forward, body: Incoming) -> Response {
    let relay = Relay::new(
        fwd.decision.clone(),
        fwd.policy.clone(),
        fwd.redact(),
        fwd.strip_usage,
    );
    let state = StreamState {
        body,
        parser: SseParser::default(),
        relay,
        idle: app.upstream.timeout,
        done: false,
        end: app.end_streams.clone(),
        app: app.clone(),
        facts: fwd.facts.clone(),
        policy: fwd.policy.clone(),
        prompt_bytes: fwd.prompt_bytes,
        // Redaction of a stream lasts as long as the relay.
        redaction: if fwd.redact() {
            trace_span!("redaction")
        } else {
            Span::none()
        },
        quota: fwd.quota,
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        let redaction = state.redaction.clone();
        let chunk = state.next_chunk().instrument(redaction).await?;
        Some((Ok::<Bytes, Infallible>(chunk), state))
    });
    let mut response = sse_response(Body::from_stream(stream));
    decision_headers(response.headers_mut(), &fwd.decision);
    response
}

struct StreamState {
    body: Incoming,
    parser: SseParser,
    relay: Relay,
    idle: Duration,
    done: bool,
    end: watch::Receiver<bool>,
    app: Arc<AppState>,
    facts: Arc<Facts>,
    policy: Arc<CompiledPolicy>,
    prompt_bytes: usize,
    redaction: Span,
    quota: QuotaGuard,
}

impl StreamState {
    /// The next bytes for the client; `None` once the stream is over.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        while !self.done {
            let next = tokio::select! {
                next = tokio::time::timeout(self.idle, self.body.frame()) => next,
                _ = self.end.wait_for(|end| *end) => {
                    self.done = true;
                    let out = self.relay.on_error("the gateway is shutting down", "gateway_shutdown");
                    return Some(Bytes::from(out));
                }
            };
            let out = match next {
                Err(_) => {
                    self.done = true;
                    self.relay
                        .on_error("the upstream stopped sending", "upstream_timeout")
                }
                Ok(None) => {
                    self.done = true;
                    let mut out = Vec::new();
                    let mut ended = false;
                    if let Some(data) = self.parser.finish() {
                        let step = self.relay.on_event(&data);
                        out.extend(step.out);
                        ended = step.end;
                    }
                    if !ended {
                        out.extend(self.relay.on_eof());
                    }
                    out
                }
                Ok(Some(Err(error))) => {
                    self.done = true;
                    debug!(%error, "upstream stream broke");
                    self.relay
                        .on_error("the upstream stream failed", "upstream_error")
                }
                Ok(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    match self.parser.push(&data) {
                        Ok(events) => {
                            let mut out = Vec::new();
                            for event in events {
                                let step = self.relay.on_event(&event);
                                out.extend(step.out);
                                if step.end {
                                    self.done = true;
                                    break;
                                }
                            }
                            out
                        }
                        Err(error) => {
                            self.done = true;
                            self.relay.on_error(&error.to_string(), "upstream_error")
                        }
                    }
                }
            };
            if !out.is_empty() {
                return Some(Bytes::from(out));
            }
        }
        None
    }
}

impl Drop for StreamState {
    /// Reports once the stream is over or abandoned: the decision with every redaction
    /// made, and the upstream's token counts (estimated from the text seen when the
    /// stream carried none, e.g. when it was cut).
    fn drop(&mut self) {
        let decision = self.relay.decision();
        let reported = self.relay.usage();
        let usage = reported.unwrap_or(Usage {
            prompt_tokens: estimate_tokens(self.prompt_bytes),
            completion_tokens: estimate_tokens(self.relay.completion_bytes()),
        });
        // A stream cut before it finished is charged its whole reservation: what the
        // upstream really produced is unknown (SPEC §4).
        let charges = if reported.is_some() || self.relay.finished() {
            self.quota
                .settle(usage.prompt_tokens.saturating_add(usage.completion_tokens))
        } else {
            self.quota.settle_reserved()
        };
        self.app.reporter.usage(self.facts.usage(usage, charges));
        self.app
            .reporter
            .audit(self.facts.audit(&decision, &self.policy));
    }
}
