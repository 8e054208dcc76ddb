//! `data-plane`: see the crate docs and docs/data-plane.md.

use std::process::ExitCode;

use clap::Parser;
use data_plane::config::{Args, Config};

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("data-plane: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("data-plane: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The trace exporter's connections run on the runtime: set it up inside.
    let telemetry = {
        let _inside = runtime.enter();
        data_plane::telemetry::init(config.log_format)
    };
    let telemetry = match telemetry {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("data-plane: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(data_plane::run(config, shutdown_signal()));
    // The runtime still runs here, so the last spans can be exported.
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("data-plane: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (how orchestrators stop a process) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
