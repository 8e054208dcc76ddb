//! Usage records (SPEC §4, §6): one row per forwarded request, kept for billing and stored
//! once per id, whatever the number of deliveries. A record's quota charges are applied to
//! the counters in the transaction that first stores it, so a resent batch charges nothing
//! twice (docs/quotas.md).

use std::collections::HashSet;

use policy_proto::v1::{QuotaCharge, UsageBatch};
use sqlx::PgPool;
use time::OffsetDateTime;
use tonic::Status;
use uuid::Uuid;

use super::fields;
use crate::db::quota::{self as quotas, Charges};
use crate::quota::Bucket;

const KIND: &str = "usage record";

/// `usage_records` columns, one array each, for UNNEST.
#[derive(Default)]
pub(super) struct Columns {
    ids: Vec<Uuid>,
    orgs: Vec<String>,
    created_at: Vec<OffsetDateTime>,
    project_ids: Vec<Option<String>>,
    key_ids: Vec<Option<Uuid>>,
    policy_ids: Vec<Option<String>>,
    models: Vec<String>,
    quota_subjects: Vec<Option<String>>,
    prompt_tokens: Vec<i64>,
    completion_tokens: Vec<i64>,
    node_ids: Vec<String>,
    /// The quota charges of each record, in record order.
    charges: Vec<Vec<Charge>>,
}

/// One checked `QuotaCharge`.
pub(super) struct Charge {
    bucket: Bucket,
    amount: i64,
    epoch: i64,
}

/// Validates a whole batch before anything is written; returns the ids to acknowledge.
pub(super) fn check(batch: UsageBatch) -> Result<(Vec<String>, Columns), Status> {
    let mut ids = Vec::with_capacity(batch.records.len());
    let mut columns = Columns::default();
    for record in batch.records {
        let id = fields::entry_id(KIND, &record.id)?;
        columns
            .created_at
            .push(fields::created_at(KIND, &id, record.created_at_unix_ms)?);
        fields::required(KIND, &id, "org", &record.org)?;
        columns
            .key_ids
            .push(fields::optional_uuid(KIND, &id, "key_id", &record.key_id)?);
        columns.prompt_tokens.push(fields::count(
            KIND,
            &id,
            "prompt_tokens",
            record.prompt_tokens,
        )?);
        columns.completion_tokens.push(fields::count(
            KIND,
            &id,
            "completion_tokens",
            record.completion_tokens,
        )?);
        columns
            .charges
            .push(charges(&id, &record.org, &record.charges)?);
        columns.ids.push(id);
        columns.orgs.push(record.org);
        columns
            .project_ids
            .push(fields::optional(record.project_id));
        columns.policy_ids.push(fields::optional(record.policy_id));
        columns.models.push(record.model);
        columns
            .quota_subjects
            .push(fields::optional(record.quota_subject));
        columns.node_ids.push(record.node_id);
        ids.push(record.id);
    }
    Ok((ids, columns))
}

/// A record's charges; a charge must name a valid bucket of the record's own org.
fn charges(id: &Uuid, org: &str, raw: &[QuotaCharge]) -> Result<Vec<Charge>, Status> {
    raw.iter()
        .enumerate()
        .map(|(index, charge)| {
            let invalid = |message: String| {
                Status::invalid_argument(format!("{KIND} {id}: charges[{index}]: {message}"))
            };
            let bucket =
                Bucket::parse(charge.bucket.as_ref()).map_err(|e| invalid(e.to_string()))?;
            if bucket.org != org {
                return Err(invalid("bucket.org is not the record's org".to_owned()));
            }
            let amount = i64::try_from(charge.amount)
                .map_err(|_| invalid("amount is out of range".to_owned()))?;
            let epoch = i64::try_from(charge.epoch)
                .map_err(|_| invalid("epoch is out of range".to_owned()))?;
            Ok(Charge {
                bucket,
                amount,
                epoch,
            })
        })
        .collect()
}

/// Inserts the batch and applies the charges of the records that were new, in one
/// transaction; returns how many records were new.
pub(super) async fn store(pool: &PgPool, columns: &Columns) -> Result<u64, sqlx::Error> {
    if columns.ids.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    // Sorted so that concurrent batches sharing ids lock them in the same order.
    let new: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO usage_records (id, org, created_at, project_id, key_id, policy_id, model, \
                                    quota_subject, prompt_tokens, completion_tokens, node_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::uuid[], \
                              $6::text[], $7::text[], $8::text[], $9::int8[], $10::int8[], $11::text[]) \
         ORDER BY 1 \
         ON CONFLICT (id) DO NOTHING \
         RETURNING id",
    )
    .bind(&columns.ids)
    .bind(&columns.orgs)
    .bind(&columns.created_at)
    .bind(&columns.project_ids)
    .bind(&columns.key_ids)
    .bind(&columns.policy_ids)
    .bind(&columns.models)
    .bind(&columns.quota_subjects)
    .bind(&columns.prompt_tokens)
    .bind(&columns.completion_tokens)
    .bind(&columns.node_ids)
    .fetch_all(&mut *tx)
    .await?;
    let new: HashSet<Uuid> = new.into_iter().collect();
    quotas::apply_charges(&mut tx, &new_charges(columns, &new)).await?;
    tx.commit().await?;
    Ok(new.len() as u64)
}

/// The charges of the records first stored by this transaction (`new`), each record
/// once even when the batch carries its id twice.
fn new_charges(columns: &Columns, new: &HashSet<Uuid>) -> Charges {
    let mut pending = new.clone();
    let mut charges = Charges::default();
    let records = columns
        .ids
        .iter()
        .zip(&columns.node_ids)
        .zip(&columns.charges);
    for ((id, node_id), record) in records {
        if pending.remove(id) {
            for charge in record {
                charges.add(&charge.bucket, node_id, charge.epoch, charge.amount);
            }
        }
    }
    charges
}
