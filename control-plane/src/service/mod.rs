//! Business rules of the management API, between the thin HTTP handlers and the repository
//! (`db`). Each function takes the authenticated caller and scopes everything to its org.

pub mod history;
pub mod keys;
pub mod policies;
pub mod projects;
pub mod rollout;
pub mod simulate;
pub mod usage;

use policy_engine::CategorySet;
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};

/// The settings the API's rules depend on (SPEC §13).
#[derive(Debug, Clone)]
pub struct Settings {
    /// History entries kept per policy (`POLICY_HISTORY_LIMIT`).
    pub history_limit: u32,
    /// Categories refused whatever a policy says (`HARD_BLOCKED_CATEGORIES`), applied by
    /// simulate exactly as the data planes apply them.
    pub hard_blocked: CategorySet,
}

/// Largest page any listing returns.
pub const MAX_PAGE: u32 = 500;
/// Page size when the caller gives none.
pub const DEFAULT_PAGE: u32 = 100;

/// One page of a listing; pass `next_cursor` back as `cursor` for the next one.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched with `limit + 1`: the extra row only says that
    /// another page exists.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: u32,
        cursor_of: impl Fn(&R) -> String,
        view: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(&cursor_of)
        } else {
            None
        };
        Page {
            data: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// Checks a `limit` query parameter.
pub fn page_limit(limit: Option<u32>, default: u32) -> ApiResult<u32> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid_param(
            "limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// `updated_at`-style timestamps in API answers are RFC 3339.
pub mod rfc3339 {
    pub use time::serde::rfc3339::*;
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A required non-blank text field of at most `max` characters, trimmed.
pub(crate) fn required_text<'a>(field: &str, value: &'a str, max: usize) -> ApiResult<&'a str> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid_param(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid_param(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(value)
}
