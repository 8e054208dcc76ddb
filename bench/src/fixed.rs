//! Open-loop load at a fixed rate.
//!
//! Request `i` is due at `start + i / rate`, whatever happened to the earlier ones. A
//! dedicated thread sleeps until each due time and hands the request to the runtime,
//! which sends it on an idle keep-alive connection (opening one if none is idle, up to a
//! cap). Latency counts from the due time, not from the actual send, so a server that
//! stalls is charged for the requests that queued behind the stall instead of the load
//! generator quietly slowing down (coordinated omission). The actual send time is kept
//! too: `service_ms` is the server's share and `send_lag_ms` how late requests left.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::sync::Semaphore;

use crate::client::{self, Check, Conn, Outcome};
use crate::report::{Recorder, nanos};
use crate::target::Target;

/// What a fixed-rate run needs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub rate: f64,
    pub duration: Duration,
    pub timeout: Duration,
    /// Most connections open at once; a request due while all are busy waits (and its
    /// wait counts in its latency).
    pub max_connections: usize,
}

struct Shared {
    target: Target,
    check: Check,
    timeout: Duration,
    idle: Mutex<Vec<Conn>>,
    slots: Semaphore,
    recorder: Mutex<Recorder>,
}

/// Runs the plan; returns what was recorded and the time from the first due time to the
/// last answer.
pub async fn run(
    target: Target,
    check: Check,
    plan: &Plan,
) -> anyhow::Result<(Recorder, Duration)> {
    if !(plan.rate.is_finite() && plan.rate > 0.0) {
        bail!("the rate must be a positive number of requests per second");
    }
    let count = (plan.rate * plan.duration.as_secs_f64()).round() as u64;
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let shared = Arc::new(Shared {
        target,
        check,
        timeout: plan.timeout,
        idle: Mutex::new(Vec::new()),
        slots: Semaphore::new(plan.max_connections.max(1)),
        recorder: Mutex::new(Recorder::new()?),
    });
    let runtime = tokio::runtime::Handle::current();
    let start = Instant::now() + Duration::from_millis(20);
    let scheduler = {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut tasks = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
            for i in 0..count {
                let due = start + period.mul_f64(i as f64);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                tasks.push(runtime.spawn(one(shared.clone(), due)));
            }
            tasks
        })
    };
    for task in scheduler.await.context("the scheduler thread failed")? {
        task.await.context("a request task failed")?;
    }
    let elapsed = start.elapsed();
    let recorder = shared
        .recorder
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Ok((recorder, elapsed))
}

/// Sends the request due at `due` and records it.
async fn one(shared: Arc<Shared>, due: Instant) {
    let Ok(_slot) = shared.slots.acquire().await else {
        return;
    };
    let idle = shared
        .idle
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop();
    let conn = match idle {
        Some(conn) => Ok(conn),
        None => client::connect(shared.target.addr).await,
    };
    let sent = Instant::now();
    let outcome = match conn {
        Ok(mut conn) => {
            let outcome = client::exchange(
                &mut conn,
                shared.target.request(),
                &shared.check,
                shared.timeout,
            )
            .await;
            if matches!(outcome, Outcome::Ok | Outcome::Unexpected) {
                shared
                    .idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(conn);
            }
            outcome
        }
        Err(_) => Outcome::Failed,
    };
    let done = Instant::now();
    let mut recorder = shared
        .recorder
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    recorder.record(outcome, done - due);
    if outcome == Outcome::Ok {
        recorder.service.saturating_record(nanos(done - sent));
        recorder
            .lag
            .saturating_record(nanos(sent.saturating_duration_since(due)));
    }
}
