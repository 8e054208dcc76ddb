//! Reads of usage records, quota counters and leases for `GET /usage` (SPEC §4, §6).
//! "Leased" is the budget data planes hold under unexpired leases (`quota_leases`).

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

/// One user subject's counter of one metric.
#[derive(Debug, Clone, FromRow)]
pub struct UserCounter {
    pub subject: String,
    pub metric: String,
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
                (SELECT COALESCE(sum(held), 0)::bigint FROM quota_leases
                 WHERE org = $1 AND ($2::text IS NULL OR policy_id = $2) AND subject_kind = $3
                   AND subject = $4 AND metric = $5 AND window_start = $6
                   AND expires_at > now()) AS leased
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

/// The user-quota counters of `policy_id` for the window starting at `window_start`: of
/// `subject` only when given, else of the first `max_subjects` subjects (by name) that have
/// a counter. Ordered by subject, then metric.
pub async fn user_counters(
    db: impl PgExecutor<'_>,
    org: &str,
    policy_id: &str,
    window_start: OffsetDateTime,
    subject: Option<&str>,
    max_subjects: i64,
) -> sqlx::Result<Vec<UserCounter>> {
    sqlx::query_as(
        "WITH subjects AS (
             SELECT DISTINCT subject FROM quota_counters
             WHERE org = $1 AND policy_id = $2 AND subject_kind = 'user' AND window_start = $3
               AND ($4::text IS NULL OR subject = $4)
             ORDER BY subject LIMIT $5)
         SELECT c.subject, c.metric, c.used,
                COALESCE(sum(l.held) FILTER (WHERE l.expires_at > now()), 0)::bigint AS leased
         FROM quota_counters c
         JOIN subjects s ON s.subject = c.subject
         LEFT JOIN quota_leases l
                ON l.org = c.org AND l.policy_id = c.policy_id
               AND l.subject_kind = c.subject_kind AND l.subject = c.subject
               AND l.metric = c.metric AND l.window_start = c.window_start
         WHERE c.org = $1 AND c.policy_id = $2 AND c.subject_kind = 'user' AND c.window_start = $3
         GROUP BY c.subject, c.metric, c.used
         ORDER BY c.subject, c.metric",
    )
    .bind(org)
    .bind(policy_id)
    .bind(window_start)
    .bind(subject)
    .bind(max_subjects)
    .fetch_all(db)
    .await
}
