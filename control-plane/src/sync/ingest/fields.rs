//! Checks shared by audit entries and usage records. Every error names the entry by its id
//! (never by its contents) so the data plane can find and quarantine it.

use time::OffsetDateTime;
use tonic::Status;
use uuid::Uuid;

/// Longest id echoed back in an error message.
const MAX_ECHOED_ID_CHARS: usize = 64;

/// A data-plane id: a UUIDv7 in its text form (SPEC §6, LESSONS "Audit and usage delivery").
pub(super) fn entry_id(kind: &str, raw: &str) -> Result<Uuid, Status> {
    match Uuid::try_parse(raw) {
        Ok(id) if id.get_version_num() == 7 => Ok(id),
        Ok(_) | Err(_) => Err(Status::invalid_argument(format!(
            "{kind} id {:?} is not a UUIDv7",
            echo(raw)
        ))),
    }
}

/// An optional UUID field (`key_id`): empty is absent.
pub(super) fn optional_uuid(
    kind: &str,
    id: &Uuid,
    field: &str,
    raw: &str,
) -> Result<Option<Uuid>, Status> {
    if raw.is_empty() {
        return Ok(None);
    }
    Uuid::try_parse(raw)
        .map(Some)
        .map_err(|_| Status::invalid_argument(format!("{kind} {id}: {field} is not a UUID")))
}

pub(super) fn created_at(kind: &str, id: &Uuid, unix_ms: i64) -> Result<OffsetDateTime, Status> {
    if unix_ms <= 0 {
        return Err(Status::invalid_argument(format!(
            "{kind} {id}: created_at_unix_ms is missing"
        )));
    }
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000).map_err(|_| {
        Status::invalid_argument(format!("{kind} {id}: created_at_unix_ms is out of range"))
    })
}

pub(super) fn required<'a>(
    kind: &str,
    id: &Uuid,
    field: &str,
    value: &'a str,
) -> Result<&'a str, Status> {
    if value.is_empty() {
        Err(Status::invalid_argument(format!(
            "{kind} {id}: {field} is empty"
        )))
    } else {
        Ok(value)
    }
}

pub(super) fn count(kind: &str, id: &Uuid, field: &str, value: u64) -> Result<i64, Status> {
    i64::try_from(value)
        .map_err(|_| Status::invalid_argument(format!("{kind} {id}: {field} is out of range")))
}

/// Proto3 strings are empty when unset; the database and history JSON say NULL.
pub(super) fn optional(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn echo(raw: &str) -> String {
    raw.chars().take(MAX_ECHOED_ID_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_uuid_v7() {
        assert!(entry_id("audit entry", "0190c1a2-7b3c-7def-8abc-0123456789ab").is_ok());
        let v4 = entry_id("audit entry", "9f2c1e4a-1b2c-4d3e-8f4a-5b6c7d8e9f00").unwrap_err();
        assert_eq!(v4.code(), tonic::Code::InvalidArgument);
        assert!(
            v4.message()
                .contains("9f2c1e4a-1b2c-4d3e-8f4a-5b6c7d8e9f00")
        );
        let junk = entry_id("audit entry", "not-an-id").unwrap_err();
        assert!(junk.message().contains("\"not-an-id\""));
        let long = "x".repeat(500);
        assert!(entry_id("audit entry", &long).unwrap_err().message().len() < 120);
    }

    #[test]
    fn timestamps_must_be_set_and_in_range() {
        let id = Uuid::now_v7();
        assert!(created_at("audit entry", &id, 0).is_err());
        assert!(created_at("audit entry", &id, i64::MAX).is_err());
        let at = created_at("audit entry", &id, 1_700_000_000_123).unwrap();
        assert_eq!(at.unix_timestamp(), 1_700_000_000);
        assert_eq!(at.millisecond(), 123);
    }
}
