//! The management API over gRPC (`policy_gateway.v1.Admin`): the operations of the REST API
//! (SPEC §7) with the same JWT, the same role rules and the same errors.
//!
//! Every RPC authenticates with [`auth::authenticate`] (the check the REST extractor uses),
//! parses its JSON fields into the REST request types, checks the role the REST handler
//! checks, and calls the same service function; the reply is the REST response body as
//! JSON text. Errors are [`ApiError`]s turned into a status by the one mapping in
//! [`crate::error`]. The service is served next to `DataPlaneSync` on the gRPC address
//! ([`routes`]); the node token is not a JWT, so it opens nothing here, and a JWT is not
//! the node token, so it opens nothing there.

use policy_proto::v1::admin_server::{Admin, AdminServer};
use policy_proto::v1::{
    CreateKeyRequest, CreateProjectRequest, HistoryRequest, JsonReply, ListKeysRequest,
    ListNodesRequest, ListRevisionsRequest, PageRequest, PolicyRef, ProjectRef, RevisionRef,
    RevokeKeyRequest, SaveConfigRequest, SimulateJsonRequest, UpdateProjectRequest, UsageRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::auth::{self, Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::http::{self, AppState};
use crate::service::rollout::Ending;
use crate::service::{
    DEFAULT_PAGE, history, keys, page_limit, policies, projects, rollout, simulate, usage,
};

type Reply = Result<Response<JsonReply>, Status>;

/// The `Admin` service; cheap to clone (the state is shared).
#[derive(Clone)]
pub struct AdminService {
    state: AppState,
}

impl AdminService {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// The tonic service, taking messages as large as the REST API takes bodies.
    pub fn into_server(self) -> AdminServer<Self> {
        AdminServer::new(self)
            .max_decoding_message_size(http::MAX_BODY_BYTES)
            .max_encoding_message_size(http::MAX_BODY_BYTES)
    }

    fn caller<T>(&self, request: &Request<T>) -> ApiResult<Caller> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|value| value.as_bytes());
        auth::authenticate(&self.state.verifier, header)
    }
}

/// The routes to add to the gRPC server next to `DataPlaneSync`.
pub fn routes(state: AppState) -> tonic::service::Routes {
    tonic::service::Routes::new(AdminService::new(state).into_server())
}

/// The reply: the REST response body as JSON text.
fn reply<T: Serialize>(result: ApiResult<T>) -> Reply {
    let value = result?;
    let json = serde_json::to_string(&value).map_err(ApiError::internal)?;
    Ok(Response::new(JsonReply { json }))
}

/// A JSON document carried in a string field, parsed into the REST request type.
fn parse<T: DeserializeOwned>(field: &str, text: &str) -> ApiResult<T> {
    serde_json::from_str(text).map_err(|error| {
        ApiError::invalid_param(field, format!("invalid JSON in {field}: {error}"))
    })
}

/// A required identifier, with the message REST gives for a missing query parameter.
fn required<'a>(field: &str, value: &'a str) -> ApiResult<&'a str> {
    if value.is_empty() {
        Err(ApiError::invalid_param(
            field,
            format!("the {field} field is required"),
        ))
    } else {
        Ok(value)
    }
}

/// An optional project id: absent means org-wide; present must not be empty.
fn project_scope(project_id: Option<&str>) -> ApiResult<Option<&str>> {
    match project_id {
        Some("") => Err(ApiError::invalid_param(
            "project_id",
            "project_id must not be empty; leave it unset for an org-wide key",
        )),
        other => Ok(other),
    }
}

fn key_id(value: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(value)
        .map_err(|_| ApiError::invalid_param("key_id", "key_id is not a valid key id (a UUID)"))
}

#[derive(Serialize)]
struct List<T> {
    data: Vec<T>,
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn save_config(&self, request: Request<SaveConfigRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let config: Value = parse("config_json", &request.get_ref().config_json)?;
        caller.require(Role::Editor)?;
        let state = &self.state;
        reply(policies::save(&state.pool, &caller, &state.settings, config).await)
    }

    async fn get_config(&self, request: Request<PolicyRef>) -> Reply {
        let caller = self.caller(&request)?;
        let policy_id = required("policy_id", &request.get_ref().policy_id)?;
        reply(policies::get(&self.state.pool, &caller, policy_id).await)
    }

    async fn list_configs(&self, request: Request<PageRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let page = request.get_ref();
        let limit = page_limit(page.limit, DEFAULT_PAGE)?;
        reply(policies::list(&self.state.pool, &caller, page.cursor.as_deref(), limit).await)
    }

    async fn list_revisions(&self, request: Request<ListRevisionsRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let query = request.get_ref();
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
        let policy_id = required("policy_id", &query.policy_id)?;
        reply(policies::revisions(&self.state.pool, &caller, policy_id, before, limit).await)
    }

    async fn get_revision(&self, request: Request<RevisionRef>) -> Reply {
        let caller = self.caller(&request)?;
        let query = request.get_ref();
        let policy_id = required("policy_id", &query.policy_id)?;
        reply(policies::revision(&self.state.pool, &caller, policy_id, query.revision).await)
    }

    async fn rollback(&self, request: Request<RevisionRef>) -> Reply {
        let caller = self.caller(&request)?;
        caller.require(Role::Editor)?;
        let body = request.get_ref();
        let state = &self.state;
        reply(
            rollout::rollback(
                &state.pool,
                &caller,
                &state.settings,
                &body.policy_id,
                body.revision,
            )
            .await,
        )
    }

    async fn promote(&self, request: Request<PolicyRef>) -> Reply {
        self.end_rollout(request, Ending::Promote).await
    }

    async fn abort(&self, request: Request<PolicyRef>) -> Reply {
        self.end_rollout(request, Ending::Abort).await
    }

    async fn create_project(&self, request: Request<CreateProjectRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let body: projects::CreateProject = parse("project_json", &request.get_ref().project_json)?;
        caller.require(Role::Admin)?;
        reply(projects::create(&self.state.pool, &caller, body).await)
    }

    async fn list_projects(&self, request: Request<PageRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let page = request.get_ref();
        let limit = page_limit(page.limit, DEFAULT_PAGE)?;
        reply(projects::list(&self.state.pool, &caller, page.cursor.as_deref(), limit).await)
    }

    async fn get_project(&self, request: Request<ProjectRef>) -> Reply {
        let caller = self.caller(&request)?;
        let id = required("project_id", &request.get_ref().project_id)?;
        reply(projects::get(&self.state.pool, &caller, id).await)
    }

    async fn update_project(&self, request: Request<UpdateProjectRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let body = request.get_ref();
        let id = required("project_id", &body.project_id)?;
        let patch: projects::UpdateProject = parse("patch_json", &body.patch_json)?;
        caller.require(Role::Admin)?;
        reply(projects::update(&self.state.pool, &caller, id, patch).await)
    }

    async fn delete_project(&self, request: Request<ProjectRef>) -> Reply {
        let caller = self.caller(&request)?;
        caller.require(Role::Admin)?;
        let id = required("project_id", &request.get_ref().project_id)?;
        reply(projects::delete(&self.state.pool, &caller, id).await)
    }

    async fn create_key(&self, request: Request<CreateKeyRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let body = request.get_ref();
        let scope = project_scope(body.project_id.as_deref())?;
        let text = if body.key_json.trim().is_empty() {
            "{}"
        } else {
            &body.key_json
        };
        let create: keys::CreateKey = parse("key_json", text)?;
        caller.require(Role::Admin)?;
        let state = &self.state;
        reply(keys::create(&state.pool, &caller, &state.settings, scope, create).await)
    }

    async fn list_keys(&self, request: Request<ListKeysRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let scope = project_scope(request.get_ref().project_id.as_deref())?;
        let data = keys::list(&self.state.pool, &caller, scope).await;
        reply(data.map(|data| List { data }))
    }

    async fn revoke_key(&self, request: Request<RevokeKeyRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let body = request.get_ref();
        let scope = project_scope(body.project_id.as_deref())?;
        let id = key_id(&body.key_id)?;
        caller.require(Role::Admin)?;
        let state = &self.state;
        reply(keys::revoke(&state.pool, &caller, &state.settings, scope, id).await)
    }

    async fn simulate(&self, request: Request<SimulateJsonRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let body: simulate::SimulateRequest =
            parse("request_json", &request.get_ref().request_json)?;
        caller.require(Role::Editor)?;
        let state = &self.state;
        reply(simulate::simulate(&state.pool, &caller, &state.settings, body).await)
    }

    async fn history(&self, request: Request<HistoryRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let body = request.get_ref();
        let query = history::Query {
            entry_type: body.r#type.as_deref(),
            policy_id: body.policy_id.as_deref(),
            cursor: body.cursor.as_deref(),
            limit: page_limit(body.limit, history::DEFAULT_LIMIT)?,
        };
        reply(history::list(&self.state.pool, &caller, &query).await)
    }

    async fn usage(&self, request: Request<UsageRequest>) -> Reply {
        let caller = self.caller(&request)?;
        let body = request.get_ref();
        let query = usage::UsageQuery {
            project_id: required("project_id", &body.project_id)?,
            window: body.window.as_deref(),
            policy_id: body.policy_id.as_deref().filter(|id| !id.is_empty()),
            subject: body.subject.as_deref().filter(|s| !s.is_empty()),
        };
        reply(usage::usage(&self.state.pool, &caller, query).await)
    }

    async fn list_nodes(&self, request: Request<ListNodesRequest>) -> Reply {
        let caller = self.caller(&request)?;
        // The REST handler itself: it checks the admin role and shapes the fleet view.
        let nodes = http::handlers::nodes(caller, axum::extract::State(self.state.clone())).await;
        reply(nodes.map(|axum::Json(page)| page))
    }
}

impl AdminService {
    async fn end_rollout(&self, request: Request<PolicyRef>, ending: Ending) -> Reply {
        let caller = self.caller(&request)?;
        caller.require(Role::Editor)?;
        let state = &self.state;
        let policy_id = &request.get_ref().policy_id;
        reply(rollout::end(&state.pool, &caller, &state.settings, policy_id, ending).await)
    }
}
