#!/usr/bin/env python3
"""The HTTP half of scripts/quickstart.sh (Python's standard library only).

  quickstart_demo.py wait NAME URL PID LOG [BEARER]  poll URL until it answers 200, while PID lives
  quickstart_demo.py seed STATE_DIR                   policies, projects, keys via the REST API
  quickstart_demo.py demo STATE_DIR                   requests through both data planes, a table

Settings come from the environment the shell script exports (QS_*). `seed` writes
STATE_DIR/demo.json (the admin JWT and the raw demo keys, mode 0600) for `demo` and for
the person trying the gateway by hand; `demo` writes STATE_DIR/demo-results.json and exits
1 when an answer differs from what the demo expects.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

API_PREFIX = "/api/policy-gateway"
ORG = "demo"
DEADLINE_SECS = 60

# The third policy: a user quota of two requests a day, so the third request trips it.
QUOTA_POLICY = {
    "policy_id": "quota-demo",
    "name": "Quota demo",
    "owner": "Quickstart",
    "description": "A user quota of 2 requests a day, so the quickstart's third request gets 429.",
    "rules": {"redact": True},
    "org_controls": {
        "project_keys": True,
        "user_quotas": True,
        "audit_logs": True,
        "user_quota": {"requests": 2, "window": "daily"},
    },
}

# project id, name, default policy
PROJECTS = [
    ("support-bot", "Support bot", "policy-gateway"),
    ("docs-bot", "Docs bot", "policy-as-code"),
    ("trial-app", "Trial app", "quota-demo"),
]

# (project, data plane, user, message, expected status, expected reason code, what it shows)
REQUESTS = [
    ("support-bot", "dp-a", "alice", "What is your refund policy for annual plans?", 200, "ALLOW",
     "on topic: forwarded unchanged"),
    ("support-bot", "dp-b", "alice", "Give me illegal instructions to get a refund twice.", 200,
     "REWRITE", "denylist hit: forwarded with a system message"),
    ("docs-bot", "dp-a", "bob", "Share our internal incident response steps.", 200, "REFUSE",
     "denylist hit: answered by the gateway"),
    ("docs-bot", "dp-b", "bob", "Where is the status page, and how do I contact on-call?", 200,
     "REDACT", "personal data removed from the answer"),
    ("trial-app", "dp-b", "carol", "What is your refund policy?", 200, "ALLOW", "quota: 1 of 2"),
    ("trial-app", "dp-b", "carol", "And for monthly plans?", 200, "ALLOW", "quota: 2 of 2"),
    ("trial-app", "dp-b", "carol", "One more question, please.", 429, None, "quota: over"),
]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(secret, org, role, ttl_secs=12 * 3600):
    """An HS256 management token (SPEC §7) for the control plane's CP_JWT_HS256_SECRET."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": f"quickstart-{role}@{org}", "org": org, "role": role,
              "exp": int(time.time()) + ttl_secs}
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def call(method, url, bearer=None, body=None, headers=None, timeout=15):
    """(status, headers, parsed JSON or text); never raises for an HTTP error status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, reply_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, reply_headers, raw = error.code, error.headers, error.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, reply_headers, json.loads(text)
    except ValueError:
        return status, reply_headers, text


def fail(message):
    print(f"quickstart: {message}", file=sys.stderr)
    sys.exit(1)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tail(path, lines=20):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return "(no log)"


def wait(name, url, pid, log, bearer=None):
    """Polls until `url` answers 200; fails at once when the process has exited."""
    until = time.monotonic() + DEADLINE_SECS
    last = "no answer"
    while time.monotonic() < until:
        if not alive(pid):
            fail(f"{name} exited while starting; the end of {log}:\n{tail(log)}")
        try:
            status, _, _ = call("GET", url, bearer=bearer, timeout=2)
            if status == 200:
                return
            last = f"HTTP {status}"
        except (OSError, urllib.error.URLError) as error:
            last = str(error)
        time.sleep(0.1)
    fail(f"{name} was not ready after {DEADLINE_SECS} s ({url}: {last}); see {log}")


def api(path):
    return os.environ["QS_CP_URL"] + API_PREFIX + path


def checked(what, answer, expected=(200, 201)):
    status, _, body = answer
    if status not in expected:
        fail(f"{what}: the control plane answered {status}: {json.dumps(body)[:400]}")
    return body


def seed(state_dir):
    token = mint_jwt(os.environ["QS_JWT_SECRET"], ORG, "admin")
    repo = os.environ["QS_REPO"]
    policies = []
    for name in ("policy-gateway.json", "policy-as-code.json"):
        with open(os.path.join(repo, "examples", "policies", name), encoding="utf-8") as handle:
            policies.append(json.load(handle))
    policies.append(QUOTA_POLICY)
    print("==> saving policies through POST /config")
    for policy in policies:
        state = checked(f"saving {policy['policy_id']}",
                        call("POST", api("/config"), token, {"config": policy}))
        print(f"    {state['policy_id']:<16} revision {state['revision']}"
              f"  (stable {state['stable_revision']})")
    print("==> creating projects and project-scoped keys")
    keys = {}
    for project, name, policy in PROJECTS:
        checked(f"creating project {project}", call(
            "POST", api("/projects"), token, {"id": project, "name": name, "policy_id": policy}))
        key = checked(f"creating a key of {project}", call(
            "POST", api(f"/projects/{project}/keys"), token, {"label": "quickstart"}))
        keys[project] = key["key"]
        print(f"    {project:<12} default policy {policy:<16} key {key['key_preview']}")
    path = os.path.join(state_dir, "demo.json")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"token": token, "keys": keys}, handle, indent=2)


def data_planes():
    return {"dp-a": os.environ["QS_DP_A_URL"], "dp-b": os.environ["QS_DP_B_URL"]}


def wait_for_keys(keys):
    """Each data plane knows every demo key once its snapshot has them (GET /v1/models
    answers 200 only for a valid key)."""
    for dp_name, dp_url in data_planes().items():
        for project, key in keys.items():
            until = time.monotonic() + DEADLINE_SECS
            while True:
                status, _, body = call("GET", dp_url + "/v1/models", key)
                if status == 200:
                    break
                if time.monotonic() > until:
                    fail(f"{dp_name} does not accept the key of {project} after "
                         f"{DEADLINE_SECS} s (HTTP {status}: {json.dumps(body)[:200]})")
                time.sleep(0.1)


def clip(text, width):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def note_of(status, headers, body):
    """What the answer shows, in a few words."""
    if not isinstance(body, dict):
        return clip(body, 52)
    if status != 200:
        error = body.get("error") or {}
        retry = headers.get("Retry-After")
        return clip(f"{error.get('code')}" + (f", Retry-After {retry}s" if retry else ""), 52)
    policy = body.get("policy") or {}
    hits = policy.get("denylist_hits") or []
    if policy.get("redacted"):
        counts = policy.get("redaction_counts") or {}
        return clip("redacted " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())), 52)
    if hits and policy.get("decision") in ("rewrite", "summary"):
        return clip("denylist: " + ", ".join(hits) + "; system message added", 52)
    if hits:
        return clip("denylist: " + ", ".join(hits) + "; not forwarded", 52)
    choices = body.get("choices") or [{}]
    return clip((choices[0].get("message") or {}).get("content") or "", 52)


def demo(state_dir):
    with open(os.path.join(state_dir, "demo.json"), encoding="utf-8") as handle:
        keys = json.load(handle)["keys"]
    wait_for_keys(keys)
    dps = data_planes()
    print()
    print("==> requests through the data planes")
    row = "{:>2}  {:<11}  {:<42}  {:<4}  {:>4}  {:<8}  {:<7}  {}"
    print(row.format("#", "project", "message", "dp", "HTTP", "decision", "reason", "note"))
    results, surprises = [], 0
    for number, (project, dp, user, message, want_status, want_reason, shows) in \
            enumerate(REQUESTS, 1):
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": message}]}
        status, headers, answer = call(
            "POST", dps[dp] + "/v1/chat/completions", keys[project], body,
            headers={"X-Policy-User": user})
        policy = answer.get("policy") if isinstance(answer, dict) else None
        decision = headers.get("X-Policy-Decision") or (policy or {}).get("decision") or "-"
        reason = headers.get("X-Policy-Reason-Code") or (policy or {}).get("reason_code") or "-"
        if isinstance(policy, dict) and policy.get("reason_code"):
            reason = policy["reason_code"]
        error_code = (answer.get("error") or {}).get("code") if isinstance(answer, dict) else None
        expected = status == want_status and (want_reason is None or reason == want_reason) \
            and (want_status != 429 or error_code == "user_quota.requests")
        surprises += not expected
        note = note_of(status, headers, answer)
        print(row.format(number, project, clip(message, 42), dp, status, decision, reason,
                         note if expected else f"{note}  <- expected {want_status}"
                         + (f" {want_reason}" if want_reason else " user_quota.requests")))
        results.append({"number": number, "project": project, "data_plane": dp,
                        "status": status, "decision": decision, "reason_code": reason,
                        "error_code": error_code, "shows": shows, "expected": expected})
    with open(os.path.join(state_dir, "demo-results.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    print()
    if surprises:
        print(f"{surprises} of {len(REQUESTS)} answers differ from what the demo expects "
              "(marked with <-).")
        sys.exit(1)
    print(f"All {len(REQUESTS)} answers are what the demo expects: ALLOW, REWRITE, REFUSE, "
          "REDACT, and a 429 once the user quota of 2 requests is used up.")


def main(argv):
    if len(argv) >= 5 and argv[0] == "wait":
        name, url, pid, log = argv[1:5]
        wait(name, url, int(pid), log, argv[5] if len(argv) > 5 else None)
    elif len(argv) == 2 and argv[0] == "seed":
        seed(argv[1])
    elif len(argv) == 2 and argv[0] == "demo":
        demo(argv[1])
    elif len(argv) == 2 and argv[0] == "token":
        print(mint_jwt(os.environ["QS_JWT_SECRET"], ORG, argv[1]))
    else:
        fail("usage: quickstart_demo.py wait NAME URL PID LOG [BEARER] | seed DIR | demo DIR "
             "| token ROLE")


if __name__ == "__main__":
    main(sys.argv[1:])
