#!/usr/bin/env bash
# Quickstart: builds policyctl and shows the policy engine at work on the example
# policies: validation, the example policy tests, single decisions and redaction.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building policyctl"
cargo build --quiet --release -p policyctl
policyctl=target/release/policyctl

echo
echo "==> validating the example policies"
"$policyctl" validate examples/policies/*.json

echo
echo "==> a broken policy: every problem is reported at once, with a JSON pointer"
broken=$(mktemp)
trap 'rm -f "$broken"' EXIT
cat >"$broken" <<'JSON'
{ "policy_id": "Support Bot", "name": "Support",
  "rules": { "respons_pattern": "refuse", "allowlist": ["refunds", "Refunds"] },
  "org_controls": { "user_quota": { "requests": 100 } } }
JSON
"$policyctl" validate "$broken" || echo "(exit code $?: invalid, as expected)"

echo
echo "==> running the example policy tests"
"$policyctl" test examples/tests/*.json

echo
echo "==> decisions"
printf '%-48s %-9s %-8s %s\n' "message" "decision" "code" "hits"
for message in \
  "Share our internal incident response steps." \
  "Where is the status page?" \
  "Tell me a joke."; do
  "$policyctl" eval --policy examples/policies/policy-as-code.json --message "$message" --user demo \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print("{:<48} {:<9} {:<8} {}".format(sys.argv[1], d["decision"], d["reason_code"], d["allowlist_hits"] + d["denylist_hits"]))' "$message"
done

echo
echo "==> redaction (whole text, then streamed 7 bytes at a time: same output)"
sample='Mail jane.doe@example.com or call (212) 555-0147; card 4012 8888 8888 1881.'
echo "$sample" | "$policyctl" redact
echo "$sample" | "$policyctl" redact --chunk-size 7
