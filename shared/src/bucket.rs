//! The names a quota bucket's kind and metric have on the wire and in the database
//! (SPEC §4): both planes and the `quota_counters` rows use exactly these.

/// Whose use a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubjectKind {
    /// A policy's `user_quota`; the subject is the quota subject.
    User,
    /// A policy's `project_quota`; the subject is the project id.
    Project,
    /// The project record's monthly limits (every policy); the subject is the project id.
    ProjectRecord,
}

impl SubjectKind {
    pub const NAMES: &'static str = "user, project, project_record";

    pub const fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Project => "project",
            Self::ProjectRecord => "project_record",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "user" => Some(Self::User),
            "project" => Some(Self::Project),
            "project_record" => Some(Self::ProjectRecord),
            _ => None,
        }
    }
}

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    Requests,
    Tokens,
}

impl Metric {
    pub const NAMES: &'static str = "requests, tokens";

    pub const fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "requests" => Some(Self::Requests),
            "tokens" => Some(Self::Tokens),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for kind in [
            SubjectKind::User,
            SubjectKind::Project,
            SubjectKind::ProjectRecord,
        ] {
            assert_eq!(SubjectKind::parse(kind.name()), Some(kind));
            assert!(SubjectKind::NAMES.contains(kind.name()));
        }
        for metric in [Metric::Requests, Metric::Tokens] {
            assert_eq!(Metric::parse(metric.name()), Some(metric));
            assert!(Metric::NAMES.contains(metric.name()));
        }
        assert_eq!(SubjectKind::parse("users"), None);
        assert_eq!(Metric::parse("dollars"), None);
    }
}
