//! `policyctl test FILE...`: policy test files, the policy-as-code equivalent of unit tests.
//!
//! A file names a policy (a path relative to the file, or the document inline), optionally
//! a rollout candidate, and cases. Each case is a request and the decision record fields it
//! must produce; list fields compare as sets. See `examples/tests/` and the README.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use policy_engine::{CategorySet, CompiledPolicy};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::evaluate::{self, DEFAULT_HARD_BLOCKED, Request};
use crate::files::{compile, read_json};

#[derive(clap::Args)]
pub struct Args {
    /// Test files (JSON).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long, env = "HARD_BLOCKED_CATEGORIES", default_value = DEFAULT_HARD_BLOCKED)]
    hard_blocked: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    policy: Value,
    #[serde(default)]
    candidate: Option<Value>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    message: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    builtin_moderation: bool,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
    /// Fields of the enforced decision record that must match.
    expect: Map<String, Value>,
    /// Fields of the shadow (candidate) decision, when the case expects one.
    #[serde(default)]
    expect_shadow: Option<Map<String, Value>>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let hard_blocked = evaluate::hard_blocked(&args.hard_blocked)?;
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in &args.files {
        let outcome =
            run_file(path, hard_blocked).with_context(|| format!("{}", path.display()))?;
        passed += outcome.0;
        failed += outcome.1;
    }
    println!("policyctl test: {passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_file(path: &Path, hard_blocked: CategorySet) -> anyhow::Result<(usize, usize)> {
    let file: TestFile =
        serde_json::from_value(read_json(path)?).context("not a policy test file")?;
    if file.cases.is_empty() {
        bail!("has no cases");
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let stable = Arc::new(load_policy(base, &file.policy, 1)?);
    let candidate = match &file.candidate {
        Some(doc) => Some(Arc::new(load_policy(base, doc, 2)?)),
        None => None,
    };
    let (mut passed, mut failed) = (0, 0);
    for case in &file.cases {
        let request = Request {
            message: case.message.clone(),
            categories: case.categories.clone(),
            user: case.user.clone(),
            target: case.target.clone(),
            project: case.project.clone(),
            request_id: case.request_id.clone(),
            builtin_moderation: case.builtin_moderation,
        };
        let evaluation =
            evaluate::evaluate(stable.clone(), candidate.clone(), &request, hard_blocked)
                .with_context(|| format!("case {:?}", case.name))?;
        let mut problems = mismatches(&case.expect, &serde_json::to_value(&evaluation.enforced)?);
        if let Some(expected) = &case.expect_shadow {
            match &evaluation.shadow {
                Some(shadow) => {
                    problems.extend(mismatches(expected, &serde_json::to_value(shadow)?))
                }
                None => problems.push(
                    "a shadow decision was expected, but the request was not in the shadow arm"
                        .into(),
                ),
            }
        }
        if problems.is_empty() {
            passed += 1;
        } else {
            failed += 1;
            println!("FAIL {}: {}", path.display(), case.name);
            for problem in problems {
                println!("{problem}");
            }
        }
    }
    println!("{}: {passed} passed, {failed} failed", path.display());
    Ok((passed, failed))
}

/// A policy given as a path relative to the test file, or inline.
fn load_policy(base: &Path, policy: &Value, revision: u64) -> anyhow::Result<CompiledPolicy> {
    match policy {
        Value::String(relative) => {
            let path = base.join(relative);
            compile(&read_json(&path)?, revision, &path.display().to_string())
        }
        Value::Object(_) => compile(policy, revision, "inline policy"),
        _ => bail!("`policy` must be a path or a policy document"),
    }
}

/// One diff per mismatching field: `-` the expected value, `+` the actual one.
fn mismatches(expected: &Map<String, Value>, actual: &Value) -> Vec<String> {
    expected
        .iter()
        .filter(|(field, want)| !matches(actual.get(field.as_str()), want))
        .map(|(field, want)| {
            let got = actual.get(field.as_str()).cloned().unwrap_or(Value::Null);
            let want = pretty(want);
            let got = pretty(&got);
            let diff = similar::TextDiff::from_lines(&want, &got);
            format!(
                "  {field}:\n{}",
                diff.unified_diff()
                    .context_radius(3)
                    .header("expected", "actual")
                    .to_string()
                    .lines()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
        .collect()
}

fn matches(actual: Option<&Value>, expected: &Value) -> bool {
    match (actual, expected) {
        (Some(Value::Array(a)), Value::Array(e)) => {
            a.len() == e.len() && e.iter().all(|x| a.contains(x)) && a.iter().all(|x| e.contains(x))
        }
        (Some(actual), expected) => actual == expected,
        (None, _) => false,
    }
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_compare_as_sets_and_scalars_exactly() {
        let actual = json!({"hits": ["a", "b"], "decision": "allow"});
        let expected = json!({"hits": ["b", "a"], "decision": "allow"});
        assert!(mismatches(expected.as_object().unwrap(), &actual).is_empty());
        let expected = json!({"hits": ["a"], "decision": "refuse", "missing": true});
        let problems = mismatches(expected.as_object().unwrap(), &actual);
        assert_eq!(problems.len(), 3);
        assert!(
            problems[1].contains("-\"refuse\"") && problems[1].contains("+\"allow\""),
            "{}",
            problems[1]
        );
    }
}
