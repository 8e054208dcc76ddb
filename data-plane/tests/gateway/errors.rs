//! Every error of SPEC §3.4, in OpenAI's shape, never a 500.

use http::Method;
use serde_json::json;

use crate::support::fixtures::{self, org_key, support_key, suspended_key};
use crate::support::{DataPlane, Env, FakeCp, FakeUpstream, PATHS, Reply, chat};

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let body = reply.json();
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].is_string() && error["type"].is_string());
    assert!(error.as_object().unwrap().contains_key("param"));
    assert!(!reply.header("x-request-id").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_400s() {
    let env = Env::start().await;
    let key = format!("Bearer {}", support_key());
    let auth = [("authorization", key.as_str())];
    let dp = &env.dp;
    assert_error(
        &dp.send(Method::POST, PATHS[0], &auth, Some(b"{oops".to_vec()))
            .await,
        400,
        "invalid_json",
    );
    let not_array = json!({"model": "echo", "messages": "hi"});
    assert_error(
        &dp.chat(PATHS[1], Some(&support_key()), &not_array, &[])
            .await,
        400,
        "invalid_request",
    );
    let no_model = json!({"messages": [{"role": "user", "content": "hi"}]});
    assert_error(
        &dp.chat(PATHS[0], Some(&support_key()), &no_model, &[])
            .await,
        400,
        "invalid_request",
    );
    let no_policy = chat("echo", "hi");
    assert_error(
        &dp.chat(PATHS[0], Some(&org_key()), &no_policy, &[]).await,
        400,
        "policy_required",
    );
    // Without ALLOWED_MODELS the upstream's own answer comes back, with its status.
    let reply = dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("missing-model", "refund policy"),
            &[],
        )
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "model_not_found");
    assert_eq!(reply.header("x-policy-decision"), "allow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_models_and_body_limit() {
    let env = Env::start_with(&[
        ("ALLOWED_MODELS", "echo,secret"),
        ("MAX_BODY_BYTES", "2048"),
    ])
    .await;
    let reply = env
        .dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("gpt-5", "refund policy"),
            &[],
        )
        .await;
    assert_error(&reply, 400, "model_not_allowed");
    let big = chat("echo", &"x".repeat(4096));
    assert_error(
        &env.dp.chat(PATHS[0], Some(&support_key()), &big, &[]).await,
        413,
        "payload_too_large",
    );
    let ok = env
        .dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("echo", "refund policy"),
            &[],
        )
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_scopes() {
    let env = Env::start().await;
    let dp = &env.dp;
    let body = chat("echo", "refund policy");
    assert_error(
        &dp.chat(PATHS[0], None, &body, &[]).await,
        401,
        "missing_api_key",
    );
    assert_error(
        &dp.chat(PATHS[0], Some("sk-not-ours"), &body, &[]).await,
        401,
        "invalid_api_key",
    );
    assert_error(
        &dp.chat(PATHS[0], Some(&fixtures::key(99)), &body, &[])
            .await,
        401,
        "invalid_api_key",
    );
    // A project key naming another project.
    let other = [("x-policy-project", "Knowledge Bot")];
    assert_error(
        &dp.chat(PATHS[0], Some(&support_key()), &body, &other).await,
        403,
        "project_mismatch",
    );
    assert_error(
        &dp.chat(PATHS[1], Some(&suspended_key()), &body, &[]).await,
        403,
        "project_suspended",
    );
    // An org-wide key under a policy with project_keys: true.
    let mut named = body.clone();
    named["policy_project_id"] = json!("support-bot");
    assert_error(
        &dp.chat(PATHS[0], Some(&org_key()), &named, &[]).await,
        403,
        "project_key_required",
    );
    // The same key under a policy without that control works.
    let open = [("x-policy-project", "open-bot")];
    assert_eq!(
        dp.chat(PATHS[0], Some(&org_key()), &body, &open)
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_policies_are_404s() {
    let env = Env::start().await;
    assert_error(&env.dp.get("/v2/nothing").await, 404, "unknown_url");
    let mut body = chat("echo", "refund policy");
    body["policy_id"] = json!("no-such-policy");
    assert_error(
        &env.dp
            .chat(PATHS[0], Some(&support_key()), &body, &[])
            .await,
        404,
        "policy_not_found",
    );
    assert_error(&env.dp.get(PATHS[0]).await, 405, "method_not_allowed");
    let models = env
        .dp
        .send(
            Method::GET,
            "/v1/models",
            &[("authorization", &format!("Bearer {}", support_key()))],
            None,
        )
        .await;
    assert_eq!(models.status, 200);
    assert_eq!(models.json()["data"][0]["id"], "echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_are_502_and_504_with_the_decision() {
    let env = Env::start().await;
    let reply = env
        .dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("fail", "refund policy"),
            &[],
        )
        .await;
    assert_error(&reply, 502, "upstream_error");
    assert_eq!(reply.header("x-policy-decision"), "allow");
    assert_eq!(reply.json()["policy"]["decision"], "allow");
    let reply = env
        .dp
        .chat(
            PATHS[1],
            Some(&support_key()),
            &chat("slow", "refund policy"),
            &[],
        )
        .await;
    assert_error(&reply, 504, "upstream_timeout");

    // Nothing listening upstream.
    let cp = FakeCp::start(Some(fixtures::snapshot(1))).await;
    let state = tempfile::tempdir().unwrap();
    let dp = DataPlane::start(&cp.url(), "http://127.0.0.1:9/v1", state.path(), &[]).await;
    dp.wait_ready().await;
    let reply = dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("echo", "refund policy"),
            &[],
        )
        .await;
    assert_error(&reply, 502, "upstream_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_any_snapshot_the_node_is_alive_but_not_ready() {
    let cp = FakeCp::start(None).await;
    let upstream = FakeUpstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let dp = DataPlane::start(&cp.url(), &upstream.base_url(), state.path(), &[]).await;
    assert_eq!(dp.get("/healthz").await.status, 200);
    assert_eq!(dp.get("/readyz").await.status, 503);
    let reply = dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("echo", "refund policy"),
            &[],
        )
        .await;
    assert_error(&reply, 503, "no_snapshot");
    cp.publish(fixtures::snapshot(1));
    dp.wait_ready().await;
    let reply = dp
        .chat(
            PATHS[0],
            Some(&support_key()),
            &chat("echo", "refund policy"),
            &[],
        )
        .await;
    assert_eq!(reply.status, 200);
}
