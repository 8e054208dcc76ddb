//! What both control-plane benches need: their settings from the environment and a
//! scratch database that is dropped again however the bench ends.

use std::future::Future;
use std::str::FromStr as _;

use anyhow::Context as _;
use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

/// The node token the benches' data-plane clients present.
pub const TOKEN: &str = "bench-node-token";

/// A whole number from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `bench` on a multi-threaded runtime against a new database named `prefix` plus a
/// random suffix on the server of `DATABASE_URL` (default: the local trust-auth server),
/// and drops that database afterwards.
pub fn with_scratch_database<F, Fut>(prefix: &str, bench: F) -> anyhow::Result<()>
where
    F: FnOnce(PgConnectOptions) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let admin_options = PgConnectOptions::from_str(&url)?;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(admin_options.clone())
            .await
            .context("connect to DATABASE_URL")?;
        // Identifiers cannot be bind parameters; the suffix is [a-z0-9] only.
        let name = format!("{prefix}_{}", Uuid::new_v4().simple());
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        let outcome = bench(admin_options.clone().database(&name)).await;
        admin
            .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
            .await?;
        admin.close().await;
        outcome
    })
}
