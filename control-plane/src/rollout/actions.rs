//! The two changes the watcher makes (SPEC §9), each in one transaction that first takes
//! the policy's advisory lock, then locks its row and checks the state again, so that of
//! several replicas exactly one acts and a save or an operator's promote/abort racing the
//! watcher is never undone:
//! - [`roll_back`]: the candidate is dropped, the policy cools down, a `rollback` history
//!   entry (`rollback_type: automatic`) records the figures, the snapshot version is bumped;
//! - [`end_cooldown`]: the cooldown is over; a save kept during it is promoted (a `revision`
//!   entry with `event: promoted`, version bumped), and the state returns to `none`.

use policy_engine::model::Rollout;
use policy_engine::rollback::{self, RollbackFigures};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AUTHOR, Settings, store};
use crate::db::config_version;
use crate::db::history::{self, EntryType, NewEntry};
use crate::db::policies::{self, Pointers, PolicyRow};

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The change is committed; data planes get snapshot `version` when it changed what
    /// they enforce.
    Done { version: Option<i64> },
    /// Another replica holds the policy's lock and is acting on it.
    Busy,
    /// Under the lock the policy no longer needed the change (another replica made it, an
    /// operator promoted or aborted, a new save replaced the candidate, the figures moved).
    Stale,
}

/// The candidate the watcher found spiking.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub org: &'a str,
    pub policy_id: &'a str,
    pub revision: i64,
}

/// Rolls `candidate` back if, under the lock, it is still the policy's rolling-out candidate
/// and its decisions over the window still make the engine's verdict a spike.
pub async fn roll_back(
    pool: &PgPool,
    settings: &Settings,
    candidate: Candidate<'_>,
    rollout: &Rollout,
    now: OffsetDateTime,
) -> sqlx::Result<Outcome> {
    let Candidate {
        org,
        policy_id,
        revision,
    } = candidate;
    let mut tx = pool.begin().await?;
    if !store::try_lock(&mut tx, org, policy_id).await? {
        return Ok(Outcome::Busy);
    }
    let Some(row) = policies::lock(&mut tx, org, policy_id).await? else {
        return Ok(Outcome::Stale);
    };
    let rolling_out = matches!(row.rollout_state.as_str(), "shadow" | "canary");
    if !rolling_out || row.candidate_revision != Some(revision) {
        return Ok(Outcome::Stale);
    }
    let since = store::window_start(now, rollout.rollback_window_minutes);
    let counts = store::decisions(&mut *tx, org, policy_id, revision, since).await?;
    let Some(figures) = rollback::verdict(rollout, &counts) else {
        return Ok(Outcome::Stale);
    };
    let cooldown_until = store::cooldown_end(now, rollout.rollback_cooldown_minutes);
    let pointers = Pointers {
        latest_revision: row.latest_revision,
        stable_revision: row.stable_revision,
        candidate_revision: None,
        rollout_state: "cooldown",
        rollout_started_at: None,
        cooldown_until: Some(cooldown_until),
    };
    policies::set_pointers(&mut tx, org, policy_id, &pointers, AUTHOR).await?;
    let entry = rollback_entry(
        &row,
        revision,
        &figures,
        &counts,
        rollout,
        since,
        now,
        cooldown_until,
    );
    record(
        &mut tx,
        settings,
        org,
        policy_id,
        row.stable_revision,
        EntryType::Rollback,
        entry,
    )
    .await?;
    let version = config_version::bump(&mut tx).await?;
    tx.commit().await?;
    tracing::warn!(
        org = %org, policy.id = %policy_id, candidate_revision = revision,
        stable_revision = row.stable_revision, rollout = %row.rollout_state,
        candidate_decisions = figures.candidate_decisions,
        watched_decisions = figures.watched_decisions, share = figures.share,
        threshold = figures.threshold, window_minutes = figures.window_minutes,
        cooldown_until = %rfc3339(cooldown_until), version,
        "candidate rolled back automatically"
    );
    Ok(Outcome::Done {
        version: Some(version),
    })
}

/// The `rollback` history entry: what was dropped, why (the engine's figures and the count
/// per decision), over which window, and until when no rollout starts.
#[allow(clippy::too_many_arguments)]
fn rollback_entry(
    row: &PolicyRow,
    candidate: i64,
    figures: &RollbackFigures,
    counts: &[(policy_engine::DecisionKind, u64)],
    rollout: &Rollout,
    since: OffsetDateTime,
    now: OffsetDateTime,
    cooldown_until: OffsetDateTime,
) -> Value {
    let decisions: serde_json::Map<String, Value> = counts
        .iter()
        .map(|(kind, n)| (kind.name().to_owned(), json!(n)))
        .collect();
    let mut entry = json!({
        "rollback_type": "automatic",
        "event": "rollback",
        "revision": row.stable_revision,
        "rolled_back_revision": candidate,
        "dropped_candidate_revision": candidate,
        "rollout_state": row.rollout_state,
        "rollout_started_at": row.rollout_started_at.map(rfc3339),
        "decisions": decisions,
        "window_start": rfc3339(since),
        "window_end": rfc3339(now),
        "cooldown_minutes": rollout.rollback_cooldown_minutes,
        "cooldown_until": rfc3339(cooldown_until),
        "author": AUTHOR,
    });
    // candidate_decisions, watched_decisions, share, threshold, min_requests,
    // window_minutes, watched: the engine's own names for its figures.
    if let (Value::Object(entry), Ok(Value::Object(figures))) =
        (&mut entry, serde_json::to_value(figures))
    {
        entry.extend(figures);
    }
    entry
}

/// Ends the policy's cooldown if, under the lock, it is still cooling down and `now` is past
/// its end. A save kept during the cooldown is promoted (SPEC §9: "promoted only when the
/// cooldown ends or an operator promotes by hand").
pub async fn end_cooldown(
    pool: &PgPool,
    settings: &Settings,
    org: &str,
    policy_id: &str,
    now: OffsetDateTime,
) -> sqlx::Result<Outcome> {
    let mut tx = pool.begin().await?;
    if !store::try_lock(&mut tx, org, policy_id).await? {
        return Ok(Outcome::Busy);
    }
    let Some(row) = policies::lock(&mut tx, org, policy_id).await? else {
        return Ok(Outcome::Stale);
    };
    let over = row.cooldown_until.is_none_or(|until| until <= now);
    if row.rollout_state != "cooldown" || !over {
        return Ok(Outcome::Stale);
    }
    let stable = row.candidate_revision.unwrap_or(row.stable_revision);
    let pointers = Pointers {
        latest_revision: row.latest_revision,
        stable_revision: stable,
        candidate_revision: None,
        rollout_state: "none",
        rollout_started_at: None,
        cooldown_until: None,
    };
    policies::set_pointers(&mut tx, org, policy_id, &pointers, AUTHOR).await?;
    // Without a kept save nothing data planes enforce changes: no entry, no new snapshot.
    let version = match row.candidate_revision {
        Some(kept) => {
            let entry = json!({
                "event": "promoted",
                "revision": kept,
                "previous_stable_revision": row.stable_revision,
                "reason": "cooldown_ended",
                "cooldown_until": row.cooldown_until.map(rfc3339),
                "author": AUTHOR,
            });
            record(
                &mut tx,
                settings,
                org,
                policy_id,
                kept,
                EntryType::Revision,
                entry,
            )
            .await?;
            Some(config_version::bump(&mut tx).await?)
        }
        None => None,
    };
    tx.commit().await?;
    tracing::info!(
        org = %org, policy.id = %policy_id, stable_revision = stable,
        promoted_revision = row.candidate_revision, version,
        "cooldown ended"
    );
    Ok(Outcome::Done { version })
}

/// Writes a history entry named after `revision`'s document, pruned to the limit.
async fn record(
    conn: &mut PgConnection,
    settings: &Settings,
    org: &str,
    policy_id: &str,
    revision: i64,
    entry_type: EntryType,
    entry: Value,
) -> sqlx::Result<()> {
    let document = policies::revision(&mut *conn, org, policy_id, revision).await?;
    let name = document
        .as_ref()
        .and_then(|row| row.document.0.get("name"))
        .and_then(Value::as_str);
    history::record(
        conn,
        org,
        NewEntry {
            entry_type,
            policy_id: Some(policy_id),
            policy_name: name,
            entry,
        },
        settings.history_limit,
    )
    .await?;
    Ok(())
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}
