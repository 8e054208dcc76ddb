//! Helpers of the rollout tests: a movable clock, guarded rollouts, observations as data
//! planes report them, and reads of the policy state, history and snapshot.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use control_plane::rollout::{Clock, Settings, Watcher};
use policy_proto::v1::{SubscribeResponse, subscribe_response};
use prost::Message as _;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::common::{App, ORG, staged, viewer};

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl TestClock {
    /// Starts at the real time, which is also what saves compare cooldowns with.
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        // Microseconds, as Postgres and the watcher keep them.
        let now = now
            .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap();
        Self(Arc::new(Mutex::new(now)))
    }

    pub fn get(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }

    pub fn advance(&self, by: time::Duration) {
        *self.0.lock().unwrap() += by;
    }

    pub fn clock(&self) -> Clock {
        let at = self.0.clone();
        Clock::from_fn(move || *at.lock().unwrap())
    }
}

pub fn settings(clock: &TestClock) -> Settings {
    Settings {
        interval: Duration::from_millis(20),
        history_limit: 50,
        clock: clock.clock(),
    }
}

pub fn watcher(pool: &PgPool, clock: &TestClock) -> Watcher {
    Watcher::new(pool.clone(), settings(clock))
}

/// `staged(id)` with automatic rollback on: more than 25% refusals or escalations among at
/// least 20 candidate decisions over 15 minutes rolls back, then 30 minutes of cooldown.
pub fn guarded(policy_id: &str, shadow: bool, canary: bool) -> Value {
    let mut doc = staged(policy_id, shadow, canary);
    let rollout = doc["rollout"].as_object_mut().unwrap();
    rollout.insert("rollback_on_spike".into(), json!(true));
    rollout.insert("rollback_threshold".into(), json!(0.25));
    rollout.insert("rollback_min_requests".into(), json!(20));
    rollout.insert("rollback_window_minutes".into(), json!(15));
    rollout.insert("rollback_cooldown_minutes".into(), json!(30));
    doc
}

/// Saves a stable revision 1 of `policy_id`, then a guarded canary as revision 2.
pub async fn canary_candidate(app: &App, policy_id: &str) -> Value {
    app.save(&crate::common::policy(policy_id)).await;
    let state = app.save(&guarded(policy_id, false, true)).await;
    assert_eq!(state["candidate_revision"], 2, "{state}");
    assert_eq!(state["rollout"]["state"], "canary");
    state
}

/// Adds `count` decisions of `revision` in the minute `at` falls in, as ingest counts them.
pub async fn observe(
    pool: &PgPool,
    policy_id: &str,
    revision: i64,
    at: OffsetDateTime,
    decision: &str,
    count: i64,
) {
    sqlx::query(
        "INSERT INTO rollout_observations (org, policy_id, revision, minute, decision, count)
         VALUES ($1, $2, $3, date_trunc('minute', $4), $5, $6)
         ON CONFLICT (org, policy_id, revision, minute, decision)
         DO UPDATE SET count = rollout_observations.count + EXCLUDED.count",
    )
    .bind(ORG)
    .bind(policy_id)
    .bind(revision)
    .bind(at)
    .bind(decision)
    .bind(count)
    .execute(pool)
    .await
    .unwrap();
}

/// `GET /config?policy_id=`.
pub async fn state(app: &App, policy_id: &str) -> Value {
    let reply = app
        .get(&format!("/config?policy_id={policy_id}"), &viewer())
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    reply.body
}

/// `GET /history?policy_id=&type=`, newest first.
pub async fn history(app: &App, policy_id: &str, entry_type: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("/history?policy_id={policy_id}&type={entry_type}"),
            &viewer(),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    reply.body["data"].as_array().unwrap().clone()
}

/// The stable and candidate revisions data planes are sent for `policy_id` right now.
pub async fn shipped(pool: &PgPool, policy_id: &str) -> (u64, Option<u64>) {
    let published = control_plane::sync::snapshot::build(
        pool,
        control_plane::config::parse_hard_blocked("sexual/minors").unwrap(),
    )
    .await
    .unwrap();
    let decoded = SubscribeResponse::decode(published.frame.clone()).unwrap();
    let Some(subscribe_response::Message::Snapshot(snapshot)) = decoded.message else {
        panic!("no snapshot in the frame");
    };
    let policy = snapshot
        .policies
        .iter()
        .find(|p| p.org == ORG && p.policy_id == policy_id)
        .unwrap_or_else(|| panic!("{policy_id} is not in the snapshot"));
    (
        policy.stable.as_ref().unwrap().revision,
        policy.candidate.as_ref().map(|c| c.revision),
    )
}

pub fn parse_time(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        value.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

pub fn minutes(n: i64) -> time::Duration {
    time::Duration::minutes(n)
}
