//! `policyctl`: the policy engine on the command line (SPEC §13).
//!
//! Offline commands need no gateway: `validate`, `eval`, `redact` and `test` run the same
//! engine the data planes enforce with, so a policy repo's CI can prove a change before it
//! is applied. Online commands (`apply`, `pull`, `simulate`, `history`, `rollout`, `usage`)
//! talk to the control plane's management API (`--url`, `--token`).

mod client;
mod commands;
mod evaluate;
mod files;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "policyctl",
    version,
    about = "Validate, test and evaluate Policy Gateway policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check policy documents; prints `FILE: POINTER: MESSAGE` for every problem.
    Validate(commands::validate::Args),
    /// Decide one message under a policy (and optionally a rollout candidate).
    Eval(commands::eval::Args),
    /// Redact stdin to stdout, optionally through the streaming redactor.
    Redact(commands::redact::Args),
    /// Run policy test files: a policy plus cases with expected decisions.
    Test(commands::test::Args),
    /// Validate a policy file locally, then save it as a new revision on the control plane.
    Apply(commands::apply::Args),
    /// Print a saved policy document (the stable revision by default).
    Pull(commands::pull::Args),
    /// Decide a message with a saved (or unsaved) policy on the control plane.
    Simulate(commands::simulate::Args),
    /// Show the audit history, newest first.
    History(commands::history::Args),
    /// See, promote or abort a policy's staged rollout.
    Rollout(commands::rollout::Args),
    /// Show a project's quotas: limit, used, leased and remaining per bucket.
    Usage(commands::usage::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(&args),
        Command::Eval(args) => commands::eval::run(&args),
        Command::Redact(args) => commands::redact::run(&args),
        Command::Test(args) => commands::test::run(&args),
        Command::Apply(args) => commands::apply::run(&args),
        Command::Pull(args) => commands::pull::run(&args),
        Command::Simulate(args) => commands::simulate::run(&args),
        Command::History(args) => commands::history::run(&args),
        Command::Rollout(args) => commands::rollout::run(&args),
        Command::Usage(args) => commands::usage::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("policyctl: {error:#}");
            ExitCode::from(2)
        }
    }
}
