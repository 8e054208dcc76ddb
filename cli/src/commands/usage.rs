//! `policyctl usage --project P [--policy P] [--subject S] [--window W] [--json]`: a
//! project's quotas (SPEC §4, docs/quotas.md) — per bucket and metric the limit, used,
//! leased, remaining and reset time — as a table or as the API's JSON.

use std::process::ExitCode;

use serde_json::Value;

use super::table::aligned;
use crate::client::{Client, Connection};

#[derive(clap::Args)]
pub struct Args {
    /// The project id.
    #[arg(long)]
    project: String,
    /// Show this policy's project and user quotas instead of the project's own policy's.
    #[arg(long)]
    policy: Option<String>,
    /// Show the user quota of this subject only.
    #[arg(long)]
    subject: Option<String>,
    /// Window of the project's recorded totals: daily, weekly or monthly (default).
    #[arg(long)]
    window: Option<String>,
    /// Print the API's JSON answer instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: Connection,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut query = vec![("project_id", args.project.clone())];
    for (name, value) in [
        ("policy_id", &args.policy),
        ("subject", &args.subject),
        ("window", &args.window),
    ] {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    let usage = match Client::new(&args.connection).get("/usage", &query) {
        Ok(usage) => usage,
        Err(failure) => return Ok(failure.report()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&usage)?);
    } else {
        print!("{}", render(&usage));
    }
    Ok(ExitCode::SUCCESS)
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("-")
}

/// A count, or `unlimited` for a null limit or remaining.
fn count(metric: &Value, field: &str) -> String {
    match metric.get(field) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Null) => "unlimited".to_owned(),
        _ => "-".to_owned(),
    }
}

/// A summary line, then one table row per quota and metric.
fn render(usage: &Value) -> String {
    let mut out = format!(
        "project {}: {} requests, {} tokens recorded this {} window (from {})\n",
        text(usage, "project_id"),
        count(usage, "requests"),
        count(usage, "tokens"),
        text(usage, "window"),
        text(usage, "window_start"),
    );
    let mut rows = Vec::new();
    for quota in usage
        .get("quotas")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for metric in ["requests", "tokens"] {
            let figures = quota.get(metric).unwrap_or(&Value::Null);
            rows.push([
                text(quota, "source").to_owned(),
                text(quota, "policy_id").to_owned(),
                text(quota, "subject").to_owned(),
                text(quota, "window").to_owned(),
                metric.to_owned(),
                count(figures, "limit"),
                count(figures, "used"),
                count(figures, "leased"),
                count(figures, "remaining"),
                text(quota, "resets_at").to_owned(),
            ]);
        }
    }
    let header = [
        "QUOTA",
        "POLICY",
        "SUBJECT",
        "WINDOW",
        "METRIC",
        "LIMIT",
        "USED",
        "LEASED",
        "REMAINING",
        "RESETS_AT",
    ]
    .map(str::to_owned);
    out.push_str(&aligned(&header, &rows));
    if usage.get("users_truncated") == Some(&Value::Bool(true)) {
        out.push_str("(more user subjects than shown; narrow with --subject)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_row_per_quota_and_metric_with_unlimited_spelled_out() {
        let usage = json!({
            "project_id": "bot", "window": "monthly", "window_start": "2026-11-01T00:00:00Z",
            "requests": 12, "tokens": 3400, "users_truncated": true,
            "quotas": [
                { "source": "project", "subject": "bot", "window": "monthly",
                  "resets_at": "2026-12-01T00:00:00Z",
                  "requests": { "limit": 10, "used": 12, "leased": 0, "remaining": 0 },
                  "tokens": { "limit": null, "used": 3400, "leased": 0, "remaining": null } },
                { "source": "user", "policy_id": "support", "subject": "alice", "window": "daily",
                  "resets_at": "2026-11-23T00:00:00Z",
                  "requests": { "limit": 20, "used": 4, "leased": 8, "remaining": 16 },
                  "tokens": { "limit": 900, "used": 0, "leased": 0, "remaining": 900 } }
            ]
        });
        let out = render(&usage);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "project bot: 12 requests, 3400 tokens recorded this monthly window (from 2026-11-01T00:00:00Z)"
        );
        assert!(lines[1].starts_with("QUOTA    POLICY   SUBJECT"));
        assert_eq!(lines.len(), 7);
        let words = |line: &str| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            words(lines[3]),
            [
                "project",
                "-",
                "bot",
                "monthly",
                "tokens",
                "unlimited",
                "3400",
                "0",
                "unlimited",
                "2026-12-01T00:00:00Z"
            ]
        );
        assert_eq!(
            words(lines[4]),
            [
                "user",
                "support",
                "alice",
                "daily",
                "requests",
                "20",
                "4",
                "8",
                "16",
                "2026-11-23T00:00:00Z"
            ]
        );
        assert!(lines[6].contains("--subject"));
        // Columns line up under their headers.
        let used = lines[1].find("USED").unwrap();
        assert_eq!(&lines[4][used..used + 1], "4");
    }
}
