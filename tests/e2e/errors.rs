//! Every error of SPEC §3.4 through the real stack, in OpenAI's error shape.

use e2e_tests::dp::DpConfig;
use e2e_tests::process::free_port;
use e2e_tests::upstream::{FAIL_MODEL, SLOW_MODEL};
use e2e_tests::{DataPlane, Http, PATHS, Stack, StackOptions, chat, eventually};
use serde_json::json;

use crate::common::{assert_decided, assert_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_of_the_request_contract() {
    let stack = Stack::start(
        StackOptions::default()
            .dp_env("ALLOWED_MODELS", &format!("echo,{FAIL_MODEL},{SLOW_MODEL}"))
            .dp_env("MAX_BODY_BYTES", "65536"),
    )
    .await;
    let key = stack.key("support-bot");
    let ok = chat("echo", "What is your refund policy?");
    for dp in &stack.dps {
        let http = dp.http();
        for path in PATHS {
            // 400: malformed JSON, bad messages, no model, a model not allowed.
            let reply = http
                .chat_raw(path, Some(key), b"{\"model\": \"echo\", ".to_vec(), &[])
                .await;
            assert_error(&reply, 400, "invalid_json");
            for messages in [
                json!("hello"),
                json!([{"role": "user"}]),
                json!([42]),
                json!([]),
            ] {
                let reply = http
                    .chat(
                        path,
                        Some(key),
                        &json!({"model": "echo", "messages": messages}),
                        &[],
                    )
                    .await;
                assert_error(&reply, 400, "invalid_request");
            }
            let no_model = json!({"messages": [{"role": "user", "content": "refund policy"}]});
            let reply = http.chat(path, Some(key), &no_model, &[]).await;
            assert_error(&reply, 400, "invalid_request");
            let reply = http
                .chat(path, Some(key), &chat("gpt-4o", "refund policy"), &[])
                .await;
            assert_error(&reply, 400, "model_not_allowed");

            // 401: no key, a malformed key, an unknown well-formed key.
            assert_error(
                &http.chat(path, None, &ok, &[]).await,
                401,
                "missing_api_key",
            );
            let reply = http.chat(path, Some("not-a-key"), &ok, &[]).await;
            assert_error(&reply, 401, "invalid_api_key");
            let unknown = format!("ak_{}", "A".repeat(43));
            let reply = http.chat(path, Some(&unknown), &ok, &[]).await;
            assert_error(&reply, 401, "invalid_api_key");

            // 403: a project key naming another project.
            let reply = http
                .chat(path, Some(key), &ok, &[("x-policy-project", "refuse-bot")])
                .await;
            assert_error(&reply, 403, "project_mismatch");
            let mut other = ok.clone();
            other["policy_project_id"] = json!("refuse-bot");
            assert_error(
                &http.chat(path, Some(key), &other, &[]).await,
                403,
                "project_mismatch",
            );

            // 404: an unknown path, an unknown policy.
            let reply = http.chat("/v1/chat/complete", Some(key), &ok, &[]).await;
            assert_error(&reply, 404, "unknown_url");
            let reply = http.get("/nowhere").await;
            assert_error(&reply, 404, "unknown_url");
            let mut unknown_policy = ok.clone();
            unknown_policy["policy_id"] = json!("no-such-policy");
            let reply = http
                .chat(path, Some(&stack.org_key.raw), &unknown_policy, &[])
                .await;
            assert_error(&reply, 404, "policy_not_found");

            // 413: over MAX_BODY_BYTES. On a connection of its own: the node closes it
            // after answering without saying so (see `a_413_says_the_connection_closes`).
            let big = chat("echo", &"refund policy ".repeat(6000));
            let reply = Http::new(http.base())
                .chat(path, Some(key), &big, &[])
                .await;
            assert_error(&reply, 413, "payload_too_large");

            // 502 and 504 come after a decision: they carry it.
            let reply = http
                .chat(path, Some(key), &chat(FAIL_MODEL, "refund policy"), &[])
                .await;
            assert_error(&reply, 502, "upstream_error");
            assert_eq!(reply.header("x-policy-decision"), "allow");
            let reply = http
                .chat(path, Some(key), &chat(SLOW_MODEL, "refund policy"), &[])
                .await;
            assert_error(&reply, 504, "upstream_timeout");
            assert_eq!(reply.header("x-policy-decision"), "allow");

            // And a good request still works.
            let reply = http.chat(path, Some(key), &ok, &[]).await;
            assert_decided(&reply, "allow", "ALLOW", stack.revisions["policy-gateway"]);
        }
    }

    // 401 for a key revoked through the API, 403 for a project suspended through it, on
    // both data planes once the change has reached them.
    let revoked = stack
        .api
        .create_project_key("support-bot", "to revoke")
        .await;
    wait_for_status(&stack, &revoked.raw, &ok, 200).await;
    stack.api.revoke_key(&revoked).await;
    wait_for_status(&stack, &revoked.raw, &ok, 401).await;
    for dp in &stack.dps {
        let reply = dp.http().chat(PATHS[0], Some(&revoked.raw), &ok, &[]).await;
        assert_error(&reply, 401, "invalid_api_key");
    }
    stack
        .api
        .update_project("refuse-bot", &json!({"status": "suspended"}))
        .await;
    let refuse_key = stack.key("refuse-bot");
    wait_for_status(&stack, refuse_key, &ok, 403).await;
    for dp in &stack.dps {
        let reply = dp.http().chat(PATHS[1], Some(refuse_key), &ok, &[]).await;
        assert_error(&reply, 403, "project_suspended");
    }

    // 503 before any snapshot: a node whose control plane is unreachable and whose state
    // directory is empty is up but not ready.
    let config = DpConfig {
        control_plane: format!("http://127.0.0.1:{}", free_port()),
        ..stack.dp_config("lonely")
    };
    let lonely = DataPlane::start(config).await;
    let http = lonely.http();
    assert_eq!(http.get("/healthz").await.status, 200, "the process is up");
    let reply = http.get("/readyz").await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    let before = stack.upstream.count();
    for path in PATHS {
        let reply = http.chat(path, Some(key), &ok, &[]).await;
        assert_error(&reply, 503, "no_snapshot");
        assert!(reply.header("retry-after").parse::<u64>().is_ok());
    }
    assert_eq!(stack.upstream.count(), before);
}

/// Polls every data plane until a chat with `key` answers `status`.
async fn wait_for_status(stack: &Stack, key: &str, body: &serde_json::Value, status: u16) {
    for dp in &stack.dps {
        let http = dp.http();
        eventually(&format!("{} answers {status}", dp.node_id()), || {
            let http = http.clone();
            async move {
                let reply = http.chat(PATHS[0], Some(key), body, &[]).await;
                (reply.status == status).then_some(())
            }
        })
        .await;
    }
}
