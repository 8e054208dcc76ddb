//! `fake-upstream`: a minimal OpenAI-compatible server for the load benchmark (see
//! `bench::upstream`). Prints `listening on ADDR` once bound; stops by itself after
//! `--max-secs`, or on Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bench::upstream::{Answers, serve};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "fake-upstream", about = "Fast fake OpenAI-compatible upstream")]
struct Args {
    /// Listen address (loopback only); port 0 picks a free one.
    #[arg(long, env = "FAKE_UPSTREAM_ADDR", default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 3600)]
    max_secs: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        bail!("--addr must be a loopback address");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        println!("listening on {}", listener.local_addr()?);
        tokio::select! {
            result = serve(listener, Answers::new()) => result,
            _ = tokio::time::sleep(Duration::from_secs(args.max_secs)) => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
