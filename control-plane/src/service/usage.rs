//! `GET /usage` (SPEC §4, §7, docs/quotas.md): a project's usage in the current UTC window
//! and, for each quota that applies to it, the limit, what was used, what data planes hold
//! under leases, what remains and when the window resets — the project record's monthly
//! limits, its policy's `project_quota`, and the policy's `user_quota` per user subject.
//!
//! "Used" comes from the quota counters, the figure quotas are enforced against. The
//! project-level quotas fall back to the per-request usage records while no counter exists
//! for the window (no quota was enforced yet); user quotas exist only as counters.

use policy_engine::{Policy, Window, validate};
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::{now, rfc3339};
use crate::auth::Caller;
use crate::db::policies;
use crate::db::projects::{self, ProjectRow};
use crate::db::usage::{self, Counter, Recorded, UserCounter};
use crate::error::{ApiError, ApiResult};

/// Most user subjects one answer lists; `users_truncated` says when there were more.
pub const MAX_USERS: usize = 1_000;

/// What to show: `project_id` is required, the rest narrows or redirects the view.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageQuery<'a> {
    pub project_id: &'a str,
    /// The window of the top-level `requests`/`tokens` figures; default monthly.
    pub window: Option<&'a str>,
    /// The policy whose `project_quota` and `user_quota` to show; default the project's.
    pub policy_id: Option<&'a str>,
    /// One user subject only.
    pub subject: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsageView {
    pub project_id: String,
    /// The policy whose quotas are listed, if any.
    pub policy_id: Option<String>,
    pub window: &'static str,
    #[serde(with = "rfc3339")]
    pub window_start: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub window_end: OffsetDateTime,
    /// Requests and tokens recorded for the project in this window.
    pub requests: i64,
    pub tokens: i64,
    pub quotas: Vec<QuotaView>,
    /// More than [`MAX_USERS`] user subjects have counters; filter with `subject`.
    pub users_truncated: bool,
}

/// One quota bucket pair (requests and tokens) in its own window.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaView {
    /// `project` (the project record's monthly limits), `policy` (the policy's
    /// `project_quota`) or `user` (the policy's `user_quota` of one subject).
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// The counter's subject kind and subject (docs/quotas.md "Buckets").
    pub subject_kind: &'static str,
    pub subject: String,
    pub window: &'static str,
    #[serde(with = "rfc3339")]
    pub window_start: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub window_end: OffsetDateTime,
    /// When the counters start again from 0 (the window's end).
    #[serde(with = "rfc3339")]
    pub resets_at: OffsetDateTime,
    pub requests: Metric,
    pub tokens: Metric,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Metric {
    /// `None` = unlimited.
    pub limit: Option<i64>,
    pub used: i64,
    /// Budget data planes hold under unexpired leases, not yet reported as used.
    pub leased: i64,
    /// `limit - used`, never below 0; `None` when unlimited. Leased budget is part of it:
    /// the data planes holding it may still spend it.
    pub remaining: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
struct Bounds {
    window: Window,
    start: OffsetDateTime,
    end: OffsetDateTime,
}

pub async fn usage(pool: &PgPool, caller: &Caller, query: UsageQuery<'_>) -> ApiResult<UsageView> {
    let window = match query.window {
        None => Window::Monthly,
        Some(name) => Window::parse(name).ok_or_else(|| {
            ApiError::invalid_param("window", "window must be daily, weekly or monthly")
        })?,
    };
    let project = projects::get(pool, &caller.org, query.project_id)
        .await?
        .ok_or_else(|| ApiError::not_found("project", query.project_id))?;
    let policy = quota_policy(pool, &caller.org, &project, query.policy_id).await?;
    let at = now();
    let bounds = bounds(window, at)?;
    let recorded = usage::recorded(
        pool,
        &caller.org,
        &project.id,
        None,
        bounds.start,
        bounds.end,
    )
    .await?;
    let mut quotas = vec![project_quota(pool, &caller.org, &project, at).await?];
    let mut users_truncated = false;
    if let Some((policy_id, policy)) = &policy {
        if let Some(quota) =
            policy_quota(pool, &caller.org, &project, policy_id, policy, at).await?
        {
            quotas.push(quota);
        }
        let users = user_quotas(pool, &caller.org, policy_id, policy, query.subject, at).await?;
        users_truncated = users.len() > MAX_USERS;
        quotas.extend(users.into_iter().take(MAX_USERS));
    }
    Ok(UsageView {
        project_id: project.id,
        policy_id: policy.map(|(policy_id, _)| policy_id),
        window: window.name(),
        window_start: bounds.start,
        window_end: bounds.end,
        requests: recorded.requests,
        tokens: recorded.tokens,
        quotas,
        users_truncated,
    })
}

/// The policy whose quotas apply: the one asked for (which must exist), else the project's
/// default policy's stable revision (none when the project has none).
async fn quota_policy(
    pool: &PgPool,
    org: &str,
    project: &ProjectRow,
    asked: Option<&str>,
) -> ApiResult<Option<(String, Policy)>> {
    let Some(policy_id) = asked.or(project.policy_id.as_deref()) else {
        return Ok(None);
    };
    let Some(state) = policies::state(pool, org, policy_id).await? else {
        return match asked {
            Some(_) => Err(ApiError::not_found("policy", policy_id)),
            None => Ok(None),
        };
    };
    let policy = validate(&state.stable_document.0)
        .map_err(|_| ApiError::internal("a saved revision no longer validates"))?;
    Ok(Some((policy_id.to_owned(), policy)))
}

/// The project record's `monthly_request_limit` / `monthly_token_limit` (SPEC §4).
async fn project_quota(
    pool: &PgPool,
    org: &str,
    project: &ProjectRow,
    at: OffsetDateTime,
) -> ApiResult<QuotaView> {
    let bounds = bounds(Window::Monthly, at)?;
    let limits = (project.monthly_request_limit, project.monthly_token_limit);
    let (requests, tokens) = project_metrics(
        pool,
        org,
        None,
        "project_record",
        &project.id,
        bounds,
        limits,
    )
    .await?;
    Ok(view(
        "project",
        None,
        "project_record",
        &project.id,
        bounds,
        requests,
        tokens,
    ))
}

/// The policy's `org_controls.project_quota` for this project.
async fn policy_quota(
    pool: &PgPool,
    org: &str,
    project: &ProjectRow,
    policy_id: &str,
    policy: &Policy,
    at: OffsetDateTime,
) -> ApiResult<Option<QuotaView>> {
    let Some(quota) = policy.org_controls.project_quota else {
        return Ok(None);
    };
    let bounds = bounds(quota.window, at)?;
    let limits = (to_i64(quota.requests), to_i64(quota.tokens));
    let (requests, tokens) = project_metrics(
        pool,
        org,
        Some(policy_id),
        "project",
        &project.id,
        bounds,
        limits,
    )
    .await?;
    Ok(Some(view(
        "policy",
        Some(policy_id),
        "project",
        &project.id,
        bounds,
        requests,
        tokens,
    )))
}

/// The policy's `user_quota` (when `user_quotas` is on) of every subject with a counter in
/// the current window, or of `subject` alone (zeros when it has none). Up to
/// [`MAX_USERS`] + 1 entries: the extra one only says there are more.
async fn user_quotas(
    pool: &PgPool,
    org: &str,
    policy_id: &str,
    policy: &Policy,
    subject: Option<&str>,
    at: OffsetDateTime,
) -> ApiResult<Vec<QuotaView>> {
    let controls = &policy.org_controls;
    let Some(quota) = controls.user_quota.filter(|_| controls.user_quotas) else {
        return Ok(Vec::new());
    };
    let bounds = bounds(quota.window, at)?;
    let rows = usage::user_counters(
        pool,
        org,
        policy_id,
        bounds.start,
        subject,
        i64::try_from(MAX_USERS + 1).unwrap_or(i64::MAX),
    )
    .await?;
    let (request_limit, token_limit) = (to_i64(quota.requests), to_i64(quota.tokens));
    let mut subjects: Vec<(String, Counter, Counter)> = Vec::new();
    for UserCounter {
        subject,
        metric,
        used,
        leased,
    } in rows
    {
        if subjects.last().is_none_or(|(last, _, _)| *last != subject) {
            subjects.push((subject, Counter::default(), Counter::default()));
        }
        if let Some((_, requests, tokens)) = subjects.last_mut() {
            let counter = if metric == "requests" {
                requests
            } else {
                tokens
            };
            *counter = Counter {
                rows: 1,
                used,
                leased,
            };
        }
    }
    if let (Some(subject), true) = (subject, subjects.is_empty()) {
        subjects.push((subject.to_owned(), Counter::default(), Counter::default()));
    }
    Ok(subjects
        .into_iter()
        .map(|(subject, requests, tokens)| {
            view(
                "user",
                Some(policy_id),
                "user",
                &subject,
                bounds,
                metric(request_limit, requests.used, requests.leased),
                metric(token_limit, tokens.used, tokens.leased),
            )
        })
        .collect())
}

fn view(
    source: &'static str,
    policy_id: Option<&str>,
    subject_kind: &'static str,
    subject: &str,
    bounds: Bounds,
    requests: Metric,
    tokens: Metric,
) -> QuotaView {
    QuotaView {
        source,
        policy_id: policy_id.map(str::to_owned),
        subject_kind,
        subject: subject.to_owned(),
        window: bounds.window.name(),
        window_start: bounds.start,
        window_end: bounds.end,
        resets_at: bounds.end,
        requests,
        tokens,
    }
}

/// Requests and tokens of a project-level bucket pair, falling back to the usage records
/// for a metric without a counter in the window.
async fn project_metrics(
    pool: &PgPool,
    org: &str,
    policy_id: Option<&str>,
    subject_kind: &str,
    subject: &str,
    bounds: Bounds,
    (request_limit, token_limit): (Option<i64>, Option<i64>),
) -> ApiResult<(Metric, Metric)> {
    let counter = |metric| {
        usage::counter(
            pool,
            org,
            policy_id,
            subject_kind,
            subject,
            metric,
            bounds.start,
        )
    };
    let requests = counter("requests").await?;
    let tokens = counter("tokens").await?;
    let fallback = if requests.rows == 0 || tokens.rows == 0 {
        usage::recorded(pool, org, subject, policy_id, bounds.start, bounds.end).await?
    } else {
        Recorded::default()
    };
    let used = |counter: Counter, recorded: i64| {
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
        remaining: limit.map(|limit| limit.saturating_sub(used).max(0)),
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
    Ok(Bounds { window, start, end })
}
