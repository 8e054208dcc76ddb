//! `policyctl rollout status|promote|abort POLICY_ID` (SPEC §7, §9): a policy's staged
//! rollout seen and ended from the command line, with the same `--url`/`--token` as the
//! other online commands.
//!
//! `status` reads `GET /rollout/status`: the stable and candidate revisions, the state
//! (`none`, `shadow`, `canary`, `cooldown`), when it started or until when it cools down,
//! and the candidate's decisions over the current rollback window next to the threshold
//! the control plane's watcher compares them with. `promote` and `abort` call
//! `POST /rollout/promote` and `/rollout/abort` (409 when there is no candidate).

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::client::{Client, Connection};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Stable and candidate revisions, rollout state, and the candidate's decisions in
    /// the current rollback window.
    Status(StatusArgs),
    /// Make the candidate the stable revision.
    Promote(EndArgs),
    /// Drop the candidate; the stable revision stays.
    Abort(EndArgs),
}

#[derive(clap::Args)]
struct StatusArgs {
    policy_id: String,
    /// Print the API's JSON instead of the summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: Connection,
}

#[derive(clap::Args)]
struct EndArgs {
    policy_id: String,
    #[command(flatten)]
    connection: Connection,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.action {
        Action::Status(args) => status(args),
        Action::Promote(args) => end(args, "promote", "promoted"),
        Action::Abort(args) => end(args, "abort", "aborted"),
    }
}

fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let query = [("policy_id", args.policy_id.clone())];
    let status = match Client::new(&args.connection).get("/rollout/status", &query) {
        Ok(status) => status,
        Err(failure) => return Ok(failure.report()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render(&status));
    }
    Ok(ExitCode::SUCCESS)
}

fn end(args: &EndArgs, path: &str, done: &str) -> anyhow::Result<ExitCode> {
    let body = json!({ "policy_id": args.policy_id });
    match Client::new(&args.connection).post(&format!("/rollout/{path}"), &body) {
        Ok(state) => {
            println!("{done} {}", pointers(&state));
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => Ok(failure.report()),
    }
}

/// `POLICY: stable N, candidate M|none, rollout STATE`.
fn pointers(state: &Value) -> String {
    format!(
        "{}: stable {}, candidate {}, rollout {}",
        text(state, "/policy_id"),
        revision(state, "/stable_revision"),
        revision(state, "/candidate_revision"),
        text(state, "/rollout/state"),
    )
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("-")
}

fn revision(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_i64)
        .map_or_else(|| "none".to_owned(), |n| n.to_string())
}

fn number(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |share| format!("{:.1}%", share * 100.0))
}

/// The status as aligned `label  value` lines.
fn render(status: &Value) -> String {
    let state = text(status, "/rollout/state");
    let state_line = match state {
        "shadow" | "canary" => format!("{state} since {}", text(status, "/rollout/started_at")),
        "cooldown" => format!(
            "cooldown until {} (no new rollout; a save waits as the candidate)",
            text(status, "/rollout/cooldown_until")
        ),
        other => other.to_owned(),
    };
    let mut lines = vec![
        ("policy", text(status, "/policy_id").to_owned()),
        ("stable", revision(status, "/stable_revision")),
        ("candidate", revision(status, "/candidate_revision")),
        ("state", state_line),
    ];
    if let Some(rollback) = status.get("rollback").filter(|r| !r.is_null()) {
        lines.push(("rollback", rule(rollback)));
    }
    if let Some(window) = status.get("window").filter(|w| !w.is_null()) {
        lines.push(("window", window_line(window)));
    }
    lines
        .into_iter()
        .map(|(label, value)| format!("{label:<10} {value}\n"))
        .collect()
}

/// What the watcher does with the candidate's decisions.
fn rule(rollback: &Value) -> String {
    if rollback.get("on_spike").and_then(Value::as_bool) != Some(true) {
        return "off (rollback_on_spike is false)".to_owned();
    }
    let watched: Vec<&str> = rollback
        .get("watched")
        .and_then(Value::as_array)
        .map(|kinds| kinds.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "when more than {} of at least {} decisions in {} min are {}; then {} min cooldown",
        percent(rollback.get("threshold").and_then(Value::as_f64)),
        number(rollback, "/min_requests"),
        number(rollback, "/window_minutes"),
        watched.join("/"),
        number(rollback, "/cooldown_minutes"),
    )
}

/// The candidate's decisions since the window's start, watched share, and each decision.
fn window_line(window: &Value) -> String {
    let decisions: Vec<String> = window
        .get("decisions")
        .and_then(Value::as_object)
        .map(|counts| {
            counts
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect()
        })
        .unwrap_or_default();
    let mut line = format!(
        "{} candidate decisions since {}, {} watched ({})",
        number(window, "/candidate_decisions"),
        text(window, "/from"),
        number(window, "/watched_decisions"),
        percent(window.get("share").and_then(Value::as_f64)),
    );
    if !decisions.is_empty() {
        line.push_str(&format!(": {}", decisions.join(", ")));
    }
    if window.get("spike").and_then(Value::as_bool) == Some(true) {
        line.push_str(" — over the threshold: the control plane is rolling it back");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_for_a_canary() {
        let status = json!({
            "policy_id": "support", "stable_revision": 3, "candidate_revision": 4,
            "rollout": {"state": "canary", "started_at": "2026-11-22T10:00:00Z", "cooldown_until": null},
            "rollback": {"on_spike": true, "threshold": 0.25, "min_requests": 20,
                         "window_minutes": 15, "cooldown_minutes": 30, "watched": ["refuse", "escalate"]},
            "window": {"from": "2026-11-22T10:05:00Z", "to": "2026-11-22T10:20:00Z",
                       "decisions": {"allow": 9, "refuse": 3}, "candidate_decisions": 12,
                       "watched_decisions": 3, "share": 0.25, "spike": false}
        });
        assert_eq!(
            render(&status),
            "policy     support\n\
             stable     3\n\
             candidate  4\n\
             state      canary since 2026-11-22T10:00:00Z\n\
             rollback   when more than 25.0% of at least 20 decisions in 15 min are refuse/escalate; then 30 min cooldown\n\
             window     12 candidate decisions since 2026-11-22T10:05:00Z, 3 watched (25.0%): allow 9, refuse 3\n"
        );
    }

    #[test]
    fn status_lines_for_a_cooldown_and_for_no_rollout() {
        let cooling = json!({
            "policy_id": "support", "stable_revision": 3, "candidate_revision": null,
            "rollout": {"state": "cooldown", "started_at": null, "cooldown_until": "2026-11-22T10:50:00Z"},
            "rollback": null, "window": null
        });
        let out = render(&cooling);
        assert!(out.contains("candidate  none\n"), "{out}");
        assert!(
            out.contains("state      cooldown until 2026-11-22T10:50:00Z"),
            "{out}"
        );
        assert!(!out.contains("window"), "{out}");

        let spiking = json!({"candidate_decisions": 30, "watched_decisions": 30, "share": 1.0,
                             "from": "x", "decisions": {"refuse": 30}, "spike": true});
        assert!(window_line(&spiking).ends_with("rolling it back"));
        assert_eq!(
            rule(&json!({"on_spike": false})),
            "off (rollback_on_spike is false)"
        );
    }

    #[test]
    fn promote_and_abort_print_the_new_pointers() {
        let state = json!({"policy_id": "support", "stable_revision": 4, "candidate_revision": null,
                           "rollout": {"state": "none"}});
        assert_eq!(
            pointers(&state),
            "support: stable 4, candidate none, rollout none"
        );
    }
}
