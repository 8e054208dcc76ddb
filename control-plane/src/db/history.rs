//! The history table (SPEC §6): entries of every type, kept per policy up to the configured
//! limit, listed newest first.

use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

/// The entry types of SPEC §6, as stored in `history.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    Enforcement,
    Simulation,
    Revision,
    Rollback,
    Key,
}

impl EntryType {
    pub const NAMES: [&'static str; 5] =
        ["enforcement", "simulation", "revision", "rollback", "key"];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Enforcement => "enforcement",
            Self::Simulation => "simulation",
            Self::Revision => "revision",
            Self::Rollback => "rollback",
            Self::Key => "key",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "enforcement" => Some(Self::Enforcement),
            "simulation" => Some(Self::Simulation),
            "revision" => Some(Self::Revision),
            "rollback" => Some(Self::Rollback),
            "key" => Some(Self::Key),
            _ => None,
        }
    }
}

/// An entry to write. `entry` holds the type-specific fields (a JSON object).
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub entry_type: EntryType,
    pub policy_id: Option<&'a str>,
    pub policy_name: Option<&'a str>,
    pub entry: Value,
}

#[derive(Debug, Clone, FromRow)]
pub struct EntryRow {
    pub id: Uuid,
    #[sqlx(rename = "type")]
    pub entry_type: String,
    pub policy_id: Option<String>,
    pub policy_name: Option<String>,
    pub created_at: OffsetDateTime,
    pub entry: Json<Value>,
}

/// Filters of a history listing.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub entry_type: Option<EntryType>,
    pub policy_id: Option<&'a str>,
    /// Only entries older than this (created_at, id): the last entry of the previous page.
    /// A position rather than an id, so a page boundary survives the entry being pruned.
    pub before: Option<(OffsetDateTime, Uuid)>,
}

/// Writes one entry, then prunes that policy's history to `limit` entries. Entries
/// without a policy (org-wide key events) are pruned as one group per org.
pub async fn record(
    conn: &mut PgConnection,
    org: &str,
    entry: NewEntry<'_>,
    limit: u32,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    // clock_timestamp(), not now(): entries written in one transaction still get distinct,
    // increasing times, so "newest first" is their real order.
    sqlx::query(
        "INSERT INTO history (id, org, type, policy_id, policy_name, created_at, entry)
         VALUES ($1, $2, $3, $4, $5, clock_timestamp(), $6)",
    )
    .bind(id)
    .bind(org)
    .bind(entry.entry_type.name())
    .bind(entry.policy_id)
    .bind(entry.policy_name)
    .bind(Json(&entry.entry))
    .execute(&mut *conn)
    .await?;
    prune(conn, org, entry.policy_id, limit).await?;
    Ok(id)
}

/// Deletes all but the newest `limit` entries of one policy (SPEC §6, oldest first).
pub async fn prune(
    conn: &mut PgConnection,
    org: &str,
    policy_id: Option<&str>,
    limit: u32,
) -> sqlx::Result<u64> {
    let query = match policy_id {
        Some(policy_id) => sqlx::query(
            "DELETE FROM history WHERE id IN (
                 SELECT id FROM history WHERE org = $1 AND policy_id = $2
                 ORDER BY created_at DESC, id DESC OFFSET $3)",
        )
        .bind(org)
        .bind(policy_id),
        None => sqlx::query(
            "DELETE FROM history WHERE id IN (
                 SELECT id FROM history WHERE org = $1 AND policy_id IS NULL
                 ORDER BY created_at DESC, id DESC OFFSET $2)",
        )
        .bind(org),
    };
    let done = query.bind(i64::from(limit)).execute(conn).await?;
    Ok(done.rows_affected())
}

/// One page of entries, newest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    org: &str,
    filter: &Filter<'_>,
    limit: i64,
) -> sqlx::Result<Vec<EntryRow>> {
    let mut query: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "SELECT id, type, policy_id, policy_name, created_at, entry FROM history WHERE org = ",
    );
    query.push_bind(org);
    if let Some(entry_type) = filter.entry_type {
        query.push(" AND type = ").push_bind(entry_type.name());
    }
    if let Some(policy_id) = filter.policy_id {
        query.push(" AND policy_id = ").push_bind(policy_id);
    }
    if let Some((created_at, id)) = filter.before {
        // Keyset pagination on (created_at, id), the order of the history indexes.
        query
            .push(" AND (created_at, id) < (")
            .push_bind(created_at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    query.build_query_as().fetch_all(db).await
}
