//! `loadgen`: HTTP/1.1 keep-alive load against a loopback target, one JSON line out.
//!
//! ```text
//! loadgen fixed    --url URL --rate 1000 --duration-secs 15 [--header 'K: V'] [--body-file F]
//! loadgen saturate --url URL --connections 32 --duration-secs 15 ...
//! ```
//!
//! Every run stops by itself after its duration (plus at most the request timeout).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bench::client::Check;
use bench::fixed::{self, Plan};
use bench::saturate;
use bench::target::Target;
use bytes::Bytes;
use clap::{Args as ClapArgs, Parser, Subcommand};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Fixed-rate and saturation HTTP load for the benchmark"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Open loop: requests due at a fixed rate; latency from each due time.
    Fixed {
        #[command(flatten)]
        common: Common,
        /// Requests per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Most connections open at once.
        #[arg(long, default_value_t = 256)]
        max_connections: usize,
    },
    /// Closed loop: N connections sending back to back; throughput and latency.
    Saturate {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 32)]
        connections: usize,
    },
}

#[derive(Debug, ClapArgs)]
struct Common {
    /// Target URL: http:// on a loopback address only.
    #[arg(long)]
    url: String,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Request body (makes the request a POST).
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// File with the request body (makes the request a POST).
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// How long to send, in seconds (at most one hour).
    #[arg(long, default_value_t = 10.0)]
    duration_secs: f64,
    /// Per-request timeout in milliseconds; a late answer counts as an error.
    #[arg(long, default_value_t = 5_000)]
    timeout_ms: u64,
    /// Status every answer must have.
    #[arg(long, default_value_t = 200)]
    expect_status: u16,
    /// Header every answer must carry, `name=value` (e.g. `x-policy-decision=allow`).
    #[arg(long)]
    expect_header: Option<String>,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Free text copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
}

impl Common {
    fn target(&self) -> anyhow::Result<Target> {
        let body = match (&self.body, &self.body_file) {
            (Some(body), _) => Some(Bytes::from(body.clone())),
            (None, Some(path)) => {
                Some(Bytes::from(std::fs::read(path).with_context(|| {
                    format!("cannot read {}", path.display())
                })?))
            }
            (None, None) => None,
        };
        Target::new(&self.url, &self.headers, body)
    }

    fn duration(&self) -> anyhow::Result<Duration> {
        if !(self.duration_secs > 0.0 && self.duration_secs <= 3600.0) {
            bail!("--duration-secs must be in (0, 3600]");
        }
        Ok(Duration::from_secs_f64(self.duration_secs))
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let common = match &cli.mode {
        Mode::Fixed { common, .. } | Mode::Saturate { common, .. } => common,
    };
    let target = common.target()?;
    let check = Check::new(common.expect_status, common.expect_header.as_deref())?;
    let duration = common.duration()?;
    let timeout = Duration::from_millis(common.timeout_ms.max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(common.threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let line = runtime.block_on(async {
        match &cli.mode {
            Mode::Fixed {
                rate,
                max_connections,
                ..
            } => {
                let plan = Plan {
                    rate: *rate,
                    duration,
                    timeout,
                    max_connections: *max_connections,
                };
                let (recorder, elapsed) = fixed::run(target, check, &plan).await?;
                let mut line = json!({
                    "label": common.label,
                    "mode": "fixed",
                    "url": common.url,
                    "target_rps": rate,
                    "duration_s": common.duration_secs,
                });
                extend(&mut line, recorder.json(elapsed));
                anyhow::Ok(line)
            }
            Mode::Saturate { connections, .. } => {
                let (recorder, elapsed) =
                    saturate::run(target, check, *connections, duration, timeout).await?;
                let mut line = json!({
                    "label": common.label,
                    "mode": "saturate",
                    "url": common.url,
                    "connections": connections,
                    "duration_s": common.duration_secs,
                });
                extend(&mut line, recorder.json(elapsed));
                anyhow::Ok(line)
            }
        }
    })?;
    println!("{line}");
    Ok(())
}

fn extend(line: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(line), serde_json::Value::Object(more)) = (line.as_object_mut(), more) {
        line.extend(more);
    }
}
