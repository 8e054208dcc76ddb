//! `policyctl history [--policy-id ID] [--type TYPE] [--limit N] [--json]`: the audit
//! history, newest first, as a table or as the API's JSON.

use std::process::ExitCode;

use serde_json::Value;

use super::table::aligned;
use crate::client::{Client, Connection};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    policy_id: Option<String>,
    /// enforcement, simulation, revision, rollback or key.
    #[arg(long = "type")]
    entry_type: Option<String>,
    /// Entries to show (at most 500).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Print the entries as JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: Connection,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut query = vec![("limit", args.limit.to_string())];
    if let Some(policy_id) = &args.policy_id {
        query.push(("policy_id", policy_id.clone()));
    }
    if let Some(entry_type) = &args.entry_type {
        query.push(("type", entry_type.clone()));
    }
    let page = match Client::new(&args.connection).get("/history", &query) {
        Ok(page) => page,
        Err(failure) => return Ok(failure.report()),
    };
    let entries = page
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        print!("{}", table(&entries));
    }
    Ok(ExitCode::SUCCESS)
}

fn text<'a>(entry: &'a Value, field: &str) -> &'a str {
    entry.get(field).and_then(Value::as_str).unwrap_or("-")
}

fn number(entry: &Value, field: &str) -> String {
    entry
        .get(field)
        .filter(|v| !v.is_null())
        .map_or_else(|| "-".to_owned(), Value::to_string)
}

/// What happened, in a few words per entry type (SPEC §6).
fn summary(entry: &Value) -> String {
    match text(entry, "type") {
        "revision" => format!(
            "{} revision {} by {}",
            text(entry, "event"),
            number(entry, "revision"),
            text(entry, "author")
        ),
        "rollback" => format!(
            "{} rollback ({}) to revision {}",
            text(entry, "rollback_type"),
            text(entry, "event"),
            number(entry, "revision")
        ),
        "key" => format!(
            "key {} {} ({})",
            text(entry, "key_preview"),
            text(entry, "event"),
            text(entry, "label")
        ),
        "simulation" | "enforcement" => {
            let decision = entry.get("decision");
            let kind = decision
                .and_then(|d| d.get("decision").or(Some(d)))
                .and_then(Value::as_str)
                .unwrap_or("-");
            let code = decision
                .and_then(|d| d.get("reason_code"))
                .or_else(|| entry.get("reason_code"))
                .and_then(Value::as_str)
                .unwrap_or("-");
            format!("{kind} {code}")
        }
        other => other.to_owned(),
    }
}

fn table(entries: &[Value]) -> String {
    let rows: Vec<[String; 4]> = entries
        .iter()
        .map(|e| {
            [
                text(e, "created_at").to_owned(),
                text(e, "type").to_owned(),
                text(e, "policy_id").to_owned(),
                summary(e),
            ]
        })
        .collect();
    let header = ["CREATED_AT", "TYPE", "POLICY", "WHAT"].map(str::to_owned);
    aligned(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns_and_summarises_each_type() {
        let entries = [
            json!({ "created_at": "2026-11-22T10:00:00Z", "type": "revision", "policy_id": "support",
                    "event": "saved", "revision": 2, "author": "alice" }),
            json!({ "created_at": "2026-11-22T09:00:00Z", "type": "simulation", "policy_id": "support",
                    "decision": { "decision": "refuse", "reason_code": "REFUSE" } }),
            json!({ "created_at": "2026-11-22T08:00:00Z", "type": "key", "policy_id": null,
                    "event": "created", "key_preview": "ak_abcd…wxyz", "label": "ci" }),
        ];
        let out = table(&entries);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("CREATED_AT"));
        assert!(lines[1].ends_with("saved revision 2 by alice"));
        assert!(lines[2].ends_with("refuse REFUSE"));
        assert!(lines[3].contains(" -  "));
        assert!(lines[3].ends_with("key ak_abcd…wxyz created (ci)"));
        let type_column = lines[0].find("TYPE").unwrap();
        assert_eq!(lines[1].find("revision"), Some(type_column));
    }
}
