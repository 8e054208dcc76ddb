//! Several control-plane replicas share one database and each runs a watcher (SPEC §9:
//! "exactly one CP replica acts"): however their looks interleave, every spike is rolled
//! back once and every cooldown ended once.

use futures::future::join_all;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::common::App;
use crate::support::*;

/// A pool of its own per replica, as separate processes would have.
async fn replica_pool(pool: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap()
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn two_replicas_roll_a_spike_back_exactly_once(pool: PgPool) {
    let app = App::new(pool.clone());
    let clock = TestClock::now();
    let replicas = [replica_pool(&pool).await, replica_pool(&pool).await];
    let rounds = 40;
    for round in 0..rounds {
        let policy_id = format!("policy-{round}");
        canary_candidate(&app, &policy_id).await;
        observe(&pool, &policy_id, 2, clock.get(), "refuse", 50).await;
        // Fresh watchers each round, looking at the same moment on their own tasks.
        let looks = replicas.iter().map(|replica| {
            let mut watcher = watcher(replica, &clock);
            tokio::spawn(async move { watcher.tick().await.unwrap() })
        });
        let ticks: Vec<_> = join_all(looks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let rolled_back: usize = ticks.iter().map(|t| t.rolled_back).sum();
        assert_eq!(rolled_back, 1, "round {round}: {ticks:?}");
        assert_eq!(
            history(&app, &policy_id, "rollback").await.len(),
            1,
            "round {round}"
        );
    }
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn many_replicas_and_many_policies_one_action_each(pool: PgPool) {
    let app = App::new(pool.clone());
    let clock = TestClock::now();
    let policies = 12;
    for n in 0..policies {
        let policy_id = format!("policy-{n}");
        canary_candidate(&app, &policy_id).await;
        observe(&pool, &policy_id, 2, clock.get(), "escalate", 30).await;
    }
    let version = app.config_version().await;
    let mut replicas = Vec::new();
    for _ in 0..4 {
        replicas.push(replica_pool(&pool).await);
    }
    let mut watchers: Vec<_> = replicas.iter().map(|r| watcher(r, &clock)).collect();

    // Two rounds of everyone looking at once: rollbacks, then (30 minutes on) cooldown ends.
    for (round, advance) in [(0, 0), (1, 30)] {
        clock.advance(minutes(advance));
        let looks = watchers.drain(..).map(|mut watcher| {
            tokio::spawn(async move {
                let tick = watcher.tick().await.unwrap();
                (watcher, tick)
            })
        });
        let results: Vec<_> = join_all(looks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let ticks: Vec<_> = results.iter().map(|(_, t)| t.clone()).collect();
        watchers = results.into_iter().map(|(w, _)| w).collect();
        let (rolled_back, ended): (usize, usize) = ticks.iter().fold((0, 0), |(r, e), t| {
            (r + t.rolled_back, e + t.cooldowns_ended)
        });
        if round == 0 {
            assert_eq!((rolled_back, ended), (policies, 0), "{ticks:?}");
        } else {
            assert_eq!((rolled_back, ended), (0, policies), "{ticks:?}");
        }
    }
    for n in 0..policies {
        let policy_id = format!("policy-{n}");
        assert_eq!(history(&app, &policy_id, "rollback").await.len(), 1);
        assert_eq!(state(&app, &policy_id).await["rollout"]["state"], "none");
    }
    // One snapshot version per rollback; ending a cooldown with nothing kept changes nothing.
    assert_eq!(app.config_version().await, version + policies as i64);
}
