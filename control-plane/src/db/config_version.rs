//! The snapshot version (table `config_state`): bumped in the same transaction as every
//! change data planes must see, and announced with NOTIFY so every replica rebuilds.

use sqlx::{PgConnection, PgPool};

/// The NOTIFY channel replicas LISTEN on; the payload is the new version.
pub const CHANNEL: &str = "policy_gateway_config";

/// Bumps the version inside the caller's transaction. The NOTIFY is delivered only if the
/// transaction commits, so listeners never see a version whose data is not visible yet.
pub async fn bump(conn: &mut PgConnection) -> sqlx::Result<i64> {
    let version: i64 = sqlx::query_scalar(
        "UPDATE config_state SET version = version + 1, changed_at = now() RETURNING version",
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(version.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(version)
}

/// The current version.
pub async fn current(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT version FROM config_state")
        .fetch_one(pool)
        .await
}
