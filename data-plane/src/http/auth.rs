//! Who is calling and under which policy (SPEC §3.2, §3.3).
//!
//! The presented key is checked for shape, hashed (SHA-256) and looked up in the pinned
//! snapshot, the hit confirmed with a constant-time comparison. A project-scoped key
//! fixes the project; an org-wide key takes it from the request's metadata. The policy is
//! the one named, else the project's default.

use std::sync::Arc;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use policy_engine::keys;

use super::request::Metadata;
use crate::error::ApiError;
use crate::snapshot::{KeyEntry, PolicyEntry, ProjectEntry, Snapshot};

/// The key of the request.
pub fn authenticate<'s>(
    snapshot: &'s Snapshot,
    headers: &HeaderMap,
) -> Result<&'s KeyEntry, ApiError> {
    let header = headers.get(AUTHORIZATION).ok_or(ApiError::MissingKey)?;
    let value = header.to_str().map_err(|_| ApiError::InvalidKey)?;
    let raw = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or(ApiError::InvalidKey)?;
    if !keys::is_well_formed(raw) {
        return Err(ApiError::InvalidKey);
    }
    snapshot
        .key(&keys::hash_key(raw))
        .ok_or(ApiError::InvalidKey)
}

/// The project and policy a request runs under.
#[derive(Debug)]
pub struct Scope<'s> {
    pub project: Option<&'s Arc<ProjectEntry>>,
    pub policy_id: Arc<str>,
    pub policy: &'s Arc<PolicyEntry>,
}

/// Resolves the project (scope checks included) and then the policy.
pub fn resolve<'s>(
    snapshot: &'s Snapshot,
    key: &KeyEntry,
    meta: &Metadata,
) -> Result<Scope<'s>, ApiError> {
    let project = match (&key.project_id, &meta.project) {
        (Some(own), Some(named)) if own.as_ref() != named => {
            return Err(ApiError::WrongProject(named.clone()));
        }
        (Some(own), _) => Some(
            snapshot
                .project(&key.org, own)
                .ok_or(ApiError::KeyProjectMissing)?,
        ),
        (None, Some(named)) => Some(
            snapshot
                .project(&key.org, named)
                .ok_or_else(|| ApiError::UnknownProject(named.clone()))?,
        ),
        (None, None) => None,
    };
    if let Some(project) = project
        && project.suspended
    {
        return Err(ApiError::ProjectSuspended(project.id.to_string()));
    }

    let policy_id: Arc<str> = match (
        &meta.policy_id,
        project.and_then(|p| p.default_policy_id.as_ref()),
    ) {
        (Some(named), _) => Arc::from(named.as_str()),
        (None, Some(default)) => default.clone(),
        (None, None) => return Err(ApiError::NoPolicy),
    };
    let policy = snapshot
        .policy(&key.org, &policy_id)
        .ok_or_else(|| ApiError::UnknownPolicy(policy_id.to_string()))?;
    // The candidate's controls govern while it decides; requiring project keys under
    // either revision keeps a rollout from widening access.
    let requires_project_key = std::iter::once(&policy.revisions.stable)
        .chain(&policy.revisions.candidate)
        .any(|p| p.policy().org_controls.project_keys);
    if requires_project_key && key.project_id.is_none() {
        return Err(ApiError::ProjectKeyRequired(policy_id.to_string()));
    }
    Ok(Scope {
        project,
        policy_id,
        policy,
    })
}
