//! Rollout resolution (SPEC §2.6): which revision decides a request, and whether the
//! candidate is also evaluated in shadow.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::compile::CompiledPolicy;
use crate::decision::{Decision, DecisionInput, RolloutMode};
use crate::model::RolloutStage;

/// Sampling resolution: `sample_percent` is compared in hundredths of a percent.
pub const BUCKETS: u64 = 10_000;

/// The stable revision of a policy and, while a rollout is active, its candidate.
#[derive(Debug, Clone)]
pub struct PolicyRevisions {
    pub stable: Arc<CompiledPolicy>,
    pub candidate: Option<Arc<CompiledPolicy>>,
}

/// The request facts rollout resolution depends on.
#[derive(Debug, Clone, Copy)]
pub struct RolloutRequest<'a> {
    /// The normalized `policy_user`, else the request id (SPEC §2.6).
    pub sample_key: &'a str,
    /// The normalized `policy_target`, else the request's project id.
    pub target: Option<&'a str>,
}

/// The outcome for one request: the decision acted on and, in shadow mode, the candidate's
/// decision recorded alongside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub enforced: Decision,
    pub shadow: Option<Decision>,
}

/// The rollout arm a request falls into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    Stable,
    Canary,
    Shadow,
}

impl PolicyRevisions {
    /// Stable only: no rollout in progress.
    pub fn stable(stable: Arc<CompiledPolicy>) -> Self {
        Self {
            stable,
            candidate: None,
        }
    }

    pub fn arm(&self, request: &RolloutRequest<'_>) -> Arm {
        match &self.candidate {
            Some(candidate) => arm(candidate, request),
            None => Arm::Stable,
        }
    }

    /// Decides a request as SPEC §2.6 says. Hard blocks apply whichever revision decides.
    pub fn evaluate(&self, request: &RolloutRequest<'_>, input: &DecisionInput<'_>) -> Evaluation {
        match (self.arm(request), &self.candidate) {
            (Arm::Canary, Some(candidate)) => Evaluation {
                enforced: candidate.decide_as(input, RolloutMode::Canary),
                shadow: None,
            },
            (Arm::Shadow, Some(candidate)) => Evaluation {
                enforced: self.stable.decide_as(input, RolloutMode::Enforced),
                shadow: Some(candidate.decide_as(input, RolloutMode::Shadow)),
            },
            _ => Evaluation {
                enforced: self.stable.decide_as(input, RolloutMode::Enforced),
                shadow: None,
            },
        }
    }
}

/// The arm for a request under a candidate's rollout settings (the candidate's settings
/// govern its own rollout).
fn arm(candidate: &CompiledPolicy, request: &RolloutRequest<'_>) -> Arm {
    let rollout = &candidate.policy().rollout;
    let bucket = sample_bucket(
        candidate.policy_id(),
        candidate.revision(),
        request.sample_key,
    );
    let selects = |stage: &RolloutStage| {
        stage.enabled
            && in_scope(stage, request.target)
            && (bucket as f64) < stage.sample_percent * 100.0
    };
    if selects(&rollout.canary) {
        Arm::Canary
    } else if selects(&rollout.shadow) {
        Arm::Shadow
    } else {
        Arm::Stable
    }
}

fn in_scope(stage: &RolloutStage, target: Option<&str>) -> bool {
    stage.targets.is_empty() || target.is_some_and(|t| stage.targets.iter().any(|s| s == t))
}

/// `hash(policy_id, candidate revision, sample key) mod 10000`, with SHA-256 over
/// `policy_id NUL revision NUL sample_key` read as a big-endian u64 from its first 8 bytes.
/// Stable across processes, platforms and releases, so a user keeps their arm everywhere.
pub fn sample_bucket(policy_id: &str, candidate_revision: u64, sample_key: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(policy_id.as_bytes());
    hasher.update([0]);
    hasher.update(candidate_revision.to_string().as_bytes());
    hasher.update([0]);
    hasher.update(sample_key.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

#[cfg(test)]
mod tests;
