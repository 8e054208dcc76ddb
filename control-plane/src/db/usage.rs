//! Reads of usage records and quota counters for `GET /usage` (SPEC §4, §6).

use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;

/// Requests and tokens recorded for a project in `[start, end)`, under one policy when
/// `policy_id` is given.
#[derive(Debug, Clone, Copy, Default, FromRow)]
pub struct Recorded {
    pub requests: i64,
    pub tokens: i64,
}

/// A quota counter summed over the rows that match (used and leased budget).
#[derive(Debug, Clone, Copy, Default, FromRow)]
pub struct Counter {
    pub rows: i64,
    pub used: i64,
    pub leased: i64,
}

pub async fn recorded(
    db: impl PgExecutor<'_>,
    org: &str,
    project_id: &str,
    policy_id: Option<&str>,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> sqlx::Result<Recorded> {
    sqlx::query_as(
        "SELECT count(*) AS requests,
                COALESCE(sum(prompt_tokens + completion_tokens), 0)::bigint AS tokens
         FROM usage_records
         WHERE org = $1 AND project_id = $2 AND ($3::text IS NULL OR policy_id = $3)
           AND created_at >= $4 AND created_at < $5",
    )
    .bind(org)
    .bind(project_id)
    .bind(policy_id)
    .bind(start)
    .bind(end)
    .fetch_one(db)
    .await
}

/// The counter of one subject and metric for the window starting at `window_start`;
/// `policy_id` narrows it to one policy's quota, `None` sums over policies.
pub async fn counter(
    db: impl PgExecutor<'_>,
    org: &str,
    policy_id: Option<&str>,
    subject_kind: &str,
    subject: &str,
    metric: &str,
    window_start: OffsetDateTime,
) -> sqlx::Result<Counter> {
    sqlx::query_as(
        "SELECT count(*) AS rows, COALESCE(sum(used), 0)::bigint AS used,
                COALESCE(sum(leased), 0)::bigint AS leased
         FROM quota_counters
         WHERE org = $1 AND ($2::text IS NULL OR policy_id = $2) AND subject_kind = $3
           AND subject = $4 AND metric = $5 AND window_start = $6",
    )
    .bind(org)
    .bind(policy_id)
    .bind(subject_kind)
    .bind(subject)
    .bind(metric)
    .bind(window_start)
    .fetch_one(db)
    .await
}
