//! A fake OpenAI-compatible upstream. The requested `model` picks the behaviour:
//! - `echo` (anything unlisted): answers `echo: <last user text> <COMPLETION_MARKER>`;
//! - `secret`: answers [`SECRET_TEXT`], streamed 4 bytes per event so the e-mail address
//!   and the card number are split across many chunk boundaries;
//! - `tool-secret`: answers with a `send_mail` tool call whose arguments
//!   ([`TOOL_SECRET_ARGUMENTS`]) hold the same e-mail address and card, streamed 4 bytes
//!   per event in `delta.tool_calls`;
//! - `no-usage`: like `echo` without any usage;
//! - `fail`: HTTP 500; `missing-model`: OpenAI's 404 for an unknown model;
//! - `slow`: answers after 3 s; `cut`: streams two events, then breaks the connection;
//!   `stall`: streams two events, then pauses for 30 s.
//!
//! Non-streamed answers report 11 prompt and 7 completion tokens; streams report them in
//! the usage chunk when `stream_options.include_usage` is set.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const SECRET_TEXT: &str =
    "Write to jane.roe@example.com or use card 4111 1111 1111 1111 for the refund.";
pub const SECRET_EMAIL: &str = "jane.roe@example.com";
pub const SECRET_CARD: &str = "4111 1111 1111 1111";
pub const TOOL_SECRET_ARGUMENTS: &str =
    r#"{"to": "jane.roe@example.com", "note": "paid with\n4111 1111 1111 1111"}"#;
pub const COMPLETION_MARKER: &str = "CMPL-MARK-7f3a9c";

#[derive(Debug, Clone)]
pub struct Seen {
    pub body: Value,
    pub headers: HeaderMap,
}

#[derive(Clone, Default)]
pub struct FakeUpstream {
    seen: Arc<Mutex<Vec<Seen>>>,
    pub addr: Option<SocketAddr>,
}

impl FakeUpstream {
    pub async fn start() -> FakeUpstream {
        let mut upstream = FakeUpstream::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        upstream.addr = Some(listener.local_addr().unwrap());
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models", get(models))
            .route("/v1/moderations", post(moderations))
            .route("/v1/moderations-down", post(moderations_down))
            .with_state(upstream.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        upstream
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr.unwrap())
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn models() -> Json<Value> {
    Json(json!({"object": "list", "data": [{"id": "echo", "object": "model", "owned_by": "test"}]}))
}

/// Flags `self-harm/intent` when the input contains [`SELF_HARM_TRIGGER`], and checks the
/// gateway sends its moderation key.
async fn moderations(headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer mod-key") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let flagged = body["input"]
        .as_str()
        .unwrap_or_default()
        .contains(SELF_HARM_TRIGGER);
    Json(json!({"id": "modr-1", "model": body["model"], "results": [{
        "flagged": flagged,
        "categories": {"self-harm/intent": flagged, "hate": false}
    }]}))
    .into_response()
}

async fn moderations_down() -> Response {
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

pub const SELF_HARM_TRIGGER: &str = "TRIGGER-SELF-HARM";

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

async fn chat(
    State(upstream): State<FakeUpstream>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    upstream.seen.lock().unwrap().push(Seen {
        body: body.clone(),
        headers,
    });
    let model = body["model"].as_str().unwrap_or("echo").to_string();
    let stream = body["stream"] == true;
    let include_usage = body["stream_options"]["include_usage"] == true;
    let text = match model.as_str() {
        "secret" => SECRET_TEXT.to_string(),
        _ => format!("echo: {} {COMPLETION_MARKER}", last_user_text(&body)),
    };
    match model.as_str() {
        "fail" => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}})),
            )
                .into_response();
        }
        "missing-model" => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": {"message": "The model `missing-model` does not exist",
                                       "type": "invalid_request_error", "param": null, "code": "model_not_found"}})),
            )
                .into_response();
        }
        "slow" => tokio::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    let usage = (model != "no-usage")
        .then(|| json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}));
    let tool = model == "tool-secret";
    if !stream {
        let (message, finish) = if tool {
            (
                json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "send_mail", "arguments": TOOL_SECRET_ARGUMENTS}}]}),
                "tool_calls",
            )
        } else {
            (
                json!({"role": "assistant", "content": text, "refusal": null}),
                "stop",
            )
        };
        let mut answer = json!({
            "id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        });
        if let Some(usage) = usage {
            answer["usage"] = usage;
        }
        return Json(answer).into_response();
    }

    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": model,
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let piece = if model == "secret" || tool { 4 } else { 6 };
    let streamed = if tool { TOOL_SECRET_ARGUMENTS } else { &text };
    let chars: Vec<char> = streamed.chars().collect();
    for (i, part) in chars.chunks(piece).enumerate() {
        let part: String = part.iter().collect();
        let delta = match (tool, i) {
            (false, _) => json!({"content": part}),
            (true, 0) => json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                "function": {"name": "send_mail", "arguments": part}}]}),
            (true, _) => json!({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}),
        };
        events.push(chunk(delta, Value::Null));
    }
    let finish = if tool { "tool_calls" } else { "stop" };
    events.push(chunk(json!({}), json!(finish)));
    if include_usage && let Some(usage) = usage {
        events.push(
            json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1,
                               "model": model, "choices": [], "usage": usage}),
        );
    }
    let cut = model == "cut";
    let stall = model == "stall";
    let mut frames: Vec<Result<Bytes, std::io::Error>> = events
        .into_iter()
        .map(|e| Ok(Bytes::from(format!("data: {e}\n\n"))))
        .collect();
    if cut {
        frames.truncate(2);
        frames.push(Err(std::io::Error::other("connection cut")));
    } else {
        frames.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
    }
    let stream =
        futures::stream::iter(frames.into_iter().enumerate()).then(move |(i, frame)| async move {
            // `stall` sends its first two events, then goes quiet for a long time.
            let pause = if stall && i == 2 { 30_000 } else { 2 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
            frame
        });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

use futures::StreamExt as _;
