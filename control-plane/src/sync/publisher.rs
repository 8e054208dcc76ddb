//! Publishes the newest snapshot to every Subscribe stream of this replica.
//!
//! One task rebuilds when the config listener wakes it, and every [`RESYNC_INTERVAL`]
//! compares `config_state.version` with what it published, as a safety net for lost
//! notifications (LESSONS "Control plane ↔ data plane"). Wake-ups that arrive during a
//! build collapse into one rebuild: the latest version wins. When Postgres is down the
//! last snapshot stays published and connected data planes keep their streams (SPEC §7).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::sync::backoff::Backoff;
use crate::sync::listener;
use crate::sync::snapshot::{self, Published};

/// The latest snapshot; `None` until the first build succeeds.
pub type Latest = Option<Arc<Published>>;

/// How often the published version is checked against Postgres without a notification.
pub const RESYNC_INTERVAL: Duration = Duration::from_secs(5);
const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The running publisher and its listener.
pub struct Publisher {
    latest: watch::Receiver<Latest>,
    tasks: [JoinHandle<()>; 2],
}

impl Publisher {
    /// A receiver of every newly published snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Latest> {
        self.latest.clone()
    }

    /// Waits for both tasks, which end once shutdown is signalled.
    pub async fn stop(self) {
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "snapshot publisher task failed");
            }
        }
    }
}

/// Starts the listener and the publisher; both stop when `shutdown` turns true or its
/// sender is dropped.
pub fn spawn(
    pool: PgPool,
    hard_blocked: policy_engine::CategorySet,
    shutdown: watch::Receiver<bool>,
) -> Publisher {
    let (latest_tx, latest) = watch::channel(None);
    let (wake_tx, wake_rx) = watch::channel(0u64);
    let options = (*pool.connect_options()).clone();
    let listener = tokio::spawn(listener::run(options, wake_tx, shutdown.clone()));
    let publisher = tokio::spawn(run(pool, hard_blocked, latest_tx, wake_rx, shutdown));
    Publisher {
        latest,
        tasks: [listener, publisher],
    }
}

async fn run(
    pool: PgPool,
    hard_blocked: policy_engine::CategorySet,
    latest: watch::Sender<Latest>,
    mut wake: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut resync = tokio::time::interval(RESYNC_INTERVAL);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry = Backoff::new(RETRY_INITIAL, RETRY_MAX);
    let mut listener_alive = true;
    loop {
        // Marks the wake-ups seen so far as handled before reading Postgres: one that
        // arrives during the build is kept for the next round.
        wake.mark_unchanged();
        match sync_once(&pool, hard_blocked, &latest).await {
            Ok(()) => retry.reset(),
            Err(error) => {
                let delay = retry.next_delay();
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64,
                    "cannot rebuild the snapshot; data planes keep the last one");
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        }
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return,
            changed = wake.changed(), if listener_alive => {
                if changed.is_err() {
                    // Only on shutdown; the periodic resync carries on meanwhile.
                    listener_alive = false;
                }
            }
            _ = resync.tick() => {}
        }
    }
}

/// Publishes a new snapshot if Postgres holds a newer version than the published one.
async fn sync_once(
    pool: &PgPool,
    hard_blocked: policy_engine::CategorySet,
    latest: &watch::Sender<Latest>,
) -> Result<(), sqlx::Error> {
    let published = latest.borrow().as_ref().map(|p| p.version);
    // A cheap check first: most periodic resyncs and late wake-ups find nothing new.
    let current = u64::try_from(crate::db::config_version::current(pool).await?).unwrap_or(0);
    match published {
        Some(version) if current == version => return Ok(()),
        Some(version) if current < version => {
            // Versions only grow; a smaller one means the database was restored or
            // replaced. Data planes keep what they have until a newer version exists.
            tracing::warn!(
                published = version,
                current,
                "config version went backwards"
            );
            return Ok(());
        }
        _ => {}
    }
    let started = Instant::now();
    let snapshot = snapshot::build(pool, hard_blocked).await?;
    let version = snapshot.version;
    let newer = latest.send_if_modified(|slot| match slot {
        Some(current) if current.version >= version => false,
        _ => {
            *slot = Some(Arc::new(snapshot));
            true
        }
    });
    if newer && let Some(published) = latest.borrow().as_ref() {
        crate::metrics::metrics().snapshot_published(published.version);
        crate::http::health::snapshot_published();
        tracing::info!(
            version = published.version,
            policies = published.policies,
            projects = published.projects,
            keys = published.keys,
            bytes = published.frame.len(),
            build_ms = started.elapsed().as_millis() as u64,
            "snapshot published"
        );
    }
    Ok(())
}
