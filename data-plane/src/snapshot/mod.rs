//! The enforcement snapshot: everything a request is decided against (SPEC §0, §8).
//!
//! A [`Snapshot`] is built whole from the control plane's protobuf snapshot, off the
//! request path ([`build`]), and then published through one `ArcSwapOption` in
//! [`crate::state::AppState`]. A request loads it once and keeps that `Arc` for its whole
//! life, so a swap never changes the rules under a request in flight and the request path
//! takes no lock.
//!
//! - `build`: protobuf → indexes, compiling every policy revision (reusing the compiled
//!   form of revisions the previous snapshot already had).
//! - `cache`: the last activated snapshot on local disk, for starts without a control
//!   plane.
//! - `sync`: the `Subscribe` stream, ACK/NACK and reconnects.

mod build;
pub mod cache;
pub mod sync;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use policy_engine::{CategorySet, CompiledPolicy, PolicyRevisions};

pub use build::{BuildError, build, content_hash};

/// An API key the snapshot knows (revoked keys are simply absent).
#[derive(Debug)]
pub struct KeyEntry {
    pub hash: [u8; 32],
    pub org: Arc<str>,
    pub key_id: Arc<str>,
    /// `None` for an org-wide key.
    pub project_id: Option<Arc<str>>,
}

#[derive(Debug)]
pub struct ProjectEntry {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub suspended: bool,
    pub default_policy_id: Option<Arc<str>>,
    /// The project record's own limits (SPEC §4, §5), across every policy.
    pub monthly_request_limit: Option<u64>,
    pub monthly_token_limit: Option<u64>,
}

/// A policy's compiled stable revision and, during a rollout, its candidate.
#[derive(Debug)]
pub struct PolicyEntry {
    pub revisions: PolicyRevisions,
    /// SHA-256 of each revision's document, so the next snapshot can reuse the compiled
    /// form instead of compiling an unchanged revision again.
    stable_doc: [u8; 32],
    candidate_doc: Option<[u8; 32]>,
}

#[derive(Debug, Default)]
struct Org {
    projects: HashMap<Box<str>, Arc<ProjectEntry>>,
    policies: HashMap<Box<str>, Arc<PolicyEntry>>,
}

/// Key hashes are SHA-256 digests, already uniformly distributed: their first eight bytes
/// are a perfectly good hash, and skipping SipHash saves a few dozen ns per request.
#[derive(Default)]
struct DigestPrefixHasher(u64);

impl Hasher for DigestPrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    /// The digest's first eight bytes (an array's length prefix comes through
    /// `write_usize` and is ignored: it is always 32).
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let len = bytes.len().min(8);
        word[..len].copy_from_slice(&bytes[..len]);
        self.0 = u64::from_le_bytes(word);
    }

    fn write_usize(&mut self, _length_prefix: usize) {}
}

type KeyIndex = HashMap<[u8; 32], KeyEntry, BuildHasherDefault<DigestPrefixHasher>>;

/// One activated snapshot with its lookup indexes.
#[derive(Debug)]
pub struct Snapshot {
    pub version: u64,
    pub created_at_unix_ms: i64,
    /// As sent by the control plane (empty when it sent none).
    pub content_hash: Vec<u8>,
    /// Categories refused whatever the policy says (SPEC §2.2).
    pub hard_blocked: CategorySet,
    keys: KeyIndex,
    orgs: HashMap<Box<str>, Org>,
}

impl Snapshot {
    /// The key whose SHA-256 is `hash`, confirmed with a constant-time comparison
    /// (SPEC §3.3).
    pub fn key(&self, hash: &[u8; 32]) -> Option<&KeyEntry> {
        self.keys
            .get(hash)
            .filter(|entry| policy_engine::keys::hashes_equal(&entry.hash, hash))
    }

    pub fn project(&self, org: &str, id: &str) -> Option<&Arc<ProjectEntry>> {
        self.orgs.get(org)?.projects.get(id)
    }

    pub fn policy(&self, org: &str, policy_id: &str) -> Option<&Arc<PolicyEntry>> {
        self.orgs.get(org)?.policies.get(policy_id)
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    pub fn policy_count(&self) -> usize {
        self.orgs.values().map(|org| org.policies.len()).sum()
    }

    /// The compiled revision of `(org, policy_id)` at `revision` whose document hashes to
    /// `doc`, if this snapshot has it.
    fn compiled(
        &self,
        org: &str,
        policy_id: &str,
        revision: u64,
        doc: &[u8; 32],
    ) -> Option<Arc<CompiledPolicy>> {
        let entry = self.policy(org, policy_id)?;
        let stable = &entry.revisions.stable;
        if stable.revision() == revision && &entry.stable_doc == doc {
            return Some(stable.clone());
        }
        match (&entry.revisions.candidate, &entry.candidate_doc) {
            (Some(candidate), Some(hash)) if candidate.revision() == revision && hash == doc => {
                Some(candidate.clone())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
