//! Quota counters and leases (SPEC §4, docs/quotas.md): grants to data planes and the
//! charges their usage records report.
//!
//! Locking discipline, which keeps concurrent grants within the limit and free of
//! deadlocks:
//! - a bucket's lease rows are only written by a transaction holding its counter row
//!   locked (lease grants lock it with `SELECT … FOR UPDATE`, charges by updating `used`),
//!   so the counter row serializes everything that changes a bucket's budget;
//! - a transaction touching several buckets locks their counter rows in [`Bucket`] order;
//! - after taking the lock, the leases are read by a *new* statement: under READ
//!   COMMITTED each statement sees what committed before it started, whereas a statement
//!   that waited for a row lock only re-reads the locked row itself.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::{FromRow, PgConnection, Postgres, Transaction};
use time::OffsetDateTime;

use crate::quota::Bucket;

/// One bucket a data plane asks budget for (`LeaseDemand`, checked).
#[derive(Debug, Clone)]
pub struct Demand {
    pub bucket: Bucket,
    /// The limit the node enforces, from its snapshot.
    pub limit: i64,
    pub want: i64,
    pub give_back: i64,
    /// The epoch the node holds, 0 for none.
    pub epoch: i64,
}

/// The answer to one demand (`LeaseGrant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub epoch: i64,
    pub granted: i64,
    pub held: i64,
    pub used: i64,
    pub held_by_others: i64,
    pub limit: i64,
}

/// This node's lease of a bucket and the budget every other node holds.
#[derive(Debug, FromRow)]
struct Leases {
    others: i64,
    own_epoch: Option<i64>,
    own_held: Option<i64>,
    own_live: Option<bool>,
}

/// Decides every demand of one `LeaseRequest` in one transaction; grants come back in
/// the demands' order. Nothing is granted unless everything commits.
pub async fn lease(
    tx: &mut Transaction<'_, Postgres>,
    node_id: &str,
    demands: &[Demand],
    ttl: Duration,
) -> sqlx::Result<Vec<Grant>> {
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by(|&a, &b| demands[a].bucket.cmp(&demands[b].bucket));
    let mut grants = vec![None; demands.len()];
    for index in order {
        grants[index] = Some(lease_one(tx, node_id, &demands[index], ttl).await?);
    }
    Ok(grants.into_iter().flatten().collect())
}

async fn lease_one(
    conn: &mut PgConnection,
    node_id: &str,
    demand: &Demand,
    ttl: Duration,
) -> sqlx::Result<Grant> {
    let bucket = &demand.bucket;
    let used = lock_counter(conn, bucket).await?;
    let leases: Leases = sqlx::query_as(
        "SELECT COALESCE(sum(held) FILTER (WHERE node_id <> $7 AND expires_at > now()), 0)::bigint
                    AS others,
                max(epoch) FILTER (WHERE node_id = $7) AS own_epoch,
                max(held) FILTER (WHERE node_id = $7) AS own_held,
                bool_or(expires_at > now()) FILTER (WHERE node_id = $7) AS own_live
         FROM quota_leases
         WHERE org = $1 AND policy_id = $2 AND subject_kind = $3 AND subject = $4
           AND metric = $5 AND window_start = $6",
    )
    .bind(&bucket.org)
    .bind(&bucket.policy_id)
    .bind(bucket.subject_kind.name())
    .bind(&bucket.subject)
    .bind(bucket.metric.name())
    .bind(bucket.window_start_at())
    .bind(node_id)
    .fetch_one(&mut *conn)
    .await?;
    let grant = decide(demand, used, &leases);
    sqlx::query(
        "INSERT INTO quota_leases (org, policy_id, subject_kind, subject, metric, window_start,
                                   node_id, epoch, held, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + $10 * interval '1 millisecond')
         ON CONFLICT (org, policy_id, subject_kind, subject, metric, window_start, node_id)
         DO UPDATE SET epoch = EXCLUDED.epoch, held = EXCLUDED.held,
                       expires_at = EXCLUDED.expires_at",
    )
    .bind(&bucket.org)
    .bind(&bucket.policy_id)
    .bind(bucket.subject_kind.name())
    .bind(&bucket.subject)
    .bind(bucket.metric.name())
    .bind(bucket.window_start_at())
    .bind(node_id)
    .bind(grant.epoch)
    .bind(grant.held)
    .bind(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await?;
    Ok(grant)
}

/// Creates the bucket's counter row if needed and locks it; returns `used`.
async fn lock_counter(conn: &mut PgConnection, bucket: &Bucket) -> sqlx::Result<i64> {
    sqlx::query(
        "INSERT INTO quota_counters (org, policy_id, subject_kind, subject, metric, window_start)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING",
    )
    .bind(&bucket.org)
    .bind(&bucket.policy_id)
    .bind(bucket.subject_kind.name())
    .bind(&bucket.subject)
    .bind(bucket.metric.name())
    .bind(bucket.window_start_at())
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar(
        "SELECT used FROM quota_counters
         WHERE org = $1 AND policy_id = $2 AND subject_kind = $3 AND subject = $4
           AND metric = $5 AND window_start = $6
         FOR UPDATE",
    )
    .bind(&bucket.org)
    .bind(&bucket.policy_id)
    .bind(bucket.subject_kind.name())
    .bind(&bucket.subject)
    .bind(bucket.metric.name())
    .bind(bucket.window_start_at())
    .fetch_one(&mut *conn)
    .await
}

/// The grant rule of docs/quotas.md, given the locked counter's `used` and the leases.
fn decide(demand: &Demand, used: i64, leases: &Leases) -> Grant {
    // An expired lease's budget is reclaimed: the node starts a new epoch from nothing,
    // and charges still arriving under the old epoch count as used only.
    let (epoch, mut held) = match (leases.own_epoch, leases.own_live) {
        (Some(epoch), Some(true)) => (epoch, leases.own_held.unwrap_or(0)),
        (Some(epoch), _) => (epoch.saturating_add(1), 0),
        (None, _) => (1, 0),
    };
    if demand.epoch == epoch {
        held = held.saturating_sub(demand.give_back).max(0);
    }
    let free = demand
        .limit
        .saturating_sub(used)
        .saturating_sub(leases.others)
        .saturating_sub(held)
        .max(0);
    let granted = demand.want.min(free).max(0);
    Grant {
        epoch,
        granted,
        held: held.saturating_add(granted),
        used,
        held_by_others: leases.others,
        limit: demand.limit,
    }
}

/// What newly stored usage records charged: per bucket, and per lease they were admitted
/// under. Keys are ordered, which is the locking order.
#[derive(Debug, Default)]
pub struct Charges {
    used: BTreeMap<Bucket, i64>,
    leases: BTreeMap<(Bucket, String, i64), i64>,
}

impl Charges {
    /// Adds `amount` of `bucket`, admitted by `node_id` under `epoch` (0: no lease).
    pub fn add(&mut self, bucket: &Bucket, node_id: &str, epoch: i64, amount: i64) {
        if amount <= 0 {
            return;
        }
        let used = self.used.entry(bucket.clone()).or_default();
        *used = used.saturating_add(amount);
        if epoch > 0 && !node_id.is_empty() {
            let key = (bucket.clone(), node_id.to_owned(), epoch);
            let held = self.leases.entry(key).or_default();
            *held = held.saturating_add(amount);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.used.is_empty()
    }
}

/// Counter and lease columns, one array each, for UNNEST.
#[derive(Default)]
struct BucketColumns {
    orgs: Vec<String>,
    policy_ids: Vec<String>,
    kinds: Vec<&'static str>,
    subjects: Vec<String>,
    metrics: Vec<&'static str>,
    window_starts: Vec<OffsetDateTime>,
}

impl BucketColumns {
    fn push(&mut self, bucket: &Bucket) {
        self.orgs.push(bucket.org.clone());
        self.policy_ids.push(bucket.policy_id.clone());
        self.kinds.push(bucket.subject_kind.name());
        self.subjects.push(bucket.subject.clone());
        self.metrics.push(bucket.metric.name());
        self.window_starts.push(bucket.window_start_at());
    }
}

/// Applies charges inside the transaction that stored their records: `used += amount` on
/// each counter (created when missing), and `held -= amount` (never below 0) on the lease
/// of the node that admitted them when its epoch is still the one they were admitted
/// under. Counter rows are locked in key order (`ORDER BY ord` over sorted input).
pub async fn apply_charges(conn: &mut PgConnection, charges: &Charges) -> sqlx::Result<()> {
    if charges.is_empty() {
        return Ok(());
    }
    let mut counters = BucketColumns::default();
    let mut amounts = Vec::with_capacity(charges.used.len());
    for (bucket, amount) in &charges.used {
        counters.push(bucket);
        amounts.push(*amount);
    }
    sqlx::query(
        "INSERT INTO quota_counters (org, policy_id, subject_kind, subject, metric, window_start, used)
         SELECT org, policy_id, kind, subject, metric, window_start, amount
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::int8[])
              WITH ORDINALITY AS c(org, policy_id, kind, subject, metric, window_start, amount, ord)
         ORDER BY ord
         ON CONFLICT (org, policy_id, subject_kind, subject, metric, window_start)
         DO UPDATE SET used = CASE
             WHEN quota_counters.used > 9223372036854775807 - EXCLUDED.used
             THEN 9223372036854775807
             ELSE quota_counters.used + EXCLUDED.used END",
    )
    .bind(&counters.orgs)
    .bind(&counters.policy_ids)
    .bind(&counters.kinds)
    .bind(&counters.subjects)
    .bind(&counters.metrics)
    .bind(&counters.window_starts)
    .bind(&amounts)
    .execute(&mut *conn)
    .await?;

    if charges.leases.is_empty() {
        return Ok(());
    }
    let mut leases = BucketColumns::default();
    let (mut nodes, mut epochs, mut amounts) = (Vec::new(), Vec::new(), Vec::new());
    for ((bucket, node_id, epoch), amount) in &charges.leases {
        leases.push(bucket);
        nodes.push(node_id.as_str());
        epochs.push(*epoch);
        amounts.push(*amount);
    }
    // Every counter these leases belong to is locked by the statement above, so the order
    // in which this statement locks lease rows cannot deadlock.
    sqlx::query(
        "UPDATE quota_leases AS l SET held = GREATEST(l.held - c.amount, 0)
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::text[], $8::int8[], $9::int8[])
              AS c(org, policy_id, kind, subject, metric, window_start, node_id, epoch, amount)
         WHERE l.org = c.org AND l.policy_id = c.policy_id AND l.subject_kind = c.kind
           AND l.subject = c.subject AND l.metric = c.metric
           AND l.window_start = c.window_start AND l.node_id = c.node_id
           AND l.epoch = c.epoch",
    )
    .bind(&leases.orgs)
    .bind(&leases.policy_ids)
    .bind(&leases.kinds)
    .bind(&leases.subjects)
    .bind(&leases.metrics)
    .bind(&leases.window_starts)
    .bind(&nodes)
    .bind(&epochs)
    .bind(&amounts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
