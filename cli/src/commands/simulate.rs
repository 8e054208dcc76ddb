//! `policyctl simulate`: ask the control plane how a saved policy (or a local, unsaved
//! file) decides a message, with the same flags as `eval`. The message is sent for
//! matching only; the control plane never stores it.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Map, Value, json};

use crate::client::{Client, Connection};
use crate::files::read_json;

#[derive(clap::Args)]
pub struct Args {
    /// A saved policy (its stable revision, plus the candidate during a rollout).
    #[arg(long, required_unless_present = "policy", conflicts_with = "policy")]
    policy_id: Option<String>,
    /// An unsaved policy document instead of a saved policy.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// A saved revision to decide with, instead of the stable one.
    #[arg(long, requires = "policy_id")]
    revision: Option<u64>,
    /// The last user message.
    #[arg(long, default_value = "")]
    message: String,
    /// Moderation labels for the message, comma-separated.
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    target: Option<String>,
    /// The project id, which stands in for a missing target.
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    request_id: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let body = request_body(args)?;
    match Client::new(&args.connection).post("/simulate", &body) {
        Ok(answer) => {
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => Ok(failure.report()),
    }
}

fn request_body(args: &Args) -> anyhow::Result<Value> {
    let categories: Vec<&str> = args
        .categories
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect();
    let mut body = json!({ "message": args.message, "categories": categories });
    match (&args.policy_id, &args.policy) {
        (Some(policy_id), _) => body["policy_id"] = json!(policy_id),
        (None, Some(path)) => body["config"] = read_json(path)?,
        (None, None) => {}
    }
    if let Some(revision) = args.revision {
        body["revision"] = json!(revision);
    }
    let mut metadata = Map::new();
    for (key, value) in [
        ("policy_user", &args.user),
        ("policy_target", &args.target),
        ("policy_project_id", &args.project),
        ("request_id", &args.request_id),
    ] {
        if let Some(value) = value {
            metadata.insert(key.to_owned(), json!(value));
        }
    }
    if !metadata.is_empty() {
        body["metadata"] = Value::Object(metadata);
    }
    Ok(body)
}
