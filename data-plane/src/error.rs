//! Every way the data plane answers without a model completion, and the one table that
//! gives each its HTTP status and OpenAI error `type`/`code` (SPEC §3.4).
//!
//! Bodies have OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so SDKs
//! raise their usual exceptions. Messages name identifiers the caller sent (a model, a
//! policy id), never request content.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::quota::{Rejection, RejectionReason};
use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the gateway has no policy snapshot yet; retry shortly")]
    NoSnapshot,
    #[error("missing API key: send `Authorization: Bearer ak_...`")]
    MissingKey,
    #[error("invalid API key")]
    InvalidKey,
    #[error("this key belongs to another project than {0:?}")]
    WrongProject(String),
    #[error("this key's project is not available")]
    KeyProjectMissing,
    #[error("project {0:?} is suspended")]
    ProjectSuspended(String),
    #[error("policy {0:?} accepts only project-scoped keys")]
    ProjectKeyRequired(String),
    #[error("request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request body could not be read")]
    BodyUnreadable,
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{message}")]
    InvalidRequest {
        param: &'static str,
        message: String,
    },
    #[error("model {0:?} is not allowed on this gateway")]
    ModelNotAllowed(String),
    #[error("no policy: send policy_id, or use a project with a default policy")]
    NoPolicy,
    #[error("unknown policy {0:?}")]
    UnknownPolicy(String),
    #[error("unknown project {0:?}")]
    UnknownProject(String),
    #[error("no route for {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The detail is logged, not sent: it may name internal addresses.
    #[error("the upstream model service is unavailable")]
    Upstream(String),
    #[error("the upstream model service did not answer in time")]
    UpstreamTimeout,
    #[error("{}", quota_message(.0))]
    QuotaExceeded(Rejection),
}

/// Names the limit and its figures, never the subject (SPEC §4, §6).
fn quota_message(rejection: &Rejection) -> String {
    let limit = rejection.limit.name();
    let unit = rejection.limit.metric().name();
    let window = rejection.window.name();
    match rejection.reason {
        RejectionReason::Exhausted => format!(
            "quota exceeded: {limit} allows {} {unit} per {window} window; it resets in {} s",
            rejection.max, rejection.retry_after
        ),
        RejectionReason::HeldElsewhere => format!(
            "quota {limit} is momentarily taken by in-flight requests on other gateway nodes; retry in a second"
        ),
        RejectionReason::Unreachable => format!(
            "quota {limit} cannot be checked: the quota authority (control plane) is unreachable and this node's offline allowance is used up; retry shortly"
        ),
    }
}

impl ApiError {
    /// The table: HTTP status, OpenAI error `type`, `code`.
    pub fn describe(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            NoSnapshot => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "no_snapshot",
            ),
            MissingKey => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing_api_key",
            ),
            InvalidKey => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid_api_key",
            ),
            WrongProject(_) => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "project_mismatch",
            ),
            KeyProjectMissing => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "project_unavailable",
            ),
            ProjectSuspended(_) => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "project_suspended",
            ),
            ProjectKeyRequired(_) => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "project_key_required",
            ),
            PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "payload_too_large",
            ),
            BodyUnreadable => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "body_unreadable",
            ),
            MalformedJson(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_json",
            ),
            InvalidRequest { .. } => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_request",
            ),
            ModelNotAllowed(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "model_not_allowed",
            ),
            NoPolicy => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "policy_required",
            ),
            UnknownPolicy(_) => (StatusCode::NOT_FOUND, "not_found_error", "policy_not_found"),
            UnknownProject(_) => (
                StatusCode::NOT_FOUND,
                "not_found_error",
                "project_not_found",
            ),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found_error", "unknown_url"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request_error",
                "method_not_allowed",
            ),
            Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_error", "upstream_error"),
            UpstreamTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_error",
                "upstream_timeout",
            ),
            QuotaExceeded(rejection) => (
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                rejection.limit.name(),
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.describe().0
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidRequest { param, .. } => Some(param),
            ApiError::ModelNotAllowed(_) => Some("model"),
            ApiError::NoPolicy | ApiError::UnknownPolicy(_) => Some("policy_id"),
            ApiError::WrongProject(_) | ApiError::UnknownProject(_) => Some("policy_project_id"),
            _ => None,
        }
    }

    /// The OpenAI-shaped body.
    pub fn body(&self) -> serde_json::Value {
        let (_, kind, code) = self.describe();
        json!({"error": {
            "message": self.to_string(),
            "type": kind,
            "param": self.param(),
            "code": code,
        }})
    }

    /// `Retry-After`, and for a window that will not reopen before it, `x-should-retry:
    /// false` so SDKs do not retry on their own (OpenAI's clients honour it).
    pub fn retry_headers(&self, headers: &mut http::HeaderMap) {
        match self {
            ApiError::NoSnapshot => {
                headers.insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from_static("1"),
                );
            }
            ApiError::QuotaExceeded(rejection) => {
                headers.insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from(rejection.retry_after),
                );
                if rejection.final_for_window() {
                    headers.insert("x-should-retry", http::HeaderValue::from_static("false"));
                }
            }
            _ => {}
        }
    }

    pub fn invalid(param: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::InvalidRequest {
            param,
            message: message.into(),
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(error: UpstreamError) -> Self {
        match error {
            UpstreamError::Timeout => ApiError::UpstreamTimeout,
            UpstreamError::Unavailable(detail) => ApiError::Upstream(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        self.retry_headers(response.headers_mut());
        if matches!(self, ApiError::PayloadTooLarge(_)) {
            // The rest of the oversized body is never read, so the connection cannot carry
            // another request; saying so keeps pooled clients from reusing it.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}
