//! After an automatic rollback (SPEC §9): no new rollout during the cooldown — saves are
//! kept, neither shipped to data planes nor simulated as a rollout — and when the cooldown
//! ends the kept save is promoted; GET /config tells the state at every step.

use control_plane::rollout::Tick;
use serde_json::json;
use sqlx::PgPool;

use crate::common::{App, editor};
use crate::support::*;

/// A canary rolled back at `clock`'s time; returns the cooldown's end.
async fn rolled_back(app: &App, clock: &TestClock) -> time::OffsetDateTime {
    canary_candidate(app, "support").await;
    observe(&app.pool, "support", 2, clock.get(), "refuse", 30).await;
    assert_eq!(
        watcher(&app.pool, clock).tick().await.unwrap().rolled_back,
        1
    );
    parse_time(&state(app, "support").await["rollout"]["cooldown_until"])
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_save_during_the_cooldown_is_kept_and_promoted_when_it_ends(pool: PgPool) {
    let app = App::new(pool.clone());
    let clock = TestClock::now();
    let until = rolled_back(&app, &clock).await;

    // A save during the cooldown: kept as the candidate, no rollout.
    let saved = app.save(&guarded("support", true, true)).await;
    assert_eq!(saved["stable_revision"], 1);
    assert_eq!(saved["candidate_revision"], 3);
    assert_eq!(saved["rollout"]["state"], "cooldown");
    assert_eq!(saved["rollout"]["started_at"], json!(null));
    assert_eq!(parse_time(&saved["rollout"]["cooldown_until"]), until);
    // Data planes keep enforcing the stable revision alone...
    assert_eq!(shipped(&pool, "support").await, (1, None));
    // ...and simulate decides as they do: stable only, no candidate decision.
    let simulated = app
        .post(
            "/simulate",
            &editor(),
            json!({"policy_id": "support", "message": "competitor pricing",
                   "metadata": {"policy_user": "alice"}}),
        )
        .await;
    assert!(simulated.status.is_success(), "{}", simulated.body);
    assert_eq!(simulated.body["decision"]["revision"], 1);
    assert_eq!(simulated.body["decision"]["rollout_mode"], "enforced");
    assert!(simulated.body["candidate_decision"].is_null());

    // The kept save is not watched: decisions counted for it change nothing.
    observe(&pool, "support", 3, clock.get(), "refuse", 100).await;
    let mut watcher = watcher(&pool, &clock);
    clock.advance(minutes(29));
    assert_eq!(watcher.tick().await.unwrap(), Tick::default());
    assert_eq!(state(&app, "support").await["rollout"]["state"], "cooldown");

    // The cooldown ends: the kept save is promoted, the state is none again.
    let version = app.config_version().await;
    clock.advance(minutes(1));
    let tick = watcher.tick().await.unwrap();
    assert_eq!(tick.cooldowns_ended, 1);
    let state = state(&app, "support").await;
    assert_eq!(state["stable_revision"], 3);
    assert_eq!(state["candidate_revision"], json!(null));
    assert_eq!(
        state["rollout"],
        json!({"state": "none", "started_at": null, "cooldown_until": null})
    );
    assert_eq!(app.config_version().await, version + 1);
    assert_eq!(shipped(&pool, "support").await, (3, None));
    let promoted = &history(&app, "support", "revision").await[0];
    assert_eq!(promoted["event"], "promoted");
    assert_eq!(promoted["revision"], 3);
    assert_eq!(promoted["previous_stable_revision"], 1);
    assert_eq!(promoted["reason"], "cooldown_ended");
    assert_eq!(promoted["author"], control_plane::rollout::AUTHOR);
    assert_eq!(watcher.tick().await.unwrap(), Tick::default());

    // From now on saves roll out as usual.
    let next = app.save(&guarded("support", false, true)).await;
    assert_eq!(next["candidate_revision"], 4);
    assert_eq!(next["rollout"]["state"], "canary");
    assert!(next["rollout"]["started_at"].is_string());
    assert_eq!(shipped(&pool, "support").await, (3, Some(4)));
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_cooldown_without_a_kept_save_just_ends(pool: PgPool) {
    let app = App::new(pool.clone());
    let clock = TestClock::now();
    rolled_back(&app, &clock).await;
    let version = app.config_version().await;
    let entries = history(&app, "support", "revision").await.len();

    clock.advance(minutes(30));
    let tick = watcher(&pool, &clock).tick().await.unwrap();
    assert_eq!(tick.cooldowns_ended, 1);
    let state = state(&app, "support").await;
    assert_eq!(state["stable_revision"], 1);
    assert_eq!(
        state["rollout"],
        json!({"state": "none", "started_at": null, "cooldown_until": null})
    );
    // Nothing data planes enforce changed: no new snapshot, no entry.
    assert_eq!(app.config_version().await, version);
    assert_eq!(history(&app, "support", "revision").await.len(), entries);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn an_operator_may_promote_or_abort_a_kept_save_during_the_cooldown(pool: PgPool) {
    let app = App::new(pool.clone());
    let clock = TestClock::now();
    rolled_back(&app, &clock).await;

    app.save(&guarded("support", false, true)).await;
    let aborted = app
        .post("/rollout/abort", &editor(), json!({"policy_id": "support"}))
        .await;
    assert!(aborted.status.is_success(), "{}", aborted.body);
    assert_eq!(aborted.body["candidate_revision"], json!(null));
    assert_eq!(aborted.body["rollout"]["state"], "cooldown");

    app.save(&guarded("support", false, true)).await;
    let promoted = app
        .post(
            "/rollout/promote",
            &editor(),
            json!({"policy_id": "support"}),
        )
        .await;
    assert!(promoted.status.is_success(), "{}", promoted.body);
    assert_eq!(promoted.body["stable_revision"], 4);
    assert_eq!(promoted.body["rollout"]["state"], "cooldown");
    assert_eq!(shipped(&pool, "support").await, (4, None));

    // The end of the cooldown has nothing left to promote.
    clock.advance(minutes(31));
    watcher(&pool, &clock).tick().await.unwrap();
    let state = state(&app, "support").await;
    assert_eq!(state["stable_revision"], 4);
    assert_eq!(state["rollout"]["state"], "none");
}
