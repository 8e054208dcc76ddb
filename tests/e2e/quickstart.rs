//! `scripts/quickstart.sh` end to end (issue 7): the one-command demo runs with the
//! binaries this test run built, against a database of its own, on free ports, with a
//! fresh state directory, and shows every decision it promises — ALLOW, REWRITE, REFUSE,
//! REDACT, a 429 from the user quota — through both data planes, keeps running, and on
//! Ctrl-C stops everything it started.

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e_tests::process::{Process, free_port, read_lossy, tail};
use e2e_tests::{TestDb, bins};
use serde_json::Value;

/// A cold debug build answers slowly on two shared cores; the script itself waits at most
/// 60 s for any one process.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(240);
/// The script gives each service 15 s to stop before it kills it.
const STOP_DEADLINE: Duration = Duration::from_secs(60);
/// What the script prints once the demo is done and it waits for Ctrl-C.
const CTRL_C_PROMPT: &str = "Press Ctrl-C to stop everything";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_owned()
}

/// The directory holding control-plane, data-plane and demo-upstream.
fn bin_dir() -> PathBuf {
    let dir = bins::control_plane()
        .parent()
        .expect("the binaries' directory")
        .to_owned();
    bins::data_plane();
    assert!(
        dir.join("demo-upstream").is_file(),
        "{} is missing: run `cargo build -p demo-upstream` (with the same CARGO_TARGET_DIR \
         and profile as the tests) first",
        dir.join("demo-upstream").display()
    );
    dir
}

/// One row of `demo-results.json`.
struct Row<'a>(&'a Value);

impl Row<'_> {
    fn get(&self, field: &str) -> &Value {
        &self.0[field]
    }

    fn describe(&self) -> String {
        self.0.to_string()
    }
}

#[tokio::test]
async fn quickstart_shows_every_decision_through_both_data_planes_and_stops_cleanly_on_ctrl_c() {
    let db = TestDb::create().await;
    let work = tempfile::Builder::new()
        .prefix("policy-gateway-quickstart-test-")
        .tempdir()
        .expect("a temporary directory");
    let state = work.path().join("state");
    let log = work.path().join("quickstart.out");
    let port = |_| free_port().to_string();
    let ports: Vec<String> = (0..5).map(port).collect();

    let mut env: Vec<(String, String)> = vec![
        ("QUICKSTART_BIN_DIR".into(), bin_dir().display().to_string()),
        ("QUICKSTART_DATABASE_URL".into(), db.url.clone()),
        ("QUICKSTART_STATE_DIR".into(), state.display().to_string()),
        ("QUICKSTART_CP_HTTP_PORT".into(), ports[0].clone()),
        ("QUICKSTART_CP_GRPC_PORT".into(), ports[1].clone()),
        ("QUICKSTART_DP_A_PORT".into(), ports[2].clone()),
        ("QUICKSTART_DP_B_PORT".into(), ports[3].clone()),
        ("QUICKSTART_UPSTREAM_PORT".into(), ports[4].clone()),
    ];
    // python3 may be a pyenv shim, which finds its interpreter through these.
    for name in ["HOME", "PYENV_ROOT", "PYENV_VERSION"] {
        if let Ok(value) = std::env::var(name) {
            env.push((name.into(), value));
        }
    }
    let script = repo_root().join("scripts/quickstart.sh");
    let mut process = Process::spawn(
        "quickstart",
        Path::new("bash"),
        &[script.to_str().expect("a UTF-8 path")],
        env,
        &log,
    );
    // The demo runs, then everything keeps running until Ctrl-C, as a user sees it.
    let until = tokio::time::Instant::now() + SCRIPT_DEADLINE;
    while !read_lossy(&log).contains(CTRL_C_PROMPT) {
        if let Some(status) = process.exited() {
            panic!(
                "the quickstart exited with {status} before waiting for Ctrl-C:\n{}",
                tail(&read_lossy(&log), 60)
            );
        }
        if tokio::time::Instant::now() > until {
            // SIGTERM lets the script stop what it started.
            process.terminate(Duration::from_secs(20)).await;
            panic!(
                "the quickstart did not get to its Ctrl-C prompt within {SCRIPT_DEADLINE:?}:\n{}",
                tail(&read_lossy(&log), 60)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A terminal's Ctrl-C is SIGINT to the script (the services run in sessions of their
    // own, so only the script gets it and stops them).
    process.signal("INT");
    let until = tokio::time::Instant::now() + STOP_DEADLINE;
    let status = loop {
        if let Some(status) = process.exited() {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the quickstart did not stop within {STOP_DEADLINE:?} of Ctrl-C:\n{}",
            tail(&read_lossy(&log), 60)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // 128 + SIGINT, as a shell reports an interrupted command.
    assert_eq!(
        status.code(),
        Some(130),
        "the quickstart's exit after Ctrl-C:\n{}",
        tail(&read_lossy(&log), 60)
    );
    let output = read_lossy(&log);

    // Everything it started is gone: each process it names as stopped no longer exists.
    let stopped: Vec<&str> = output
        .lines()
        .filter(|line| line.trim_end().ends_with(") stopped"))
        .collect();
    assert_eq!(stopped.len(), 4, "four processes stopped:\n{output}");
    for line in &stopped {
        let pid = line
            .split("(pid ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("no pid in {line:?}"));
        assert!(
            !Path::new("/proc").join(pid).exists(),
            "{line:?} but the process is still there"
        );
    }

    let results = std::fs::read_to_string(state.join("demo-results.json"))
        .unwrap_or_else(|e| panic!("no demo-results.json ({e}):\n{}", tail(&output, 60)));
    let results: Value = serde_json::from_str(&results).expect("demo-results.json is JSON");
    let rows: Vec<Row> = results
        .as_array()
        .expect("an array of rows")
        .iter()
        .map(Row)
        .collect();
    assert_eq!(rows.len(), 7, "{results}");

    // Both data planes answered.
    for dp in ["dp-a", "dp-b"] {
        assert!(
            rows.iter().any(|r| r.get("data_plane") == dp),
            "no request went through {dp}: {results}"
        );
    }
    // The decisions the quickstart promises, in the printed table and the results file.
    for (number, decision, reason) in [
        (1, "allow", "ALLOW"),
        (2, "rewrite", "REWRITE"),
        (3, "refuse", "REFUSE"),
        (4, "allow", "REDACT"),
        (5, "allow", "ALLOW"),
        (6, "allow", "ALLOW"),
    ] {
        let row = &rows[number - 1];
        assert_eq!(row.get("status"), 200, "row {number}: {}", row.describe());
        assert_eq!(
            row.get("decision"),
            decision,
            "row {number}: {}",
            row.describe()
        );
        assert_eq!(
            row.get("reason_code"),
            reason,
            "row {number}: {}",
            row.describe()
        );
        let printed = output.lines().any(|line| {
            line.trim_start().starts_with(&format!("{number} "))
                && line.contains(" 200 ")
                && line.contains(decision)
                && line.contains(reason)
        });
        assert!(printed, "row {number} is not in the table:\n{output}");
    }
    assert!(
        output.contains("redacted email x1, phone x1"),
        "the redaction row names what was removed:\n{output}"
    );

    // The user quota of two requests: the third one is over it (SPEC §4).
    let over = &rows[6];
    assert_eq!(
        over.get("status"),
        429,
        "the third request of the quota demo: {}\n{output}",
        over.describe()
    );
    assert_eq!(
        over.get("error_code"),
        "user_quota.requests",
        "{}",
        over.describe()
    );
    assert!(
        output
            .lines()
            .any(|line| line.trim_start().starts_with("7 ") && line.contains(" 429 ")),
        "the 429 row is not in the table:\n{output}"
    );
    assert!(
        output.contains("All 7 answers are what the demo expects"),
        "the demo's own check:\n{output}"
    );
}
