//! The watcher's SQL (SPEC §9): policies with a rollout or a cooldown, the candidate's
//! decisions over a window, the per-policy advisory lock. Pointer changes, history and the
//! version bump reuse [`crate::db`].

use policy_engine::DecisionKind;
use sha2::{Digest as _, Sha256};
use sqlx::{FromRow, PgConnection, PgExecutor};
use time::OffsetDateTime;

/// A policy the watcher has business with.
#[derive(Debug, Clone, FromRow)]
pub struct Active {
    pub org: String,
    pub policy_id: String,
    pub stable_revision: i64,
    pub candidate_revision: Option<i64>,
    /// `shadow`, `canary` or `cooldown`.
    pub rollout_state: String,
    pub cooldown_until: Option<OffsetDateTime>,
}

/// Every policy whose rollout state is not `none`.
pub async fn active(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Active>> {
    sqlx::query_as(
        "SELECT org, policy_id, stable_revision, candidate_revision, rollout_state, cooldown_until
         FROM policies WHERE rollout_state <> 'none' ORDER BY org, policy_id",
    )
    .fetch_all(db)
    .await
}

/// How many times `revision` decided each way in the minute buckets that start after
/// `since` (the data planes' own minute of each decision; no upper bound, so a data plane
/// whose clock runs a little ahead still counts). Uses the table's primary key.
pub async fn decisions(
    db: impl PgExecutor<'_>,
    org: &str,
    policy_id: &str,
    revision: i64,
    since: OffsetDateTime,
) -> sqlx::Result<Vec<(DecisionKind, u64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT decision, sum(count)::int8 FROM rollout_observations
         WHERE org = $1 AND policy_id = $2 AND revision = $3 AND minute > $4
         GROUP BY decision ORDER BY decision",
    )
    .bind(org)
    .bind(policy_id)
    .bind(revision)
    .bind(since)
    .fetch_all(db)
    .await?;
    // Ingest only stores the five decision names; anything else is not a decision.
    Ok(rows
        .into_iter()
        .filter_map(|(name, count)| Some((DecisionKind::parse(&name)?, u64::try_from(count).ok()?)))
        .collect())
}

/// The advisory-lock class of the rollout watcher (ASCII "ROLL"), so its keys cannot meet
/// another user of two-key advisory locks.
const LOCK_CLASS: i32 = 0x524F_4C4C;

/// Takes the watcher's lock on one policy until the transaction ends. `false` when another
/// replica holds it: that replica is acting on the policy right now, so this one skips it.
pub async fn try_lock(conn: &mut PgConnection, org: &str, policy_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(lock_key(org, policy_id))
        .fetch_one(conn)
        .await
}

/// The first four bytes of SHA-256 over `org NUL policy_id`. Two policies sharing a key
/// only means one waits a tick while the other is handled.
fn lock_key(org: &str, policy_id: &str) -> i32 {
    let mut hasher = Sha256::new();
    hasher.update(org.as_bytes());
    hasher.update([0]);
    hasher.update(policy_id.as_bytes());
    let digest = hasher.finalize();
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Longest window or cooldown honoured: a century. Validation only asks for positive
/// integers, and time arithmetic must not overflow on a typo.
const MAX_MINUTES: u64 = 100 * 366 * 24 * 60;

fn minutes(minutes: u64) -> time::Duration {
    // MAX_MINUTES × 60 fits an i64 many times over.
    time::Duration::minutes(i64::try_from(minutes.min(MAX_MINUTES)).unwrap_or(0))
}

/// Where a rollback window of `window_minutes` that ends at `now` starts: the buckets
/// counted are those of the minutes after it, the current one included.
pub fn window_start(now: OffsetDateTime, window_minutes: u64) -> OffsetDateTime {
    now.checked_sub(minutes(window_minutes)).unwrap_or(now)
}

/// `now` plus a cooldown.
pub fn cooldown_end(now: OffsetDateTime, cooldown_minutes: u64) -> OffsetDateTime {
    now.checked_add(minutes(cooldown_minutes)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_tell_policies_apart() {
        assert_eq!(lock_key("acme", "support"), lock_key("acme", "support"));
        assert_ne!(lock_key("acme", "support"), lock_key("acme", "support2"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(lock_key("ab", "c"), lock_key("a", "bc"));
    }

    #[test]
    fn windows_and_cooldowns_never_overflow() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        assert_eq!(window_start(now, 15), now - time::Duration::minutes(15));
        assert_eq!(cooldown_end(now, 30), now + time::Duration::minutes(30));
        assert!(cooldown_end(now, u64::MAX) > now);
        assert!(window_start(now, u64::MAX) < now);
    }
}
