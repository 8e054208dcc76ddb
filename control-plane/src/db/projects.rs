//! Projects (SPEC §5): id, name, status, monthly limits and default policy, per org.

use sqlx::{FromRow, PgConnection, PgExecutor, Postgres, QueryBuilder};
use time::OffsetDateTime;

#[derive(Debug, Clone, FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub policy_id: Option<String>,
    pub monthly_request_limit: Option<i64>,
    pub monthly_token_limit: Option<i64>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewProject<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub status: &'a str,
    pub policy_id: Option<&'a str>,
    pub monthly_request_limit: Option<i64>,
    pub monthly_token_limit: Option<i64>,
}

/// Fields a PATCH sets; `None` leaves a column as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProjectChanges<'a> {
    pub name: Option<&'a str>,
    pub status: Option<&'a str>,
    pub policy_id: Option<Option<&'a str>>,
    pub monthly_request_limit: Option<Option<i64>>,
    pub monthly_token_limit: Option<Option<i64>>,
}

const COLUMNS: &str = "id, name, status, policy_id, monthly_request_limit, monthly_token_limit, \
                       created_at, updated_at";

/// Inserts a project; a duplicate id surfaces as the `projects_pkey` unique violation.
pub async fn insert(
    conn: &mut PgConnection,
    org: &str,
    project: &NewProject<'_>,
) -> sqlx::Result<ProjectRow> {
    sqlx::query_as(
        "INSERT INTO projects (org, id, name, status, policy_id, monthly_request_limit,
                               monthly_token_limit)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, name, status, policy_id, monthly_request_limit, monthly_token_limit,
                   created_at, updated_at",
    )
    .bind(org)
    .bind(project.id)
    .bind(project.name)
    .bind(project.status)
    .bind(project.policy_id)
    .bind(project.monthly_request_limit)
    .bind(project.monthly_token_limit)
    .fetch_one(conn)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, org: &str, id: &str) -> sqlx::Result<Option<ProjectRow>> {
    sqlx::query_as(
        "SELECT id, name, status, policy_id, monthly_request_limit, monthly_token_limit,
                created_at, updated_at
         FROM projects WHERE org = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// One page of projects ordered by id, after `after` when given.
pub async fn list(
    db: impl PgExecutor<'_>,
    org: &str,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<ProjectRow>> {
    sqlx::query_as(
        "SELECT id, name, status, policy_id, monthly_request_limit, monthly_token_limit,
                created_at, updated_at
         FROM projects WHERE org = $1 AND ($2::text IS NULL OR id > $2)
         ORDER BY id LIMIT $3",
    )
    .bind(org)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Applies a PATCH; `None` when the project does not exist in this org.
pub async fn update(
    conn: &mut PgConnection,
    org: &str,
    id: &str,
    changes: &ProjectChanges<'_>,
) -> sqlx::Result<Option<ProjectRow>> {
    let mut query: QueryBuilder<'_, Postgres> =
        QueryBuilder::new("UPDATE projects SET updated_at = now()");
    if let Some(name) = changes.name {
        query.push(", name = ").push_bind(name);
    }
    if let Some(status) = changes.status {
        query.push(", status = ").push_bind(status);
    }
    if let Some(policy_id) = changes.policy_id {
        query.push(", policy_id = ").push_bind(policy_id);
    }
    if let Some(limit) = changes.monthly_request_limit {
        query.push(", monthly_request_limit = ").push_bind(limit);
    }
    if let Some(limit) = changes.monthly_token_limit {
        query.push(", monthly_token_limit = ").push_bind(limit);
    }
    query
        .push(" WHERE org = ")
        .push_bind(org)
        .push(" AND id = ")
        .push_bind(id)
        .push(" RETURNING ")
        .push(COLUMNS);
    query.build_query_as().fetch_optional(conn).await
}

/// Deletes a project (its keys go with it, by the foreign key); `false` when absent.
pub async fn delete(conn: &mut PgConnection, org: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM projects WHERE org = $1 AND id = $2")
        .bind(org)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
