//! The watcher loop (SPEC §9): every interval, each policy with a rollout whose candidate
//! has `rollback_on_spike` is weighed over its rollback window, and each cooldown that is
//! over is ended. Every replica runs one; [`super::actions`] makes sure one acts.

use std::collections::HashMap;

use policy_engine::model::Rollout;
use policy_engine::{rollback, validate};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::Settings;
use super::actions::{self, Candidate, Outcome};
use super::store::{self, Active};
use crate::db::policies;

/// What one look did, for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    /// Candidates whose window was weighed.
    pub weighed: usize,
    /// Candidates this replica rolled back.
    pub rolled_back: usize,
    /// Cooldowns this replica ended.
    pub cooldowns_ended: usize,
    /// Policies left to another replica (lock held) or found changed under the lock.
    pub skipped: usize,
    /// Policies whose handling failed (logged); tried again next time.
    pub failed: usize,
}

/// One replica's watcher.
pub struct Watcher {
    pool: PgPool,
    settings: Settings,
    /// Rollout settings per (org, policy, candidate revision): revisions never change, so
    /// a candidate's document is read and validated once. `None`: it no longer validates.
    rollouts: HashMap<(String, String, i64), Option<Rollout>>,
}

impl Watcher {
    pub fn new(pool: PgPool, settings: Settings) -> Self {
        Self {
            pool,
            settings,
            rollouts: HashMap::new(),
        }
    }

    /// Looks once, at the clock's current time.
    pub async fn tick(&mut self) -> sqlx::Result<Tick> {
        let now = micros(self.settings.clock.now());
        let active = store::active(&self.pool).await?;
        self.rollouts.retain(|(org, policy_id, revision), _| {
            active.iter().any(|a| {
                &a.org == org
                    && &a.policy_id == policy_id
                    && a.candidate_revision == Some(*revision)
            })
        });
        let mut tick = Tick::default();
        for policy in &active {
            let result = match policy.rollout_state.as_str() {
                "shadow" | "canary" => self.weigh(policy, now, &mut tick).await,
                "cooldown" if policy.cooldown_until.is_none_or(|until| until <= now) => {
                    actions::end_cooldown(
                        &self.pool,
                        &self.settings,
                        &policy.org,
                        &policy.policy_id,
                        now,
                    )
                    .await
                    .map(|outcome| count(&mut tick, &outcome, |t| &mut t.cooldowns_ended))
                }
                _ => Ok(()),
            };
            if let Err(error) = result {
                tick.failed += 1;
                tracing::warn!(%error, org = %policy.org, policy.id = %policy.policy_id,
                    rollout = %policy.rollout_state, "rollout watcher cannot handle policy; retrying next tick");
            }
        }
        Ok(tick)
    }

    /// Weighs the candidate's decisions over its window; rolls it back on a spike.
    async fn weigh(
        &mut self,
        policy: &Active,
        now: OffsetDateTime,
        tick: &mut Tick,
    ) -> sqlx::Result<()> {
        let Some(revision) = policy.candidate_revision else {
            return Ok(());
        };
        let Some(rollout) = self.rollout(policy, revision).await? else {
            return Ok(());
        };
        if !rollout.rollback_on_spike {
            return Ok(());
        }
        tick.weighed += 1;
        let since = store::window_start(now, rollout.rollback_window_minutes);
        let counts =
            store::decisions(&self.pool, &policy.org, &policy.policy_id, revision, since).await?;
        if rollback::verdict(&rollout, &counts).is_none() {
            return Ok(());
        }
        let candidate = Candidate {
            org: &policy.org,
            policy_id: &policy.policy_id,
            revision,
        };
        let outcome =
            actions::roll_back(&self.pool, &self.settings, candidate, &rollout, now).await?;
        count(tick, &outcome, |t| &mut t.rolled_back);
        Ok(())
    }

    /// The candidate's rollout settings (SPEC §2.6: the candidate's govern its rollout).
    async fn rollout(&mut self, policy: &Active, revision: i64) -> sqlx::Result<Option<Rollout>> {
        let key = (policy.org.clone(), policy.policy_id.clone(), revision);
        if let Some(cached) = self.rollouts.get(&key) {
            return Ok(cached.clone());
        }
        let Some(row) =
            policies::revision(&self.pool, &policy.org, &policy.policy_id, revision).await?
        else {
            return Ok(None);
        };
        let rollout = match validate(&row.document.0) {
            Ok(document) => Some(document.rollout),
            Err(problems) => {
                // Validated when saved; only an engine change can get here.
                tracing::error!(org = %policy.org, policy.id = %policy.policy_id, revision,
                    problems = problems.len(), "a saved candidate no longer validates; not watching it");
                None
            }
        };
        self.rollouts.insert(key, rollout.clone());
        Ok(rollout)
    }

    /// Runs until `shutdown` turns true. Database errors are logged and the next tick tries
    /// again; the loop never ends on its own.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(self.settings.interval);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tracing::info!(
            interval_ms = self.settings.interval.as_millis() as u64,
            "rollout watcher started"
        );
        // While Postgres is down every tick fails: warn once, not once a second.
        let mut failing = false;
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            match self.tick().await {
                Ok(tick) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("rollout watcher reaches the database again");
                    }
                    if tick != Tick::default() {
                        tracing::debug!(?tick, "rollout watcher looked");
                    }
                }
                Err(error) if failing => {
                    tracing::debug!(%error, "rollout watcher still cannot list rollouts")
                }
                Err(error) => {
                    failing = true;
                    tracing::warn!(%error, "rollout watcher cannot list rollouts; retrying every tick");
                }
            }
        }
        tracing::info!("rollout watcher stopped");
    }
}

/// Postgres keeps microseconds: the times written into columns and into the history
/// entry's JSON are then the same.
fn micros(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}

fn count(tick: &mut Tick, outcome: &Outcome, done: impl FnOnce(&mut Tick) -> &mut usize) {
    match outcome {
        Outcome::Done { .. } => *done(tick) += 1,
        Outcome::Busy | Outcome::Stale => tick.skipped += 1,
    }
}

/// Starts the watcher on its own task; it stops when `shutdown` turns true.
pub fn spawn(pool: PgPool, settings: Settings, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(Watcher::new(pool, settings).run(shutdown))
}
