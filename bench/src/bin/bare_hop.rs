//! `bare-hop`: a bare HTTP/1.1 pass-through proxy to a loopback upstream, the reference
//! hop of the benchmark (see `bench::bare_hop`). Prints `listening on ADDR` once bound;
//! stops by itself after `--max-secs`, or on Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bench::bare_hop::{Upstream, serve};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "bare-hop",
    about = "Bare HTTP/1.1 pass-through proxy (benchmark reference)"
)]
struct Args {
    /// Listen address (loopback only); port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The upstream, e.g. http://127.0.0.1:9000.
    #[arg(long)]
    upstream: String,
    /// Runtime worker threads (default: one per core, like the data plane).
    #[arg(long)]
    threads: Option<usize>,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 3600)]
    max_secs: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        bail!("--addr must be a loopback address");
    }
    let upstream = Upstream::parse(&args.upstream)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        println!("listening on {}", listener.local_addr()?);
        tokio::select! {
            result = serve(listener, upstream) => result,
            _ = tokio::time::sleep(Duration::from_secs(args.max_secs)) => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
