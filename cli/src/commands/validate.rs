//! `policyctl validate FILE...`

use std::path::PathBuf;
use std::process::ExitCode;

use policy_engine::validate;

use crate::files::{describe, read_json};

#[derive(clap::Args)]
pub struct Args {
    /// Policy documents (JSON).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for path in &args.files {
        let origin = path.display().to_string();
        let doc = match read_json(path) {
            Ok(doc) => doc,
            Err(error) => {
                println!("{origin}: /: {error:#}");
                failed = true;
                continue;
            }
        };
        match validate(&doc) {
            Ok(policy) => eprintln!("{origin}: ok ({})", policy.policy_id),
            Err(errors) => {
                println!("{}", describe(&origin, &errors));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
