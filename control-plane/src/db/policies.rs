//! Policies and their revisions (SPEC §1.2, §2.6): the `policies` row holds the rollout
//! pointers (stable, candidate, state), `policy_revisions` every saved document.

use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor};
use time::OffsetDateTime;

/// The pointers of one policy, read under a row lock while a change is being made.
#[derive(Debug, Clone, FromRow)]
pub struct PolicyRow {
    pub policy_id: String,
    pub latest_revision: i64,
    pub stable_revision: i64,
    pub candidate_revision: Option<i64>,
    pub rollout_state: String,
    pub rollout_started_at: Option<OffsetDateTime>,
    pub cooldown_until: Option<OffsetDateTime>,
}

/// A policy's pointers with the stable and candidate documents, for the policy state.
#[derive(Debug, Clone, FromRow)]
pub struct PolicyStateRow {
    pub policy_id: String,
    pub latest_revision: i64,
    pub stable_revision: i64,
    pub candidate_revision: Option<i64>,
    pub rollout_state: String,
    pub rollout_started_at: Option<OffsetDateTime>,
    pub cooldown_until: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
    pub updated_by: String,
    pub stable_document: Json<Value>,
    pub candidate_document: Option<Json<Value>>,
}

#[derive(Debug, Clone, FromRow)]
pub struct RevisionRow {
    pub revision: i64,
    pub author: String,
    pub created_at: OffsetDateTime,
    pub document: Json<Value>,
}

/// New pointer values written by a change.
#[derive(Debug, Clone)]
pub struct Pointers {
    pub latest_revision: i64,
    pub stable_revision: i64,
    pub candidate_revision: Option<i64>,
    pub rollout_state: &'static str,
    pub rollout_started_at: Option<OffsetDateTime>,
    pub cooldown_until: Option<OffsetDateTime>,
}

/// The policy-state query without its WHERE clause; a macro so callers can `concat!` it
/// into one constant statement.
macro_rules! state_select {
    () => {
        "SELECT p.policy_id, p.latest_revision, p.stable_revision, p.candidate_revision,
       p.rollout_state, p.rollout_started_at, p.cooldown_until, p.updated_at, p.updated_by,
       s.document AS stable_document, c.document AS candidate_document
FROM policies p
JOIN policy_revisions s
  ON s.org = p.org AND s.policy_id = p.policy_id AND s.revision = p.stable_revision
LEFT JOIN policy_revisions c
  ON c.org = p.org AND c.policy_id = p.policy_id AND c.revision = p.candidate_revision "
    };
}

/// Locks the policy's row for the rest of the transaction, so concurrent saves of one
/// policy take revision numbers one after the other.
pub async fn lock(
    conn: &mut PgConnection,
    org: &str,
    policy_id: &str,
) -> sqlx::Result<Option<PolicyRow>> {
    sqlx::query_as(
        "SELECT policy_id, latest_revision, stable_revision, candidate_revision, rollout_state,
                rollout_started_at, cooldown_until
         FROM policies WHERE org = $1 AND policy_id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(policy_id)
    .fetch_optional(conn)
    .await
}

/// Creates the row of a policy's first save with no revision yet; `false` when another
/// transaction created it first (the caller then locks the existing row).
pub async fn create(
    conn: &mut PgConnection,
    org: &str,
    policy_id: &str,
    author: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO policies (org, policy_id, latest_revision, stable_revision, updated_by)
         VALUES ($1, $2, 0, 0, $3) ON CONFLICT (org, policy_id) DO NOTHING",
    )
    .bind(org)
    .bind(policy_id)
    .bind(author)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_revision(
    conn: &mut PgConnection,
    org: &str,
    policy_id: &str,
    revision: i64,
    document: &Value,
    author: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO policy_revisions (org, policy_id, revision, document, author)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(org)
    .bind(policy_id)
    .bind(revision)
    .bind(Json(document))
    .bind(author)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_pointers(
    conn: &mut PgConnection,
    org: &str,
    policy_id: &str,
    pointers: &Pointers,
    author: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE policies SET latest_revision = $3, stable_revision = $4, candidate_revision = $5,
                rollout_state = $6, rollout_started_at = $7, cooldown_until = $8,
                updated_at = now(), updated_by = $9
         WHERE org = $1 AND policy_id = $2",
    )
    .bind(org)
    .bind(policy_id)
    .bind(pointers.latest_revision)
    .bind(pointers.stable_revision)
    .bind(pointers.candidate_revision)
    .bind(pointers.rollout_state)
    .bind(pointers.rollout_started_at)
    .bind(pointers.cooldown_until)
    .bind(author)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn state(
    db: impl PgExecutor<'_>,
    org: &str,
    policy_id: &str,
) -> sqlx::Result<Option<PolicyStateRow>> {
    sqlx::query_as(concat!(
        state_select!(),
        "WHERE p.org = $1 AND p.policy_id = $2"
    ))
    .bind(org)
    .bind(policy_id)
    .fetch_optional(db)
    .await
}

/// One page of policy states ordered by id, after `after` when given.
pub async fn states(
    db: impl PgExecutor<'_>,
    org: &str,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<PolicyStateRow>> {
    sqlx::query_as(concat!(
        state_select!(),
        "WHERE p.org = $1 AND ($2::text IS NULL OR p.policy_id > $2)
         ORDER BY p.policy_id LIMIT $3"
    ))
    .bind(org)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Whether the org has a policy of this id (for references from projects).
pub async fn exists(db: impl PgExecutor<'_>, org: &str, policy_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM policies WHERE org = $1 AND policy_id = $2)")
        .bind(org)
        .bind(policy_id)
        .fetch_one(db)
        .await
}

/// A revision's document, author and time.
pub async fn revision(
    db: impl PgExecutor<'_>,
    org: &str,
    policy_id: &str,
    revision: i64,
) -> sqlx::Result<Option<RevisionRow>> {
    sqlx::query_as(
        "SELECT revision, author, created_at, document FROM policy_revisions
         WHERE org = $1 AND policy_id = $2 AND revision = $3",
    )
    .bind(org)
    .bind(policy_id)
    .bind(revision)
    .fetch_optional(db)
    .await
}

/// One page of revisions, newest first, below `before` when given.
pub async fn revisions(
    db: impl PgExecutor<'_>,
    org: &str,
    policy_id: &str,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<RevisionRow>> {
    sqlx::query_as(
        "SELECT revision, author, created_at, document FROM policy_revisions
         WHERE org = $1 AND policy_id = $2 AND ($3::bigint IS NULL OR revision < $3)
         ORDER BY revision DESC LIMIT $4",
    )
    .bind(org)
    .bind(policy_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}
