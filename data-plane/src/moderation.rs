//! Moderation providers (SPEC §2.2): `none`, `builtin` (the engine's lexicon, in
//! process) and `openai` (any `/v1/moderations`-compatible endpoint).
//!
//! A failed or late `openai` call follows `MODERATION_FAIL`: `open` decides without
//! labels, `closed` yields [`Moderation::Unavailable`], which the engine turns into a
//! hard refusal with `reason_detail: moderation_unavailable`. The text is sent to the
//! provider and nowhere else: it is never logged.

use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::Full;
use policy_engine::moderation::{Lexicon, openai_categories};
use policy_engine::{CategorySet, Moderation};
use serde_json::{Value, json};
use tracing::warn;

use crate::config::{FailMode, ModerationConfig};
use crate::upstream::{HttpClient, error_chain, read_body};

/// The configured provider.
#[derive(Debug)]
pub enum Moderator {
    None,
    Builtin(&'static Lexicon),
    OpenAi(Box<OpenAiModeration>),
}

#[derive(Debug)]
pub struct OpenAiModeration {
    client: HttpClient,
    url: Uri,
    auth: Option<HeaderValue>,
    model: Option<String>,
    timeout: Duration,
    fail: FailMode,
}

impl Moderator {
    pub fn new(config: &ModerationConfig, client: HttpClient) -> anyhow::Result<Moderator> {
        Ok(match config {
            ModerationConfig::None => Moderator::None,
            ModerationConfig::Builtin => Moderator::Builtin(Lexicon::builtin()),
            ModerationConfig::OpenAi {
                url,
                api_key,
                model,
                timeout,
                fail,
            } => {
                let auth = api_key
                    .as_deref()
                    .map(|key| {
                        let mut value = HeaderValue::try_from(format!("Bearer {key}"))?;
                        value.set_sensitive(true);
                        Ok::<_, http::header::InvalidHeaderValue>(value)
                    })
                    .transpose()
                    .map_err(|_| anyhow::anyhow!("MODERATION_API_KEY must be printable ASCII"))?;
                Moderator::OpenAi(Box::new(OpenAiModeration {
                    client,
                    url: url.clone(),
                    auth,
                    model: model.clone(),
                    timeout: *timeout,
                    fail: *fail,
                }))
            }
        })
    }

    /// Labels for `text` (the last user message).
    pub async fn classify(&self, text: &str) -> Moderation {
        match self {
            Moderator::None => Moderation::Labels(CategorySet::EMPTY),
            Moderator::Builtin(lexicon) => Moderation::Labels(lexicon.classify(text)),
            Moderator::OpenAi(provider) => provider.classify(text).await,
        }
    }
}

impl OpenAiModeration {
    async fn classify(&self, text: &str) -> Moderation {
        if text.trim().is_empty() {
            return Moderation::Labels(CategorySet::EMPTY);
        }
        match self.call(text).await {
            Ok(labels) => Moderation::Labels(labels),
            Err(problem) => {
                warn!(%problem, fail = ?self.fail, "moderation call failed");
                match self.fail {
                    FailMode::Open => Moderation::Labels(CategorySet::EMPTY),
                    FailMode::Closed => Moderation::Unavailable,
                }
            }
        }
    }

    async fn call(&self, text: &str) -> Result<CategorySet, String> {
        let mut body = json!({ "input": text });
        if let Some(model) = &self.model {
            body["model"] = Value::String(model.clone());
        }
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let response = tokio::time::timeout_at(deadline, self.client.request(request))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| error_chain(&e))?;
        let status = response.status();
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let bytes = read_body(response.into_body(), remaining)
            .await
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("status {status}"));
        }
        parse_labels(&bytes).ok_or_else(|| "unexpected response shape".to_string())
    }
}

/// `results[0].categories` of a moderation response, as labels.
fn parse_labels(body: &[u8]) -> Option<CategorySet> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let categories = value
        .get("results")?
        .get(0)?
        .get("categories")?
        .as_object()?;
    Some(openai_categories(categories.iter().map(
        |(name, flagged)| (name.as_str(), flagged.as_bool().unwrap_or(false)),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_result_with_parents() {
        let body = br#"{"id":"m","results":[{"flagged":true,"categories":{"self-harm/intent":true,"hate":false,"made-up":true}}]}"#;
        let labels = parse_labels(body).unwrap();
        assert_eq!(labels.names(), ["self-harm", "self-harm/intent"]);
        assert!(parse_labels(b"{\"results\":[]}").is_none());
        assert!(parse_labels(b"not json").is_none());
    }
}
