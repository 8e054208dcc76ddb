//! The rule of SPEC §9 as the watcher applies it: a spike rolls back, in one transaction
//! (pointers, `rollback` entry with the figures, snapshot version); nothing else does.

use std::time::Duration;

use control_plane::rollout::actions::{self, Candidate, Outcome};
use control_plane::rollout::{Tick, store};
use policy_engine::model::Rollout;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::common::App;
use crate::support::*;

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_spiking_canary_is_rolled_back_with_its_figures(pool: PgPool) {
    let app = App::new(pool.clone());
    canary_candidate(&app, "support").await;
    assert_eq!(shipped(&pool, "support").await, (1, Some(2)));
    let clock = TestClock::now();
    let now = clock.get();
    observe(&pool, "support", 2, now - minutes(3), "allow", 5).await;
    observe(&pool, "support", 2, now - minutes(1), "refuse", 12).await;
    observe(&pool, "support", 2, now, "escalate", 8).await;
    observe(&pool, "support", 2, now, "rewrite", 3).await;
    let version = app.config_version().await;

    let tick = watcher(&pool, &clock).tick().await.unwrap();
    assert_eq!(
        tick,
        Tick {
            weighed: 1,
            rolled_back: 1,
            ..Tick::default()
        }
    );

    // GET /config: back on stable, no candidate, cooling down for 30 minutes.
    let state = state(&app, "support").await;
    assert_eq!(state["stable_revision"], 1);
    assert_eq!(state["revision"], 2);
    assert_eq!(state["candidate_revision"], json!(null));
    assert_eq!(state["candidate_config"], json!(null));
    assert_eq!(state["rollout"]["state"], "cooldown");
    assert_eq!(state["rollout"]["started_at"], json!(null));
    let until = parse_time(&state["rollout"]["cooldown_until"]);
    assert!((until - (now + minutes(30))).abs() < time::Duration::seconds(1));
    assert_eq!(state["updated_by"], control_plane::rollout::AUTHOR);

    // One bump: data planes are sent the stable revision alone.
    assert_eq!(app.config_version().await, version + 1);
    assert_eq!(shipped(&pool, "support").await, (1, None));

    let entries = history(&app, "support", "rollback").await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["policy_name"], "Policy support");
    assert_eq!(entry["rollback_type"], "automatic");
    assert_eq!(entry["event"], "rollback");
    assert_eq!(entry["revision"], 1);
    assert_eq!(entry["rolled_back_revision"], 2);
    assert_eq!(entry["dropped_candidate_revision"], 2);
    assert_eq!(entry["rollout_state"], "canary");
    assert_eq!(entry["candidate_decisions"], 28);
    assert_eq!(entry["watched_decisions"], 20);
    assert!((entry["share"].as_f64().unwrap() - 20.0 / 28.0).abs() < 1e-9);
    assert_eq!(entry["threshold"], 0.25);
    assert_eq!(entry["min_requests"], 20);
    assert_eq!(entry["window_minutes"], 15);
    assert_eq!(entry["watched"], json!(["refuse", "escalate"]));
    assert_eq!(
        entry["decisions"],
        json!({"allow": 5, "escalate": 8, "refuse": 12, "rewrite": 3})
    );
    assert_eq!(parse_time(&entry["window_end"]), now);
    assert_eq!(parse_time(&entry["window_start"]), now - minutes(15));
    assert_eq!(parse_time(&entry["cooldown_until"]), until);
    assert_eq!(entry["cooldown_minutes"], 30);
    assert_eq!(entry["author"], control_plane::rollout::AUTHOR);

    // Looking again changes nothing.
    let again = watcher(&pool, &clock).tick().await.unwrap();
    assert_eq!(again, Tick::default());
    assert_eq!(app.config_version().await, version + 1);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn shadow_candidates_are_watched_too(pool: PgPool) {
    let app = App::new(pool.clone());
    app.save(&crate::common::policy("support")).await;
    let state = app.save(&guarded("support", true, false)).await;
    assert_eq!(state["rollout"]["state"], "shadow");
    let clock = TestClock::now();
    observe(&pool, "support", 2, clock.get(), "refuse", 20).await;
    let tick = watcher(&pool, &clock).tick().await.unwrap();
    assert_eq!(tick.rolled_back, 1);
    let entries = history(&app, "support", "rollback").await;
    assert_eq!(entries[0]["rollout_state"], "shadow");
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn below_the_minimum_or_at_the_threshold_nothing_happens(pool: PgPool) {
    let app = App::new(pool.clone());
    canary_candidate(&app, "support").await;
    let clock = TestClock::now();
    let version = app.config_version().await;
    let mut watcher = watcher(&pool, &clock);

    // 19 refusals: every decision watched, but one short of rollback_min_requests.
    observe(&pool, "support", 2, clock.get(), "refuse", 19).await;
    let tick = watcher.tick().await.unwrap();
    assert_eq!((tick.weighed, tick.rolled_back), (1, 0));

    // 5 watched of 20 is exactly the threshold (0.25): not a spike.
    sqlx::query("DELETE FROM rollout_observations")
        .execute(&pool)
        .await
        .unwrap();
    observe(&pool, "support", 2, clock.get(), "refuse", 3).await;
    observe(&pool, "support", 2, clock.get(), "escalate", 2).await;
    observe(&pool, "support", 2, clock.get(), "allow", 10).await;
    observe(&pool, "support", 2, clock.get(), "rewrite", 5).await;
    let tick = watcher.tick().await.unwrap();
    assert_eq!((tick.weighed, tick.rolled_back), (1, 0));

    let state = state(&app, "support").await;
    assert_eq!(state["candidate_revision"], 2);
    assert_eq!(state["rollout"]["state"], "canary");
    assert_eq!(app.config_version().await, version);
    assert!(history(&app, "support", "rollback").await.is_empty());

    // One more refusal tips it over.
    observe(&pool, "support", 2, clock.get(), "refuse", 1).await;
    assert_eq!(watcher.tick().await.unwrap().rolled_back, 1);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn without_rollback_on_spike_nothing_is_watched(pool: PgPool) {
    let app = App::new(pool.clone());
    app.save(&crate::common::policy("support")).await;
    let mut doc = guarded("support", false, true);
    doc["rollout"]["rollback_on_spike"] = json!(false);
    app.save(&doc).await;
    let clock = TestClock::now();
    observe(&pool, "support", 2, clock.get(), "refuse", 1000).await;
    assert_eq!(
        watcher(&pool, &clock).tick().await.unwrap(),
        Tick::default()
    );
    assert_eq!(state(&app, "support").await["rollout"]["state"], "canary");
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn observations_outside_the_window_or_of_other_revisions_are_ignored(pool: PgPool) {
    let app = App::new(pool.clone());
    canary_candidate(&app, "support").await;
    let clock = TestClock::now();
    let now = clock.get();
    // Older than the 15-minute window.
    observe(&pool, "support", 2, now - minutes(16), "refuse", 500).await;
    observe(&pool, "support", 2, now - minutes(60), "refuse", 500).await;
    // The stable revision's and another policy's decisions are not the candidate's.
    observe(&pool, "support", 1, now, "refuse", 500).await;
    observe(&pool, "other", 2, now, "refuse", 500).await;
    // Inside the window: all allowed.
    observe(&pool, "support", 2, now - minutes(14), "allow", 10).await;
    observe(&pool, "support", 2, now, "allow", 10).await;
    let mut watcher = watcher(&pool, &clock);
    assert_eq!(watcher.tick().await.unwrap().rolled_back, 0);

    // 30 refusals inside the window: 30 of 50.
    observe(&pool, "support", 2, now - minutes(2), "refuse", 30).await;
    assert_eq!(watcher.tick().await.unwrap().rolled_back, 1);
    let entry = &history(&app, "support", "rollback").await[0];
    assert_eq!(entry["candidate_decisions"], 50);
    assert_eq!(entry["watched_decisions"], 30);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn the_window_slides_with_the_clock(pool: PgPool) {
    let app = App::new(pool.clone());
    canary_candidate(&app, "support").await;
    let clock = TestClock::now();
    let spike_at = clock.get();
    // The spike is in the future of a clock set 20 minutes back...
    clock.advance(minutes(-20));
    observe(&pool, "support", 2, spike_at - minutes(1), "refuse", 40).await;
    let mut watcher = watcher(&pool, &clock);
    // ...which still counts it (no upper bound: a data plane's clock may run ahead).
    assert_eq!(watcher.tick().await.unwrap().rolled_back, 1);

    // A second policy whose spike has slid out of the window by now.
    canary_candidate(&app, "other").await;
    observe(&pool, "other", 2, spike_at - minutes(1), "refuse", 40).await;
    clock.advance(minutes(20 + 16));
    assert_eq!(watcher.tick().await.unwrap().rolled_back, 0);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_candidate_replaced_or_locked_elsewhere_is_left_alone(pool: PgPool) {
    let app = App::new(pool.clone());
    canary_candidate(&app, "support").await;
    let clock = TestClock::now();
    observe(&pool, "support", 2, clock.get(), "refuse", 40).await;
    let rollout = Rollout {
        rollback_on_spike: true,
        ..Rollout::default()
    };
    let settings = settings(&clock);

    // Another replica is acting on the policy (it holds the advisory lock).
    let mut other = pool.begin().await.unwrap();
    assert!(
        store::try_lock(&mut other, crate::common::ORG, "support")
            .await
            .unwrap()
    );
    let candidate = Candidate {
        org: crate::common::ORG,
        policy_id: "support",
        revision: 2,
    };
    let busy = actions::roll_back(&pool, &settings, candidate, &rollout, clock.get()).await;
    assert_eq!(busy.unwrap(), Outcome::Busy);
    other.rollback().await.unwrap();

    // A new save replaced the candidate since the watcher looked.
    app.save(&guarded("support", false, true)).await;
    let stale = actions::roll_back(&pool, &settings, candidate, &rollout, clock.get()).await;
    assert_eq!(stale.unwrap(), Outcome::Stale);
    let state = state(&app, "support").await;
    assert_eq!(state["candidate_revision"], 3);
    assert_eq!(state["rollout"]["state"], "canary");
    assert!(history(&app, "support", "rollback").await.is_empty());
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn the_spawned_watcher_acts_on_its_own_and_stops_on_shutdown(pool: PgPool) {
    let app = App::new(pool.clone());
    canary_candidate(&app, "support").await;
    let clock = TestClock::now();
    let (stop, stopped) = watch::channel(false);
    let task = control_plane::rollout::spawn(pool.clone(), settings(&clock), stopped);

    observe(&pool, "support", 2, clock.get(), "refuse", 25).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if state(&app, "support").await["rollout"]["state"] == "cooldown" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rollback within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the watcher stops on shutdown")
        .unwrap();
    assert_eq!(history(&app, "support", "rollback").await.len(), 1);
}
