//! The control plane's one error type and the one place that maps it to a status.
//!
//! Every failure a handler can produce is an [`ApiError`]; its [`ErrorCode`] decides the
//! HTTP status (and the gRPC code for the admin mirror of the API), and the body always has
//! the OpenAI shape `{"error": {"message", "type", "param", "code"}}` (SPEC §1.1, §3.4, §7).
//! Internal errors are logged with their cause and answered with a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use policy_engine::ValidationError;
use serde_json::{Value, json};

/// What went wrong, in the terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request itself is wrong: bad JSON, a bad field, a bad query parameter.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },
    /// A policy document failed validation; every problem is listed (SPEC §1.1).
    #[error("the policy is invalid")]
    InvalidPolicy(Vec<ValidationError>),
    /// No usable bearer token.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid caller whose role does not allow the operation.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Postgres cannot be reached; the client should retry shortly (SPEC §7).
    #[error("the database is unavailable; try again shortly")]
    DatabaseUnavailable,
    /// A bug or an unexpected failure: logged in full, answered generically.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The class of an error, from which both transports take their status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidPolicy,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    Conflict,
    PayloadTooLarge,
    MethodNotAllowed,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> StatusCode {
        match self {
            Self::InvalidRequest | Self::InvalidPolicy => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn grpc_code(self) -> tonic::Code {
        match self {
            Self::InvalidRequest | Self::InvalidPolicy | Self::PayloadTooLarge => {
                tonic::Code::InvalidArgument
            }
            Self::Unauthenticated => tonic::Code::Unauthenticated,
            Self::PermissionDenied => tonic::Code::PermissionDenied,
            Self::NotFound => tonic::Code::NotFound,
            Self::Conflict => tonic::Code::AlreadyExists,
            Self::MethodNotAllowed => tonic::Code::Unimplemented,
            Self::Unavailable => tonic::Code::Unavailable,
            Self::Internal => tonic::Code::Internal,
        }
    }

    /// The OpenAI-style `type` of the error body.
    pub fn kind(self) -> &'static str {
        match self {
            Self::InvalidRequest
            | Self::InvalidPolicy
            | Self::NotFound
            | Self::Conflict
            | Self::PayloadTooLarge
            | Self::MethodNotAllowed => "invalid_request_error",
            Self::Unauthenticated => "authentication_error",
            Self::PermissionDenied => "permission_error",
            Self::Unavailable | Self::Internal => "server_error",
        }
    }

    /// The machine-readable `code` of the error body.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidPolicy => "invalid_policy",
            Self::Unauthenticated => "invalid_token",
            Self::PermissionDenied => "insufficient_role",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unavailable => "database_unavailable",
            Self::Internal => "internal_error",
        }
    }
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: None,
        }
    }

    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::NotFound(format!("{what} {id:?} not found"))
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            Self::InvalidPolicy(_) => ErrorCode::InvalidPolicy,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::PermissionDenied,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::DatabaseUnavailable => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The JSON body. Internal errors never expose their cause.
    pub fn body(&self) -> Value {
        let code = self.code();
        let (message, param) = match self {
            Self::InvalidRequest { message, param } => (message.clone(), param.clone()),
            Self::InvalidPolicy(errors) => (invalid_policy_message(errors), None),
            Self::Internal(_) => ("internal error; the incident was logged".to_owned(), None),
            other => (other.to_string(), None),
        };
        let mut error = json!({
            "message": message,
            "type": code.kind(),
            "param": param,
            "code": code.name(),
        });
        if let Self::InvalidPolicy(errors) = self {
            error["details"] = json!(errors);
        }
        json!({ "error": error })
    }
}

fn invalid_policy_message(errors: &[ValidationError]) -> String {
    match errors {
        [one] => format!("the policy is invalid: {one}"),
        _ => format!("the policy is invalid: {} problems", errors.len()),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        match &self {
            Self::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            Self::DatabaseUnavailable => tracing::warn!("request failed: database unavailable"),
            _ => tracing::debug!(code = code.name(), "request rejected"),
        }
        let mut response = (code.http_status(), axum::Json(self.body())).into_response();
        if code == ErrorCode::Unauthenticated {
            // RFC 6750 §3: a 401 names the scheme the client should use.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="policy-gateway", error="invalid_token""#),
            );
        }
        response
    }
}

/// The binary metadata key carrying the REST error body (`{"error": {...}}`) on a gRPC
/// error, so a client reads the same `code`, `param` and validation `details` as over REST.
pub const GRPC_ERROR_BODY_KEY: &str = "policy-gateway-error-bin";

/// Validation problems named in a gRPC status message and its error body: enough to act on,
/// few enough to stay well inside HTTP/2 header limits (trailers carry both).
const GRPC_MAX_DETAILS: usize = 20;

impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        match &error {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            ApiError::DatabaseUnavailable => tracing::warn!("call failed: database unavailable"),
            _ => tracing::debug!(code = code.name(), "call rejected"),
        }
        let message = match &error {
            ApiError::Internal(_) => "internal error".to_owned(),
            // Every problem with its JSON pointer, not only the count REST puts in `message`.
            ApiError::InvalidPolicy(errors) => {
                let mut listed: Vec<String> = errors
                    .iter()
                    .take(GRPC_MAX_DETAILS)
                    .map(ToString::to_string)
                    .collect();
                if errors.len() > GRPC_MAX_DETAILS {
                    listed.push(format!("and {} more", errors.len() - GRPC_MAX_DETAILS));
                }
                format!("the policy is invalid: {}", listed.join("; "))
            }
            other => other.to_string(),
        };
        let mut body = error.body();
        if let Some(Value::Array(details)) = body.pointer_mut("/error/details") {
            details.truncate(GRPC_MAX_DETAILS);
        }
        let mut status = tonic::Status::new(code.grpc_code(), message);
        if let Ok(bytes) = serde_json::to_vec(&body) {
            status.metadata_mut().insert_bin(
                GRPC_ERROR_BODY_KEY,
                tonic::metadata::MetadataValue::from_bytes(&bytes),
            );
        }
        status
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        from_sqlx(error)
    }
}

/// The one mapping from database errors to API errors: by SQLSTATE and constraint name, so
/// a race the service could not see coming (two creates of one id) still gets its 409.
pub fn from_sqlx(error: sqlx::Error) -> ApiError {
    match &error {
        sqlx::Error::Database(db) => {
            let state = db.code().unwrap_or_default();
            match state.as_ref() {
                // unique_violation
                "23505" => ApiError::Conflict(
                    match db.constraint() {
                        Some("projects_pkey") => "a project with this id already exists",
                        Some("policies_pkey") | Some("policy_revisions_pkey") => {
                            "the policy was changed concurrently; retry"
                        }
                        _ => "the resource already exists",
                    }
                    .to_owned(),
                ),
                // foreign_key_violation: the parent row is gone (deleted concurrently).
                "23503" => ApiError::NotFound(
                    match db.constraint() {
                        Some("api_keys_org_project_id_fkey") => "project not found",
                        _ => "a referenced resource does not exist",
                    }
                    .to_owned(),
                ),
                // check_violation / not_null / string too long / numeric out of range:
                // input the service should have caught, still the client's to fix.
                "23514" | "23502" | "22001" | "22003" => ApiError::invalid(format!(
                    "the request violates a constraint: {}",
                    db.message()
                )),
                // serialization_failure / deadlock: safe to retry.
                "40001" | "40P01" => {
                    ApiError::Conflict("a concurrent change conflicted; retry".to_owned())
                }
                _ if is_unavailable_state(&state) => ApiError::DatabaseUnavailable,
                _ => ApiError::internal(&error),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            ApiError::DatabaseUnavailable
        }
        sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => {
            ApiError::DatabaseUnavailable
        }
        sqlx::Error::RowNotFound => ApiError::NotFound("not found".to_owned()),
        _ => ApiError::internal(&error),
    }
}

/// SQLSTATEs meaning "the server is not there right now": connection exceptions (08),
/// shutdown and start-up (57P01–57P03), too many connections (53300).
pub fn is_unavailable_state(state: &str) -> bool {
    state.starts_with("08") || matches!(state, "57P01" | "57P02" | "57P03" | "53300")
}

pub type ApiResult<T> = Result<T, ApiError>;
