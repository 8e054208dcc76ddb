//! Quota buckets (SPEC §4, docs/quotas.md): the unit the control plane counts and leases.
//!
//! A bucket is (org, policy_id, subject_kind, subject, metric, window_start), exactly the
//! key of a `quota_counters` row. Data planes name buckets in lease demands and usage
//! charges ([`QuotaBucket`]); [`Bucket::parse`] checks one before anything touches the
//! database, so bad input gets a clear message and never a constraint violation.

use std::cmp::Ordering;

use policy_engine::Window;
pub use policy_engine::bucket::{Metric, SubjectKind};
use policy_proto::v1::QuotaBucket;
use time::OffsetDateTime;

/// Longest identifier (org, policy id, subject) a bucket may carry.
const MAX_ID_BYTES: usize = 512;

/// A checked bucket. Ordered by its database key, so that every transaction touching
/// several buckets locks their counter rows in one global order (no deadlocks between
/// concurrent lease and usage transactions).
#[derive(Debug, Clone)]
pub struct Bucket {
    pub org: String,
    /// Empty for `project_record` buckets, which span policies.
    pub policy_id: String,
    pub subject_kind: SubjectKind,
    pub subject: String,
    pub metric: Metric,
    pub window: Window,
    /// Unix seconds, the start of `window`'s UTC period.
    pub window_start: i64,
}

/// Why a bucket was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBucket {
    #[error("bucket is missing")]
    Missing,
    #[error("bucket.{0} is empty")]
    Empty(&'static str),
    #[error("bucket.{0} is longer than {MAX_ID_BYTES} bytes")]
    TooLong(&'static str),
    #[error("bucket.subject_kind {0:?} is not one of {names}", names = SubjectKind::NAMES)]
    SubjectKind(String),
    #[error("bucket.metric {0:?} is not one of {names}", names = Metric::NAMES)]
    Metric(String),
    #[error("bucket.window {0:?} is not one of daily, weekly, monthly")]
    Window(String),
    #[error("bucket.policy_id must be empty for project_record buckets (they span policies)")]
    PolicyOnProjectRecord,
    #[error("bucket.window_start_unix {0} is not the start of a UTC {1} window")]
    WindowStart(i64, &'static str),
}

impl Bucket {
    pub fn parse(raw: Option<&QuotaBucket>) -> Result<Self, InvalidBucket> {
        let raw = raw.ok_or(InvalidBucket::Missing)?;
        identifier("org", &raw.org)?;
        identifier("subject", &raw.subject)?;
        let subject_kind = SubjectKind::parse(&raw.subject_kind)
            .ok_or_else(|| InvalidBucket::SubjectKind(echo(&raw.subject_kind)))?;
        match subject_kind {
            SubjectKind::ProjectRecord if !raw.policy_id.is_empty() => {
                return Err(InvalidBucket::PolicyOnProjectRecord);
            }
            SubjectKind::ProjectRecord => {}
            SubjectKind::User | SubjectKind::Project => identifier("policy_id", &raw.policy_id)?,
        }
        let metric =
            Metric::parse(&raw.metric).ok_or_else(|| InvalidBucket::Metric(echo(&raw.metric)))?;
        let window =
            Window::parse(&raw.window).ok_or_else(|| InvalidBucket::Window(echo(&raw.window)))?;
        let start = raw.window_start_unix;
        match window.bounds(start) {
            Ok(bounds) if bounds.start == start => {}
            Ok(_) | Err(_) => return Err(InvalidBucket::WindowStart(start, window.name())),
        }
        Ok(Bucket {
            org: raw.org.clone(),
            policy_id: raw.policy_id.clone(),
            subject_kind,
            subject: raw.subject.clone(),
            metric,
            window,
            window_start: start,
        })
    }

    /// The window start as a timestamp; [`Bucket::parse`] checked it is representable.
    pub fn window_start_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.window_start).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The database key in locking order.
    fn key(&self) -> (&str, &str, SubjectKind, &str, Metric, i64) {
        (
            &self.org,
            &self.policy_id,
            self.subject_kind,
            &self.subject,
            self.metric,
            self.window_start,
        )
    }

    pub fn to_proto(&self) -> QuotaBucket {
        QuotaBucket {
            org: self.org.clone(),
            policy_id: self.policy_id.clone(),
            subject_kind: self.subject_kind.name().to_owned(),
            subject: self.subject.clone(),
            metric: self.metric.name().to_owned(),
            window_start_unix: self.window_start,
            window: self.window.name().to_owned(),
        }
    }
}

impl PartialEq for Bucket {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Bucket {}

impl PartialOrd for Bucket {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bucket {
    // The window's name is not part of the key: buckets equal in every key column are one
    // counter row whatever window they name.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

fn identifier(field: &'static str, value: &str) -> Result<(), InvalidBucket> {
    if value.is_empty() {
        Err(InvalidBucket::Empty(field))
    } else if value.len() > MAX_ID_BYTES {
        Err(InvalidBucket::TooLong(field))
    } else {
        Ok(())
    }
}

/// An unknown enum value, shortened before it is echoed in an error.
fn echo(raw: &str) -> String {
    raw.chars().take(32).collect()
}

#[cfg(test)]
mod tests;
