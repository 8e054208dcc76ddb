//! `policyctl`'s online commands against a fake control plane: a one-thread HTTP server
//! answering canned JSON, which also records what the commands sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One request the fake server saw.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    authorization: String,
    body: String,
}

/// Serves `routes` (request target prefix → status and JSON body) on a free port.
fn fake_control_plane(routes: Vec<(&'static str, u16, Value)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let target = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let (mut length, mut authorization) = (0, String::new());
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "authorization" => authorization = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let (status, answer) = routes
                .iter()
                .find(|(prefix, _, _)| target.starts_with(prefix))
                .map(|(_, status, body)| (*status, body.to_string()))
                .unwrap_or((
                    404,
                    json!({"error": {"message": "no such endpoint"}}).to_string(),
                ));
            log.lock().unwrap().push(Seen {
                target,
                authorization,
                body: String::from_utf8(body).unwrap(),
            });
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    (url, seen)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn policyctl(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_policyctl"))
        .args(args)
        .current_dir(repo())
        .env("POLICY_GATEWAY_URL", url)
        .env("POLICY_GATEWAY_TOKEN", "test-token")
        .output()
        .expect("policyctl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn example() -> Value {
    let path = repo().join("examples/policies/policy-as-code.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn state(config: &Value) -> Value {
    json!({ "policy_id": "policy-as-code", "revision": 4, "stable_revision": 3,
            "candidate_revision": 4, "rollout": { "state": "shadow" },
            "config": config, "candidate_config": config })
}

#[test]
fn apply_posts_the_document_with_the_token() {
    let (url, seen) =
        fake_control_plane(vec![("/api/policy-gateway/config", 200, state(&example()))]);
    let out = policyctl(&url, &["apply", "examples/policies/policy-as-code.json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "saved policy-as-code revision 4: stable 3, candidate 4, rollout shadow"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].authorization, "Bearer test-token");
    let body: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["config"], example());
}

#[test]
fn an_invalid_file_is_refused_before_any_request() {
    let (url, seen) = fake_control_plane(vec![]);
    let dir = std::env::temp_dir().join(format!("policyctl-online-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.json");
    std::fs::write(
        &file,
        r#"{"policy_id": "x", "name": "x", "rules": {"response_pattern": "shout"}}"#,
    )
    .unwrap();
    let out = policyctl(&url, &["apply", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/rules/response_pattern"),
        "{}",
        text(&out.stderr)
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn dry_run_diffs_canonical_forms_against_the_stable_revision() {
    let mut saved = example();
    saved["rules"]["denylist"] = json!(["internal incident", "credential sharing"]);
    let (url, seen) = fake_control_plane(vec![("/api/policy-gateway/config?", 200, state(&saved))]);
    let out = policyctl(
        &url,
        &[
            "apply",
            "--dry-run",
            "examples/policies/policy-as-code.json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let diff = text(&out.stdout);
    assert!(
        diff.starts_with(
            "--- policy-as-code (stable revision 3)\n+++ examples/policies/policy-as-code.json\n"
        ),
        "{diff}"
    );
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(
        changed,
        [
            "-      \"credential sharing\"",
            "+      \"credential sharing\",",
            "+      \"security bypass\""
        ]
    );
    assert_eq!(
        seen.lock().unwrap()[0].target,
        "/api/policy-gateway/config?policy_id=policy-as-code"
    );

    // The same document, formatted differently, is no change.
    let (url, _) = fake_control_plane(vec![(
        "/api/policy-gateway/config?",
        200,
        state(&example()),
    )]);
    let out = policyctl(
        &url,
        &[
            "apply",
            "--dry-run",
            "examples/policies/policy-as-code.json",
        ],
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "no changes against the stable revision 3 of policy-as-code"
    );
}

#[test]
fn api_errors_are_one_line_and_exit_1() {
    let (url, _) = fake_control_plane(vec![(
        "/api/policy-gateway/config?",
        404,
        json!({"error": {"message": "policy \"nope\" not found", "type": "invalid_request_error", "param": null, "code": "not_found"}}),
    )]);
    let out = policyctl(&url, &["pull", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "policyctl: the control plane answered 404: policy \"nope\" not found\n"
    );
    assert!(out.stdout.is_empty());

    let out = policyctl("http://127.0.0.1:1", &["history"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("policyctl: cannot reach the control plane"));
}

#[test]
fn simulate_and_history_send_what_the_flags_say() {
    let decision = json!({ "decision": { "decision": "refuse", "reason_code": "REFUSE" } });
    let page = json!({ "data": [
        { "id": "1", "type": "simulation", "created_at": "2026-11-22T10:00:00Z",
          "policy_id": "policy-as-code", "decision": { "decision": "refuse", "reason_code": "REFUSE" } }
    ], "next_cursor": null });
    let (url, seen) = fake_control_plane(vec![
        ("/api/policy-gateway/simulate", 200, decision.clone()),
        ("/api/policy-gateway/history", 200, page),
    ]);
    let out = policyctl(
        &url,
        &[
            "simulate",
            "--policy-id",
            "policy-as-code",
            "--message",
            "hi there",
            "--categories",
            "hate,violence",
            "--user",
            "alice",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        decision
    );
    let out = policyctl(
        &url,
        &[
            "history",
            "--policy-id",
            "policy-as-code",
            "--type",
            "simulation",
            "--limit",
            "5",
        ],
    );
    assert!(
        text(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("refuse REFUSE")
    );

    let seen = seen.lock().unwrap();
    let sent: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        sent,
        json!({ "policy_id": "policy-as-code", "message": "hi there",
                "categories": ["hate", "violence"], "metadata": { "policy_user": "alice" } })
    );
    assert_eq!(
        seen[1].target,
        "/api/policy-gateway/history?limit=5&policy_id=policy-as-code&type=simulation"
    );
}

#[test]
fn usage_sends_the_filters_and_prints_a_table_or_the_json() {
    let usage = json!({
        "project_id": "bot", "policy_id": "support", "window": "monthly",
        "window_start": "2026-11-01T00:00:00Z", "window_end": "2026-12-01T00:00:00Z",
        "requests": 3, "tokens": 90, "users_truncated": false,
        "quotas": [
            { "source": "user", "policy_id": "support", "subject_kind": "user", "subject": "alice",
              "window": "daily", "window_start": "2026-11-22T00:00:00Z",
              "window_end": "2026-11-23T00:00:00Z", "resets_at": "2026-11-23T00:00:00Z",
              "requests": { "limit": 50, "used": 3, "leased": 17, "remaining": 47 },
              "tokens": { "limit": null, "used": 90, "leased": 0, "remaining": null } }
        ]
    });
    let (url, seen) = fake_control_plane(vec![("/api/policy-gateway/usage", 200, usage.clone())]);
    let flags = [
        "usage",
        "--project",
        "bot",
        "--policy",
        "support",
        "--subject",
        "alice",
    ];
    let out = policyctl(&url, &flags);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[1].starts_with("QUOTA"));
    let words: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        words,
        [
            "user",
            "support",
            "alice",
            "daily",
            "requests",
            "50",
            "3",
            "17",
            "47",
            "2026-11-23T00:00:00Z"
        ]
    );
    assert!(lines[3].contains("unlimited"));

    let out = policyctl(&url, &[&flags[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), usage);

    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].target,
        "/api/policy-gateway/usage?project_id=bot&policy_id=support&subject=alice"
    );
    assert_eq!(seen[0].authorization, "Bearer test-token");
}
