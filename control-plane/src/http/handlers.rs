//! Handlers for policies, rollouts, simulate, history, usage and nodes (SPEC §7).

use axum::extract::State;
use axum::response::Json as Reply;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::AppState;
use super::extract::{Json, Path, Query};
use crate::auth::{Caller, Role};
use crate::db::nodes;
use crate::error::{ApiError, ApiResult};
use crate::service::policies::{self, PolicyState, RevisionSummary, RevisionView};
use crate::service::rollout::{self, Ending};
use crate::service::simulate::{self, SimulateRequest, SimulateResponse};
use crate::service::usage::{self, UsageView};
use crate::service::{self, DEFAULT_PAGE, Page, history, page_limit, rfc3339};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveBody {
    config: Value,
}

#[derive(Deserialize)]
pub struct PolicyQuery {
    policy_id: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl PolicyQuery {
    fn policy_id(&self) -> ApiResult<&str> {
        self.policy_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                ApiError::invalid_param("policy_id", "the policy_id query parameter is required")
            })
    }
}

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    policy_id: String,
    revision: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutBody {
    policy_id: String,
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    #[serde(rename = "type")]
    entry_type: Option<String>,
    policy_id: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct UsageQuery {
    project_id: Option<String>,
    window: Option<String>,
    policy_id: Option<String>,
    subject: Option<String>,
}

pub async fn save_config(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<SaveBody>,
) -> ApiResult<Reply<PolicyState>> {
    caller.require(Role::Editor)?;
    policies::save(&state.pool, &caller, &state.settings, body.config)
        .await
        .map(Reply)
}

pub async fn get_config(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<PolicyQuery>,
) -> ApiResult<Reply<PolicyState>> {
    policies::get(&state.pool, &caller, query.policy_id()?)
        .await
        .map(Reply)
}

pub async fn list_configs(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Reply<Page<PolicyState>>> {
    let limit = page_limit(query.limit, DEFAULT_PAGE)?;
    policies::list(&state.pool, &caller, query.cursor.as_deref(), limit)
        .await
        .map(Reply)
}

pub async fn list_revisions(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<PolicyQuery>,
) -> ApiResult<Reply<Page<RevisionSummary>>> {
    let limit = page_limit(query.limit, DEFAULT_PAGE)?;
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::invalid_param("cursor", "cursor is not one this API returned")
            })
        })
        .transpose()?;
    policies::revisions(&state.pool, &caller, query.policy_id()?, before, limit)
        .await
        .map(Reply)
}

pub async fn get_revision(
    caller: Caller,
    State(state): State<AppState>,
    Path(revision): Path<i64>,
    Query(query): Query<PolicyQuery>,
) -> ApiResult<Reply<RevisionView>> {
    policies::revision(&state.pool, &caller, query.policy_id()?, revision)
        .await
        .map(Reply)
}

pub async fn rollback(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<RollbackBody>,
) -> ApiResult<Reply<PolicyState>> {
    caller.require(Role::Editor)?;
    rollout::rollback(
        &state.pool,
        &caller,
        &state.settings,
        &body.policy_id,
        body.revision,
    )
    .await
    .map(Reply)
}

pub async fn promote(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<RolloutBody>,
) -> ApiResult<Reply<PolicyState>> {
    caller.require(Role::Editor)?;
    rollout::end(
        &state.pool,
        &caller,
        &state.settings,
        &body.policy_id,
        Ending::Promote,
    )
    .await
    .map(Reply)
}

pub async fn abort(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<RolloutBody>,
) -> ApiResult<Reply<PolicyState>> {
    caller.require(Role::Editor)?;
    rollout::end(
        &state.pool,
        &caller,
        &state.settings,
        &body.policy_id,
        Ending::Abort,
    )
    .await
    .map(Reply)
}

/// `GET /rollout/status?policy_id=`: the rollout as the automatic-rollback watcher sees it.
pub async fn rollout_status(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<PolicyQuery>,
) -> ApiResult<Reply<crate::rollout::status::RolloutStatus>> {
    let now = OffsetDateTime::now_utc();
    crate::rollout::status::status(&state.pool, &caller, query.policy_id()?, now)
        .await
        .map(Reply)
}

pub async fn simulate(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<SimulateRequest>,
) -> ApiResult<Reply<SimulateResponse>> {
    caller.require(Role::Editor)?;
    simulate::simulate(&state.pool, &caller, &state.settings, body)
        .await
        .map(Reply)
}

pub async fn history(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<HistoryQuery>,
) -> ApiResult<Reply<Page<Value>>> {
    let query = history::Query {
        entry_type: query.entry_type.as_deref(),
        policy_id: query.policy_id.as_deref(),
        cursor: query.cursor.as_deref(),
        limit: page_limit(query.limit, history::DEFAULT_LIMIT)?,
    };
    service::history::list(&state.pool, &caller, &query)
        .await
        .map(Reply)
}

pub async fn usage(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<UsageQuery>,
) -> ApiResult<Reply<UsageView>> {
    let project_id = query
        .project_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_param("project_id", "the project_id query parameter is required")
        })?;
    let query = usage::UsageQuery {
        project_id,
        window: query.window.as_deref(),
        policy_id: given(&query.policy_id),
        subject: given(&query.subject),
    };
    usage::usage(&state.pool, &caller, query).await.map(Reply)
}

/// An optional query parameter; `name=` with nothing after it is the same as leaving it out.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|value| !value.is_empty())
}

/// A data-plane node as the sync service last recorded it (SPEC §8).
#[derive(Serialize)]
pub struct NodeView {
    node_id: String,
    region: String,
    software_version: String,
    connected: bool,
    control_plane_id: Option<String>,
    #[serde(with = "rfc3339::option")]
    connected_at: Option<OffsetDateTime>,
    #[serde(with = "rfc3339")]
    last_seen_at: OffsetDateTime,
    applied_version: Option<i64>,
    #[serde(with = "rfc3339::option")]
    applied_at: Option<OffsetDateTime>,
    nacked_version: Option<i64>,
    nack_error: Option<String>,
    nack_count: i64,
}

/// `GET /nodes`: the fleet is shared by every org, so only admins see it.
pub async fn nodes(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<Reply<Page<NodeView>>> {
    caller.require(Role::Admin)?;
    let rows = nodes::list(&state.pool).await?;
    let data = rows
        .into_iter()
        .map(|n| NodeView {
            node_id: n.node_id,
            region: n.region,
            software_version: n.software_version,
            connected: n.connected,
            control_plane_id: n.control_plane_id,
            connected_at: n.connected_at,
            last_seen_at: n.last_seen_at,
            applied_version: n.applied_version,
            applied_at: n.applied_at,
            nacked_version: n.nacked_version,
            nack_error: n.nack_error,
            nack_count: n.nack_count,
        })
        .collect();
    Ok(Reply(Page {
        data,
        next_cursor: None,
    }))
}
