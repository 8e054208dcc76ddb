//! Reading policy documents from disk.

use std::path::Path;

use anyhow::Context as _;
use policy_engine::{CompiledPolicy, ValidationError, validate};
use serde_json::Value;

/// Reads a JSON file, with the path in any error.
pub fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Validates and compiles a policy document, turning validation errors into one readable
/// error that lists every problem.
pub fn compile(doc: &Value, revision: u64, origin: &str) -> anyhow::Result<CompiledPolicy> {
    let policy = validate(doc).map_err(|errors| anyhow::anyhow!(describe(origin, &errors)))?;
    Ok(CompiledPolicy::compile(policy, revision)?)
}

/// `ORIGIN: POINTER: MESSAGE` lines, the format `policyctl validate` prints.
pub fn describe(origin: &str, errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(|e| format!("{origin}: {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}
