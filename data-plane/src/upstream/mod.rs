//! The OpenAI-compatible upstream: one pooled HTTP client (HTTP/1.1 and HTTP/2 over
//! rustls) shared by every request, the timeouts of SPEC §3.4, and the SSE pieces of
//! streamed answers.
//!
//! - `sse`: splitting a byte stream into SSE events.
//! - `relay`: the streamed answer as the client sees it — redacted per choice and field,
//!   usage chunk hidden when the gateway asked for it, `policy` on the finishing chunk.
//! - `text`: which fields of a message or delta carry model text.

pub mod relay;
pub mod sse;
pub mod text;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::UpstreamConfig;

/// The pooled client used for the upstream and the moderation endpoint.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Largest upstream body read whole (non-streamed answers, error bodies).
const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// Builds the shared client: keep-alive pool, no Nagle delay, TLS with the public web
/// roots and the ring provider (no C toolchain needed to build it).
pub fn http_client() -> anyhow::Result<HttpClient> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .context("TLS setup failed")?
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(512)
        .build(https))
}

/// Why the upstream gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream did not answer in time")]
    Timeout,
    #[error("the upstream is unreachable or failed: {0}")]
    Unavailable(String),
}

/// The configured upstream.
#[derive(Debug)]
pub struct Upstream {
    client: HttpClient,
    chat_url: Uri,
    models_url: Uri,
    auth: Option<HeaderValue>,
    pub timeout: Duration,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig, client: HttpClient) -> anyhow::Result<Upstream> {
        let url = |path: &str| -> anyhow::Result<Uri> {
            format!("{}{path}", config.base_url)
                .parse()
                .with_context(|| format!("UPSTREAM_BASE_URL: cannot append {path}"))
        };
        let auth = config
            .api_key
            .as_deref()
            .map(|key| {
                let mut value = HeaderValue::try_from(format!("Bearer {key}"))
                    .context("UPSTREAM_API_KEY must be printable ASCII")?;
                value.set_sensitive(true);
                Ok::<_, anyhow::Error>(value)
            })
            .transpose()?;
        Ok(Upstream {
            client,
            chat_url: url("/chat/completions")?,
            models_url: url("/models")?,
            auth,
            timeout: config.timeout,
        })
    }

    /// Sends a chat completion; resolves once the response headers are in.
    pub async fn chat(
        &self,
        body: Bytes,
        request_id: &HeaderValue,
        stream: bool,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.chat_url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, accept)
            .header("x-request-id", request_id.clone());
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some(headers) = request.headers_mut() {
            // The caller's span (the `upstream` span) becomes the upstream's parent.
            crate::telemetry::inject_current(headers);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        self.send(request).await
    }

    /// `GET /models`, passed through to the caller.
    pub async fn models(
        &self,
        request_id: &HeaderValue,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(self.models_url.clone())
            .header(ACCEPT, "application/json")
            .header("x-request-id", request_id.clone());
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        self.send(request).await
    }

    async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(UpstreamError::Unavailable(error_chain(&error))),
            Err(_) => Err(UpstreamError::Timeout),
        }
    }
}

/// Reads a whole body within `timeout` (and [`MAX_RESPONSE_BYTES`]).
pub async fn read_body(body: Incoming, timeout: Duration) -> Result<Bytes, UpstreamError> {
    let limited = Limited::new(body, MAX_RESPONSE_BYTES);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) => Err(UpstreamError::Unavailable(error.to_string())),
        Err(_) => Err(UpstreamError::Timeout),
    }
}

/// An error and its causes on one line (hyper's top-level message alone is vague).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
