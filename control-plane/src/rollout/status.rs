//! `GET /rollout/status?policy_id=` (SPEC §7, §9): a policy's rollout as the watcher sees
//! it — pointers and state, the candidate's rollback settings, and its decisions over the
//! current rollback window with the share the watcher compares to the threshold.

use std::collections::BTreeMap;

use policy_engine::model::Rollout;
use policy_engine::{DecisionKind, rollback, validate};
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::store;
use crate::auth::Caller;
use crate::db::policies;
use crate::error::{ApiError, ApiResult};
use crate::service::policies::RolloutView;
use crate::service::rfc3339;

#[derive(Debug, Clone, Serialize)]
pub struct RolloutStatus {
    pub policy_id: String,
    pub stable_revision: i64,
    pub candidate_revision: Option<i64>,
    pub rollout: RolloutView,
    /// The candidate's rollback settings; `null` without a candidate.
    pub rollback: Option<RollbackSettings>,
    /// The candidate's decisions over the window ending now; `null` without a candidate.
    pub window: Option<WindowView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RollbackSettings {
    pub on_spike: bool,
    pub threshold: f64,
    pub min_requests: u64,
    pub window_minutes: u64,
    pub cooldown_minutes: u64,
    pub watched: Vec<DecisionKind>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowView {
    #[serde(with = "rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub to: OffsetDateTime,
    /// Count per decision (only decisions that occurred).
    pub decisions: BTreeMap<&'static str, u64>,
    pub candidate_decisions: u64,
    pub watched_decisions: u64,
    /// `watched / candidate`, `null` before any decision.
    pub share: Option<f64>,
    /// Whether the watcher's rule says roll back on these figures (it acts within a second).
    pub spike: bool,
}

pub async fn status(
    pool: &PgPool,
    caller: &Caller,
    policy_id: &str,
    now: OffsetDateTime,
) -> ApiResult<RolloutStatus> {
    let state = policies::state(pool, &caller.org, policy_id)
        .await?
        .ok_or_else(|| ApiError::not_found("policy", policy_id))?;
    let candidate = match (state.candidate_revision, &state.candidate_document) {
        (Some(revision), Some(document)) => {
            let policy = validate(&document.0).map_err(|problems| {
                ApiError::internal(format!(
                    "saved revision {revision} no longer validates ({} problems)",
                    problems.len()
                ))
            })?;
            Some((revision, policy.rollout))
        }
        _ => None,
    };
    let rolling_out = matches!(state.rollout_state.as_str(), "shadow" | "canary");
    let (rollback, window) = match &candidate {
        Some((revision, rollout)) => {
            let mut window = window(pool, &caller.org, policy_id, *revision, rollout, now).await?;
            // A save kept during a cooldown is not rolled out, so not watched either.
            window.spike &= rolling_out;
            (Some(settings(rollout)), Some(window))
        }
        None => (None, None),
    };
    Ok(RolloutStatus {
        policy_id: state.policy_id,
        stable_revision: state.stable_revision,
        candidate_revision: state.candidate_revision,
        rollout: RolloutView {
            state: state.rollout_state,
            started_at: state.rollout_started_at,
            cooldown_until: state.cooldown_until,
        },
        rollback,
        window,
    })
}

fn settings(rollout: &Rollout) -> RollbackSettings {
    RollbackSettings {
        on_spike: rollout.rollback_on_spike,
        threshold: rollout.rollback_threshold,
        min_requests: rollout.rollback_min_requests,
        window_minutes: rollout.rollback_window_minutes,
        cooldown_minutes: rollout.rollback_cooldown_minutes,
        watched: rollout.rollback_decisions.clone(),
    }
}

async fn window(
    pool: &PgPool,
    org: &str,
    policy_id: &str,
    revision: i64,
    rollout: &Rollout,
    now: OffsetDateTime,
) -> ApiResult<WindowView> {
    let from = store::window_start(now, rollout.rollback_window_minutes);
    let counts = store::decisions(pool, org, policy_id, revision, from).await?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let watched: u64 = counts
        .iter()
        .filter(|(kind, _)| rollout.rollback_decisions.contains(kind))
        .map(|(_, n)| n)
        .sum();
    Ok(WindowView {
        from,
        to: now,
        decisions: counts.iter().map(|(kind, n)| (kind.name(), *n)).collect(),
        candidate_decisions: total,
        watched_decisions: watched,
        share: (total > 0).then(|| watched as f64 / total as f64),
        spike: rollback::verdict(rollout, &counts).is_some(),
    })
}
