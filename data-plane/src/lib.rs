//! The Policy Gateway data plane (SPEC §0, §3, §8).
//!
//! A stateless node that enforces policies on OpenAI-style chat completions. It holds the
//! control plane's latest snapshot in memory (swapped atomically, never locked on the
//! request path), decides every request locally with the pure engine (`policy_engine`),
//! forwards or answers, redacts, and reports audit entries and usage records back over
//! gRPC through an on-disk spool.
//!
//! Layout:
//! - [`config`]: flags and environment (SPEC §13);
//! - [`snapshot`]: building, caching and subscribing to snapshots;
//! - [`http`]: the request contract; [`upstream`]: the pooled upstream client and the
//!   streaming relay; [`moderation`]: the providers;
//! - [`report`]: spool and senders for audit and usage; [`metrics`]; [`grpc`]: the
//!   control-plane channel;
//! - [`quota`]: fleet quota admission against budget leased from the control plane.

pub mod config;
pub mod error;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod moderation;
pub mod quota;
pub mod report;
pub mod snapshot;
pub mod state;
pub mod telemetry;
pub mod upstream;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwapOption;
use policy_proto::v1 as pb;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::moderation::Moderator;
use crate::quota::Quotas;
use crate::quota::lease::LeaseTask;
use crate::snapshot::sync::{SyncTask, boot_from_cache};
use crate::state::{AppState, Limits};
use crate::upstream::Upstream;

/// Runs the data plane until `shutdown` resolves, then drains: in-flight requests get
/// `DP_SHUTDOWN_GRACE_MS` to finish, and every audit entry and usage record accepted is
/// synced to the spool before this returns.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);

    let client = upstream::http_client()?;
    let upstream = Upstream::new(&config.upstream, client.clone())?;
    let moderation = Moderator::new(&config.moderation, client)?;
    let (reporter, writers, audit_spool, usage_spool) = report::start(
        &config.state_dir,
        config.spool.max_bytes,
        config.spool.fsync_interval,
        metrics.clone(),
        &stop_rx,
    )
    .with_context(|| {
        format!(
            "DP_STATE_DIR {}: cannot open the spool",
            config.state_dir.display()
        )
    })?;

    let (quotas, quota_asks) = Quotas::new(quota::Settings::from(&config.quota));
    let (end_streams_tx, end_streams) = watch::channel(false);
    let state = Arc::new(AppState {
        snapshot: ArcSwapOption::empty(),
        end_streams,
        metrics: metrics.clone(),
        limits: Limits {
            max_body_bytes: config.max_body_bytes,
            allowed_models: config.allowed_models.clone(),
        },
        upstream,
        moderation,
        reporter,
        node_id: Arc::from(config.control_plane.node_id.as_str()),
        quotas: quotas.clone(),
        default_max_tokens: config.quota.default_max_tokens,
    });
    boot_from_cache(&state, config.state_dir.clone(), config.hard_blocked).await;

    let channel = grpc::channel(&config.control_plane)?;
    let token = grpc::NodeToken::new(config.control_plane.node_token.as_deref())?;
    if config.control_plane.node_token.is_none() {
        warn!("DP_NODE_TOKEN is not set; the control plane will likely refuse this node");
    }
    let sync = SyncTask {
        state: state.clone(),
        channel: channel.clone(),
        token: token.clone(),
        node_id: config.control_plane.node_id.clone(),
        region: config.control_plane.region.clone(),
        state_dir: config.state_dir.clone(),
        hard_blocked: config.hard_blocked,
    };
    let sync = tokio::spawn(sync.run(stop_rx.clone()));
    let leases = LeaseTask {
        quotas,
        asks: quota_asks,
        channel: channel.clone(),
        token: token.clone(),
        node_id: config.control_plane.node_id.clone(),
    };
    let leases = tokio::spawn(leases.run(stop_rx.clone()));
    let audit_sender = tokio::spawn(report::run_sender::<pb::AuditEntry>(
        audit_spool,
        channel.clone(),
        token.clone(),
        metrics.clone(),
        stop_rx.clone(),
    ));
    let usage_sender = tokio::spawn(report::run_sender::<pb::UsageRecord>(
        usage_spool,
        channel,
        token,
        metrics,
        stop_rx.clone(),
    ));

    let listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("DP_HTTP_ADDR {}: cannot listen", config.http_addr))?;
    let addr = listener.local_addr()?;
    info!(%addr, node_id = %config.control_plane.node_id, "listening");

    let (signal_tx, signal_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        info!("shutting down");
        let _ = signal_tx.send(true);
    });
    let mut graceful = signal_rx.clone();
    let serve = axum::serve(listener, http::router(state))
        .with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|stop| *stop).await;
        })
        .into_future();
    let mut serve = tokio::spawn(serve);
    let mut deadline = signal_rx;
    let grace = config.shutdown_grace;
    tokio::select! {
        served = &mut serve => served.context("HTTP server task failed")?.context("HTTP server failed")?,
        () = async move {
            let _ = deadline.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        } => {
            // Streams still open end with an error event, which also reports them.
            warn!("shutdown grace period over; ending the remaining streams");
            let _ = end_streams_tx.send(true);
            if tokio::time::timeout(Duration::from_secs(2), &mut serve).await.is_err() {
                warn!("connections still open; closing them");
                serve.abort();
            }
        }
    }

    // Everything accepted is in the queues now: sync it to disk before exiting.
    let _ = stop_tx.send(true);
    let _ = writers.audit.await;
    let _ = writers.usage.await;
    let _ = tokio::join!(sync, leases, audit_sender, usage_sender);
    info!("stopped");
    Ok(())
}
