//! The official OpenAI Python SDK as a real client of both data planes (SPEC §3.1: SDKs
//! work by changing only `base_url`), non-streamed and streamed.

use std::path::Path;

use e2e_tests::upstream::{COMPLETION_TOKENS, PROMPT_TOKENS, SECRET_MODEL, SECRET_REDACTED};
use e2e_tests::{Stack, StackOptions};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_sdk_works_against_both_data_planes() {
    let python = std::env::var("E2E_PYTHON").unwrap_or_else(|_| {
        panic!(
            "E2E_PYTHON is not set: point it at a Python with the openai package \
             (scripts/test.sh creates .state/venv and exports it)"
        )
    });
    let stack = Stack::start(StackOptions::default()).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/openai_client.py");
    let bases: Vec<String> = stack
        .dps
        .iter()
        .map(|dp| format!("http://{}", dp.addr))
        .collect();
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .env("E2E_BASE_URLS", bases.join(","))
        .env("E2E_KEY", stack.key("open-bot"))
        .env("E2E_REFUSE_KEY", stack.key("refuse-bot"))
        .env("E2E_SECRET_MODEL", SECRET_MODEL)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the SDK script failed ({}):\n{}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("the script printed no JSON ({e}): {stdout}"));
    let nodes = results["nodes"].as_array().expect("one result per node");
    assert_eq!(nodes.len(), 2);
    let open = stack.revisions["open-policy"];
    for node in nodes {
        let plain = &node["json"];
        assert!(
            plain["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("echo: What is your refund policy?")),
            "{node}"
        );
        assert_eq!(plain["finish_reason"], "stop");
        assert_eq!(plain["decision_header"], "allow");
        assert_eq!(plain["request_id_header"], "sdk-request-1");
        assert_eq!(plain["policy"]["decision"], "allow");
        assert_eq!(plain["policy"]["revision"], open);
        assert_eq!(plain["usage"]["prompt_tokens"], PROMPT_TOKENS);
        assert_eq!(plain["usage"]["completion_tokens"], COMPLETION_TOKENS);

        let stream = &node["stream"];
        assert_eq!(stream["content"], SECRET_REDACTED, "{node}");
        assert_eq!(stream["finish_reason"], "stop");
        assert_eq!(stream["policy"]["reason_code"], "REDACT", "{node}");
        assert!(stream["chunks"].as_u64().is_some_and(|n| n > 10), "{node}");
        assert_eq!(
            stream["usage"]["total_tokens"],
            PROMPT_TOKENS + COMPLETION_TOKENS
        );

        let refused = &node["refused"];
        assert_eq!(refused["finish_reason"], "content_filter");
        assert!(
            refused["refusal"].as_str().is_some_and(|r| !r.is_empty()),
            "{node}"
        );
        assert_eq!(refused["policy"]["decision"], "refuse");
        assert_eq!(node["refused_stream"]["finish_reason"], "content_filter");
        assert!(
            node["refused_stream"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );

        assert_eq!(
            node["errors"],
            json!({
                "unknown_key": {"status": 401, "code": "invalid_api_key"},
                "bad_messages": {"status": 400, "code": "invalid_request"},
            })
        );
        assert_eq!(node["models"], json!(["echo"]));
    }
    eprintln!(
        "openai SDK {} against both data planes",
        results["sdk_version"]
    );
}
