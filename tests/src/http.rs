//! A small HTTP/1 client (hyper's pooled client) that keeps a response's body as the
//! chunks that arrived, so stream assertions can look at every chunk.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Longest a single request may take before the test fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests to one base URL (`http://host:port`); cheap to clone into other tasks.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    pub fn new(base: impl Into<String>) -> Http {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: base.into(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request; `Err` when no answer came (connection refused or reset).
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let mut body = response.into_body();
            let mut chunks = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| format!("body: {e:?}"))?;
                if let Ok(data) = frame.into_data() {
                    chunks.push(data);
                }
            }
            Ok(Reply {
                status,
                headers,
                chunks,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
    }

    /// Sends a request; the test fails when no answer comes.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        self.try_send(method, path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{url} did not answer: {e}"))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], None).await
    }

    /// A chat completion with gateway key `key` (none: no Authorization header).
    pub async fn chat(
        &self,
        path: &str,
        key: Option<&str>,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.chat_raw(path, key, body.to_string().into_bytes(), headers)
            .await
    }

    /// The same with a body sent exactly as given.
    pub async fn chat_raw(
        &self,
        path: &str,
        key: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let auth = key.map(|k| format!("Bearer {k}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(auth) = &auth {
            all.push(("authorization", auth));
        }
        self.send(Method::POST, path, &all, Some(body)).await
    }
}

/// A response, with its body as the chunks that arrived.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub chunks: Vec<Bytes>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.chunks.concat()).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A header's value; the test fails when it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default())
            .unwrap_or_else(|| panic!("no {name} header (status {}): {}", self.status, self.text()))
    }

    pub fn is_stream(&self) -> bool {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    }

    /// The SSE `data` payloads, `[DONE]` as a JSON string.
    pub fn events(&self) -> Vec<Value> {
        let text = self.text();
        assert!(
            text.ends_with("\n\n"),
            "a stream ends with a blank line: {text:?}"
        );
        text.split("\n\n")
            .filter(|event| !event.trim().is_empty())
            .map(|event| {
                let data = event
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not a data event: {event:?}"));
                if data == "[DONE]" {
                    Value::String(data.to_owned())
                } else {
                    serde_json::from_str(data)
                        .unwrap_or_else(|e| panic!("event is not JSON ({e}): {data}"))
                }
            })
            .collect()
    }

    /// The assistant text of choice 0, from a JSON completion or an SSE stream.
    pub fn content(&self) -> String {
        if self.is_stream() {
            self.events()
                .iter()
                .filter_map(|e| {
                    e["choices"][0]["delta"]["content"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect()
        } else {
            self.json()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    }

    /// The decision record: the `policy` field of a JSON answer, or of the stream chunk
    /// that carries `finish_reason` (exactly one chunk carries it).
    pub fn policy(&self) -> Value {
        if self.is_stream() {
            let events = self.events();
            let finishing: Vec<&Value> = events
                .iter()
                .filter(|e| e["choices"][0]["finish_reason"].is_string())
                .collect();
            assert_eq!(finishing.len(), 1, "one finishing chunk: {events:?}");
            finishing[0]["policy"].clone()
        } else {
            self.json()["policy"].clone()
        }
    }

    /// The finish reason of choice 0.
    pub fn finish_reason(&self) -> Value {
        if self.is_stream() {
            self.events()
                .iter()
                .find(|e| e["choices"][0]["finish_reason"].is_string())
                .map(|e| e["choices"][0]["finish_reason"].clone())
                .unwrap_or(Value::Null)
        } else {
            self.json()["choices"][0]["finish_reason"].clone()
        }
    }
}
