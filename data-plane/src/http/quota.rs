//! Quota admission of a forwarded request (SPEC §4) and the 429 that refuses one.
//!
//! Which buckets apply: the deciding revision's `user_quota` (when it enables
//! `user_quotas`) per quota subject, its `project_quota` per project, and the project
//! record's monthly limits. A request reserves 1 of every request metric and, of every
//! token metric, its prompt estimate plus the completion tokens it may use.

use std::sync::{Arc, LazyLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::Response;
use policy_engine::model::Quota;
use policy_engine::{CompiledPolicy, Decision, Window};
use serde_json::{Map, Value};

use super::record::{Facts, estimate_tokens};
use super::respond::{decision_headers, json_response};
use crate::error::ApiError;
use crate::quota::{BucketKey, Demand, Limit, QuotaGuard};
use crate::snapshot::ProjectEntry;
use crate::state::AppState;

/// Largest `n` a reservation multiplies the completion budget by.
const MAX_CHOICES: u64 = 128;

/// The project record's buckets span every policy: their policy id is empty.
static NO_POLICY: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));

/// Admits the request, or answers 429 (with the decision's headers and `policy` record,
/// since the request reached a decision).
pub async fn admit(
    app: &AppState,
    policy: &CompiledPolicy,
    project: Option<&ProjectEntry>,
    facts: &Facts,
    body: &Map<String, Value>,
    prompt_bytes: usize,
    decision: &Decision,
) -> Result<QuotaGuard, Response> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let demands = demands(policy, project, facts, now);
    if demands.is_empty() {
        return Ok(QuotaGuard::default());
    }
    let tokens = reservation(body, prompt_bytes, app.default_max_tokens);
    let rejection = match app.quotas.admit(&demands, tokens).await {
        Ok(guard) => return Ok(guard),
        Err(rejection) => rejection,
    };
    app.metrics.quota_rejected(rejection.limit);
    tracing::debug!(
        limit = rejection.limit.name(),
        reason = ?rejection.reason,
        retry_after = rejection.retry_after,
        "quota exceeded"
    );
    app.reporter.audit(facts.audit(decision, policy));
    let error = ApiError::QuotaExceeded(rejection);
    app.metrics.error(error.status().as_u16());
    let mut body = error.body();
    body["policy"] = serde_json::to_value(decision).unwrap_or(Value::Null);
    let mut response = json_response(error.status(), Body::from(body.to_string()));
    error.retry_headers(response.headers_mut());
    decision_headers(response.headers_mut(), decision);
    Err(response)
}

/// The buckets a request decided by `policy` is admitted against, at Unix time `now`.
pub fn demands(
    policy: &CompiledPolicy,
    project: Option<&ProjectEntry>,
    facts: &Facts,
    now: i64,
) -> Vec<Demand> {
    let controls = &policy.policy().org_controls;
    let mut demands = Vec::new();
    let mut add = |policy_id: &Arc<str>, subject: &Arc<str>, limit: Limit, max, window| {
        let Ok(bounds) = Window::bounds(window, now) else {
            return;
        };
        demands.push(Demand {
            key: BucketKey {
                org: facts.org.clone(),
                policy_id: policy_id.clone(),
                subject: subject.clone(),
                limit,
                window,
                window_start: bounds.start,
            },
            max,
            window_end: bounds.end,
        });
    };
    let mut quota = |quota: &Quota, subject: &Arc<str>, [requests, tokens]: [Limit; 2]| {
        if let Some(max) = quota.requests {
            add(&facts.policy_id, subject, requests, max, quota.window);
        }
        if let Some(max) = quota.tokens {
            add(&facts.policy_id, subject, tokens, max, quota.window);
        }
    };
    if controls.user_quotas
        && let Some(user_quota) = &controls.user_quota
    {
        let subject = Arc::from(facts.quota_subject());
        quota(
            user_quota,
            &subject,
            [Limit::UserRequests, Limit::UserTokens],
        );
    }
    if let (Some(project_quota), Some(project)) = (&controls.project_quota, project) {
        quota(
            project_quota,
            &project.id,
            [Limit::ProjectRequests, Limit::ProjectTokens],
        );
    }
    if let Some(project) = project {
        if let Some(max) = project.monthly_request_limit {
            add(
                &NO_POLICY,
                &project.id,
                Limit::MonthlyRequests,
                max,
                Window::Monthly,
            );
        }
        if let Some(max) = project.monthly_token_limit {
            add(
                &NO_POLICY,
                &project.id,
                Limit::MonthlyTokens,
                max,
                Window::Monthly,
            );
        }
    }
    demands
}

/// Tokens a request reserves: its prompt estimate plus the completion tokens it allows
/// (`max_completion_tokens`, else `max_tokens`, else `default_max`) for each of its `n`
/// choices.
pub fn reservation(body: &Map<String, Value>, prompt_bytes: usize, default_max: u64) -> u64 {
    let field = |name: &str| body.get(name).and_then(Value::as_u64);
    let completion = field("max_completion_tokens")
        .or_else(|| field("max_tokens"))
        .unwrap_or(default_max);
    let choices = field("n").unwrap_or(1).clamp(1, MAX_CHOICES);
    estimate_tokens(prompt_bytes).saturating_add(completion.saturating_mul(choices))
}
