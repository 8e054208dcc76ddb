//! Audit entries (SPEC §6, §9): receipt, enforcement history, rollout observations.
//!
//! Per batch, in one transaction:
//! 1. every id goes into `audit_receipts` (`ON CONFLICT DO NOTHING RETURNING id`): what
//!    comes back is what this batch is the first to deliver;
//! 2. of those, candidate decisions (canary, shadow) are counted per minute in
//!    `rollout_observations`, whatever `audit_logs` says, for automatic rollback (SPEC §9);
//! 3. entries whose policy keeps audit logs become `enforcement` history rows;
//! 4. the touched policies' history is pruned to the history limit, oldest first.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use policy_proto::v1::{AuditBatch, AuditEntry, DecisionRecord};
use serde_json::json;
use sqlx::PgPool;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, Time};
use tonic::Status;
use uuid::Uuid;

use super::fields;

const KIND: &str = "audit entry";
const DECISIONS: [&str; 5] = ["allow", "rewrite", "summary", "escalate", "refuse"];
const ROLLOUT_MODES: [&str; 3] = ["enforced", "canary", "shadow"];
/// First key of the advisory locks that serialise history pruning per policy ("PGH1").
const PRUNE_LOCK_CLASS: i32 = 0x5047_4831;

/// An entry that passed [`check`].
pub(super) struct Checked {
    id: Uuid,
    created_at: OffsetDateTime,
    entry: AuditEntry,
    decision: DecisionRecord,
}

pub(super) struct Stored {
    pub(super) new: usize,
    pub(super) history: usize,
    pub(super) observations: usize,
}

/// Validates a whole batch before anything is written: one bad entry refuses the batch
/// with INVALID_ARGUMENT naming it. Returns the ids to acknowledge, as sent.
pub(super) fn check(batch: AuditBatch) -> Result<(Vec<String>, Vec<Checked>), Status> {
    let mut ids = Vec::with_capacity(batch.entries.len());
    let mut checked = Vec::with_capacity(batch.entries.len());
    for mut entry in batch.entries {
        let id = fields::entry_id(KIND, &entry.id)?;
        let created_at = fields::created_at(KIND, &id, entry.created_at_unix_ms)?;
        fields::required(KIND, &id, "org", &entry.org)?;
        let Some(decision) = entry.decision.take() else {
            return Err(Status::invalid_argument(format!(
                "{KIND} {id}: decision is missing"
            )));
        };
        fields::required(KIND, &id, "decision.policy_id", &decision.policy_id)?;
        fields::count(KIND, &id, "decision.revision", decision.revision)?;
        if !DECISIONS.contains(&decision.decision.as_str()) {
            return Err(Status::invalid_argument(format!(
                "{KIND} {id}: decision.decision must be one of {}",
                DECISIONS.join(", ")
            )));
        }
        if !ROLLOUT_MODES.contains(&decision.rollout_mode.as_str()) {
            return Err(Status::invalid_argument(format!(
                "{KIND} {id}: decision.rollout_mode must be one of {}",
                ROLLOUT_MODES.join(", ")
            )));
        }
        ids.push(std::mem::take(&mut entry.id));
        checked.push(Checked {
            id,
            created_at,
            entry,
            decision,
        });
    }
    Ok((ids, checked))
}

pub(super) async fn store(
    pool: &PgPool,
    history_limit: u32,
    entries: &[Checked],
) -> Result<Stored, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let ids: Vec<Uuid> = entries.iter().map(|e| e.id).collect();
    // Sorted so that concurrent batches sharing ids lock them in the same order.
    let mut fresh: HashSet<Uuid> = sqlx::query_scalar(
        "INSERT INTO audit_receipts (id) \
         SELECT id FROM UNNEST($1::uuid[]) AS t(id) ORDER BY id \
         ON CONFLICT (id) DO NOTHING RETURNING id",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let new = fresh.len();

    let mut kept_in_history = Vec::new();
    let mut observations: BTreeMap<(&str, &str, i64, OffsetDateTime, &str), i64> = BTreeMap::new();
    // `remove` also drops an id repeated inside this batch after its first occurrence.
    for checked in entries.iter().filter(|e| fresh.remove(&e.id)) {
        if checked.entry.audit_logs {
            kept_in_history.push(checked);
        }
        let decision = &checked.decision;
        if matches!(decision.rollout_mode.as_str(), "canary" | "shadow") {
            let revision = i64::try_from(decision.revision).unwrap_or(i64::MAX);
            *observations
                .entry((
                    checked.entry.org.as_str(),
                    decision.policy_id.as_str(),
                    revision,
                    minute(checked.created_at),
                    decision.decision.as_str(),
                ))
                .or_default() += 1;
        }
    }

    let observation_rows = observations.len();
    if observation_rows > 0 {
        let mut columns = ObservationRows::default();
        for ((org, policy_id, revision, minute, decision), count) in observations {
            columns.orgs.push(org);
            columns.policy_ids.push(policy_id);
            columns.revisions.push(revision);
            columns.minutes.push(minute);
            columns.decisions.push(decision);
            columns.counts.push(count);
        }
        // Ordered so that concurrent batches lock counter rows in the same order.
        sqlx::query(
            "INSERT INTO rollout_observations (org, policy_id, revision, minute, decision, count) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::timestamptz[], $5::text[], $6::int8[]) \
             ORDER BY 1, 2, 3, 4, 5 \
             ON CONFLICT (org, policy_id, revision, minute, decision) \
             DO UPDATE SET count = rollout_observations.count + EXCLUDED.count",
        )
        .bind(&columns.orgs)
        .bind(&columns.policy_ids)
        .bind(&columns.revisions)
        .bind(&columns.minutes)
        .bind(&columns.decisions)
        .bind(&columns.counts)
        .execute(&mut *tx)
        .await?;
    }
    // History last: pruning takes per-policy locks, held until commit, so it comes after
    // everything else this transaction does.
    let history = HistoryRows::newest(kept_in_history, history_limit);
    let history_rows = history.ids.len();
    if history_rows > 0 {
        sqlx::query(
            "INSERT INTO history (id, org, type, policy_id, policy_name, created_at, entry) \
             SELECT id, org, 'enforcement', policy_id, NULLIF(policy_name, ''), created_at, entry::jsonb \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) \
                  AS t(id, org, policy_id, policy_name, created_at, entry) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&history.ids)
        .bind(&history.orgs)
        .bind(&history.policy_ids)
        .bind(&history.policy_names)
        .bind(&history.created_at)
        .bind(&history.entries)
        .execute(&mut *tx)
        .await?;
        prune(&mut tx, &history, history_limit).await?;
    }

    tx.commit().await?;
    Ok(Stored {
        new,
        history: history_rows,
        observations: observation_rows,
    })
}

/// Keeps the newest `limit` history entries of each policy this batch wrote to (SPEC §6:
/// per policy, oldest pruned first): one statement for the locks, one for the delete.
async fn prune(
    tx: &mut sqlx::PgConnection,
    history: &HistoryRows,
    limit: u32,
) -> Result<(), sqlx::Error> {
    let touched: BTreeSet<(&str, &str)> = history
        .orgs
        .iter()
        .zip(&history.policy_ids)
        .map(|(org, policy)| (org.as_str(), policy.as_str()))
        .collect();
    let (orgs, policies): (Vec<&str>, Vec<&str>) = touched.into_iter().unzip();
    // Concurrent batches (pipelined streams, other data planes, other replicas) prune the
    // same policies. Each takes the policies' locks in one order before pruning, so the
    // DELETE below starts after the other's commit and counts its rows: the limit holds
    // after both, not limit + the other's batch. Postgres evaluates the volatile lock
    // calls after the ORDER BY, which keeps the order and rules out lock-order deadlocks.
    sqlx::query(
        "SELECT pg_advisory_xact_lock($3, k) FROM ( \
             SELECT DISTINCT hashtext(org || '/' || policy_id) AS k \
             FROM UNNEST($1::text[], $2::text[]) AS t(org, policy_id)) AS keys \
         ORDER BY k",
    )
    .bind(&orgs)
    .bind(&policies)
    .bind(PRUNE_LOCK_CLASS)
    .execute(&mut *tx)
    .await?;
    // Per policy, the newest entry beyond the limit is found through the history_by_policy
    // index (OFFSET limit LIMIT 1); it and everything older goes. MATERIALIZED keeps the
    // planner from re-running that lookup once per history row (measured: 136 ms instead
    // of 5 ms per 1,000-entry batch over 100 policies).
    sqlx::query(
        "WITH first_pruned AS MATERIALIZED ( \
             SELECT t.org, t.policy_id, cut.created_at, cut.id \
             FROM UNNEST($1::text[], $2::text[]) AS t(org, policy_id) \
             CROSS JOIN LATERAL ( \
                 SELECT created_at, id FROM history \
                 WHERE org = t.org AND policy_id = t.policy_id \
                 ORDER BY created_at DESC, id DESC OFFSET $3 LIMIT 1 \
             ) AS cut) \
         DELETE FROM history h USING first_pruned f \
         WHERE h.org = f.org AND h.policy_id = f.policy_id \
           AND (h.created_at, h.id) <= (f.created_at, f.id)",
    )
    .bind(&orgs)
    .bind(&policies)
    .bind(i64::from(limit))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The UTC minute `at` falls in: the bucket of `rollout_observations`.
fn minute(at: OffsetDateTime) -> OffsetDateTime {
    let (hour, minute, _) = at.to_hms();
    Time::from_hms(hour, minute, 0).map_or(at, |start| at.replace_time(start))
}

/// `history` columns, one array each, for UNNEST.
#[derive(Default)]
struct HistoryRows {
    ids: Vec<Uuid>,
    orgs: Vec<String>,
    policy_ids: Vec<String>,
    policy_names: Vec<String>,
    created_at: Vec<OffsetDateTime>,
    entries: Vec<String>,
}

impl HistoryRows {
    /// The rows to insert: per policy, only the newest `limit` entries of the batch. An
    /// entry that is not among the newest `limit` of its own batch would be pruned by the
    /// same transaction, so it is never written (with one busy policy, that is most of
    /// the batch).
    fn newest(mut entries: Vec<&Checked>, limit: u32) -> Self {
        entries.sort_unstable_by(|a, b| {
            (a.entry.org.as_str(), a.decision.policy_id.as_str())
                .cmp(&(b.entry.org.as_str(), b.decision.policy_id.as_str()))
                .then_with(|| (b.created_at, b.id).cmp(&(a.created_at, a.id)))
        });
        let mut rows = HistoryRows::default();
        let mut group: Option<(&str, &str)> = None;
        let mut taken = 0u32;
        for checked in entries {
            let key = (
                checked.entry.org.as_str(),
                checked.decision.policy_id.as_str(),
            );
            if group != Some(key) {
                group = Some(key);
                taken = 0;
            }
            if taken < limit {
                taken += 1;
                rows.push(checked);
            }
        }
        rows
    }

    fn push(&mut self, checked: &Checked) {
        let (entry, decision) = (&checked.entry, &checked.decision);
        self.ids.push(checked.id);
        self.orgs.push(entry.org.clone());
        self.policy_ids.push(decision.policy_id.clone());
        self.policy_names.push(decision.policy_name.clone());
        self.created_at.push(checked.created_at);
        self.entries.push(history_entry(checked).to_string());
    }
}

#[derive(Default)]
struct ObservationRows<'a> {
    orgs: Vec<&'a str>,
    policy_ids: Vec<&'a str>,
    revisions: Vec<i64>,
    minutes: Vec<OffsetDateTime>,
    decisions: Vec<&'a str>,
    counts: Vec<i64>,
}

/// The `entry` JSON of an enforcement history row: the decision record (SPEC §2.5) plus
/// the request's identifiers (SPEC §6). Identifiers only, never content.
fn history_entry(checked: &Checked) -> serde_json::Value {
    let (entry, d) = (&checked.entry, &checked.decision);
    let text = |value: &str| (!value.is_empty()).then(|| value.to_owned());
    let redaction_counts: BTreeMap<&str, u64> = d
        .redaction_counts
        .iter()
        .map(|(kind, n)| (kind.as_str(), *n))
        .collect();
    json!({
        "decision": d.decision,
        "reason_code": d.reason_code,
        "reason_detail": text(&d.reason_detail),
        "policy_id": d.policy_id,
        "policy_name": d.policy_name,
        "revision": d.revision,
        "triggered_categories": d.triggered_categories,
        "allowlist_hits": d.allowlist_hits,
        "denylist_hits": d.denylist_hits,
        "hard_block": d.hard_block,
        "off_topic": d.off_topic,
        "rollout_mode": d.rollout_mode,
        "enforced": d.enforced,
        "redacted": d.redacted,
        "redaction_counts": redaction_counts,
        "policy_user": text(&entry.policy_user),
        "quota_subject": text(&entry.quota_subject),
        "policy_target": text(&entry.policy_target),
        "project_id": text(&entry.project_id),
        "project_label": text(&entry.project_label),
        "data_classification": text(&entry.data_classification),
        "model": text(&entry.model),
        "request_id": text(&entry.request_id),
        "node_id": text(&entry.node_id),
        "created_at": checked.created_at.format(&Rfc3339).ok(),
    })
}

#[cfg(test)]
mod tests;
