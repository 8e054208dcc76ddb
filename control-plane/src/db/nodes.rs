//! Data-plane nodes as the sync service records them (SPEC §8), for `GET /nodes`.

use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;

#[derive(Debug, Clone, FromRow)]
pub struct NodeRow {
    pub node_id: String,
    pub region: String,
    pub software_version: String,
    pub connected: bool,
    pub control_plane_id: Option<String>,
    pub connected_at: Option<OffsetDateTime>,
    pub last_seen_at: OffsetDateTime,
    pub applied_version: Option<i64>,
    pub applied_at: Option<OffsetDateTime>,
    pub nacked_version: Option<i64>,
    pub nack_error: Option<String>,
    pub nack_count: i64,
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<NodeRow>> {
    sqlx::query_as(
        "SELECT node_id, region, software_version, connected, control_plane_id, connected_at,
                last_seen_at, applied_version, applied_at, nacked_version, nack_error, nack_count
         FROM data_plane_nodes ORDER BY node_id",
    )
    .fetch_all(db)
    .await
}
