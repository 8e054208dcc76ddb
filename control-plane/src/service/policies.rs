//! Policy saves, rollback and the rollout pointers (SPEC §1.2, §2.6, §7, §9).
//!
//! Every change runs in one transaction that locks the policy's row, so revision numbers
//! are handed out one after the other and never reused, writes its history entry, and
//! bumps the snapshot version so data planes pick the change up.

use policy_engine::{CompiledPolicy, Policy, validate};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::{Page, Settings, now, rfc3339};
use crate::auth::Caller;
use crate::db::config_version;
use crate::db::history::{self, EntryType, NewEntry};
use crate::db::policies::{self, Pointers, PolicyRow, PolicyStateRow, RevisionRow};
use crate::error::{ApiError, ApiResult};

/// The policy state of SPEC §7.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyState {
    pub policy_id: String,
    /// The newest revision saved.
    pub revision: i64,
    pub stable_revision: i64,
    pub candidate_revision: Option<i64>,
    pub rollout: RolloutView,
    /// The stable revision's document.
    pub config: Value,
    pub candidate_config: Option<Value>,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
    pub updated_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RolloutView {
    pub state: String,
    #[serde(with = "rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "rfc3339::option")]
    pub cooldown_until: Option<OffsetDateTime>,
}

/// An entry of the revision list (documents are fetched one at a time).
#[derive(Debug, Clone, Serialize)]
pub struct RevisionSummary {
    pub revision: i64,
    pub name: Option<String>,
    pub author: String,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevisionView {
    pub policy_id: String,
    pub revision: i64,
    pub author: String,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    pub config: Value,
}

impl From<PolicyStateRow> for PolicyState {
    fn from(row: PolicyStateRow) -> Self {
        PolicyState {
            policy_id: row.policy_id,
            revision: row.latest_revision,
            stable_revision: row.stable_revision,
            candidate_revision: row.candidate_revision,
            rollout: RolloutView {
                state: row.rollout_state,
                started_at: row.rollout_started_at,
                cooldown_until: row.cooldown_until,
            },
            config: row.stable_document.0,
            candidate_config: row.candidate_document.map(|d| d.0),
            updated_at: row.updated_at,
            updated_by: row.updated_by,
        }
    }
}

/// Validates a document with the engine, as the data planes will compile it.
pub fn check(config: &Value) -> ApiResult<Policy> {
    let policy = validate(config).map_err(ApiError::InvalidPolicy)?;
    // Validation is what users can fix; compiling must then succeed, and if it does not
    // that is ours to investigate, not a 400.
    CompiledPolicy::compile(policy.clone(), 1).map_err(ApiError::internal)?;
    Ok(policy)
}

/// `POST /config`: saves revision n+1 (SPEC §1.2) and places it per SPEC §2.6/§9.
pub async fn save(
    pool: &PgPool,
    caller: &Caller,
    settings: &Settings,
    config: Value,
) -> ApiResult<PolicyState> {
    let policy = check(&config)?;
    let policy_id = policy.policy_id.as_str();
    let mut tx = pool.begin().await?;
    let current = lock_or_create(&mut tx, &caller.org, policy_id, &caller.sub).await?;
    let at = now();
    let pointers = match &current {
        // The first save has nothing to roll from: stable at once (SPEC §2.6).
        None => Pointers {
            latest_revision: 1,
            stable_revision: 1,
            candidate_revision: None,
            rollout_state: "none",
            rollout_started_at: None,
            cooldown_until: None,
        },
        Some(row) => place_save(row, &policy, at),
    };
    let revision = pointers.latest_revision;
    policies::insert_revision(
        &mut tx,
        &caller.org,
        policy_id,
        revision,
        &config,
        &caller.sub,
    )
    .await?;
    policies::set_pointers(&mut tx, &caller.org, policy_id, &pointers, &caller.sub).await?;
    let entry = json!({
        "event": "saved",
        "revision": revision,
        "author": caller.sub,
        "stable_revision": pointers.stable_revision,
        "candidate_revision": pointers.candidate_revision,
        "rollout_state": pointers.rollout_state,
        "config": config,
    });
    history::record(
        &mut tx,
        &caller.org,
        NewEntry {
            entry_type: EntryType::Revision,
            policy_id: Some(policy_id),
            policy_name: Some(&policy.name),
            entry,
        },
        settings.history_limit,
    )
    .await?;
    config_version::bump(&mut tx).await?;
    let state = read_state(&mut tx, &caller.org, policy_id).await?;
    tx.commit().await?;
    tracing::info!(
        org = %caller.org, policy.id = %policy_id, policy.revision = revision,
        rollout = pointers.rollout_state, author = %caller.sub, "policy saved"
    );
    Ok(state)
}

/// Where a save of an existing policy goes (SPEC §2.6, §9): during a cooldown it waits as
/// the candidate without a rollout; with shadow or canary enabled it starts a rollout
/// (replacing any running one); otherwise it is promoted at once and drops any candidate.
fn place_save(row: &PolicyRow, policy: &Policy, at: OffsetDateTime) -> Pointers {
    let revision = row.latest_revision + 1;
    if in_cooldown(row, at) {
        return Pointers {
            latest_revision: revision,
            stable_revision: row.stable_revision,
            candidate_revision: Some(revision),
            rollout_state: "cooldown",
            rollout_started_at: None,
            cooldown_until: row.cooldown_until,
        };
    }
    let rollout = &policy.rollout;
    if rollout.is_staged() {
        Pointers {
            latest_revision: revision,
            stable_revision: row.stable_revision,
            candidate_revision: Some(revision),
            rollout_state: if rollout.canary.enabled {
                "canary"
            } else {
                "shadow"
            },
            rollout_started_at: Some(at),
            cooldown_until: None,
        }
    } else {
        Pointers {
            latest_revision: revision,
            stable_revision: revision,
            candidate_revision: None,
            rollout_state: "none",
            rollout_started_at: None,
            cooldown_until: None,
        }
    }
}

fn in_cooldown(row: &PolicyRow, at: OffsetDateTime) -> bool {
    row.rollout_state == "cooldown" && row.cooldown_until.is_some_and(|until| until > at)
}

/// The state a policy returns to when its candidate goes away: still cooling down if the
/// cooldown has not ended, otherwise no rollout.
pub(super) fn settled(
    row: &PolicyRow,
    at: OffsetDateTime,
) -> (&'static str, Option<OffsetDateTime>) {
    if in_cooldown(row, at) {
        ("cooldown", row.cooldown_until)
    } else {
        ("none", None)
    }
}

async fn lock_or_create(
    conn: &mut PgConnection,
    org: &str,
    policy_id: &str,
    author: &str,
) -> ApiResult<Option<PolicyRow>> {
    if let Some(row) = policies::lock(conn, org, policy_id).await? {
        return Ok(Some(row));
    }
    if policies::create(conn, org, policy_id, author).await? {
        return Ok(None);
    }
    // Another first save won the race and committed; ours becomes revision 2.
    policies::lock(conn, org, policy_id)
        .await?
        .map(Some)
        .ok_or_else(|| ApiError::Conflict("the policy was changed concurrently; retry".into()))
}

pub(super) async fn lock_existing(
    conn: &mut PgConnection,
    org: &str,
    policy_id: &str,
) -> ApiResult<PolicyRow> {
    policies::lock(conn, org, policy_id)
        .await?
        .ok_or_else(|| ApiError::not_found("policy", policy_id))
}

pub(super) async fn read_state(
    conn: &mut PgConnection,
    org: &str,
    policy_id: &str,
) -> ApiResult<PolicyState> {
    policies::state(conn, org, policy_id)
        .await?
        .map(PolicyState::from)
        .ok_or_else(|| ApiError::internal("policy state vanished inside its transaction"))
}

/// `GET /config?policy_id=`.
pub async fn get(pool: &PgPool, caller: &Caller, policy_id: &str) -> ApiResult<PolicyState> {
    policies::state(pool, &caller.org, policy_id)
        .await?
        .map(PolicyState::from)
        .ok_or_else(|| ApiError::not_found("policy", policy_id))
}

/// `GET /configs`: the org's policies ordered by id.
pub async fn list(
    pool: &PgPool,
    caller: &Caller,
    after: Option<&str>,
    limit: u32,
) -> ApiResult<Page<PolicyState>> {
    let rows = policies::states(pool, &caller.org, after, i64::from(limit) + 1).await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |r| r.policy_id.clone(),
        PolicyState::from,
    ))
}

/// `GET /config/revisions?policy_id=`: newest first.
pub async fn revisions(
    pool: &PgPool,
    caller: &Caller,
    policy_id: &str,
    before: Option<i64>,
    limit: u32,
) -> ApiResult<Page<RevisionSummary>> {
    if !policies::exists(pool, &caller.org, policy_id).await? {
        return Err(ApiError::not_found("policy", policy_id));
    }
    let rows =
        policies::revisions(pool, &caller.org, policy_id, before, i64::from(limit) + 1).await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |r| r.revision.to_string(),
        |r| RevisionSummary {
            revision: r.revision,
            name: document_name(&r.document).map(str::to_owned),
            author: r.author,
            created_at: r.created_at,
        },
    ))
}

/// `GET /config/revisions/{n}?policy_id=`.
pub async fn revision(
    pool: &PgPool,
    caller: &Caller,
    policy_id: &str,
    revision: i64,
) -> ApiResult<RevisionView> {
    let row = find_revision(pool, &caller.org, policy_id, revision).await?;
    Ok(RevisionView {
        policy_id: policy_id.to_owned(),
        revision: row.revision,
        author: row.author,
        created_at: row.created_at,
        config: row.document.0,
    })
}

pub(super) async fn find_revision(
    db: impl sqlx::PgExecutor<'_>,
    org: &str,
    policy_id: &str,
    revision: i64,
) -> ApiResult<RevisionRow> {
    policies::revision(db, org, policy_id, revision)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "revision {revision} of policy {policy_id:?} not found"
            ))
        })
}

pub(super) fn document_name(document: &Value) -> Option<&str> {
    document.get("name").and_then(Value::as_str)
}
