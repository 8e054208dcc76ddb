//! The Policy Gateway control plane (SPEC §0, §7, §8): owns Postgres, serves the
//! management API, and streams snapshots to data planes.

pub mod admin_grpc;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod metrics;
pub mod quota;
pub mod rollout;
pub mod service;
pub mod sync;
pub mod telemetry;

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::Verifier;
use crate::config::{DatabaseArgs, ServeConfig};

/// The schema, embedded at build time from `migrations/` (no database needed to build).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How long a request waits for a database connection before answering 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest pause between connection attempts at start-up.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

fn connect_options(database_url: &str) -> anyhow::Result<PgConnectOptions> {
    // The URL may hold a password: never echo it.
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        bail!("invalid DATABASE_URL: expected postgres://user@host:port/database");
    }
    PgConnectOptions::from_str(database_url)
        .map_err(|e| anyhow::anyhow!("invalid DATABASE_URL: {}", without_url(&e)))
}

fn without_url(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Configuration(_) => "not a valid postgres:// connection string".to_owned(),
        other => other.to_string(),
    }
}

fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

/// Connects once; for `migrate`, where failing fast is what an operator wants.
pub async fn connect(database_url: &str) -> anyhow::Result<PgPool> {
    pool_options()
        .connect_with(connect_options(database_url)?)
        .await
        .context("cannot connect to Postgres (DATABASE_URL)")
}

/// Connects, retrying with exponential backoff while Postgres is not answering (it may
/// still be starting). Gives up at once on errors retrying cannot fix (bad credentials,
/// unknown database). `None` when shutdown was asked for while waiting.
async fn connect_with_retry(
    database_url: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<PgPool>> {
    let options = connect_options(database_url)?;
    let mut delay = Duration::from_millis(250);
    let mut attempt: u32 = 1;
    loop {
        match pool_options().connect_with(options.clone()).await {
            Ok(pool) => return Ok(Some(pool)),
            Err(error) if is_permanent(&error) => {
                return Err(error).context("cannot connect to Postgres (DATABASE_URL)");
            }
            Err(error) => {
                tracing::warn!(%error, attempt, retry_in_ms = delay.as_millis() as u64,
                    "postgres is not answering; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(None),
        }
        delay = (delay * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}

/// Authentication failures (28xxx) and a missing database (3D000) will not fix themselves.
fn is_permanent(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Configuration(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("28") || code == "3D000"),
        _ => false,
    }
}

/// `control-plane migrate`: apply pending migrations and exit. Safe to run repeatedly.
pub async fn run_migrate(db: &DatabaseArgs) -> anyhow::Result<()> {
    let pool = connect(db.database_url()?).await?;
    MIGRATOR.run(&pool).await.context("migration failed")?;
    tracing::info!("migrations applied");
    Ok(())
}

/// `control-plane serve` (SPEC §13): the management API over HTTP and the data-plane sync
/// over gRPC, until SIGINT or SIGTERM. Configuration is checked before anything else, so a
/// bad setting fails with one line instead of after a wait for the database.
pub async fn run_serve(config: ServeConfig) -> anyhow::Result<()> {
    let verifier = Arc::new(Verifier::from_settings(&config.jwt_settings())?);
    let hard_blocked = config.hard_blocked()?;
    let node_token = config.node_token()?.to_owned();
    let database_url = config.database.database_url()?;
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; draining connections");
        let _ = stop.send(true);
    });

    let Some(pool) = connect_with_retry(database_url, &mut stopped).await? else {
        return Ok(());
    };
    if !config.no_migrate {
        MIGRATOR.run(&pool).await.context("migration failed")?;
        tracing::info!("migrations applied");
    }
    let http_listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on CP_HTTP_ADDR {}", config.http_addr))?;
    let grpc_listener = TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("cannot listen on CP_GRPC_ADDR {}", config.grpc_addr))?;
    tracing::info!(http_addr = %config.http_addr, grpc_addr = %config.grpc_addr, "control plane serving");

    let state = http::AppState {
        pool: pool.clone(),
        verifier,
        settings: Arc::new(service::Settings {
            history_limit: config.history_limit,
            hard_blocked,
        }),
    };
    let admin_routes = admin_grpc::routes(state.clone());
    let app = http::router(state);
    let http_server = async {
        axum::serve(http_listener, app)
            .with_graceful_shutdown(signalled(stopped.clone()))
            .await
            .context("HTTP server failed")
    };
    let sync_settings = sync::Settings {
        node_token,
        replica_id: replica_id(grpc_listener.local_addr().ok()),
        hard_blocked,
        history_limit: config.history_limit,
        quota_lease_ttl: Duration::from_secs(config.quota_lease_ttl_secs),
    };
    // The management API over gRPC shares the data-plane sync server (and its address).
    let grpc_server = sync::serve_with(
        grpc_listener,
        pool.clone(),
        sync_settings,
        admin_routes,
        signalled(stopped.clone()),
    );
    // Automatic rollback and cooldown ends (SPEC §9); every replica runs one, one acts.
    let watcher = rollout::spawn(
        pool.clone(),
        rollout::Settings::new(config.history_limit),
        stopped.clone(),
    );
    tokio::try_join!(http_server, grpc_server)?;
    let _ = watcher.await;
    pool.close().await;
    tracing::info!("control plane stopped");
    Ok(())
}

/// A name for this replica in `data_plane_nodes.control_plane_id`: host name and gRPC
/// address. It must survive a restart, so that a replica that crashed clears the
/// `connected` flags of nodes it served when it comes back, and differ between replicas,
/// which never share a host and port.
fn replica_id(grpc_addr: Option<std::net::SocketAddr>) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "control-plane".to_owned());
    match grpc_addr {
        Some(addr) => format!("{host}@{addr}"),
        None => host,
    }
}

/// Resolves once shutdown has been asked for.
async fn signalled(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
