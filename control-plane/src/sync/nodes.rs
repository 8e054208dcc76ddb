//! `data_plane_nodes`: which data planes are connected to which replica and which snapshot
//! version each applied or rejected (SPEC §8: visible in the management API).

use sqlx::PgPool;
use time::OffsetDateTime;

/// Longest NACK error kept; the text comes from the data plane.
const MAX_NACK_ERROR_CHARS: usize = 2_000;

/// What a Hello produced: the session's key for [`disconnect`] and what the node last
/// rejected before this connection.
#[derive(Debug, Clone)]
pub struct Session {
    pub connected_at: OffsetDateTime,
    /// The version this node NACKed last, if it did so while running the same software
    /// version it announces now (so it would reject that version again).
    pub rejected_version: Option<u64>,
}

/// Records a Hello: connected to `replica_id` from now on.
pub async fn connect(
    pool: &PgPool,
    node_id: &str,
    region: &str,
    software_version: &str,
    replica_id: &str,
) -> Result<Session, sqlx::Error> {
    // `prev` reads the row as it was before this statement, to learn the node's last NACK.
    let (connected_at, nacked_version, previous_software): (
        OffsetDateTime,
        Option<i64>,
        Option<String>,
    ) = sqlx::query_as(
        "WITH prev AS (SELECT nacked_version, software_version \
                       FROM data_plane_nodes WHERE node_id = $1) \
         INSERT INTO data_plane_nodes \
             (node_id, region, software_version, connected, control_plane_id, connected_at, last_seen_at) \
         VALUES ($1, $2, $3, TRUE, $4, clock_timestamp(), clock_timestamp()) \
         ON CONFLICT (node_id) DO UPDATE SET \
             region = EXCLUDED.region, software_version = EXCLUDED.software_version, \
             connected = TRUE, control_plane_id = EXCLUDED.control_plane_id, \
             connected_at = EXCLUDED.connected_at, last_seen_at = EXCLUDED.last_seen_at \
         RETURNING connected_at, (SELECT nacked_version FROM prev), \
                   (SELECT software_version FROM prev)",
    )
    .bind(node_id)
    .bind(region)
    .bind(software_version)
    .bind(replica_id)
    .fetch_one(pool)
    .await?;
    let rejected_version = nacked_version
        .filter(|_| previous_software.as_deref() == Some(software_version))
        .and_then(|v| u64::try_from(v).ok());
    Ok(Session {
        connected_at,
        rejected_version,
    })
}

/// Records an ACK: `version` is active on the node.
pub async fn ack(pool: &PgPool, node_id: &str, version: u64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE data_plane_nodes \
         SET applied_version = $2, applied_at = now(), last_seen_at = now() \
         WHERE node_id = $1",
    )
    .bind(node_id)
    .bind(to_i64(version))
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a NACK; returns the node's NACK count so far.
pub async fn nack(
    pool: &PgPool,
    node_id: &str,
    version: u64,
    error: &str,
) -> Result<i64, sqlx::Error> {
    let error: String = error.chars().take(MAX_NACK_ERROR_CHARS).collect();
    let count: Option<i64> = sqlx::query_scalar(
        "UPDATE data_plane_nodes \
         SET nacked_version = $2, nack_error = $3, nack_count = nack_count + 1, \
             last_seen_at = now() \
         WHERE node_id = $1 RETURNING nack_count",
    )
    .bind(node_id)
    .bind(to_i64(version))
    .bind(error)
    .fetch_optional(pool)
    .await?;
    Ok(count.unwrap_or(0))
}

/// Records the end of a stream. Only the session that set `connected` clears it: when a
/// node has already reconnected (to this or another replica), its newer session stands.
pub async fn disconnect(
    pool: &PgPool,
    node_id: &str,
    replica_id: &str,
    session: &Session,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE data_plane_nodes SET connected = FALSE, last_seen_at = now() \
         WHERE node_id = $1 AND control_plane_id = $2 AND connected_at = $3",
    )
    .bind(node_id)
    .bind(replica_id)
    .bind(session.connected_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks every node still shown as connected to `replica_id` as disconnected: called when
/// the replica starts, before it accepts any stream.
pub async fn release_replica(pool: &PgPool, replica_id: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE data_plane_nodes SET connected = FALSE \
         WHERE control_plane_id = $1 AND connected",
    )
    .bind(replica_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

fn to_i64(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}
