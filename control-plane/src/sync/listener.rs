//! LISTEN on the config channel (SPEC §0: replicas share Postgres and hear each other's
//! changes through NOTIFY) and wake the publisher.
//!
//! The listener owns its own one-connection pool so that a busy request pool can never
//! starve it. Whenever the connection is lost it reconnects with jittered exponential
//! backoff and asks for a resync right after, because notifications sent while it was
//! away are gone for good (LESSONS "Control plane ↔ data plane").

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;

use crate::db::config_version::CHANNEL;
use crate::sync::backoff::Backoff;

const RECONNECT_INITIAL: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// Runs until `shutdown` turns true (or its sender is dropped). Every notification, and
/// every (re)connection, bumps `wake`; the publisher coalesces them (latest wins).
pub(crate) async fn run(
    options: PgConnectOptions,
    wake: watch::Sender<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(RECONNECT_INITIAL, RECONNECT_MAX);
    loop {
        tokio::select! {
            () = listen(&options, &wake, &mut backoff) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let delay = backoff.next_delay();
        tracing::info!(
            retry_in_ms = delay.as_millis() as u64,
            "config listener reconnecting"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// One connection's life: connect, LISTEN, forward notifications until an error.
async fn listen(options: &PgConnectOptions, wake: &watch::Sender<u64>, backoff: &mut Backoff) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.clone());
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, "config listener cannot connect to postgres");
            return;
        }
    };
    if let Err(error) = listener.listen(CHANNEL).await {
        tracing::warn!(%error, channel = CHANNEL, "config listener cannot LISTEN");
        return;
    }
    backoff.reset();
    tracing::info!(channel = CHANNEL, "config listener connected");
    // Anything may have changed while no one was listening.
    wake.send_modify(|n| *n = n.wrapping_add(1));

    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                // Drain whatever else is already buffered: one wake-up for a burst.
                let mut coalesced = 1u32;
                while listener.next_buffered().is_some() {
                    coalesced += 1;
                }
                tracing::debug!(
                    payload = notification.payload(),
                    coalesced,
                    "config changed"
                );
                wake.send_modify(|n| *n = n.wrapping_add(1));
            }
            Ok(None) => {
                // sqlx has already reconnected and re-issued LISTEN; what was sent in
                // between is lost, so resync.
                tracing::warn!("config listener lost its connection; reconnected, resyncing");
                wake.send_modify(|n| *n = n.wrapping_add(1));
            }
            Err(error) => {
                tracing::warn!(%error, "config listener failed");
                break;
            }
        }
    }
    drop(listener);
    pool.close().await;
}
