//! Operator actions on a policy's rollout (SPEC §1.2, §7, §9): rollback to an earlier
//! revision, promote the candidate, abort it. The automatic rollback on a decision spike
//! lives with the data-plane sync, which sees the candidate's decisions.

use serde_json::{Value, json};
use sqlx::PgPool;

use super::policies::{
    PolicyState, document_name, find_revision, lock_existing, read_state, settled,
};
use super::{Settings, now};
use crate::auth::Caller;
use crate::db::config_version;
use crate::db::history::{self, EntryType, NewEntry};
use crate::db::policies::{self, Pointers};
use crate::error::{ApiError, ApiResult};

/// `POST /config/rollback`: saves a new revision whose document equals revision `target`
/// and promotes it at once, dropping any candidate (SPEC §1.2).
pub async fn rollback(
    pool: &PgPool,
    caller: &Caller,
    settings: &Settings,
    policy_id: &str,
    target: i64,
) -> ApiResult<PolicyState> {
    let mut tx = pool.begin().await?;
    let row = lock_existing(&mut tx, &caller.org, policy_id).await?;
    let source = find_revision(&mut *tx, &caller.org, policy_id, target).await?;
    let document = source.document.0;
    let revision = row.latest_revision + 1;
    let (state, cooldown_until) = settled(&row, now());
    let pointers = Pointers {
        latest_revision: revision,
        stable_revision: revision,
        candidate_revision: None,
        rollout_state: state,
        rollout_started_at: None,
        cooldown_until,
    };
    policies::insert_revision(
        &mut tx,
        &caller.org,
        policy_id,
        revision,
        &document,
        &caller.sub,
    )
    .await?;
    policies::set_pointers(&mut tx, &caller.org, policy_id, &pointers, &caller.sub).await?;
    let entry = json!({
        "rollback_type": "manual",
        "event": "rollback",
        "revision": revision,
        "restored_revision": target,
        "previous_stable_revision": row.stable_revision,
        "dropped_candidate_revision": row.candidate_revision,
        "author": caller.sub,
    });
    record(
        &mut tx,
        caller,
        settings,
        policy_id,
        &document,
        EntryType::Rollback,
        entry,
    )
    .await?;
    config_version::bump(&mut tx).await?;
    let state = read_state(&mut tx, &caller.org, policy_id).await?;
    tx.commit().await?;
    tracing::info!(
        org = %caller.org, policy.id = %policy_id, policy.revision = revision,
        restored_revision = target, author = %caller.sub, "policy rolled back"
    );
    Ok(state)
}

/// What ending a rollout does with the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The candidate becomes stable.
    Promote,
    /// The candidate is dropped; the stable revision stays.
    Abort,
}

/// `POST /rollout/promote` and `/rollout/abort`: 409 when no candidate is waiting.
pub async fn end(
    pool: &PgPool,
    caller: &Caller,
    settings: &Settings,
    policy_id: &str,
    ending: Ending,
) -> ApiResult<PolicyState> {
    let mut tx = pool.begin().await?;
    let row = lock_existing(&mut tx, &caller.org, policy_id).await?;
    let candidate = row
        .candidate_revision
        .ok_or_else(|| ApiError::Conflict(format!("policy {policy_id:?} has no active rollout")))?;
    let (state, cooldown_until) = settled(&row, now());
    let stable = match ending {
        Ending::Promote => candidate,
        Ending::Abort => row.stable_revision,
    };
    let pointers = Pointers {
        latest_revision: row.latest_revision,
        stable_revision: stable,
        candidate_revision: None,
        rollout_state: state,
        rollout_started_at: None,
        cooldown_until,
    };
    policies::set_pointers(&mut tx, &caller.org, policy_id, &pointers, &caller.sub).await?;
    let document = find_revision(&mut *tx, &caller.org, policy_id, stable)
        .await?
        .document
        .0;
    let (entry_type, entry) = match ending {
        Ending::Promote => (
            EntryType::Revision,
            json!({
                "event": "promoted",
                "revision": candidate,
                "previous_stable_revision": row.stable_revision,
                "author": caller.sub,
            }),
        ),
        Ending::Abort => (
            EntryType::Rollback,
            json!({
                "rollback_type": "manual",
                "event": "abort",
                "revision": row.stable_revision,
                "dropped_candidate_revision": candidate,
                "author": caller.sub,
            }),
        ),
    };
    record(
        &mut tx, caller, settings, policy_id, &document, entry_type, entry,
    )
    .await?;
    config_version::bump(&mut tx).await?;
    let state = read_state(&mut tx, &caller.org, policy_id).await?;
    tx.commit().await?;
    tracing::info!(
        org = %caller.org, policy.id = %policy_id, candidate_revision = candidate,
        ending = ?ending, author = %caller.sub, "rollout ended"
    );
    Ok(state)
}

async fn record(
    conn: &mut sqlx::PgConnection,
    caller: &Caller,
    settings: &Settings,
    policy_id: &str,
    document: &Value,
    entry_type: EntryType,
    entry: Value,
) -> ApiResult<()> {
    history::record(
        conn,
        &caller.org,
        NewEntry {
            entry_type,
            policy_id: Some(policy_id),
            policy_name: document_name(document),
            entry,
        },
        settings.history_limit,
    )
    .await?;
    Ok(())
}
