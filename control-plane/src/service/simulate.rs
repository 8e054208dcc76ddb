//! `POST /simulate` (SPEC §7): decides a scenario with the engine exactly as a data plane
//! would (same compile, same rollout resolution, same hard blocks), and records the
//! scenario's categories and decisions, never the message text (SPEC §6).

use std::sync::Arc;

use policy_engine::{
    CategorySet, CompiledPolicy, Decision, DecisionInput, Moderation, PolicyRevisions,
    RolloutRequest, normalize, validate,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::Settings;
use crate::auth::Caller;
use crate::db::history::{self, EntryType, NewEntry};
use crate::db::policies;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    /// Moderation labels for the message (taxonomy names).
    #[serde(default)]
    pub categories: Vec<String>,
    /// The last user message; used for matching, never stored.
    pub message: Option<String>,
    pub policy_id: Option<String>,
    /// An unsaved policy document, instead of `policy_id`.
    pub config: Option<Value>,
    /// A saved revision to decide with instead of the stable one (no rollout then).
    pub revision: Option<i64>,
    #[serde(default)]
    pub metadata: Metadata,
}

/// Request metadata as a data plane reads it (SPEC §3.2).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub policy_user: Option<String>,
    pub policy_target: Option<String>,
    pub policy_project_id: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimulateResponse {
    /// The record the data plane would act on for this request.
    pub decision: Decision,
    /// While a rollout is active: the candidate revision's own decision, as if promoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_decision: Option<Decision>,
}

pub async fn simulate(
    pool: &PgPool,
    caller: &Caller,
    settings: &Settings,
    request: SimulateRequest,
) -> ApiResult<SimulateResponse> {
    let labels = parse_categories(&request.categories)?;
    let (revisions, source) = revisions(pool, caller, &request).await?;
    let text = request.message.as_deref().unwrap_or_default();
    let input = DecisionInput {
        text,
        moderation: Moderation::Labels(labels),
        hard_blocked: settings.hard_blocked,
    };
    let metadata = &request.metadata;
    let user = metadata.policy_user.as_deref().and_then(normalize::slug);
    let project = metadata
        .policy_project_id
        .as_deref()
        .and_then(normalize::slug);
    // SPEC §2.6: the project stands in for a missing target; the user, else the request id,
    // is the sample key. A data plane always has a request id; so does a simulation.
    let target = metadata
        .policy_target
        .as_deref()
        .and_then(normalize::target)
        .or(project);
    let sample_key = user
        .or_else(|| metadata.request_id.clone())
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    let rollout = RolloutRequest {
        sample_key: &sample_key,
        target: target.as_deref(),
    };
    let evaluation = revisions.evaluate(&rollout, &input);
    let candidate_decision = revisions.candidate.as_ref().map(|c| c.decide(&input));
    let response = SimulateResponse {
        decision: evaluation.enforced,
        candidate_decision,
    };
    let stable = &revisions.stable;
    let entry = json!({
        "scenario_categories": labels.names(),
        "source": source,
        "revision": stable.revision(),
        "decision": response.decision,
        "candidate_decision": response.candidate_decision,
        "actor": caller.sub,
    });
    let mut tx = pool.begin().await?;
    history::record(
        &mut tx,
        &caller.org,
        NewEntry {
            entry_type: EntryType::Simulation,
            policy_id: Some(stable.policy_id()),
            policy_name: Some(stable.policy_name()),
            entry,
        },
        settings.history_limit,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        org = %caller.org, policy.id = %stable.policy_id(), policy.revision = stable.revision(),
        policy.decision = response.decision.decision.name(), "simulated"
    );
    Ok(response)
}

fn parse_categories(names: &[String]) -> ApiResult<CategorySet> {
    CategorySet::parse_names(names.iter().map(String::as_str)).map_err(|unknown| {
        ApiError::invalid_param(
            "categories",
            format!(
                "unknown moderation category {unknown:?}; known: {}",
                policy_engine::Category::known_names()
            ),
        )
    })
}

/// The revisions to decide with, and where they came from (`saved` or `config`).
async fn revisions(
    pool: &PgPool,
    caller: &Caller,
    request: &SimulateRequest,
) -> ApiResult<(PolicyRevisions, &'static str)> {
    match (&request.policy_id, &request.config) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "give either policy_id (a saved policy) or config (an unsaved one), not both",
        )),
        (None, None) => Err(ApiError::invalid(
            "give policy_id (a saved policy) or config (an unsaved document)",
        )),
        (None, Some(config)) => {
            if request.revision.is_some() {
                return Err(ApiError::invalid_param(
                    "revision",
                    "revision applies to a saved policy (policy_id), not to config",
                ));
            }
            let policy = validate(config).map_err(ApiError::InvalidPolicy)?;
            // An unsaved document has no revision number yet: 0.
            let compiled = CompiledPolicy::compile(policy, 0).map_err(ApiError::internal)?;
            Ok((PolicyRevisions::stable(Arc::new(compiled)), "config"))
        }
        (Some(policy_id), None) => saved(pool, caller, policy_id, request.revision).await,
    }
}

async fn saved(
    pool: &PgPool,
    caller: &Caller,
    policy_id: &str,
    revision: Option<i64>,
) -> ApiResult<(PolicyRevisions, &'static str)> {
    if let Some(revision) = revision {
        let row = policies::revision(pool, &caller.org, policy_id, revision)
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "revision {revision} of policy {policy_id:?} not found"
                ))
            })?;
        let compiled = compile(&row.document.0, revision)?;
        return Ok((PolicyRevisions::stable(compiled), "saved"));
    }
    let state = policies::state(pool, &caller.org, policy_id)
        .await?
        .ok_or_else(|| ApiError::not_found("policy", policy_id))?;
    let stable = compile(&state.stable_document.0, state.stable_revision)?;
    // A save kept during a cooldown is not rolled out (SPEC §9), so data planes decide
    // without it and so does simulate.
    let candidate = match (state.candidate_revision, &state.candidate_document) {
        (Some(revision), Some(document)) if state.rollout_state != "cooldown" => {
            Some(compile(&document.0, revision)?)
        }
        _ => None,
    };
    Ok((PolicyRevisions { stable, candidate }, "saved"))
}

/// Compiles a saved document. It was validated when saved, so a failure here means the
/// engine changed under it: ours to look into, not the caller's.
fn compile(document: &Value, revision: i64) -> ApiResult<Arc<CompiledPolicy>> {
    let revision = u64::try_from(revision).map_err(ApiError::internal)?;
    CompiledPolicy::from_json(document, revision)
        .map(Arc::new)
        .map_err(|e| ApiError::internal(format!("a saved revision no longer compiles: {e}")))
}
