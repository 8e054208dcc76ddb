//! The Policy Gateway control plane (SPEC §0, §7, §8): owns Postgres, serves the
//! management API, and streams snapshots to data planes.

pub mod config;
pub mod db;
pub mod http;
pub mod sync;
pub mod telemetry;

use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::config::{DatabaseArgs, ServeConfig};

/// The schema, embedded at build time from `migrations/` (no database needed to build).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub async fn connect(database_url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(database_url)
        .await
        .context("cannot connect to Postgres (DATABASE_URL)")
}

/// `control-plane migrate`: apply pending migrations and exit. Safe to run repeatedly.
pub async fn run_migrate(db: &DatabaseArgs) -> anyhow::Result<()> {
    let pool = connect(&db.database_url).await?;
    MIGRATOR.run(&pool).await.context("migration failed")?;
    tracing::info!("migrations applied");
    Ok(())
}

/// `control-plane serve`. Stub wiring; replaced as the HTTP and sync halves land.
pub async fn run_serve(config: ServeConfig) -> anyhow::Result<()> {
    let pool = connect(&config.database.database_url).await?;
    if !config.no_migrate {
        MIGRATOR.run(&pool).await.context("migration failed")?;
    }
    anyhow::bail!("serve is not wired yet")
}
