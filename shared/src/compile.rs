//! Compilation of a validated revision into the immutable form decisions run against.
//! Done once per revision, off the request path; the result is shared behind an `Arc`.

use std::sync::Arc;

use serde_json::Value;

use crate::category::CategorySet;
use crate::decision::{Decision, DecisionInput, RolloutMode, decide};
use crate::matcher::{MatcherError, TermMatcher};
use crate::model::{DecisionKind, Policy};
use crate::validate::{self, ValidationError};

/// A policy revision ready to decide requests.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    policy: Policy,
    revision: u64,
    policy_id: Arc<str>,
    policy_name: Arc<str>,
    terms: TermMatcher,
    flagged: CategorySet,
    violation: DecisionKind,
}

/// Why a document could not become a [`CompiledPolicy`].
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("the policy is invalid: {}", summarize(.0))]
    Invalid(Vec<ValidationError>),
    #[error(transparent)]
    Matcher(#[from] MatcherError),
}

fn summarize(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl CompiledPolicy {
    pub fn compile(policy: Policy, revision: u64) -> Result<CompiledPolicy, CompileError> {
        let terms = TermMatcher::new(&policy.rules.allowlist, &policy.rules.denylist)?;
        Ok(CompiledPolicy {
            policy_id: Arc::from(policy.policy_id.as_str()),
            policy_name: Arc::from(policy.name.as_str()),
            flagged: policy.rules.flagged_categories.iter().copied().collect(),
            violation: policy.rules.violation_decision(&policy.refusal_replacement),
            terms,
            revision,
            policy,
        })
    }

    /// Validates and compiles a JSON document in one step.
    pub fn from_json(doc: &Value, revision: u64) -> Result<CompiledPolicy, CompileError> {
        let policy = validate::validate(doc).map_err(CompileError::Invalid)?;
        CompiledPolicy::compile(policy, revision)
    }

    /// The decision of this revision alone, enforced (no rollout involved).
    pub fn decide(&self, input: &DecisionInput<'_>) -> Decision {
        decide(self, input, RolloutMode::Enforced)
    }

    pub(crate) fn decide_as(&self, input: &DecisionInput<'_>, mode: RolloutMode) -> Decision {
        decide(self, input, mode)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn policy_id(&self) -> &Arc<str> {
        &self.policy_id
    }

    pub fn policy_name(&self) -> &Arc<str> {
        &self.policy_name
    }

    pub(crate) fn terms(&self) -> &TermMatcher {
        &self.terms
    }

    pub(crate) fn flagged(&self) -> CategorySet {
        self.flagged
    }

    /// The decision a violation produces under this revision.
    pub fn violation_decision(&self) -> DecisionKind {
        self.violation
    }
}
