//! Policy saves, revisions, rollback and rollout pointers (SPEC §1.2, §2.6, §7).

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::*;

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn first_save_is_revision_one_and_stable_at_once(pool: PgPool) {
    let app = App::new(pool);
    // Even with a staged rollout in the document: nothing to roll from (SPEC §2.6).
    let doc = staged("support", true, true);
    let state = app.save(&doc).await;
    assert_eq!(state["policy_id"], "support");
    assert_eq!(state["revision"], 1);
    assert_eq!(state["stable_revision"], 1);
    assert_eq!(state["candidate_revision"], json!(null));
    assert_eq!(state["rollout"]["state"], "none");
    assert_eq!(state["config"], doc);
    assert_eq!(state["candidate_config"], json!(null));
    assert_eq!(state["updated_by"], "editor@acme");

    let fetched = app.get("/config?policy_id=support", &viewer()).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, state);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn staged_saves_become_candidates_and_plain_saves_promote(pool: PgPool) {
    let app = App::new(pool);
    app.save(&policy("support")).await;

    let canary = staged("support", true, true);
    let state = app.save(&canary).await;
    assert_eq!(state["revision"], 2);
    assert_eq!(state["stable_revision"], 1);
    assert_eq!(state["candidate_revision"], 2);
    assert_eq!(state["rollout"]["state"], "canary");
    assert!(state["rollout"]["started_at"].is_string());
    assert_eq!(state["config"], policy("support"));
    assert_eq!(state["candidate_config"], canary);

    // A newer staged save replaces the candidate; shadow only → shadow.
    let state = app.save(&staged("support", true, false)).await;
    assert_eq!(state["revision"], 3);
    assert_eq!(state["stable_revision"], 1);
    assert_eq!(state["candidate_revision"], 3);
    assert_eq!(state["rollout"]["state"], "shadow");

    // A save without staged rollout is promoted at once and drops the candidate.
    let mut plain = policy("support");
    plain["name"] = json!("Renamed");
    let state = app.save(&plain).await;
    assert_eq!(state["revision"], 4);
    assert_eq!(state["stable_revision"], 4);
    assert_eq!(state["candidate_revision"], json!(null));
    assert_eq!(state["rollout"]["state"], "none");
    assert_eq!(state["rollout"]["started_at"], json!(null));
    assert_eq!(state["config"], plain);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn revisions_are_listed_newest_first_and_fetched_one_by_one(pool: PgPool) {
    let app = App::new(pool);
    for name in ["one", "two", "three"] {
        let mut doc = policy("support");
        doc["name"] = json!(name);
        app.save(&doc).await;
    }
    let list = app
        .get("/config/revisions?policy_id=support", &viewer())
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let revisions: Vec<i64> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(revisions, [3, 2, 1]);
    assert_eq!(list.body["data"][0]["name"], "three");
    assert_eq!(list.body["data"][0]["author"], "editor@acme");

    let page = app
        .get("/config/revisions?policy_id=support&limit=2", &viewer())
        .await;
    assert_eq!(page.body["data"].as_array().unwrap().len(), 2);
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            &format!("/config/revisions?policy_id=support&limit=2&cursor={cursor}"),
            &viewer(),
        )
        .await;
    assert_eq!(rest.body["data"][0]["revision"], 1);
    assert_eq!(rest.body["next_cursor"], json!(null));

    let two = app
        .get("/config/revisions/2?policy_id=support", &viewer())
        .await;
    assert_eq!(two.status, StatusCode::OK);
    assert_eq!(two.body["revision"], 2);
    assert_eq!(two.body["config"]["name"], "two");

    let missing = app
        .get("/config/revisions/9?policy_id=support", &viewer())
        .await;
    error_of(&missing, StatusCode::NOT_FOUND);
    let unknown = app.get("/config/revisions?policy_id=nope", &viewer()).await;
    error_of(&unknown, StatusCode::NOT_FOUND);
    let no_param = app.get("/config/revisions", &viewer()).await;
    assert_eq!(
        error_of(&no_param, StatusCode::BAD_REQUEST)["param"],
        "policy_id"
    );
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn rollback_saves_a_new_revision_equal_to_the_old_one(pool: PgPool) {
    let app = App::new(pool);
    let first = policy("support");
    app.save(&first).await;
    let mut second = policy("support");
    second["name"] = json!("Second");
    app.save(&second).await;
    app.save(&staged("support", false, true)).await;

    let reply = app
        .post(
            "/config/rollback",
            &editor(),
            json!({ "policy_id": "support", "revision": 1 }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["revision"], 4);
    assert_eq!(reply.body["stable_revision"], 4);
    assert_eq!(reply.body["candidate_revision"], json!(null));
    assert_eq!(reply.body["rollout"]["state"], "none");
    assert_eq!(reply.body["config"], first);
    let four = app
        .get("/config/revisions/4?policy_id=support", &viewer())
        .await;
    assert_eq!(four.body["config"], first);

    let history = app
        .get("/history?type=rollback&policy_id=support", &viewer())
        .await;
    let entry = &history.body["data"][0];
    assert_eq!(entry["type"], "rollback");
    assert_eq!(entry["rollback_type"], "manual");
    assert_eq!(entry["restored_revision"], 1);
    assert_eq!(entry["revision"], 4);
    assert_eq!(entry["dropped_candidate_revision"], 3);
    assert_eq!(entry["policy_name"], "Policy support");

    let missing = app
        .post(
            "/config/rollback",
            &editor(),
            json!({ "policy_id": "support", "revision": 99 }),
        )
        .await;
    error_of(&missing, StatusCode::NOT_FOUND);
    let unknown = app
        .post(
            "/config/rollback",
            &editor(),
            json!({ "policy_id": "nope", "revision": 1 }),
        )
        .await;
    error_of(&unknown, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn promote_and_abort_end_a_rollout_and_409_without_one(pool: PgPool) {
    let app = App::new(pool);
    app.save(&policy("support")).await;
    let body = json!({ "policy_id": "support" });
    for action in ["/rollout/promote", "/rollout/abort"] {
        let reply = app.post(action, &editor(), body.clone()).await;
        error_of(&reply, StatusCode::CONFLICT);
    }

    app.save(&staged("support", true, false)).await;
    let promoted = app.post("/rollout/promote", &editor(), body.clone()).await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.body["stable_revision"], 2);
    assert_eq!(promoted.body["candidate_revision"], json!(null));
    assert_eq!(promoted.body["rollout"]["state"], "none");
    assert_eq!(promoted.body["config"], staged("support", true, false));

    app.save(&staged("support", false, true)).await;
    let aborted = app.post("/rollout/abort", &editor(), body.clone()).await;
    assert_eq!(aborted.status, StatusCode::OK);
    assert_eq!(aborted.body["revision"], 3);
    assert_eq!(aborted.body["stable_revision"], 2);
    assert_eq!(aborted.body["candidate_revision"], json!(null));
    assert_eq!(aborted.body["candidate_config"], json!(null));

    let unknown = app
        .post(
            "/rollout/promote",
            &editor(),
            json!({ "policy_id": "nope" }),
        )
        .await;
    error_of(&unknown, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn invalid_policies_get_every_problem_with_its_pointer(pool: PgPool) {
    let app = App::new(pool);
    let mut doc = policy("support");
    doc["rules"]["response_pattern"] = json!("shout");
    doc["rules"]["flagged_categories"] = json!(["gore"]);
    doc["typo_field"] = json!(true);
    let expected = policy_engine::validate(&doc).expect_err("invalid");
    assert!(expected.len() >= 3);

    let reply = app
        .post("/config", &editor(), json!({ "config": doc }))
        .await;
    let error = error_of(&reply, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "invalid_policy");
    assert_eq!(error["type"], "invalid_request_error");
    let details = error["details"].as_array().unwrap();
    assert_eq!(details.len(), expected.len());
    for (detail, want) in details.iter().zip(&expected) {
        assert_eq!(detail["pointer"], want.pointer.as_str());
        assert_eq!(detail["message"], want.message.as_str());
    }
    assert!(
        details
            .iter()
            .any(|d| d["pointer"] == "/rules/response_pattern")
    );

    // Nothing was saved.
    let state = app.get("/config?policy_id=support", &viewer()).await;
    error_of(&state, StatusCode::NOT_FOUND);
    let not_object = app
        .post("/config", &editor(), json!({ "config": [1, 2] }))
        .await;
    error_of(&not_object, StatusCode::BAD_REQUEST);
    let no_config = app.post("/config", &editor(), json!({})).await;
    error_of(&no_config, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn both_seed_policies_save(pool: PgPool) {
    let app = App::new(pool);
    let state = app.save(&seed_policy_as_code()).await;
    assert_eq!(state["stable_revision"], 1);
    let list = app.get("/configs", &viewer()).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn configs_are_paginated_by_policy_id(pool: PgPool) {
    let app = App::new(pool);
    for id in ["c-policy", "a-policy", "b-policy"] {
        app.save(&policy(id)).await;
    }
    let first = app.get("/configs?limit=2", &viewer()).await;
    assert_eq!(first.status, StatusCode::OK);
    let ids: Vec<&str> = first.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["policy_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a-policy", "b-policy"]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/configs?limit=2&cursor={cursor}"), &viewer())
        .await;
    assert_eq!(second.body["data"][0]["policy_id"], "c-policy");
    assert_eq!(second.body["next_cursor"], json!(null));
    let too_many = app.get("/configs?limit=501", &viewer()).await;
    assert_eq!(
        error_of(&too_many, StatusCode::BAD_REQUEST)["param"],
        "limit"
    );
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn revision_history_entries_hold_the_config_snapshot(pool: PgPool) {
    let app = App::new(pool);
    let doc = policy("support");
    app.save(&doc).await;
    let history = app
        .get("/history?type=revision&policy_id=support", &viewer())
        .await;
    let entry = &history.body["data"][0];
    assert_eq!(entry["type"], "revision");
    assert_eq!(entry["policy_id"], "support");
    assert_eq!(entry["policy_name"], "Policy support");
    assert_eq!(entry["revision"], 1);
    assert_eq!(entry["author"], "editor@acme");
    assert_eq!(entry["config"], doc);
    assert!(entry["id"].is_string() && entry["created_at"].is_string());
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn every_enforced_change_bumps_the_snapshot_version(pool: PgPool) {
    let app = App::new(pool);
    let mut version = app.config_version().await;
    let mut bumped = async |what: &str| {
        let now = app.config_version().await;
        assert_eq!(now, version + 1, "{what} must bump the version once");
        version = now;
    };
    app.save(&policy("support")).await;
    bumped("save").await;
    app.save(&staged("support", true, false)).await;
    bumped("staged save").await;
    app.post(
        "/rollout/promote",
        &editor(),
        json!({"policy_id": "support"}),
    )
    .await;
    bumped("promote").await;
    app.save(&staged("support", true, false)).await;
    bumped("staged save").await;
    app.post("/rollout/abort", &editor(), json!({"policy_id": "support"}))
        .await;
    bumped("abort").await;
    app.post(
        "/config/rollback",
        &editor(),
        json!({"policy_id": "support", "revision": 1}),
    )
    .await;
    bumped("rollback").await;
    app.post("/projects", &admin(), json!({"name": "Bot"}))
        .await;
    bumped("project create").await;
    app.patch("/projects/bot", &admin(), json!({"status": "suspended"}))
        .await;
    bumped("project update").await;
    let key = app
        .post("/projects/bot/keys", &admin(), json!({"label": "ci"}))
        .await;
    bumped("key create").await;
    let key_id = key.body["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/projects/bot/keys/{key_id}"), &admin())
        .await;
    bumped("key revoke").await;
    app.delete("/projects/bot", &admin()).await;
    bumped("project delete").await;
    // Reads and simulations change nothing data planes enforce.
    app.get("/configs", &viewer()).await;
    app.post(
        "/simulate",
        &editor(),
        json!({"policy_id": "support", "categories": []}),
    )
    .await;
    assert_eq!(app.config_version().await, version);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn concurrent_saves_never_share_a_revision_number(pool: PgPool) {
    let app = App::new(pool);
    let saves = (0..8).map(|n| {
        let mut doc = policy("support");
        doc["name"] = json!(format!("writer {n}"));
        let app = &app;
        async move {
            app.post("/config", &editor(), json!({ "config": doc }))
                .await
        }
    });
    let replies = futures::future::join_all(saves).await;
    let mut revisions: Vec<i64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body["revision"].as_i64().unwrap()
        })
        .collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=8).collect::<Vec<_>>());
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn saves_during_a_cooldown_wait_as_the_candidate(pool: PgPool) {
    let app = App::new(pool);
    app.save(&policy("support")).await;
    // What an automatic rollback leaves behind (SPEC §9): no candidate, a cooldown.
    sqlx::query(
        "UPDATE policies SET rollout_state = 'cooldown', cooldown_until = now() + interval '30 minutes'
         WHERE policy_id = 'support'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let state = app.save(&staged("support", false, true)).await;
    assert_eq!(state["stable_revision"], 1);
    assert_eq!(state["candidate_revision"], 2);
    assert_eq!(state["rollout"]["state"], "cooldown");
    assert!(state["rollout"]["cooldown_until"].is_string());
    assert_eq!(state["rollout"]["started_at"], json!(null));
    // An operator may still promote by hand; the cooldown itself stays.
    let promoted = app
        .post(
            "/rollout/promote",
            &editor(),
            json!({ "policy_id": "support" }),
        )
        .await;
    assert_eq!(promoted.body["stable_revision"], 2);
    assert_eq!(promoted.body["candidate_revision"], json!(null));
    assert_eq!(promoted.body["rollout"]["state"], "cooldown");

    // Once the cooldown is over, saves roll out as usual.
    sqlx::query("UPDATE policies SET cooldown_until = now() - interval '1 minute'")
        .execute(&app.pool)
        .await
        .unwrap();
    let state = app.save(&staged("support", true, false)).await;
    assert_eq!(state["rollout"]["state"], "shadow");
    assert_eq!(state["rollout"]["cooldown_until"], json!(null));
}
