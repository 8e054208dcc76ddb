//! Usage records (SPEC §4, §6): one row per forwarded request, kept for billing and stored
//! once per id, whatever the number of deliveries.

use policy_proto::v1::UsageBatch;
use sqlx::PgPool;
use time::OffsetDateTime;
use tonic::Status;
use uuid::Uuid;

use super::fields;

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

/// Inserts the batch; returns how many records were new.
pub(super) async fn store(pool: &PgPool, columns: &Columns) -> Result<u64, sqlx::Error> {
    if columns.ids.is_empty() {
        return Ok(0);
    }
    // Sorted so that concurrent batches sharing ids lock them in the same order.
    let done = sqlx::query(
        "INSERT INTO usage_records (id, org, created_at, project_id, key_id, policy_id, model, \
                                    quota_subject, prompt_tokens, completion_tokens, node_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::uuid[], \
                              $6::text[], $7::text[], $8::text[], $9::int8[], $10::int8[], $11::text[]) \
         ORDER BY 1 \
         ON CONFLICT (id) DO NOTHING",
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
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
