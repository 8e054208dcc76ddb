//! `policyctl eval --policy FILE [--candidate FILE] --message TEXT ...`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;

use crate::evaluate::{self, DEFAULT_HARD_BLOCKED, Request};
use crate::files::{compile, read_json};

#[derive(clap::Args)]
pub struct Args {
    /// The policy's stable revision.
    #[arg(long)]
    policy: PathBuf,
    /// A candidate revision under rollout; its own rollout settings decide the arm.
    #[arg(long)]
    candidate: Option<PathBuf>,
    /// The last user message.
    #[arg(long)]
    message: String,
    /// Moderation labels for the message, comma-separated.
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// Also label the message with the builtin lexicon classifier.
    #[arg(long)]
    builtin_moderation: bool,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    target: Option<String>,
    /// The project id, which stands in for a missing target.
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    request_id: Option<String>,
    /// Revision numbers, which the sampling hash depends on.
    #[arg(long, default_value_t = 1)]
    revision: u64,
    #[arg(long, default_value_t = 2)]
    candidate_revision: u64,
    #[arg(long, env = "HARD_BLOCKED_CATEGORIES", default_value = DEFAULT_HARD_BLOCKED)]
    hard_blocked: String,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let stable = Arc::new(compile(
        &read_json(&args.policy)?,
        args.revision,
        &args.policy.display().to_string(),
    )?);
    let candidate = match &args.candidate {
        Some(path) => Some(Arc::new(compile(
            &read_json(path)?,
            args.candidate_revision,
            &path.display().to_string(),
        )?)),
        None => None,
    };
    let request = Request {
        message: args.message.clone(),
        categories: args.categories.clone(),
        user: args.user.clone(),
        target: args.target.clone(),
        project: args.project.clone(),
        request_id: args.request_id.clone(),
        builtin_moderation: args.builtin_moderation,
    };
    let evaluation = evaluate::evaluate(
        stable,
        candidate,
        &request,
        evaluate::hard_blocked(&args.hard_blocked)?,
    )?;
    let mut out = serde_json::to_value(&evaluation.enforced)?;
    if let Some(shadow) = evaluation.shadow {
        out["shadow_decision"] = json!(shadow);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
