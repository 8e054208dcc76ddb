//! The fake OpenAI-compatible upstream: `POST /v1/chat/completions` answers a fixed,
//! realistic non-streamed completion (about 300 bytes of assistant text and a `usage`
//! block), `GET /v1/models` a one-model list; anything else is 404. Answers are built
//! once, so the upstream costs as little as an HTTP/1.1 exchange can.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

/// The assistant's answer: an on-topic reply with no personal data, so redaction scans
/// it and changes nothing (the common case).
pub const COMPLETION: &str = "Our refund policy for annual plans is simple: you can cancel \
within 30 days of purchase or renewal for a full refund, no questions asked. After that we \
refund the unused months pro rata. Refunds go back to the original payment method within \
5 to 10 business days. If anything is unclear, reply here and the support team will help.";

/// The canned answers.
#[derive(Debug, Clone)]
pub struct Answers {
    chat: Bytes,
    models: Bytes,
}

impl Answers {
    pub fn new() -> Answers {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let chat = json!({
            "id": "chatcmpl-bench-0000000000000000000000",
            "object": "chat.completion",
            "created": created,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": COMPLETION, "refusal": null },
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {
                "prompt_tokens": 92,
                "completion_tokens": 71,
                "total_tokens": 163,
                "prompt_tokens_details": { "cached_tokens": 0 },
                "completion_tokens_details": { "reasoning_tokens": 0 }
            },
            "system_fingerprint": "fp_bench"
        });
        let models = json!({
            "object": "list",
            "data": [{ "id": "gpt-4o-mini", "object": "model", "created": created, "owned_by": "bench" }]
        });
        Answers {
            chat: Bytes::from(chat.to_string()),
            models: Bytes::from(models.to_string()),
        }
    }

    /// The answer to one request (its body is read whole first, as a real server does).
    pub async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let read = body.collect().await.is_ok();
        let found = match (&parts.method, parts.uri.path()) {
            (&Method::POST, "/v1/chat/completions") => Some(self.chat.clone()),
            (&Method::GET, "/v1/models") => Some(self.models.clone()),
            _ => None,
        };
        let (status, body) = match found {
            Some(body) if read => (StatusCode::OK, body),
            Some(_) => (
                StatusCode::BAD_REQUEST,
                error_body("unreadable request body"),
            ),
            None => (StatusCode::NOT_FOUND, error_body("unknown path")),
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

impl Default for Answers {
    fn default() -> Self {
        Self::new()
    }
}

fn error_body(message: &str) -> Bytes {
    Bytes::from(json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}).to_string())
}

/// Serves HTTP/1.1 keep-alive connections from `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, answers: Answers) -> anyhow::Result<()> {
    loop {
        let (stream, _): (_, SocketAddr) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let answers = answers.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let answers = answers.clone();
                async move { Ok::<_, Infallible>(answers.answer(request).await) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_completion_is_realistic() {
        assert!(
            (280..=360).contains(&COMPLETION.len()),
            "{}",
            COMPLETION.len()
        );
        let answers = Answers::new();
        let chat: serde_json::Value = serde_json::from_slice(&answers.chat).unwrap();
        assert_eq!(chat["choices"][0]["message"]["content"], COMPLETION);
        assert_eq!(chat["usage"]["total_tokens"], 163);
        let models: serde_json::Value = serde_json::from_slice(&answers.models).unwrap();
        assert_eq!(models["data"][0]["id"], "gpt-4o-mini");
    }
}
