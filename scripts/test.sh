#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
#
# Finds or starts Postgres (scripts/ensure-postgres.sh), then checks formatting, lints,
# and runs every test of the workspace: engine unit and property tests, conformance
# vectors, policyctl example policy tests, control-plane integration tests against real
# Postgres (one database per test) and the end-to-end tests that start the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "test.sh: cargo is not installed; install Rust with rustup first" >&2
  exit 1
fi

# A clean CI clone builds everything once: incremental caches would only take disk.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi
df -h . | awk 'NR == 2 { print "==> disk: " $4 " free on " $6 }'

eval "$(scripts/ensure-postgres.sh)"
export DATABASE_URL

# The end-to-end tests drive a data plane with the official OpenAI Python SDK (pinned).
OPENAI_SDK_VERSION=3.54.0
venv="$PWD/.state/venv"
if ! "$venv/bin/python" -c "import openai, sys; sys.exit(openai.__version__ != '$OPENAI_SDK_VERSION')" 2>/dev/null; then
  echo "==> python venv with openai==$OPENAI_SDK_VERSION in .state/venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "openai==$OPENAI_SDK_VERSION"
fi
export E2E_PYTHON="$venv/bin/python"

# The Kubernetes manifests are validated against the API schemas kubernetes-validate
# bundles (no network once installed); tests/e2e/deploy_manifests.rs checks how they fit
# together and with the binaries.
KUBERNETES_VALIDATE_VERSION=1.37.0
if [ "$("$venv/bin/kubernetes-validate" --version 2>/dev/null)" != "$KUBERNETES_VALIDATE_VERSION" ]; then
  echo "==> kubernetes-validate==$KUBERNETES_VALIDATE_VERSION in .state/venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
# Oldest and newest Kubernetes minor versions the manifests are checked against.
KUBERNETES_VERSIONS=(1.29.0 1.37.0)
echo "==> kubernetes-validate deploy/kubernetes (Kubernetes ${KUBERNETES_VERSIONS[*]})"
manifests=()
for manifest in deploy/kubernetes/*.yaml; do
  [ "$(basename "$manifest")" = kustomization.yaml ] || manifests+=("$manifest")
done
for version in "${KUBERNETES_VERSIONS[@]}"; do
  "$venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$version" \
    "${manifests[@]}"
done

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# cargo ends on its last target's line (often a doc-test target with 0 tests); close on
# the totals of every target instead.
total() {
  grep -E '^test result:' "$log" | sed -E "s/.* ([0-9]+) passed; ([0-9]+) failed.*/\\$1/" \
    | awk '{ sum += $1 } END { print sum + 0 }'
}
echo
echo "$(total 1) passed, $(total 2) failed"
exit "$status"
