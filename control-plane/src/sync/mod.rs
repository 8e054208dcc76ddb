//! The data-plane sync service (SPEC §8): snapshots and quota leases out, audit entries
//! and usage in.
//!
//! Shape of the service:
//! - [`publisher`] builds one encoded snapshot per config version ([`snapshot`]) and
//!   publishes it through a `watch` channel; [`listener`] wakes it on NOTIFY from any
//!   replica, and a periodic resync covers lost notifications (LESSONS "Control plane ↔
//!   data plane").
//! - [`subscribe`] streams the published snapshot to each data plane and records its
//!   ACK/NACK in `data_plane_nodes` ([`nodes`]).
//! - [`ingest`] stores audit and usage batches exactly once (SPEC §6), applying usage
//!   records' quota charges once.
//! - [`lease`] grants quota budget to data planes (SPEC §4, docs/quotas.md).
//! - [`router`] dispatches the four RPCs behind the node-token check ([`auth`]).

pub mod auth;
mod backoff;
mod codec;
pub mod ingest;
mod lease;
mod listener;
pub mod nodes;
pub mod publisher;
mod router;
pub mod snapshot;
mod subscribe;

use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;

use crate::sync::auth::NodeAuth;
use crate::sync::router::SyncRouter;

/// What the sync service needs from the process configuration (SPEC §13).
#[derive(Clone)]
pub struct Settings {
    /// `CP_NODE_TOKEN`: data planes present it as `authorization: Bearer <token>`.
    pub node_token: String,
    /// This replica's name in `data_plane_nodes.control_plane_id`.
    pub replica_id: String,
    /// `HARD_BLOCKED_CATEGORIES`, shipped to data planes in every snapshot (SPEC §2.2).
    pub hard_blocked: policy_engine::CategorySet,
    /// `POLICY_HISTORY_LIMIT`: enforcement entries written here are pruned to it (SPEC §6).
    pub history_limit: u32,
    /// `CP_QUOTA_LEASE_TTL_SECS`: how long a quota lease lasts unless the node extends it.
    pub quota_lease_ttl: Duration,
}

impl std::fmt::Debug for Settings {
    // The node token is a secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("node_token", &"*****")
            .field("replica_id", &self.replica_id)
            .field("hard_blocked", &self.hard_blocked.names())
            .field("history_limit", &self.history_limit)
            .field("quota_lease_ttl", &self.quota_lease_ttl)
            .finish()
    }
}

/// Idle connections are probed so that a data plane that vanished without closing its
/// connection is noticed and marked disconnected.
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `DataPlaneSync` on `listener` until `shutdown` resolves.
///
/// Open Subscribe and Report streams end cleanly on shutdown (data planes reconnect to
/// another replica), then the function returns.
pub async fn serve(
    listener: TcpListener,
    pool: PgPool,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(listener, pool, settings, Routes::default(), shutdown).await
}

/// [`serve`], with `extra` services (the management API over gRPC) on the same server.
/// They bring their own authentication: the node-token check guards `DataPlaneSync` only.
pub async fn serve_with(
    listener: TcpListener,
    pool: PgPool,
    settings: Settings,
    extra: Routes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if settings.node_token.trim().is_empty() {
        bail!("the node token must not be empty: data planes authenticate with it");
    }
    let local_addr = listener.local_addr().ok();
    // Rows this replica left `connected` when it last stopped are stale by definition.
    if let Err(error) = nodes::release_replica(&pool, &settings.replica_id).await {
        tracing::warn!(%error, replica_id = %settings.replica_id,
            "cannot reset data planes left connected by an earlier run of this replica");
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let publisher = publisher::spawn(pool.clone(), settings.hard_blocked, stop_rx.clone());
    let router = SyncRouter::new(pool, &settings, publisher.subscribe(), stop_rx.clone());
    let service = InterceptedService::new(router, NodeAuth::new(&settings.node_token));

    tracing::info!(addr = ?local_addr, replica_id = %settings.replica_id, "data-plane sync serving");
    let signal = async move {
        shutdown.await;
        // Ends every open stream so the graceful shutdown below can complete.
        let _ = stop_tx.send(true);
    };
    let result = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
        .add_routes(extra.add_service(service))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal)
        .await
        .context("data-plane sync server failed");
    publisher.stop().await;
    tracing::info!(addr = ?local_addr, "data-plane sync stopped");
    result
}
