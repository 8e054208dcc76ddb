//! `control-plane migrate | serve` (SPEC §13).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use control_plane::config::{DatabaseArgs, ServeConfig};

#[derive(Parser)]
#[command(
    name = "control-plane",
    version,
    about = "Policy Gateway control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the database migrations (idempotent) and exit.
    Migrate(DatabaseArgs),
    /// Serve the management API (HTTP) and the data-plane sync service (gRPC).
    Serve(Box<ServeConfig>),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match control_plane::telemetry::init() {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("control-plane: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Migrate(db) => control_plane::run_migrate(&db).await,
        Command::Serve(config) => control_plane::run_serve(*config).await,
    };
    // Flushing blocks until the last spans are exported: off the async workers.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("control-plane: {error:#}");
            ExitCode::FAILURE
        }
    }
}
