//! Audit entries and usage records: from the request path to the control plane without
//! loss (SPEC §6, §8).
//!
//! The request path only hands a record to a bounded in-memory queue ([`Reporter`]); it
//! never waits for disk or network. Per kind, a writer task drains the queue into the
//! on-disk [`spool::Spool`] and fsyncs it every `DP_SPOOL_FSYNC_MS`; a sender task streams
//! durable records in batches over `ReportAudit` / `ReportUsage` and acknowledges them in
//! the spool as the control plane confirms them. On shutdown the queue is closed, drained
//! and synced, so every record accepted before a clean stop is on disk and is sent after
//! the next start if it was not acknowledged before.

mod sender;
pub mod spool;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use policy_proto::v1 as pb;
use prost::Message;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;

pub use sender::{Report, run_sender};
use spool::Spool;

use crate::metrics::{Metrics, SpoolKind};

/// Records that may wait in memory for the writer; beyond this the request path drops
/// (and counts) rather than blocks.
const QUEUE: usize = 65_536;

/// The request path's handle: non-blocking, never fails the request.
#[derive(Debug, Clone)]
pub struct Reporter {
    audit: mpsc::Sender<pb::AuditEntry>,
    usage: mpsc::Sender<pb::UsageRecord>,
    metrics: Arc<Metrics>,
}

impl Reporter {
    pub fn audit(&self, entry: pb::AuditEntry) {
        if self.audit.try_send(entry).is_err() {
            self.metrics.spool_dropped(SpoolKind::Audit, 1);
            warn!("audit queue full or closed: entry dropped");
        }
    }

    pub fn usage(&self, record: pb::UsageRecord) {
        if self.usage.try_send(record).is_err() {
            self.metrics.spool_dropped(SpoolKind::Usage, 1);
            warn!("usage queue full or closed: record dropped");
        }
    }
}

/// A spool shared by its writer and its sender (never by the request path).
pub type SharedSpool = Arc<Mutex<Spool>>;

/// Runs `f` on the spool on a blocking thread.
pub async fn with_spool<R: Send + 'static>(
    spool: &SharedSpool,
    f: impl FnOnce(&mut Spool) -> R + Send + 'static,
) -> Option<R> {
    let spool = spool.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = spool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    })
    .await
    .ok()
}

/// One kind's spool with its wake-up signal for the sender.
#[derive(Debug, Clone)]
pub struct SpoolHandle {
    pub spool: SharedSpool,
    pub notify: Arc<Notify>,
    pub kind: SpoolKind,
}

/// The writer tasks; they end after the shutdown signal, once everything queued is synced.
pub struct Writers {
    pub audit: JoinHandle<()>,
    pub usage: JoinHandle<()>,
}

/// Opens both spools under `state_dir/spool` and starts their writers.
pub fn start(
    state_dir: &Path,
    max_bytes: u64,
    fsync_interval: Duration,
    metrics: Arc<Metrics>,
    shutdown: &watch::Receiver<bool>,
) -> std::io::Result<(Reporter, Writers, SpoolHandle, SpoolHandle)> {
    let audit_spool = open(state_dir, SpoolKind::Audit, max_bytes)?;
    let usage_spool = open(state_dir, SpoolKind::Usage, max_bytes)?;
    let (audit_tx, audit_rx) = mpsc::channel(QUEUE);
    let (usage_tx, usage_rx) = mpsc::channel(QUEUE);
    let writers = Writers {
        audit: tokio::spawn(write_loop(
            audit_rx,
            audit_spool.clone(),
            fsync_interval,
            metrics.clone(),
            shutdown.clone(),
        )),
        usage: tokio::spawn(write_loop(
            usage_rx,
            usage_spool.clone(),
            fsync_interval,
            metrics.clone(),
            shutdown.clone(),
        )),
    };
    let reporter = Reporter {
        audit: audit_tx,
        usage: usage_tx,
        metrics,
    };
    Ok((reporter, writers, audit_spool, usage_spool))
}

fn open(state_dir: &Path, kind: SpoolKind, max_bytes: u64) -> std::io::Result<SpoolHandle> {
    let dir = state_dir.join("spool").join(kind.name());
    let spool = Spool::open(&dir, max_bytes)?;
    Ok(SpoolHandle {
        spool: Arc::new(Mutex::new(spool)),
        notify: Arc::new(Notify::new()),
        kind,
    })
}

/// Drains the queue into the spool and syncs it every `interval`. Once `shutdown` turns
/// true the queue is closed to new records, and what it holds is written and synced
/// before the task ends.
async fn write_loop<M: Message + Send + 'static>(
    mut rx: mpsc::Receiver<M>,
    handle: SpoolHandle,
    interval: Duration,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::new();
    let mut closing = false;
    loop {
        let received = tokio::select! {
            received = rx.recv_many(&mut batch, 4096) => received,
            _ = shutdown.wait_for(|stop| *stop), if !closing => {
                rx.close();
                closing = true;
                continue;
            }
        };
        let closed = received == 0;
        if !closed && !closing {
            // Give the batch until the next tick to fill, so one fsync covers many records.
            ticker.tick().await;
        }
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 16_384 {
                break;
            }
        }
        let payloads: Vec<Vec<u8>> = batch.drain(..).map(|m| m.encode_to_vec()).collect();
        let kind = handle.kind;
        let outcome = with_spool(&handle.spool, move |spool| {
            for payload in &payloads {
                spool.append(payload)?;
            }
            let fresh = spool.sync()?;
            Ok::<_, std::io::Error>((fresh, spool.depth(), spool.take_dropped()))
        })
        .await;
        match outcome {
            Some(Ok((fresh, depth, dropped))) => {
                metrics.spool_depth(kind, depth);
                if dropped > 0 {
                    metrics.spool_dropped(kind, dropped);
                }
                if fresh {
                    handle.notify.notify_one();
                }
            }
            Some(Err(error)) => warn!(spool = kind.name(), %error, "spool write failed"),
            None => warn!(spool = kind.name(), "spool write task failed"),
        }
        if closed {
            return;
        }
    }
}
