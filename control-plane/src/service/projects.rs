//! Projects (SPEC §5, §7): created, changed and deleted by admins; every change bumps the
//! snapshot version because data planes check project status, limits and default policy.

use policy_engine::normalize;
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::{Page, required_text, rfc3339};
use crate::auth::Caller;
use crate::db::projects::{self, NewProject, ProjectChanges, ProjectRow};
use crate::db::{config_version, policies};
use crate::error::{ApiError, ApiResult};

const MAX_NAME_CHARS: usize = 200;
const STATUSES: [&str; 2] = ["active", "suspended"];

/// `POST /projects` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub id: Option<String>,
    pub name: String,
    pub policy_id: Option<String>,
    pub status: Option<String>,
    pub monthly_request_limit: Option<i64>,
    pub monthly_token_limit: Option<i64>,
}

/// `PATCH /projects/{id}` body: absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub name: Option<String>,
    pub status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub policy_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub monthly_request_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub monthly_token_limit: Option<Option<i64>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, via `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub status: String,
    pub policy_id: Option<String>,
    pub monthly_request_limit: Option<i64>,
    pub monthly_token_limit: Option<i64>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<ProjectRow> for ProjectView {
    fn from(row: ProjectRow) -> Self {
        ProjectView {
            id: row.id,
            name: row.name,
            status: row.status,
            policy_id: row.policy_id,
            monthly_request_limit: row.monthly_request_limit,
            monthly_token_limit: row.monthly_token_limit,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

pub async fn create(pool: &PgPool, caller: &Caller, body: CreateProject) -> ApiResult<ProjectView> {
    let name = required_text("name", &body.name, MAX_NAME_CHARS)?;
    // SPEC §7: the id defaults to the slug of the name ("Support bot" → "support-bot").
    let id = match body.id.as_deref() {
        Some(id) => check_id(id)?,
        None => normalize::slug(name).ok_or_else(|| {
            ApiError::invalid_param(
                "name",
                "the name has no letter or digit to derive an id from; give an id",
            )
        })?,
    };
    let status = check_status(body.status.as_deref().unwrap_or("active"))?;
    check_limit("monthly_request_limit", body.monthly_request_limit)?;
    check_limit("monthly_token_limit", body.monthly_token_limit)?;
    let mut tx = pool.begin().await?;
    if let Some(policy_id) = body.policy_id.as_deref() {
        check_policy(&mut tx, &caller.org, policy_id).await?;
    }
    let project = NewProject {
        id: &id,
        name,
        status,
        policy_id: body.policy_id.as_deref(),
        monthly_request_limit: body.monthly_request_limit,
        monthly_token_limit: body.monthly_token_limit,
    };
    let row = projects::insert(&mut tx, &caller.org, &project).await?;
    config_version::bump(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(org = %caller.org, project.id = %id, actor = %caller.sub, "project created");
    Ok(row.into())
}

pub async fn get(pool: &PgPool, caller: &Caller, id: &str) -> ApiResult<ProjectView> {
    projects::get(pool, &caller.org, id)
        .await?
        .map(ProjectView::from)
        .ok_or_else(|| ApiError::not_found("project", id))
}

pub async fn list(
    pool: &PgPool,
    caller: &Caller,
    after: Option<&str>,
    limit: u32,
) -> ApiResult<Page<ProjectView>> {
    let rows = projects::list(pool, &caller.org, after, i64::from(limit) + 1).await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        ProjectView::from,
    ))
}

pub async fn update(
    pool: &PgPool,
    caller: &Caller,
    id: &str,
    body: UpdateProject,
) -> ApiResult<ProjectView> {
    let name = body
        .name
        .as_deref()
        .map(|name| required_text("name", name, MAX_NAME_CHARS))
        .transpose()?;
    let status = body.status.as_deref().map(check_status).transpose()?;
    if let Some(limit) = body.monthly_request_limit {
        check_limit("monthly_request_limit", limit)?;
    }
    if let Some(limit) = body.monthly_token_limit {
        check_limit("monthly_token_limit", limit)?;
    }
    let mut tx = pool.begin().await?;
    if let Some(Some(policy_id)) = body.policy_id.as_ref() {
        check_policy(&mut tx, &caller.org, policy_id).await?;
    }
    let changes = ProjectChanges {
        name,
        status,
        policy_id: body.policy_id.as_ref().map(Option::as_deref),
        monthly_request_limit: body.monthly_request_limit,
        monthly_token_limit: body.monthly_token_limit,
    };
    let row = projects::update(&mut tx, &caller.org, id, &changes)
        .await?
        .ok_or_else(|| ApiError::not_found("project", id))?;
    config_version::bump(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(org = %caller.org, project.id = %id, actor = %caller.sub, "project updated");
    Ok(row.into())
}

/// Deletes a project and, by the foreign key, its keys: data planes stop accepting them
/// with the next snapshot.
pub async fn delete(pool: &PgPool, caller: &Caller, id: &str) -> ApiResult<Deleted> {
    let mut tx = pool.begin().await?;
    if !projects::delete(&mut tx, &caller.org, id).await? {
        return Err(ApiError::not_found("project", id));
    }
    config_version::bump(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(org = %caller.org, project.id = %id, actor = %caller.sub, "project deleted");
    Ok(Deleted {
        id: id.to_owned(),
        deleted: true,
    })
}

/// A given id must already be in normalized form: data planes match the normalized
/// project id of each request against it (SPEC §3.2).
fn check_id(id: &str) -> ApiResult<String> {
    match normalize::slug(id) {
        Some(slug) if slug == id => Ok(slug),
        Some(slug) => Err(ApiError::invalid_param(
            "id",
            format!(
                "id must be a lowercase slug (letters, digits and single dashes), e.g. {slug:?}"
            ),
        )),
        None => Err(ApiError::invalid_param(
            "id",
            "id must be a lowercase slug (letters, digits and single dashes)",
        )),
    }
}

fn check_status(status: &str) -> ApiResult<&str> {
    STATUSES
        .into_iter()
        .find(|s| *s == status)
        .ok_or_else(|| ApiError::invalid_param("status", "status must be active or suspended"))
}

fn check_limit(field: &str, limit: Option<i64>) -> ApiResult<()> {
    match limit {
        Some(n) if n < 0 => Err(ApiError::invalid_param(
            field,
            format!("{field} must be a non-negative integer (or null for no limit)"),
        )),
        _ => Ok(()),
    }
}

async fn check_policy(conn: &mut PgConnection, org: &str, policy_id: &str) -> ApiResult<()> {
    if policies::exists(conn, org, policy_id).await? {
        Ok(())
    } else {
        Err(ApiError::invalid_param(
            "policy_id",
            format!("policy_id {policy_id:?} does not name a saved policy"),
        ))
    }
}
