//! `policyctl rollout status|promote|abort` against a fake control plane: what each
//! command sends, what it prints, and a failed call as one line with exit code 1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// `(method and target, body)` of each request the fake saw.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Answers every request with `status` and `answer`, recording what was asked.
fn fake_control_plane(status: u16, answer: Value) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let target: Vec<&str> = request_line.split_whitespace().take(2).collect();
            log.lock()
                .unwrap()
                .push((target.join(" "), String::from_utf8(body).unwrap()));
            let answer = answer.to_string();
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    (url, seen)
}

fn policyctl(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_policyctl"))
        .args(args)
        .env("POLICY_GATEWAY_URL", url)
        .env("POLICY_GATEWAY_TOKEN", "test-token")
        .output()
        .expect("policyctl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn status_reads_the_rollout_status_of_the_policy() {
    let status = json!({
        "policy_id": "support", "stable_revision": 3, "candidate_revision": 4,
        "rollout": {"state": "canary", "started_at": "2026-11-22T10:00:00Z", "cooldown_until": null},
        "rollback": {"on_spike": true, "threshold": 0.25, "min_requests": 20,
                     "window_minutes": 15, "cooldown_minutes": 30, "watched": ["refuse"]},
        "window": {"from": "2026-11-22T10:05:00Z", "to": "2026-11-22T10:20:00Z",
                   "decisions": {"allow": 40}, "candidate_decisions": 40,
                   "watched_decisions": 0, "share": 0.0, "spike": false}
    });
    let (url, seen) = fake_control_plane(200, status.clone());
    let out = policyctl(&url, &["rollout", "status", "support"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("policy     support\n"), "{stdout}");
    assert!(stdout.contains("candidate  4\n"), "{stdout}");
    assert!(stdout.contains("40 candidate decisions"), "{stdout}");
    assert_eq!(
        seen.lock().unwrap()[0].0,
        "GET /api/policy-gateway/rollout/status?policy_id=support"
    );

    let out = policyctl(&url, &["rollout", "status", "support", "--json"]);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, status);
}

#[test]
fn promote_and_abort_post_the_policy_id() {
    let state = json!({"policy_id": "support", "revision": 4, "stable_revision": 4,
                       "candidate_revision": null, "rollout": {"state": "none"}});
    let (url, seen) = fake_control_plane(200, state);
    let out = policyctl(&url, &["rollout", "promote", "support"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "promoted support: stable 4, candidate none, rollout none\n"
    );
    let out = policyctl(&url, &["rollout", "abort", "support"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("aborted support: "));
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "POST /api/policy-gateway/rollout/promote");
    assert_eq!(seen[1].0, "POST /api/policy-gateway/rollout/abort");
    for (_, body) in seen.iter() {
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body, json!({"policy_id": "support"}));
    }
}

#[test]
fn a_refused_promote_is_one_line_and_exit_1() {
    let error = json!({"error": {"message": "policy \"support\" has no active rollout",
                                 "type": "invalid_request_error", "param": null, "code": "conflict"}});
    let (url, _) = fake_control_plane(409, error);
    let out = policyctl(&url, &["rollout", "promote", "support"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "policyctl: the control plane answered 409: policy \"support\" has no active rollout\n"
    );
    assert!(out.stdout.is_empty());
}
