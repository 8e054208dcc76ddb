//! API keys (SPEC §5): only the SHA-256 hash and a preview are stored, never the raw key.

use sqlx::{FromRow, PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    pub id: Uuid,
    pub key_preview: String,
    pub label: String,
    pub project_id: Option<String>,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub id: Uuid,
    pub key_hash: &'a [u8; 32],
    pub key_preview: &'a str,
    pub label: &'a str,
    pub project_id: Option<&'a str>,
    pub created_by: &'a str,
}

pub async fn insert(conn: &mut PgConnection, org: &str, key: &NewKey<'_>) -> sqlx::Result<KeyRow> {
    sqlx::query_as(
        "INSERT INTO api_keys (id, org, key_hash, key_preview, label, project_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, key_preview, label, project_id, created_by, created_at, revoked_at",
    )
    .bind(key.id)
    .bind(org)
    .bind(&key.key_hash[..])
    .bind(key.key_preview)
    .bind(key.label)
    .bind(key.project_id)
    .bind(key.created_by)
    .fetch_one(conn)
    .await
}

/// Keys of one project, or the org-wide keys when `project_id` is `None`; oldest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    org: &str,
    project_id: Option<&str>,
) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query_as(
        "SELECT id, key_preview, label, project_id, created_by, created_at, revoked_at
         FROM api_keys WHERE org = $1 AND project_id IS NOT DISTINCT FROM $2
         ORDER BY created_at, id",
    )
    .bind(org)
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// Locks one key of the given scope (a project's, or org-wide when `project_id` is `None`).
pub async fn lock(
    conn: &mut PgConnection,
    org: &str,
    project_id: Option<&str>,
    id: Uuid,
) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as(
        "SELECT id, key_preview, label, project_id, created_by, created_at, revoked_at
         FROM api_keys WHERE org = $1 AND project_id IS NOT DISTINCT FROM $2 AND id = $3
         FOR UPDATE",
    )
    .bind(org)
    .bind(project_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn revoke(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<KeyRow> {
    sqlx::query_as(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1
         RETURNING id, key_preview, label, project_id, created_by, created_at, revoked_at",
    )
    .bind(id)
    .fetch_one(conn)
    .await
}
