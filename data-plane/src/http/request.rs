//! Reading a chat-completion request (SPEC §3.2, §3.4): the body is parsed once, checked
//! for the shape the gateway relies on, and its gateway metadata fields are taken out so
//! they never reach the upstream. OpenAI's own `user` and `metadata` stay untouched.

use http::HeaderMap;
use policy_engine::normalize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::Limits;

/// Gateway metadata, normalized (SPEC §3.2).
#[derive(Debug, Default, Clone)]
pub struct Metadata {
    pub policy_id: Option<String>,
    pub user: Option<String>,
    pub project: Option<String>,
    pub target: Option<String>,
}

/// A parsed, checked request body.
#[derive(Debug)]
pub struct ChatRequest {
    pub body: Map<String, Value>,
    pub model: String,
    pub stream: bool,
    /// `stream_options.include_usage` as the client set it, if it did.
    pub include_usage: Option<bool>,
    pub meta: Metadata,
    /// Whether the body differs from what the client sent (gateway fields removed).
    pub modified: bool,
}

/// The gateway's body fields and the headers that stand in for them.
const FIELDS: [(&str, &str); 4] = [
    ("policy_id", "x-policy-id"),
    ("policy_user", "x-policy-user"),
    ("policy_project_id", "x-policy-project"),
    ("policy_target", "x-policy-target"),
];

pub fn parse(bytes: &[u8], headers: &HeaderMap, limits: &Limits) -> Result<ChatRequest, ApiError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let Value::Object(mut body) = value else {
        return Err(ApiError::invalid(
            "",
            "the request body must be a JSON object",
        ));
    };

    let model = match body.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => model.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "model",
                "model must be a non-empty string",
            ));
        }
        None => return Err(ApiError::invalid("model", "model is required")),
    };
    if let Some(allowed) = &limits.allowed_models
        && !allowed.contains(&model)
    {
        return Err(ApiError::ModelNotAllowed(model));
    }
    check_messages(body.get("messages"))?;
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(ApiError::invalid("stream", "stream must be a boolean")),
    };
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool);

    let mut raw: [Option<String>; 4] = Default::default();
    let mut modified = false;
    for (slot, (field, header)) in raw.iter_mut().zip(FIELDS) {
        if let Some(value) = body.shift_remove(field) {
            modified = true;
            *slot = match value {
                Value::String(s) => Some(s),
                Value::Null => None,
                _ => {
                    return Err(ApiError::invalid(
                        field,
                        format!("{field} must be a string"),
                    ));
                }
            };
        } else if let Some(value) = headers.get(header) {
            let text = value.to_str().map_err(|_| {
                ApiError::invalid(field, format!("header {header} must be visible ASCII"))
            })?;
            *slot = Some(text.to_string());
        }
    }
    let [policy_id, user, project, target] = raw;
    let meta = Metadata {
        policy_id: policy_id
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty()),
        user: user.as_deref().and_then(normalize::slug),
        project: project.as_deref().and_then(normalize::slug),
        target: target.as_deref().and_then(normalize::target),
    };
    Ok(ChatRequest {
        body,
        model,
        stream,
        include_usage,
        meta,
        modified,
    })
}

/// `messages` must be a non-empty array of `{role, content}` objects. `content` may be a
/// string, an array of parts or null; an assistant turn that only calls tools may omit it.
fn check_messages(messages: Option<&Value>) -> Result<(), ApiError> {
    let Some(messages) = messages else {
        return Err(ApiError::invalid("messages", "messages is required"));
    };
    let Some(messages) = messages.as_array().filter(|m| !m.is_empty()) else {
        return Err(ApiError::invalid(
            "messages",
            "messages must be a non-empty array of {role, content} objects",
        ));
    };
    for (i, message) in messages.iter().enumerate() {
        let bad = |what: &str| ApiError::invalid("messages", format!("messages[{i}] {what}"));
        let Some(message) = message.as_object() else {
            return Err(bad("must be an object with role and content"));
        };
        if !message.get("role").is_some_and(Value::is_string) {
            return Err(bad("needs a string role"));
        }
        match message.get("content") {
            Some(Value::String(_) | Value::Array(_) | Value::Null) => {}
            Some(_) => return Err(bad("content must be a string, an array of parts or null")),
            None if message.contains_key("tool_calls") || message.contains_key("function_call") => {
            }
            None => return Err(bad("needs content")),
        }
    }
    Ok(())
}

/// Bytes of text in every message, for estimating prompt tokens when the upstream
/// reports none.
pub fn prompt_bytes(body: &Map<String, Value>) -> usize {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return 0;
    };
    messages
        .iter()
        .map(|m| match m.get("content") {
            Some(Value::String(text)) => text.len(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(str::len)
                .sum(),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests;
