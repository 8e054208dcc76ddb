//! `policyctl pull POLICY_ID [--revision N]`: print a saved policy document (the stable
//! revision unless one is named), ready to edit and `apply`.
//!
//! The document is printed in canonical form (the engine's field order, defaults made
//! explicit), the same form `apply --dry-run` diffs, so pull → edit → dry-run shows exactly
//! the edit. Postgres keeps documents as JSONB, which does not keep the original key order.

use std::process::ExitCode;

use serde_json::Value;

use crate::client::{Client, Connection};

#[derive(clap::Args)]
pub struct Args {
    policy_id: String,
    /// A specific revision instead of the stable one.
    #[arg(long)]
    revision: Option<u64>,
    /// The rollout candidate instead of the stable revision (fails when none is active).
    #[arg(long, conflicts_with = "revision")]
    candidate: bool,
    #[command(flatten)]
    connection: Connection,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.connection);
    let query = [("policy_id", args.policy_id.clone())];
    let answer = match args.revision {
        Some(revision) => client.get(&format!("/config/revisions/{revision}"), &query),
        None => client.get("/config", &query),
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(failure) => return Ok(failure.report()),
    };
    let field = if args.candidate {
        "candidate_config"
    } else {
        "config"
    };
    match answer.get(field) {
        Some(Value::Null) | None => {
            eprintln!(
                "policyctl: policy {} has no active rollout candidate",
                args.policy_id
            );
            Ok(ExitCode::from(1))
        }
        Some(document) => {
            print!("{}", super::apply::canonical_document(document)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
