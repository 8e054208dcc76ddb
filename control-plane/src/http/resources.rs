//! Handlers for projects and API keys (SPEC §5, §7). Anyone in the org may list them;
//! only admins create, change, delete or revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json as Reply;
use uuid::Uuid;

use super::AppState;
use super::extract::{Json, Path, Query};
use crate::auth::{Caller, Role};
use crate::error::ApiResult;
use crate::service::keys::{self, CreateKey, CreatedKey, KeyView};
use crate::service::projects::{self, CreateProject, Deleted, ProjectView, UpdateProject};
use crate::service::{DEFAULT_PAGE, Page, page_limit};

#[derive(serde::Deserialize)]
pub struct PageQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Lists answer `{"data": [...]}` like the paginated ones, without a cursor.
#[derive(serde::Serialize)]
pub struct List<T> {
    data: Vec<T>,
}

pub async fn create_project(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateProject>,
) -> ApiResult<(StatusCode, Reply<ProjectView>)> {
    caller.require(Role::Admin)?;
    let project = projects::create(&state.pool, &caller, body).await?;
    Ok((StatusCode::CREATED, Reply(project)))
}

pub async fn list_projects(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Reply<Page<ProjectView>>> {
    let limit = page_limit(query.limit, DEFAULT_PAGE)?;
    projects::list(&state.pool, &caller, query.cursor.as_deref(), limit)
        .await
        .map(Reply)
}

pub async fn get_project(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Reply<ProjectView>> {
    projects::get(&state.pool, &caller, &id).await.map(Reply)
}

pub async fn update_project(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateProject>,
) -> ApiResult<Reply<ProjectView>> {
    caller.require(Role::Admin)?;
    projects::update(&state.pool, &caller, &id, body)
        .await
        .map(Reply)
}

pub async fn delete_project(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Reply<Deleted>> {
    caller.require(Role::Admin)?;
    projects::delete(&state.pool, &caller, &id).await.map(Reply)
}

pub async fn create_project_key(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<CreateKey>,
) -> ApiResult<(StatusCode, Reply<CreatedKey>)> {
    caller.require(Role::Admin)?;
    let key = keys::create(&state.pool, &caller, &state.settings, Some(&id), body).await?;
    Ok((StatusCode::CREATED, Reply(key)))
}

pub async fn list_project_keys(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Reply<List<KeyView>>> {
    let data = keys::list(&state.pool, &caller, Some(&id)).await?;
    Ok(Reply(List { data }))
}

pub async fn revoke_project_key(
    caller: Caller,
    State(state): State<AppState>,
    Path((id, key_id)): Path<(String, Uuid)>,
) -> ApiResult<Reply<KeyView>> {
    caller.require(Role::Admin)?;
    keys::revoke(&state.pool, &caller, &state.settings, Some(&id), key_id)
        .await
        .map(Reply)
}

pub async fn create_org_key(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateKey>,
) -> ApiResult<(StatusCode, Reply<CreatedKey>)> {
    caller.require(Role::Admin)?;
    let key = keys::create(&state.pool, &caller, &state.settings, None, body).await?;
    Ok((StatusCode::CREATED, Reply(key)))
}

pub async fn list_org_keys(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<Reply<List<KeyView>>> {
    let data = keys::list(&state.pool, &caller, None).await?;
    Ok(Reply(List { data }))
}

pub async fn revoke_org_key(
    caller: Caller,
    State(state): State<AppState>,
    Path(key_id): Path<Uuid>,
) -> ApiResult<Reply<KeyView>> {
    caller.require(Role::Admin)?;
    keys::revoke(&state.pool, &caller, &state.settings, None, key_id)
        .await
        .map(Reply)
}
