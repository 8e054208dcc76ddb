//! The quickstart's demo upstream: an OpenAI-compatible server that is not a model.
//!
//! It answers `POST /v1/chat/completions` (whole or streamed) with one of a few canned
//! sentences picked from the request, so the quickstart's table is easy to read: an
//! answer that says the gateway's system message arrived (REWRITE), one that carries an
//! email address and a phone number (for redaction to remove), and a plain one. It is a
//! demo: for real answers point the data planes' `UPSTREAM_BASE_URL` at OpenAI, vLLM,
//! Ollama or any OpenAI-compatible server.

use serde_json::{Value, json};

/// Said when the gateway prepended its system message (a REWRITE or SUMMARY decision).
pub const STAYS_ON_TOPIC: &str = "[demo upstream] The gateway added a system message, so \
this answer keeps to the approved topics: refunds and account support.";

/// Said when the user asks how to reach someone: personal data for redaction to remove.
pub const CONTACT: &str = "[demo upstream] Write to oncall@example.com or call \
+1 415 555 0132; the status page lists every incident.";

/// Said otherwise.
pub const PLAIN: &str = "[demo upstream] Annual plans can be refunded within 30 days. \
(A canned answer: point UPSTREAM_BASE_URL at a real model for real ones.)";

/// Words that make the user's question a request for contact details.
const CONTACT_WORDS: [&str; 4] = ["contact", "reach", "email", "phone"];

/// The assistant text for a chat completion request.
pub fn answer_text(request: &Value) -> &'static str {
    let messages = request["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if messages.iter().any(|m| m["role"] == "system") {
        return STAYS_ON_TOPIC;
    }
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default()
        .to_lowercase();
    if CONTACT_WORDS.iter().any(|word| last_user.contains(word)) {
        CONTACT
    } else {
        PLAIN
    }
}

/// String content, or the concatenated `text` parts of array content.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// A rough token count (about four bytes a token), enough for usage figures.
fn tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

fn prompt_tokens(request: &Value) -> u64 {
    request["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|m| tokens(&text_of(&m["content"])))
                .sum()
        })
        .unwrap_or(0)
}

fn model_of(request: &Value) -> &str {
    request["model"].as_str().unwrap_or("demo-model")
}

fn usage(request: &Value, content: &str) -> Value {
    let prompt = prompt_tokens(request);
    let completion = tokens(content);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion
    })
}

/// A whole (non-streamed) chat completion answering `request`.
pub fn completion(request: &Value, created: u64) -> Value {
    let content = answer_text(request);
    json!({
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": created,
        "model": model_of(request),
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": usage(request, content)
    })
}

/// The same answer as server-sent events: the text in a few chunks, the finishing chunk,
/// a usage chunk when `stream_options.include_usage` asks for one, then `[DONE]`.
pub fn completion_events(request: &Value, created: u64) -> String {
    let content = answer_text(request);
    let model = model_of(request);
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-demo",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]
        })
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in content.split_inclusive(' ').collect::<Vec<_>>().chunks(4) {
        events.push(chunk(json!({"content": piece.concat()}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    if request["stream_options"]["include_usage"] == true {
        events.push(json!({
            "id": "chatcmpl-demo",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage(request, content)
        }));
    }
    let mut body: String = events
        .iter()
        .map(|event| format!("data: {event}\n\n"))
        .collect();
    body.push_str("data: [DONE]\n\n");
    body
}

/// `GET /v1/models`.
pub fn models(created: u64) -> Value {
    json!({
        "object": "list",
        "data": [{ "id": "demo-model", "object": "model", "created": created, "owned_by": "demo" }]
    })
}

#[cfg(test)]
mod tests;
