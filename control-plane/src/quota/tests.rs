use super::*;

/// 2026-11-01T00:00:00Z: a Sunday, the first of a month.
const NOV_1: i64 = 1_793_491_200;

fn raw(kind: &str, policy_id: &str, window: &str, start: i64) -> QuotaBucket {
    QuotaBucket {
        org: "acme".into(),
        policy_id: policy_id.into(),
        subject_kind: kind.into(),
        subject: "alice".into(),
        metric: "requests".into(),
        window_start_unix: start,
        window: window.into(),
    }
}

#[test]
fn accepts_the_three_kinds_with_aligned_windows() {
    let user = Bucket::parse(Some(&raw("user", "support", "daily", NOV_1))).unwrap();
    assert_eq!(user.subject_kind, SubjectKind::User);
    assert_eq!(user.metric, Metric::Requests);
    assert_eq!(user.window_start_at().unix_timestamp(), NOV_1);
    assert_eq!(user.to_proto(), raw("user", "support", "daily", NOV_1));
    assert!(Bucket::parse(Some(&raw("project", "support", "monthly", NOV_1))).is_ok());
    assert!(Bucket::parse(Some(&raw("project_record", "", "monthly", NOV_1))).is_ok());
    // The Monday after.
    let monday = NOV_1 + 86_400;
    assert!(Bucket::parse(Some(&raw("user", "support", "weekly", monday))).is_ok());
}

#[test]
fn names_the_field_that_is_wrong() {
    let error = |bucket: QuotaBucket| Bucket::parse(Some(&bucket)).unwrap_err().to_string();
    assert_eq!(
        Bucket::parse(None).unwrap_err().to_string(),
        "bucket is missing"
    );
    assert_eq!(
        error(QuotaBucket {
            org: String::new(),
            ..raw("user", "support", "daily", NOV_1)
        }),
        "bucket.org is empty"
    );
    assert!(error(raw("team", "support", "daily", NOV_1)).contains("\"team\" is not one of"));
    assert!(error(raw("user", "", "daily", NOV_1)).contains("bucket.policy_id is empty"));
    assert!(error(raw("project_record", "support", "monthly", NOV_1)).contains("must be empty"));
    assert!(error(raw("user", "support", "hourly", NOV_1)).contains("bucket.window \"hourly\""));
    assert!(
        error(QuotaBucket {
            metric: "dollars".into(),
            ..raw("user", "support", "daily", NOV_1)
        })
        .contains("bucket.metric \"dollars\"")
    );
    assert!(
        error(raw("user", "support", "daily", NOV_1 + 60)).contains("not the start of a UTC daily")
    );
    // Nov 1st 2026 is a Sunday, not a Monday.
    assert!(error(raw("user", "support", "weekly", NOV_1)).contains("weekly"));
    assert!(error(raw("user", "support", "daily", i64::MAX)).contains("window_start_unix"));
    assert!(
        error(QuotaBucket {
            subject: "x".repeat(600),
            ..raw("user", "support", "daily", NOV_1)
        })
        .contains("bucket.subject is longer")
    );
}

#[test]
fn orders_by_the_database_key() {
    let a = Bucket::parse(Some(&raw("user", "support", "daily", NOV_1))).unwrap();
    let mut b = a.clone();
    b.subject = "bob".into();
    let mut tokens = a.clone();
    tokens.metric = Metric::Tokens;
    assert!(a < b && a < tokens);
    // The same counter row whatever window it names.
    let mut monthly = a.clone();
    monthly.window = Window::Monthly;
    assert_eq!(a, monthly);
}
