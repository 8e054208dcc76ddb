//! Closed-loop load: N connections, each sending its next request as soon as the
//! previous answer has arrived, for a fixed time. The achieved rate is the throughput;
//! latency counts from each actual send.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::client::{self, Check, Outcome};
use crate::report::Recorder;
use crate::target::Target;

/// Pause after a failed connect, so a dead target is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// Runs `connections` loops for `duration`; returns what was recorded and the time until
/// the last loop ended.
pub async fn run(
    target: Target,
    check: Check,
    connections: usize,
    duration: Duration,
    timeout: Duration,
) -> anyhow::Result<(Recorder, Duration)> {
    let start = Instant::now();
    let end = start + duration;
    let mut loops = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        let target = target.clone();
        let check = check.clone();
        loops.push(tokio::spawn(async move {
            let mut recorder = Recorder::new()?;
            let mut conn = None;
            while Instant::now() < end {
                let mut live = match conn.take() {
                    Some(live) => live,
                    None => match client::connect(target.addr).await {
                        Ok(live) => live,
                        Err(_) => {
                            recorder.record(Outcome::Failed, Duration::ZERO);
                            tokio::time::sleep(RECONNECT_PAUSE).await;
                            continue;
                        }
                    },
                };
                let sent = Instant::now();
                let outcome = client::exchange(&mut live, target.request(), &check, timeout).await;
                recorder.record(outcome, sent.elapsed());
                if matches!(outcome, Outcome::Ok | Outcome::Unexpected) {
                    conn = Some(live);
                }
            }
            anyhow::Ok(recorder)
        }));
    }
    let mut total = Recorder::new()?;
    for task in loops {
        let recorder = task.await.context("a connection loop failed")??;
        total.merge(&recorder)?;
    }
    Ok((total, start.elapsed()))
}
