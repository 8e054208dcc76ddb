//! API keys (SPEC §5): project-scoped and org-wide. The raw key is drawn here, returned in
//! the creation answer once, and otherwise exists nowhere: only its SHA-256 hash and a
//! preview are stored, and nothing logs it.

use policy_engine::keys::{KEY_RANDOM_BYTES, hash_key, preview, raw_key_from_bytes};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Settings, required_text, rfc3339};
use crate::auth::Caller;
use crate::db::history::{self, EntryType, NewEntry};
use crate::db::keys::{self, KeyRow, NewKey};
use crate::db::{config_version, projects};
use crate::error::{ApiError, ApiResult};

const MAX_LABEL_CHARS: usize = 200;

/// `POST /keys` and `POST /projects/{id}/keys` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub label: String,
}

/// A key as listed: never the raw key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: Uuid,
    pub key_preview: String,
    pub label: String,
    pub project_id: Option<String>,
    pub created_by: String,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// The creation answer: the only place the raw key ever appears.
#[derive(Serialize)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub record: KeyView,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &"*****")
            .field("record", &self.record)
            .finish()
    }
}

impl From<KeyRow> for KeyView {
    fn from(row: KeyRow) -> Self {
        KeyView {
            id: row.id,
            key_preview: row.key_preview,
            label: row.label,
            project_id: row.project_id,
            created_by: row.created_by,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// Creates a key for `project_id`, or an org-wide key when it is `None`.
pub async fn create(
    pool: &PgPool,
    caller: &Caller,
    settings: &Settings,
    project_id: Option<&str>,
    body: CreateKey,
) -> ApiResult<CreatedKey> {
    let label = required_text("label", &body.label, MAX_LABEL_CHARS)?;
    let mut random = [0u8; KEY_RANDOM_BYTES];
    getrandom::fill(&mut random).map_err(ApiError::internal)?;
    let raw = raw_key_from_bytes(&random);
    let hash = hash_key(&raw);
    let key_preview = preview(&raw);
    let mut tx = pool.begin().await?;
    if let Some(project_id) = project_id {
        projects::get(&mut *tx, &caller.org, project_id)
            .await?
            .ok_or_else(|| ApiError::not_found("project", project_id))?;
    }
    let new = NewKey {
        id: Uuid::now_v7(),
        key_hash: &hash,
        key_preview: &key_preview,
        label,
        project_id,
        created_by: &caller.sub,
    };
    let row = keys::insert(&mut tx, &caller.org, &new).await?;
    record(&mut tx, caller, settings, &row, "created").await?;
    config_version::bump(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(
        org = %caller.org, key.id = %row.id, key.preview = %row.key_preview,
        project.id = ?row.project_id, actor = %caller.sub, "api key created"
    );
    Ok(CreatedKey {
        key: raw,
        record: row.into(),
    })
}

/// Keys of a project (404 for an unknown project), or the org-wide keys.
pub async fn list(
    pool: &PgPool,
    caller: &Caller,
    project_id: Option<&str>,
) -> ApiResult<Vec<KeyView>> {
    if let Some(project_id) = project_id {
        projects::get(pool, &caller.org, project_id)
            .await?
            .ok_or_else(|| ApiError::not_found("project", project_id))?;
    }
    let rows = keys::list(pool, &caller.org, project_id).await?;
    Ok(rows.into_iter().map(KeyView::from).collect())
}

/// Revokes a key of the given scope. Revoking an already revoked key changes nothing and
/// answers with the key as it is.
pub async fn revoke(
    pool: &PgPool,
    caller: &Caller,
    settings: &Settings,
    project_id: Option<&str>,
    key_id: Uuid,
) -> ApiResult<KeyView> {
    let mut tx = pool.begin().await?;
    let row = keys::lock(&mut tx, &caller.org, project_id, key_id)
        .await?
        .ok_or_else(|| ApiError::not_found("key", &key_id.to_string()))?;
    if row.revoked_at.is_some() {
        return Ok(row.into());
    }
    let row = keys::revoke(&mut tx, key_id).await?;
    record(&mut tx, caller, settings, &row, "revoked").await?;
    config_version::bump(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(
        org = %caller.org, key.id = %row.id, project.id = ?row.project_id,
        actor = %caller.sub, "api key revoked"
    );
    Ok(row.into())
}

/// A `key` history entry. Key events belong to no policy; they are kept (and pruned) as
/// the org's policy-less group.
async fn record(
    conn: &mut sqlx::PgConnection,
    caller: &Caller,
    settings: &Settings,
    row: &KeyRow,
    event: &str,
) -> ApiResult<()> {
    let entry = json!({
        "event": event,
        "key_id": row.id,
        "key_preview": row.key_preview,
        "label": row.label,
        "project_id": row.project_id,
        "actor": caller.sub,
    });
    history::record(
        conn,
        &caller.org,
        NewEntry {
            entry_type: EntryType::Key,
            policy_id: None,
            policy_name: None,
            entry,
        },
        settings.history_limit,
    )
    .await?;
    Ok(())
}
