//! `GET /history` (SPEC §6, §7): the org's entries, newest first, one page at a time.

use serde_json::{Map, Value};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::Page;
use crate::auth::Caller;
use crate::db::history::{self, EntryRow, EntryType, Filter};
use crate::error::{ApiError, ApiResult};

/// Default page size of the history listing.
pub const DEFAULT_LIMIT: u32 = 50;

#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    pub entry_type: Option<&'a str>,
    pub policy_id: Option<&'a str>,
    pub cursor: Option<&'a str>,
    pub limit: u32,
}

pub async fn list(pool: &PgPool, caller: &Caller, query: &Query<'_>) -> ApiResult<Page<Value>> {
    let entry_type = query
        .entry_type
        .map(|name| {
            EntryType::parse(name).ok_or_else(|| {
                ApiError::invalid_param(
                    "type",
                    format!("type must be one of {}", EntryType::NAMES.join(", ")),
                )
            })
        })
        .transpose()?;
    let before = query.cursor.map(parse_cursor).transpose()?;
    let filter = Filter {
        entry_type,
        policy_id: query.policy_id,
        before,
    };
    let rows = history::list(pool, &caller.org, &filter, i64::from(query.limit) + 1).await?;
    Ok(Page::from_rows(rows, query.limit, cursor_of, view))
}

/// The cursor is the position of the page's last entry: `<unix nanoseconds>_<id>`.
fn cursor_of(row: &EntryRow) -> String {
    format!("{}_{}", row.created_at.unix_timestamp_nanos(), row.id)
}

fn parse_cursor(cursor: &str) -> ApiResult<(OffsetDateTime, Uuid)> {
    let bad = || ApiError::invalid_param("cursor", "cursor is not one this API returned");
    let (nanos, id) = cursor.split_once('_').ok_or_else(bad)?;
    let nanos: i128 = nanos.parse().map_err(|_| bad())?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| bad())?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((at, id))
}

/// An entry as SPEC §6 lists it: the common fields next to the type's own.
fn view(row: EntryRow) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(row.id.to_string()));
    out.insert("type".into(), Value::String(row.entry_type));
    let created_at = row.created_at.format(&Rfc3339).unwrap_or_default();
    out.insert("created_at".into(), Value::String(created_at));
    out.insert(
        "policy_id".into(),
        row.policy_id.map_or(Value::Null, Value::String),
    );
    out.insert(
        "policy_name".into(),
        row.policy_name.map_or(Value::Null, Value::String),
    );
    if let Value::Object(fields) = row.entry.0 {
        for (key, value) in fields {
            // The common fields are the table's; an entry cannot shadow them.
            out.entry(key).or_insert(value);
        }
    }
    Value::Object(out)
}
