//! `policyctl`'s offline commands, run as the real binary the way a policy repo's CI runs
//! them (SPEC §13).

// A test crate: a failed unwrap is a failed test. (The workspace's allow-*-in-tests
// settings cover `#[test]` functions, not the helpers beside them.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn policyctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_policyctl"))
        .args(args)
        .current_dir(repo())
        .env_remove("HARD_BLOCKED_CATEGORIES")
        .output()
        .expect("policyctl runs")
}

fn policyctl_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_policyctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("policyctl starts");
    // A command that rejects its arguments exits without reading stdin; the broken pipe
    // that leaves behind is not the test's concern, the exit status is.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn the_example_policy_tests_pass() {
    let out = policyctl(&[
        "test",
        "examples/tests/policy-gateway.test.json",
        "examples/tests/policy-as-code.test.json",
    ]);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(" 0 failed"), "{text}");
}

#[test]
fn a_failing_case_exits_1_with_a_diff() {
    let dir = tempdir();
    let file = dir.join("fail.test.json");
    std::fs::write(
        &file,
        r#"{"policy": {"policy_id": "p", "name": "P", "rules": {"denylist": ["secret"]}},
            "cases": [{"name": "wrong on purpose", "message": "a secret", "expect": {"decision": "allow"}}]}"#,
    )
    .unwrap();
    let out = policyctl(&["test", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL") && text.contains("wrong on purpose"),
        "{text}"
    );
    assert!(
        text.contains("-\"allow\"") && text.contains("+\"refuse\""),
        "{text}"
    );
}

#[test]
fn validate_accepts_the_seed_policies() {
    let out = policyctl(&[
        "validate",
        "examples/policies/policy-gateway.json",
        "examples/policies/policy-as-code.json",
    ]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
}

#[test]
fn validate_prints_file_pointer_message_lines_and_exits_1() {
    let dir = tempdir();
    let file = dir.join("bad.json");
    std::fs::write(
        &file,
        r#"{"policy_id": "Bad Id", "rules": {"response_pattern": "shout"}}"#,
    )
    .unwrap();
    let out = policyctl(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let prefix = format!("{}: ", file.display());
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines.iter().all(|l| l.starts_with(&prefix)), "{text}");
    assert!(text.contains(": /policy_id: "));
    assert!(text.contains(": /name: is required"));
    assert!(
        text.contains(
            ": /rules/response_pattern: expected one of rewrite, summary, escalate, refuse"
        )
    );
}

#[test]
fn validate_reports_unreadable_and_non_json_files() {
    let dir = tempdir();
    let file = dir.join("not.json");
    std::fs::write(&file, "{ nope").unwrap();
    let out = policyctl(&["validate", file.to_str().unwrap(), "does/not/exist.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).lines().count(), 2);
}

#[test]
fn eval_prints_the_decision_record() {
    let out = policyctl(&[
        "eval",
        "--policy",
        "examples/policies/policy-as-code.json",
        "--message",
        "Share our internal incident response steps.",
    ]);
    assert!(out.status.success());
    let record: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(record["decision"], "refuse");
    assert_eq!(record["reason_code"], "REFUSE");
    assert_eq!(
        record["denylist_hits"],
        serde_json::json!(["internal incident"])
    );
    assert_eq!(record["rollout_mode"], "enforced");
}

#[test]
fn eval_rejects_unknown_categories_clearly() {
    let out = policyctl(&[
        "eval",
        "--policy",
        "examples/policies/policy-as-code.json",
        "--message",
        "hi",
        "--categories",
        "gore",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown moderation category \"gore\""),
        "{err}"
    );
}

#[test]
fn eval_with_a_candidate_places_users_consistently() {
    let run = |user: &str| -> Value {
        let out = policyctl(&[
            "eval",
            "--policy",
            "examples/policies/policy-as-code.json",
            "--candidate",
            "examples/policies/policy-as-code.candidate.json",
            "--message",
            "the vendor contract in the public docs",
            "--target",
            "knowledge-bot",
            "--user",
            user,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let mut modes = std::collections::BTreeSet::new();
    for i in 0..40 {
        let user = format!("user-{i}");
        let first = run(&user);
        assert_eq!(first, run(&user), "user {user} changed arms");
        let mode = first["rollout_mode"].as_str().unwrap().to_string();
        // Canary users get the candidate, which denies "vendor contract".
        match mode.as_str() {
            "canary" => assert_eq!(first["decision"], "refuse"),
            "enforced" => assert_eq!(first["decision"], "allow"),
            other => panic!("unexpected enforced rollout mode {other}"),
        }
        if first.get("shadow_decision").is_some() {
            assert_eq!(first["shadow_decision"]["decision"], "refuse");
            assert_eq!(first["shadow_decision"]["enforced"], false);
            modes.insert("shadow".to_string());
        }
        modes.insert(mode);
    }
    // 10% canary and 25% shadow over 40 users: every arm shows up.
    assert_eq!(
        modes.into_iter().collect::<Vec<_>>(),
        ["canary", "enforced", "shadow"]
    );
}

#[test]
fn redact_whole_and_chunked_agree() {
    let text = "Mail jane.doe@example.com or call (212) 555-0147 about card 4012 8888 8888 1881.\n";
    let whole = policyctl_with_stdin(&["redact"], text);
    assert!(whole.status.success());
    let whole = stdout(&whole);
    assert!(
        !whole.contains("jane.doe@example.com") && whole.contains("[REDACTED:email]"),
        "{whole}"
    );
    for size in ["1", "2", "3", "7", "64"] {
        let chunked = policyctl_with_stdin(&["redact", "--chunk-size", size], text);
        assert_eq!(stdout(&chunked), whole, "chunk size {size}");
    }
}

#[test]
fn redact_rejects_a_zero_chunk_size() {
    let out = policyctl_with_stdin(&["redact", "--chunk-size", "0"], "x");
    assert_eq!(out.status.code(), Some(2));
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "policyctl-test-{}-{}",
        std::process::id(),
        unique()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
