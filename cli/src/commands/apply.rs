//! `policyctl apply FILE [--dry-run]`: validate locally, then save a new revision through
//! the control plane, or with `--dry-run` show the diff against the saved stable revision.

use std::path::PathBuf;
use std::process::ExitCode;

use policy_engine::{Policy, validate};
use serde_json::{Value, json};
use similar::TextDiff;

use crate::client::{Client, Connection};
use crate::files::{describe, read_json};

#[derive(clap::Args)]
pub struct Args {
    /// The policy document to apply.
    file: PathBuf,
    /// Print a unified diff of the canonical JSON against the saved stable revision
    /// instead of saving.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    connection: Connection,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let origin = args.file.display().to_string();
    let doc = read_json(&args.file)?;
    // Local validation first: the same engine, so the server would refuse the same things.
    let policy = match validate(&doc) {
        Ok(policy) => policy,
        Err(errors) => {
            eprintln!("{}", describe(&origin, &errors));
            return Ok(ExitCode::from(1));
        }
    };
    let client = Client::new(&args.connection);
    if args.dry_run {
        return dry_run(&client, &origin, &policy);
    }
    match client.post("/config", &json!({ "config": doc })) {
        Ok(state) => {
            println!("{}", summary(&state));
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => Ok(failure.report()),
    }
}

fn dry_run(client: &Client, origin: &str, local: &Policy) -> anyhow::Result<ExitCode> {
    let saved = match client.get("/config", &[("policy_id", local.policy_id.clone())]) {
        Ok(state) => state,
        Err(failure) if failure.status() == Some(404) => {
            println!(
                "policy {} is new: applying would save it as revision 1",
                local.policy_id
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(failure) => return Ok(failure.report()),
    };
    let stable = saved
        .get("stable_revision")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let remote = canonical_document(saved.get("config").unwrap_or(&Value::Null))?;
    let mine = canonical(local)?;
    if remote == mine {
        println!(
            "no changes against the stable revision {stable} of {}",
            local.policy_id
        );
    } else {
        let diff = TextDiff::from_lines(&remote, &mine);
        let header_old = format!("{} (stable revision {stable})", local.policy_id);
        print!(
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(&header_old, origin)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The canonical form of a document: validated, every default made explicit, pretty
/// printed, so formatting and omitted defaults never show up as changes.
pub fn canonical(policy: &Policy) -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(policy)?))
}

pub fn canonical_document(doc: &Value) -> anyhow::Result<String> {
    match validate(doc) {
        Ok(policy) => canonical(&policy),
        // A saved document the local engine rejects (an older or newer policyctl): diff
        // it as it is rather than refuse to show anything.
        Err(_) => Ok(format!("{}\n", serde_json::to_string_pretty(doc)?)),
    }
}

/// One line about a saved policy state.
fn summary(state: &Value) -> String {
    let field = |name: &str| state.get(name).cloned().unwrap_or(Value::Null);
    let candidate = match field("candidate_revision") {
        Value::Null => "none".to_owned(),
        other => other.to_string(),
    };
    let rollout = state
        .pointer("/rollout/state")
        .and_then(Value::as_str)
        .unwrap_or("none");
    format!(
        "saved {} revision {}: stable {}, candidate {candidate}, rollout {rollout}",
        field("policy_id").as_str().unwrap_or("?"),
        field("revision"),
        field("stable_revision"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Failure;

    #[test]
    fn canonical_form_ignores_formatting_and_defaults() {
        let terse = json!({ "policy_id": "p", "name": "P" });
        let explicit = json!({ "name": "P", "policy_id": "p", "rules": { "redact": false } });
        let a = canonical(&validate(&terse).unwrap()).unwrap();
        let b = canonical(&validate(&explicit).unwrap()).unwrap();
        assert_eq!(a, b);
        assert!(a.ends_with('\n'));
    }

    #[test]
    fn summary_names_the_pointers() {
        let state = json!({ "policy_id": "p", "revision": 3, "stable_revision": 2,
            "candidate_revision": 3, "rollout": { "state": "canary" } });
        assert_eq!(
            summary(&state),
            "saved p revision 3: stable 2, candidate 3, rollout canary"
        );
    }

    #[test]
    fn failures_are_one_line() {
        let failure = Failure::Api {
            status: 404,
            message: "policy \"p\" not found".into(),
            details: vec![],
        };
        assert_eq!(
            failure.to_string(),
            "the control plane answered 404: policy \"p\" not found"
        );
    }
}
