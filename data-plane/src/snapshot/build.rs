//! Turning the control plane's protobuf snapshot into an enforceable [`Snapshot`].
//!
//! Runs on a blocking thread (compiling 10,000-term lists takes milliseconds per policy)
//! and either succeeds whole or fails with every problem found, which the sync loop sends
//! back as the NACK's error while the old snapshot stays active (SPEC §8).

use std::collections::HashMap;
use std::sync::Arc;

use policy_engine::category::Category;
use policy_engine::{CategorySet, CompiledPolicy, PolicyRevisions};
use policy_proto::v1 as pb;
use sha2::{Digest, Sha256};

use super::{KeyEntry, KeyIndex, Org, PolicyEntry, ProjectEntry, Snapshot};

/// The categories refused when the control plane sends no setting (SPEC §2.2).
pub const DEFAULT_HARD_BLOCKED: [Category; 1] = [Category::SexualMinors];

/// Errors are joined into one NACK message; past this many the rest are only counted.
const MAX_REPORTED_ERRORS: usize = 20;

/// Why a snapshot was rejected: every problem found, in document order.
#[derive(Debug, thiserror::Error)]
#[error("snapshot {version} rejected: {}", summarize(.problems))]
pub struct BuildError {
    pub version: u64,
    pub problems: Vec<String>,
}

fn summarize(problems: &[String]) -> String {
    let mut out = problems
        .iter()
        .take(MAX_REPORTED_ERRORS)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > MAX_REPORTED_ERRORS {
        out.push_str(&format!(
            "; and {} more",
            problems.len() - MAX_REPORTED_ERRORS
        ));
    }
    out
}

/// One revision that has to be compiled (no previous snapshot had it).
struct Job<'a> {
    org: &'a str,
    policy_id: &'a str,
    revision: u64,
    document: &'a str,
}

/// Builds the indexes of `proto`, reusing compiled revisions of `previous` whose document
/// is unchanged. `hard_blocked` overrides the snapshot's own setting.
pub fn build(
    proto: &pb::Snapshot,
    previous: Option<&Snapshot>,
    hard_blocked: Option<CategorySet>,
) -> Result<Snapshot, BuildError> {
    if !proto.content_hash.is_empty() && content_hash(proto)[..] != proto.content_hash[..] {
        return Err(BuildError {
            version: proto.version,
            problems: vec![
                "content hash mismatch: the snapshot is not what the control plane hashed".into(),
            ],
        });
    }
    let mut problems = Vec::new();
    let hard_blocked = hard_blocked.unwrap_or_else(|| settings_hard_blocked(proto, &mut problems));

    // Revisions to compile, and those that can be reused as they are.
    let mut compiled: HashMap<(&str, &str, u64), Arc<CompiledPolicy>> = HashMap::new();
    let mut jobs = Vec::new();
    for state in &proto.policies {
        let revisions =
            std::iter::once(state.stable.as_ref()).chain(std::iter::once(state.candidate.as_ref()));
        for revision in revisions.flatten() {
            let doc = digest(&revision.document_json);
            let reused = previous
                .and_then(|p| p.compiled(&state.org, &state.policy_id, revision.revision, &doc));
            match reused {
                Some(policy) => {
                    compiled.insert((&state.org, &state.policy_id, revision.revision), policy);
                }
                None => jobs.push(Job {
                    org: &state.org,
                    policy_id: &state.policy_id,
                    revision: revision.revision,
                    document: &revision.document_json,
                }),
            }
        }
    }
    for (job, result) in jobs.iter().zip(compile_all(&jobs)) {
        match result {
            Ok(policy) => {
                compiled.insert((job.org, job.policy_id, job.revision), Arc::new(policy));
            }
            Err(message) => problems.push(format!(
                "policy {}/{} revision {}: {message}",
                job.org, job.policy_id, job.revision
            )),
        }
    }

    let mut orgs: HashMap<Box<str>, Org> = HashMap::new();
    for state in &proto.policies {
        let Some(stable) = &state.stable else {
            problems.push(format!(
                "policy {}/{} has no stable revision",
                state.org, state.policy_id
            ));
            continue;
        };
        let key = |revision: u64| (state.org.as_str(), state.policy_id.as_str(), revision);
        let (Some(stable_policy), candidate) = (
            compiled.get(&key(stable.revision)),
            state
                .candidate
                .as_ref()
                .map(|c| compiled.get(&key(c.revision))),
        ) else {
            continue;
        };
        if matches!(candidate, Some(None)) {
            continue;
        }
        let entry = PolicyEntry {
            revisions: PolicyRevisions {
                stable: stable_policy.clone(),
                candidate: candidate.flatten().cloned(),
            },
            stable_doc: digest(&stable.document_json),
            candidate_doc: state.candidate.as_ref().map(|c| digest(&c.document_json)),
        };
        let org = orgs.entry(state.org.as_str().into()).or_default();
        if org
            .policies
            .insert(state.policy_id.as_str().into(), Arc::new(entry))
            .is_some()
        {
            problems.push(format!(
                "policy {}/{} appears twice",
                state.org, state.policy_id
            ));
        }
    }

    for project in &proto.projects {
        let entry = ProjectEntry {
            id: Arc::from(project.id.as_str()),
            name: Arc::from(project.name.as_str()),
            suspended: project.suspended,
            default_policy_id: project
                .default_policy_id
                .as_deref()
                .filter(|id| !id.is_empty())
                .map(Arc::from),
            monthly_request_limit: project.monthly_request_limit,
            monthly_token_limit: project.monthly_token_limit,
        };
        let org = orgs.entry(project.org.as_str().into()).or_default();
        if org
            .projects
            .insert(project.id.as_str().into(), Arc::new(entry))
            .is_some()
        {
            problems.push(format!(
                "project {}/{} appears twice",
                project.org, project.id
            ));
        }
    }

    let mut keys = KeyIndex::with_capacity_and_hasher(proto.keys.len(), Default::default());
    let mut org_names: HashMap<&str, Arc<str>> = HashMap::new();
    for key in &proto.keys {
        let Ok(hash) = <[u8; 32]>::try_from(key.key_hash.as_slice()) else {
            problems.push(format!(
                "key {}/{}: hash is {} bytes, expected 32",
                key.org,
                key.key_id,
                key.key_hash.len()
            ));
            continue;
        };
        let org = org_names
            .entry(key.org.as_str())
            .or_insert_with(|| Arc::from(key.org.as_str()))
            .clone();
        let entry = KeyEntry {
            hash,
            org,
            key_id: Arc::from(key.key_id.as_str()),
            project_id: (!key.project_id.is_empty()).then(|| Arc::from(key.project_id.as_str())),
        };
        if keys.insert(hash, entry).is_some() {
            problems.push(format!("key {}/{}: duplicate hash", key.org, key.key_id));
        }
    }

    if !problems.is_empty() {
        return Err(BuildError {
            version: proto.version,
            problems,
        });
    }
    Ok(Snapshot {
        version: proto.version,
        created_at_unix_ms: proto.created_at_unix_ms,
        content_hash: proto.content_hash.clone(),
        hard_blocked,
        keys,
        orgs,
    })
}

/// The control plane's content hash: SHA-256 of the snapshot encoded without its header
/// fields (`version`, `content_hash`, `created_at_unix_ms`), i.e. of fields 4–7 in order.
/// Encoded field by field so a snapshot of 100,000 keys is not cloned to clear three.
pub fn content_hash(proto: &pb::Snapshot) -> [u8; 32] {
    use prost::encoding::message;
    let mut buf = Vec::with_capacity(prost::Message::encoded_len(proto));
    for policy in &proto.policies {
        message::encode(4, policy, &mut buf);
    }
    for project in &proto.projects {
        message::encode(5, project, &mut buf);
    }
    for key in &proto.keys {
        message::encode(6, key, &mut buf);
    }
    if let Some(settings) = &proto.settings {
        message::encode(7, settings, &mut buf);
    }
    Sha256::digest(&buf).into()
}

/// The snapshot's hard-blocked categories; the SPEC default when it sends none.
fn settings_hard_blocked(proto: &pb::Snapshot, problems: &mut Vec<String>) -> CategorySet {
    let names = proto
        .settings
        .as_ref()
        .map(|s| s.hard_blocked_categories.as_slice())
        .unwrap_or_default();
    if names.is_empty() {
        return DEFAULT_HARD_BLOCKED.into_iter().collect();
    }
    match CategorySet::parse_names(names.iter().map(String::as_str)) {
        Ok(set) => set,
        Err(name) => {
            problems.push(format!(
                "settings.hard_blocked_categories: unknown category {name:?}"
            ));
            CategorySet::EMPTY
        }
    }
}

fn digest(document: &str) -> [u8; 32] {
    Sha256::digest(document.as_bytes()).into()
}

/// Compiles every job, spread over the available cores: a snapshot of 1,000 policies
/// must build within SPEC §12's one second.
fn compile_all(jobs: &[Job<'_>]) -> Vec<Result<CompiledPolicy, String>> {
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(jobs.len().max(1));
    if threads <= 1 {
        return jobs.iter().map(compile).collect();
    }
    let per_thread = jobs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(compile).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    vec![Err("compilation thread failed".to_string()); per_thread]
                })
            })
            .take(jobs.len())
            .collect()
    })
}

fn compile(job: &Job<'_>) -> Result<CompiledPolicy, String> {
    let value: serde_json::Value =
        serde_json::from_str(job.document).map_err(|e| format!("document is not JSON: {e}"))?;
    let policy = CompiledPolicy::from_json(&value, job.revision).map_err(|e| e.to_string())?;
    if policy.policy_id().as_ref() != job.policy_id {
        return Err(format!(
            "document says policy_id {:?}",
            policy.policy_id().as_ref()
        ));
    }
    Ok(policy)
}
