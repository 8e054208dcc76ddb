//! One evaluation as the gateway would run it, from command-line style inputs. Shared by
//! `eval` and `test` so both decide exactly alike.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use policy_engine::moderation::Lexicon;
use policy_engine::normalize;
use policy_engine::{
    CategorySet, CompiledPolicy, DecisionInput, Evaluation, Moderation, PolicyRevisions,
    RolloutRequest,
};

/// Default of the gateway's `HARD_BLOCKED_CATEGORIES` (SPEC §2.2, §13).
pub const DEFAULT_HARD_BLOCKED: &str = "sexual/minors";

/// The request side of one evaluation.
#[derive(Debug, Default, Clone)]
pub struct Request {
    pub message: String,
    pub categories: Vec<String>,
    pub user: Option<String>,
    pub target: Option<String>,
    pub project: Option<String>,
    pub request_id: Option<String>,
    /// Also run the builtin lexicon classifier on the message, as a data plane with
    /// `MODERATION_PROVIDER=builtin` would.
    pub builtin_moderation: bool,
}

pub fn parse_categories<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<CategorySet> {
    CategorySet::parse_names(names.into_iter().filter(|n| !n.trim().is_empty())).map_err(
        |unknown| {
            anyhow::anyhow!(
                "unknown moderation category {unknown:?}; known: {}",
                policy_engine::Category::known_names()
            )
        },
    )
}

pub fn evaluate(
    stable: Arc<CompiledPolicy>,
    candidate: Option<Arc<CompiledPolicy>>,
    request: &Request,
    hard_blocked: CategorySet,
) -> anyhow::Result<Evaluation> {
    let mut labels = parse_categories(request.categories.iter().map(String::as_str))?;
    if request.builtin_moderation {
        labels = labels.union(Lexicon::builtin().classify(&request.message));
    }
    let user = request.user.as_deref().and_then(normalize::slug);
    let project = request.project.as_deref().and_then(normalize::slug);
    // SPEC §2.6: the project id stands in for a missing target; the user, else the request
    // id, is the sample key.
    let target = request
        .target
        .as_deref()
        .and_then(normalize::target)
        .or(project);
    let sample_key = user.or_else(|| request.request_id.clone());
    if candidate.is_some() && sample_key.is_none() {
        bail!("a candidate needs a user or a request id to place the request in a rollout arm");
    }
    if let Some(candidate) = &candidate
        && candidate.policy_id() != stable.policy_id()
    {
        bail!(
            "the candidate is policy {:?} but the stable revision is {:?}",
            candidate.policy_id(),
            stable.policy_id()
        );
    }
    let revisions = PolicyRevisions { stable, candidate };
    let input = DecisionInput {
        text: &request.message,
        moderation: Moderation::Labels(labels),
        hard_blocked,
    };
    let rollout = RolloutRequest {
        sample_key: sample_key.as_deref().unwrap_or_default(),
        target: target.as_deref(),
    };
    Ok(revisions.evaluate(&rollout, &input))
}

pub fn hard_blocked(spec: &str) -> anyhow::Result<CategorySet> {
    parse_categories(spec.split(',')).context("invalid hard-blocked categories")
}
