//! What the gateway itself says (SPEC §2.4, §3.4): the decision headers, the answer to
//! an ESCALATE or REFUSE (a well-formed chat completion, or its SSE stream), and the
//! system message prepended for REWRITE and SUMMARY.
//!
//! None of these texts ever quote the user's message: they name only the policy's own
//! terms, categories and escalation path.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::Response;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use policy_engine::{CompiledPolicy, Decision, DecisionKind, ReasonDetail};
use serde_json::{Value, json};

/// Adds `X-Policy-Decision`, `X-Policy-Reason-Code` and `X-Policy-Revision`.
pub fn decision_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert(
        "x-policy-decision",
        HeaderValue::from_static(decision.decision.name()),
    );
    headers.insert(
        "x-policy-reason-code",
        HeaderValue::from_static(decision.reason_code.name()),
    );
    headers.insert("x-policy-revision", HeaderValue::from(decision.revision));
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The assistant text of an ESCALATE or REFUSE.
pub fn blocked_text(decision: &Decision, policy: &CompiledPolicy) -> String {
    let replacement = &policy.policy().refusal_replacement;
    if let Some(message) = &replacement.message {
        return message.clone();
    }
    match (decision.decision, decision.reason_detail) {
        (_, Some(ReasonDetail::ModerationUnavailable)) => {
            "This request could not be checked right now, so it was not sent. Please try again later."
                .to_string()
        }
        (DecisionKind::Escalate, None) => match &replacement.escalation_path {
            Some(path) => format!(
                "This request has been escalated for review to {path}. You will be contacted once it has been reviewed."
            ),
            None => "This request has been escalated for human review.".to_string(),
        },
        _ => "I can't help with that request: it is outside what this assistant is allowed to discuss."
            .to_string(),
    }
}

/// The answer to a request that is not forwarded: a chat completion, or for
/// `stream: true` the same as SSE chunks ending in `data: [DONE]`.
pub fn blocked_response(
    decision: &Decision,
    policy: &CompiledPolicy,
    model: &str,
    stream: bool,
    include_usage: bool,
) -> Response {
    let text = blocked_text(decision, policy);
    let refusal = (decision.decision == DecisionKind::Refuse).then(|| text.clone());
    let id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
    let created = unix_now();
    let record = serde_json::to_value(decision).unwrap_or(Value::Null);
    let usage = json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0});
    let mut response = if stream {
        let mut out = Vec::new();
        let mut push = |value: Value| {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(value.to_string().as_bytes());
            out.extend_from_slice(b"\n\n");
        };
        push(json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": text, "refusal": refusal},
                         "logprobs": null, "finish_reason": null}],
        }));
        push(json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "content_filter"}],
            "policy": record,
        }));
        if include_usage {
            push(json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [], "usage": usage,
            }));
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        sse_response(Body::from(out))
    } else {
        let body = json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": text, "refusal": refusal},
                         "logprobs": null, "finish_reason": "content_filter"}],
            "usage": usage,
            "policy": record,
        });
        json_response(StatusCode::OK, body.to_string().into())
    };
    decision_headers(response.headers_mut(), decision);
    response
}

pub fn sse_response(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub fn json_response(status: StatusCode, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// How many allowlist terms a default instruction names; a 10,000-term list would
/// crowd out the conversation.
const NAMED_TOPICS: usize = 20;

/// The system message for a forwarded REWRITE or SUMMARY; `None` for ALLOW.
pub fn instruction(decision: &Decision, policy: &CompiledPolicy) -> Option<String> {
    let rules = &policy.policy().rules;
    match decision.decision {
        DecisionKind::Rewrite => Some(
            rules
                .rewrite_instruction
                .clone()
                .unwrap_or_else(|| default_rewrite(decision, &rules.allowlist)),
        ),
        DecisionKind::Summary => Some(
            rules
                .summary_instruction
                .clone()
                .unwrap_or_else(|| default_summary(decision)),
        ),
        DecisionKind::Allow | DecisionKind::Escalate | DecisionKind::Refuse => None,
    }
}

fn avoid_clause(decision: &Decision) -> Option<String> {
    let mut avoid: Vec<String> = decision
        .denylist_hits
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect();
    avoid.extend(
        decision
            .triggered_categories
            .iter()
            .map(|c| format!("{c} content")),
    );
    (!avoid.is_empty()).then(|| {
        format!(
            " Do not provide information about {}; if the request is about that, decline that part briefly.",
            avoid.join(", ")
        )
    })
}

fn default_rewrite(decision: &Decision, allowlist: &[String]) -> String {
    let mut text = String::from(
        "You are answering through a policy gateway. Keep the answer within the approved topics",
    );
    if allowlist.is_empty() {
        text.push('.');
    } else {
        let named: Vec<String> = allowlist
            .iter()
            .take(NAMED_TOPICS)
            .map(|t| format!("\"{t}\""))
            .collect();
        text.push_str(&format!(": {}", named.join(", ")));
        if allowlist.len() > NAMED_TOPICS {
            text.push_str(" and related approved topics");
        }
        text.push('.');
    }
    if let Some(avoid) = avoid_clause(decision) {
        text.push_str(&avoid);
    }
    if decision.off_topic {
        text.push_str(
            " If the request is outside these topics, say so politely and offer help within them.",
        );
    }
    text
}

fn default_summary(decision: &Decision) -> String {
    let mut text = String::from(
        "Answer with a brief, high-level summary only. Do not include step-by-step instructions, commands, code, quantities or other operational detail.",
    );
    if let Some(avoid) = avoid_clause(decision) {
        text.push_str(&avoid);
    }
    text
}
