//! `GET /usage` (SPEC §4, §7): a project's usage in the current UTC window and what is
//! left of its quotas — the project record's monthly limits and its policy's
//! `project_quota`.
//!
//! "Used" comes from the quota counters, the figure quotas are enforced against, and falls
//! back to the per-request usage records when no counter exists yet for the window.

use policy_engine::{Window, validate};
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::{now, rfc3339};
use crate::auth::Caller;
use crate::db::policies;
use crate::db::projects::{self, ProjectRow};
use crate::db::usage::{self, Recorded};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Serialize)]
pub struct UsageView {
    pub project_id: String,
    pub window: &'static str,
    #[serde(with = "rfc3339")]
    pub window_start: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub window_end: OffsetDateTime,
    /// Requests and tokens recorded for the project in this window.
    pub requests: i64,
    pub tokens: i64,
    pub quotas: Vec<QuotaView>,
}

/// One quota that applies to the project, in its own window.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaView {
    /// `project` (the project record's monthly limits) or `policy` (the policy's
    /// `project_quota`).
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    pub window: &'static str,
    #[serde(with = "rfc3339")]
    pub window_start: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub window_end: OffsetDateTime,
    pub requests: Metric,
    pub tokens: Metric,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Metric {
    /// `None` = unlimited.
    pub limit: Option<i64>,
    pub used: i64,
    /// Budget granted to data planes and not yet reported as used.
    pub leased: i64,
    /// `limit - used - leased`, never below 0; `None` when unlimited.
    pub remaining: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
struct Bounds {
    start: OffsetDateTime,
    end: OffsetDateTime,
}

pub async fn usage(
    pool: &PgPool,
    caller: &Caller,
    project_id: &str,
    window: Option<&str>,
) -> ApiResult<UsageView> {
    let window = match window {
        None => Window::Monthly,
        Some(name) => Window::parse(name).ok_or_else(|| {
            ApiError::invalid_param("window", "window must be daily, weekly or monthly")
        })?,
    };
    let project = projects::get(pool, &caller.org, project_id)
        .await?
        .ok_or_else(|| ApiError::not_found("project", project_id))?;
    let at = now();
    let bounds = bounds(window, at)?;
    let recorded = usage::recorded(
        pool,
        &caller.org,
        project_id,
        None,
        bounds.start,
        bounds.end,
    )
    .await?;
    let mut quotas = vec![project_quota(pool, &caller.org, &project, at).await?];
    if let Some(quota) = policy_quota(pool, &caller.org, &project, at).await? {
        quotas.push(quota);
    }
    Ok(UsageView {
        project_id: project.id,
        window: window.name(),
        window_start: bounds.start,
        window_end: bounds.end,
        requests: recorded.requests,
        tokens: recorded.tokens,
        quotas,
    })
}

/// The project record's `monthly_request_limit` / `monthly_token_limit` (SPEC §4).
async fn project_quota(
    pool: &PgPool,
    org: &str,
    project: &ProjectRow,
    at: OffsetDateTime,
) -> ApiResult<QuotaView> {
    let window = Window::Monthly;
    let bounds = bounds(window, at)?;
    let limits = (project.monthly_request_limit, project.monthly_token_limit);
    let (requests, tokens) = metrics(
        pool,
        org,
        None,
        "project_record",
        &project.id,
        bounds,
        limits,
    )
    .await?;
    Ok(QuotaView {
        source: "project",
        policy_id: None,
        window: window.name(),
        window_start: bounds.start,
        window_end: bounds.end,
        requests,
        tokens,
    })
}

/// The `org_controls.project_quota` of the project's default policy's stable revision.
async fn policy_quota(
    pool: &PgPool,
    org: &str,
    project: &ProjectRow,
    at: OffsetDateTime,
) -> ApiResult<Option<QuotaView>> {
    let Some(policy_id) = project.policy_id.as_deref() else {
        return Ok(None);
    };
    let Some(state) = policies::state(pool, org, policy_id).await? else {
        return Ok(None);
    };
    let policy = validate(&state.stable_document.0)
        .map_err(|_| ApiError::internal("a saved revision no longer validates"))?;
    let Some(quota) = policy.org_controls.project_quota else {
        return Ok(None);
    };
    let bounds = bounds(quota.window, at)?;
    let limits = (to_i64(quota.requests), to_i64(quota.tokens));
    let (requests, tokens) = metrics(
        pool,
        org,
        Some(policy_id),
        "project",
        &project.id,
        bounds,
        limits,
    )
    .await?;
    Ok(Some(QuotaView {
        source: "policy",
        policy_id: Some(policy_id.to_owned()),
        window: quota.window.name(),
        window_start: bounds.start,
        window_end: bounds.end,
        requests,
        tokens,
    }))
}

async fn metrics(
    pool: &PgPool,
    org: &str,
    policy_id: Option<&str>,
    subject_kind: &str,
    subject: &str,
    bounds: Bounds,
    (request_limit, token_limit): (Option<i64>, Option<i64>),
) -> ApiResult<(Metric, Metric)> {
    let requests = usage::counter(
        pool,
        org,
        policy_id,
        subject_kind,
        subject,
        "requests",
        bounds.start,
    )
    .await?;
    let tokens = usage::counter(
        pool,
        org,
        policy_id,
        subject_kind,
        subject,
        "tokens",
        bounds.start,
    )
    .await?;
    let fallback = if requests.rows == 0 || tokens.rows == 0 {
        usage::recorded(pool, org, subject, policy_id, bounds.start, bounds.end).await?
    } else {
        Recorded::default()
    };
    let used = |counter: usage::Counter, recorded: i64| {
        if counter.rows > 0 {
            counter.used
        } else {
            recorded
        }
    };
    Ok((
        metric(
            request_limit,
            used(requests, fallback.requests),
            requests.leased,
        ),
        metric(token_limit, used(tokens, fallback.tokens), tokens.leased),
    ))
}

fn metric(limit: Option<i64>, used: i64, leased: i64) -> Metric {
    Metric {
        limit,
        used,
        leased,
        remaining: limit.map(|limit| limit.saturating_sub(used).saturating_sub(leased).max(0)),
    }
}

fn to_i64(limit: Option<u64>) -> Option<i64> {
    limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

fn bounds(window: Window, at: OffsetDateTime) -> ApiResult<Bounds> {
    let bounds = window
        .bounds(at.unix_timestamp())
        .map_err(ApiError::internal)?;
    let start = OffsetDateTime::from_unix_timestamp(bounds.start).map_err(ApiError::internal)?;
    let end = OffsetDateTime::from_unix_timestamp(bounds.end).map_err(ApiError::internal)?;
    Ok(Bounds { start, end })
}
