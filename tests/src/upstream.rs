//! A fake OpenAI-compatible upstream that records every chat request it receives (body
//! bytes as received, and headers). The requested `model` picks the behaviour:
//! - anything unlisted: answers `echo: <last user text> <completion marker>`;
//! - [`SECRET_MODEL`]: answers [`SECRET_TEXT`], streamed [`SECRET_PIECE`] characters per
//!   event so every secret in it is split across several chunk boundaries;
//! - [`FAIL_MODEL`]: HTTP 500 whose body carries the completion marker;
//! - [`SLOW_MODEL`]: answers after [`SLOW_FOR`], past the data planes' upstream timeout.
//!
//! Every answer reports [`PROMPT_TOKENS`] and [`COMPLETION_TOKENS`]; a stream reports them
//! in a usage chunk when `stream_options.include_usage` is set, as OpenAI does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const SECRET_MODEL: &str = "secret";
pub const FAIL_MODEL: &str = "fail";
pub const SLOW_MODEL: &str = "slow";
pub const SLOW_FOR: Duration = Duration::from_secs(3);

pub const SECRET_EMAIL: &str = "jane.roe@example.com";
pub const SECRET_CARD: &str = "4111 1111 1111 1111";
pub const SECRET_API_KEY: &str = "sk-proj-Q9zX3vT7bN2mK8pL4wR6yH1j";
pub const SECRET_TEXT: &str = "Write to jane.roe@example.com, use card 4111 1111 1111 1111 \
     and the key sk-proj-Q9zX3vT7bN2mK8pL4wR6yH1j for the refund.";
/// [`SECRET_TEXT`] as the gateway must deliver it.
pub const SECRET_REDACTED: &str = "Write to [REDACTED:email], use card [REDACTED:card] \
     and the key [REDACTED:api_key] for the refund.";
/// Characters per streamed event of [`SECRET_MODEL`].
pub const SECRET_PIECE: usize = 3;

pub const PROMPT_TOKENS: u64 = 13;
pub const COMPLETION_TOKENS: u64 = 29;

/// One chat request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub raw: Bytes,
    pub body: Value,
    pub headers: HeaderMap,
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    marker: Arc<str>,
}

/// A running fake upstream; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeUpstream {
    shared: Shared,
    pub addr: SocketAddr,
}

impl FakeUpstream {
    /// Starts on a free port; `marker` ends every echo completion.
    pub async fn start(marker: &str) -> FakeUpstream {
        let shared = Shared {
            seen: Arc::default(),
            marker: Arc::from(marker),
        };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake upstream");
        let addr = listener.local_addr().expect("its address");
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models", get(models))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeUpstream { shared, addr }
    }

    /// `UPSTREAM_BASE_URL` for the data planes.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("not poisoned").clone()
    }

    pub fn count(&self) -> usize {
        self.shared.seen.lock().expect("not poisoned").len()
    }

    /// The requests received after the first `from`.
    pub fn seen_since(&self, from: usize) -> Vec<Seen> {
        self.seen().split_off(from)
    }
}

async fn models() -> Response {
    axum::Json(json!({"object": "list", "data": [
        {"id": "echo", "object": "model", "created": 1, "owned_by": "e2e"}
    ]}))
    .into_response()
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn chat(State(shared): State<Shared>, headers: HeaderMap, raw: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    shared.seen.lock().expect("not poisoned").push(Seen {
        raw: raw.clone(),
        body: body.clone(),
        headers,
    });
    let model = body["model"].as_str().unwrap_or("echo").to_owned();
    match model.as_str() {
        FAIL_MODEL => {
            let error = json!({"error": {"message": format!("upstream exploded {}", shared.marker),
                "type": "server_error", "param": null, "code": null}});
            return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error)).into_response();
        }
        SLOW_MODEL => tokio::time::sleep(SLOW_FOR).await,
        _ => {}
    }
    let text = if model == SECRET_MODEL {
        SECRET_TEXT.to_owned()
    } else {
        format!("echo: {} {}", last_user_text(&body), shared.marker)
    };
    let usage = json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                       "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS});
    if body["stream"] != true {
        return axum::Json(json!({
            "id": "chatcmpl-e2e", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    sse(
        &model,
        &text,
        usage,
        body["stream_options"]["include_usage"] == true,
    )
}

/// An OpenAI-style stream of `text`: a role chunk, content chunks, a finishing chunk, the
/// usage chunk when asked for, `[DONE]`.
fn sse(model: &str, text: &str, usage: Value, include_usage: bool) -> Response {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "created": 1, "model": model,
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let piece = if model == SECRET_MODEL {
        SECRET_PIECE
    } else {
        8
    };
    let chars: Vec<char> = text.chars().collect();
    for part in chars.chunks(piece) {
        events.push(chunk(
            json!({"content": part.iter().collect::<String>()}),
            Value::Null,
        ));
    }
    events.push(chunk(json!({}), json!("stop")));
    if include_usage {
        events.push(
            json!({"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "created": 1,
                           "model": model, "choices": [], "usage": usage}),
        );
    }
    let mut frames: Vec<Bytes> = events
        .into_iter()
        .map(|e| Bytes::from(format!("data: {e}\n\n")))
        .collect();
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    // A short pause between events so they arrive as separate chunks.
    let stream = futures::stream::iter(frames).then(|frame| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, std::io::Error>(frame)
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
