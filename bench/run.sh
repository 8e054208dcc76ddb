#!/usr/bin/env bash
# Data plane overhead benchmark (SPEC §12, issue 4): the fake upstream called directly and
# through one data plane enforcing a full policy (builtin moderation, 1,000-term allowlist
# and denylist, redaction), same load, same run, on this machine:
#
#   bench/run.sh
#
# Phases, in order: warm-up; fixed rate direct, through a bare pass-through proxy (the
# reference hop, `bare-hop`) and through the gateway; then the same three at saturation.
# Prints one JSON line per phase, a summary table and the machine facts;
# docs/benchmarks.md ("Data plane overhead") has the figures and how to read them.
#
# Settings (environment):
#   BENCH_SECS=12          seconds per measured phase
#   BENCH_WARMUP_SECS=5    seconds of warm-up (each of direct, bare hop, gateway)
#   BENCH_RATE=1000        fixed-rate phases, requests/s
#   BENCH_CONNECTIONS=32   saturation phases, connections
#   BENCH_CONTROL_PLANE=stop|keep
#                          stop (default): the control plane (and so Postgres' audit
#                          ingest) is stopped once the data plane has its snapshot, so the
#                          2 cores hold only load generator, fake upstream and data plane,
#                          as SPEC §12 says; the data plane then spools its audit and
#                          usage records to disk. keep: leave it running (it ingests every
#                          record the data plane reports, on the same 2 cores).
#   BENCH_QUOTAS=0|1       1: the bench policy also sets user_quotas with a user_quota and a
#                          project_quota far too large to trip (10^12 requests, 10^15
#                          tokens), so every gateway request is admitted against budget
#                          leased from the control plane and settled into its usage record
#                          (SPEC §4). The smoke request takes the leases (a tenth of each
#                          limit) and the control plane grants them for a day
#                          (CP_QUOTA_LEASE_TTL_SECS=86400), so with the control plane
#                          stopped the data plane admits from what it holds: the
#                          request-path cost of admission alone. With
#                          BENCH_CONTROL_PLANE=keep the control plane also applies every
#                          record's charges to the counters, on the same 2 cores.
#                          Default 0 (no quotas).
#   BENCH_PIN=0|1          1: pin the data plane to CPU 1 and the load generator and fake
#                          upstream to CPU 0 (taskset); default 0 (no pinning).
#   BENCH_PROFILE=0|1      1: `perf record --call-graph dwarf` the data plane during the
#                          gateway saturation phase into $BENCH_OUT/perf.data (needs perf;
#                          the profiled phase's figures are then not comparable).
#   BENCH_WAIT_QUIET=SECS  before measuring, wait up to SECS for a quiet machine (under
#                          0.2 cores busy over 3 s; other engineers' builds share it);
#                          default 0 (start at once). The summary reports the load either way.
#   BENCH_OUT=DIR          keep logs, JSON lines and the policy here (default: a temp dir,
#                          removed at exit)
#   CARGO_TARGET_DIR       where to build (default: target/ in the repo)
#
# Every process this script starts is stopped at exit, also on Ctrl-C, by its PID; the
# benchmark database is dropped. Traffic goes to 127.0.0.1 only.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

secs=${BENCH_SECS:-12}
warmup_secs=${BENCH_WARMUP_SECS:-5}
rate=${BENCH_RATE:-1000}
connections=${BENCH_CONNECTIONS:-32}
control_plane_mode=${BENCH_CONTROL_PLANE:-stop}
pin=${BENCH_PIN:-0}
profile=${BENCH_PROFILE:-0}
quotas=${BENCH_QUOTAS:-0}
target_dir=${CARGO_TARGET_DIR:-$repo/target}

say() { echo "bench: $*" >&2; }
die() {
  say "$*"
  exit 1
}

case $quotas in
  0 | 1) ;;
  *) die "BENCH_QUOTAS must be 0 or 1, got '$quotas'" ;;
esac

for tool in curl jq openssl psql; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

if [ -n "${BENCH_OUT:-}" ]; then
  out=$BENCH_OUT
  mkdir -p "$out"
  keep_out=1
else
  out=$(mktemp -d "${TMPDIR:-/tmp}/policy-gateway-bench.XXXXXX")
  keep_out=0
fi

# === processes and cleanup ===

pids=()
perf_pid=""
database=""
admin_url=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    # At most ~15 s per process (the data plane's shutdown grace is set to 2 s).
    for _ in $(seq 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$database" ] && [ -n "$admin_url" ]; then
    psql "$admin_url" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ "$keep_out" = 0 ]; then
    rm -rf "$out"
  else
    say "logs and results kept in $out"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU pinning prefixes (empty unless BENCH_PIN=1); taskset execs the command, so $! is
# the process itself.
pin_dp=()
pin_load=()
if [ "$pin" = 1 ]; then
  pin_dp=(taskset -c 1)
  pin_load=(taskset -c 0)
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local port=$((20000 + RANDOM % 20000))
  while ! port_free "$port"; do port=$((port + 1)); done
  echo "$port"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2
  shift 2
  for _ in $(seq $((limit * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "timed out waiting for $what"
}

# === build ===

say "building release binaries into $target_dir"
CARGO_TARGET_DIR=$target_dir cargo build --release --quiet \
  -p bench -p control-plane -p data-plane
bin=$target_dir/release

# === Postgres: a fresh database for this run ===

eval "$(scripts/ensure-postgres.sh)"
admin_url=$DATABASE_URL
database="bench_$(date +%Y%m%d%H%M%S)_$$"
psql "$admin_url" -qAtc "CREATE DATABASE $database" >/dev/null
database_url="${admin_url%/*}/$database"
say "database $database"

# === control plane ===

secret=$(openssl rand -hex 32)
node_token=$(openssl rand -hex 24)
cp_http="127.0.0.1:$(free_port)"
cp_grpc="127.0.0.1:$(free_port)"
DATABASE_URL=$database_url CP_HTTP_ADDR=$cp_http CP_GRPC_ADDR=$cp_grpc \
  CP_JWT_HS256_SECRET=$secret CP_NODE_TOKEN=$node_token CP_QUOTA_LEASE_TTL_SECS=86400 \
  "$bin/control-plane" serve >"$out/control-plane.log" 2>&1 &
cp_pid=$!
pids+=("$cp_pid")

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt_header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
jwt_claims=$(printf '{"sub":"bench","org":"bench-org","role":"admin","exp":%d}' \
  $(($(date +%s) + 3600)) | b64url)
jwt_signature=$(printf '%s.%s' "$jwt_header" "$jwt_claims" \
  | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
jwt="$jwt_header.$jwt_claims.$jwt_signature"
api="http://$cp_http/api/policy-gateway"

api_call() { # api_call METHOD PATH [BODY_FILE]: prints the body, fails on a non-2xx
  local args=(-sS -X "$1" -H "Authorization: Bearer $jwt" -w '\n%{http_code}')
  if [ $# -ge 3 ]; then args+=(-H 'Content-Type: application/json' --data-binary "@$3"); fi
  local reply code
  reply=$(curl "${args[@]}" "$api$2")
  code=${reply##*$'\n'}
  reply=${reply%$'\n'*}
  if [ "${code:0:1}" != 2 ]; then
    say "$1 $2 answered $code: $reply"
    return 1
  fi
  printf '%s' "$reply"
}

wait_for 60 "the control plane" curl -sf -H "Authorization: Bearer $jwt" "$api/configs"
say "control plane up (http $cp_http, grpc $cp_grpc)"

# === the full policy: 1,000-term allowlist and denylist, redaction on ===

allow_a=(account annual billing business cancellation customer data delivery enterprise
  family invoice monthly online order payment premium pricing product purchase renewal
  shipping standard student subscription team trial upgrade usage warranty yearly)
allow_b=(change checkout contract credit discount exchange extension faq guide help hours
  issue limits migration notice options overview plan process question questions receipt
  refund request return rules schedule setup status summary support terms timeline tips
  transfer update)
deny_a=(exploit malware phishing ransomware keylogger botnet rootkit spyware trojan
  backdoor credential password token session cookie firewall antivirus sandbox payload
  shellcode bootkit wiper dropper stealer scraper spam fraud scam counterfeit skimmer
  carding)
deny_b=(builder kit tutorial generator source download injection bypass cracking dumping
  harvesting evasion obfuscation persistence escalation exfiltration deployment spreading
  hiding delivery packing crypter loader recipe blueprint playbook walkthrough cheatsheet
  toolkit workshop lessons handbook manual guidebook compendium)

allowlist=("refund policy")
for a in "${allow_a[@]}"; do
  for b in "${allow_b[@]}"; do
    [ "${#allowlist[@]}" -ge 1000 ] && break 2
    [ "$a $b" = "refund policy" ] || allowlist+=("$a $b")
  done
done
denylist=()
for a in "${deny_a[@]}"; do
  for b in "${deny_b[@]}"; do
    [ "${#denylist[@]}" -ge 1000 ] && break 2
    denylist+=("$a $b")
  done
done
[ "${#allowlist[@]}" = 1000 ] && [ "${#denylist[@]}" = 1000 ] \
  || die "term generation gave ${#allowlist[@]} allow and ${#denylist[@]} deny terms"

policy_id=bench-policy
if [ "$quotas" = 1 ]; then
  # Large enough never to trip during a run: the phases measure admission, not refusals.
  quota_controls='{user_quotas: true,
    user_quota: {requests: 1000000000000, tokens: 1000000000000000, window: "daily"},
    project_quota: {requests: 1000000000000, tokens: 1000000000000000, window: "monthly"}}'
else
  quota_controls='{user_quotas: false}'
fi
jq -n --arg id "$policy_id" \
  --argjson allow "$(printf '%s\n' "${allowlist[@]}" | jq -R . | jq -s .)" \
  --argjson deny "$(printf '%s\n' "${denylist[@]}" | jq -R . | jq -s .)" '{config: {
    policy_id: $id, name: "Benchmark policy", owner: "Bench",
    description: "Full policy for the data plane overhead benchmark",
    rules: { allowlist: $allow, denylist: $deny, redact: true,
      flagged_categories: ["harassment/threatening", "hate", "illicit/violent", "self-harm",
        "self-harm/intent", "self-harm/instructions", "sexual/minors", "violence/graphic"],
      response_pattern: "refuse", rewrite_instead_of_refuse: false,
      reason_codes: ["ALLOW", "REFUSE", "REDACT"] },
    org_controls: ({ project_keys: true, audit_logs: true,
      data_classification: "confidential" } + '"$quota_controls"'),
    refusal_replacement: { mode: "refuse", escalation_path: "policy-review@example.com" } }}' \
  >"$out/policy.json"
api_call POST /config "$out/policy.json" >/dev/null
printf '{"id":"bench","name":"Bench","policy_id":"%s"}' "$policy_id" >"$out/project.json"
api_call POST /projects "$out/project.json" >/dev/null
printf '{"label":"bench"}' >"$out/key-request.json"
gateway_key=$(api_call POST /projects/bench/keys "$out/key-request.json" | jq -r .key)
[[ $gateway_key == ak_* ]] || die "no key in the key creation answer"
say "policy, project and key created"

# === fake upstream and data plane ===

upstream_port=$(free_port)
"${pin_load[@]}" "$bin/fake-upstream" --addr "127.0.0.1:$upstream_port" --threads 1 --max-secs 3600 \
  >"$out/fake-upstream.log" 2>&1 &
upstream_pid=$!
pids+=("$upstream_pid")
upstream="http://127.0.0.1:$upstream_port"
wait_for 10 "the fake upstream" curl -sf "$upstream/v1/models"

dp_addr="127.0.0.1:$(free_port)"
DP_HTTP_ADDR=$dp_addr DP_CONTROL_PLANE="http://$cp_grpc" DP_NODE_TOKEN=$node_token \
  DP_NODE_ID=bench-dp DP_STATE_DIR="$out/dp-state" DP_SHUTDOWN_GRACE_MS=2000 \
  UPSTREAM_BASE_URL="$upstream/v1" UPSTREAM_API_KEY=sk-bench \
  MODERATION_PROVIDER=builtin \
  "${pin_dp[@]}" "$bin/data-plane" >"$out/data-plane.log" 2>&1 &
dp_pid=$!
pids+=("$dp_pid")
gateway="http://$dp_addr"
wait_for 30 "the data plane's /readyz" curl -sf "$gateway/readyz"

# The reference hop: a bare pass-through proxy to the same upstream (no parsing at all).
hop_port=$(free_port)
"${pin_dp[@]}" "$bin/bare-hop" --addr "127.0.0.1:$hop_port" --upstream "$upstream" \
  --max-secs 3600 >"$out/bare-hop.log" 2>&1 &
hop_pid=$!
pids+=("$hop_pid")
hop="http://127.0.0.1:$hop_port"
wait_for 10 "the bare hop" curl -sf "$hop/v1/models"

# The request: a support question that hits the allowlist term "refund policy", so the
# decision is ALLOW and it is forwarded; the answer is redaction-scanned on the way back.
cat >"$out/request.json" <<'EOF'
{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are the support assistant of Example Corp. Answer briefly and politely, in plain language."},{"role":"user","content":"Hello! We bought the annual team plan last week and I am not sure it fits our needs any more. Could you explain your refund policy, and how long it usually takes for a refund to arrive on the card we paid with?"}],"temperature":0.2,"max_tokens":256}
EOF
headers=(-H "Authorization: Bearer $gateway_key" -H "X-Policy-User: bench-user")

check_gateway() {
  curl -sf -D "$out/smoke.headers" -o "$out/smoke.json" "${headers[@]}" \
    -H 'Content-Type: application/json' --data-binary "@$out/request.json" \
    "$gateway/v1/chat/completions" \
    && grep -qi '^x-policy-decision: allow' "$out/smoke.headers"
}
wait_for 15 "an ALLOW through the gateway (snapshot with the key)" check_gateway
say "gateway answers: $(jq -c '.policy | {decision, reason_code, allowlist_hits, denylist_hits, triggered_categories, redacted}' "$out/smoke.json")"

if [ "$control_plane_mode" = stop ]; then
  kill -TERM "$cp_pid"
  wait "$cp_pid" 2>/dev/null || true
  running=()
  for pid in "${pids[@]}"; do [ "$pid" = "$cp_pid" ] || running+=("$pid"); done
  pids=("${running[@]}")
  say "control plane stopped (the data plane serves its snapshot and spools its reports)"
fi

# === measurement ===

clk_tck=$(getconf CLK_TCK)
# CPU time of every process (with reaped children), in clock ticks. Unlike /proc/stat's
# tick-sampled busy time this stays exact for short bursts; a phase's "other" CPU is
# this minus our own processes.
all_ticks() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk '{sub(/^.*\) /, ""); s += $12 + $13 + $14 + $15} END {print s + 0}'
}
proc_ticks() { # utime+stime of a PID (0 when gone)
  awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0
}
# Microseconds during which some runnable task waited for a CPU (PSI), 0 without PSI.
cpu_stall_us() { awk '/^some/{sub(/total=/, "", $5); print $5; exit}' /proc/pressure/cpu 2>/dev/null || echo 0; }

# phase NAME MODE URL: runs loadgen, appends its JSON line (plus CPU figures) to results
phase() {
  local name=$1 mode=$2 url=$3 phase_secs=${4:-$secs}
  local args=(--url "$url" --duration-secs "$phase_secs" --body-file "$out/request.json"
    --label "$name" "${headers[@]}" --threads 1)
  case $mode in
    fixed) args=(fixed --rate "$rate" "${args[@]}") ;;
    saturate) args=(saturate --connections "$connections" "${args[@]}") ;;
  esac
  if [[ $url == "$gateway"* ]]; then args+=(--expect-header "x-policy-decision=allow"); fi
  local load_before all0 dp0 up0 hop0 stall0 all1 dp1 up1 hop1 stall1 t0 t1 line
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  all0=$(all_ticks)
  stall0=$(cpu_stall_us)
  dp0=$(proc_ticks "$dp_pid")
  up0=$(proc_ticks "$upstream_pid")
  hop0=$(proc_ticks "$hop_pid")
  t0=$(date +%s.%N)
  if [ "$profile" = 1 ] && [ "$name" = gateway-saturate ]; then
    perf record -F 499 --call-graph dwarf,16384 -o "$out/perf.data" -p "$dp_pid" -- sleep "$phase_secs" \
      >"$out/perf.log" 2>&1 &
    perf_pid=$!
  fi
  local timing="$out/$name.time"
  line=$( {
    TIMEFORMAT='%U %S'
    time "${pin_load[@]}" "$bin/loadgen" "${args[@]}"
  } 2>"$timing")
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    perf_pid=""
  fi
  t1=$(date +%s.%N)
  all1=$(all_ticks)
  stall1=$(cpu_stall_us)
  dp1=$(proc_ticks "$dp_pid")
  up1=$(proc_ticks "$upstream_pid")
  hop1=$(proc_ticks "$hop_pid")
  local loadgen_cpu
  loadgen_cpu=$(tail -n 1 "$timing" | awk '{print $1 + $2}')
  line=$(jq -c --argjson wall "$(echo "$t1 - $t0" | bc -l)" --argjson tck "$clk_tck" \
    --argjson all "$((all1 - all0))" --argjson dp "$((dp1 - dp0))" \
    --argjson stall "$((stall1 - stall0))" \
    --argjson up "$((up1 - up0))" --argjson hop "$((hop1 - hop0))" --argjson lg "$loadgen_cpu" \
    --argjson load "$load_before" '. + {cpu_cores: {
        all: (($all / $tck) / $wall),
        data_plane: (($dp / $tck) / $wall),
        fake_upstream: (($up / $tck) / $wall),
        bare_hop: (($hop / $tck) / $wall),
        loadgen: ($lg / $wall),
        other: ([(($all - $dp - $up - $hop) / $tck - $lg) / $wall, 0] | max) }
        | map_values(. * 100 | round / 100),
      cpu_stall_pct: ($stall / 1e4 / $wall * 10 | round / 10),
      loadavg_1m_before: $load}' <<<"$line")
  echo "$line" | tee -a "$out/results.jsonl"
  local errors
  errors=$(jq '.errors | add' <<<"$line")
  if [ "$errors" != 0 ]; then say "WARNING: $name had $errors failed requests"; fi
}

busy_cores() { # busy_cores SECS: average busy cores over SECS
  local b0 b1
  b0=$(all_ticks)
  sleep "$1"
  b1=$(all_ticks)
  echo "($b1 - $b0) / $clk_tck / $1" | bc -l
}
wait_quiet=${BENCH_WAIT_QUIET:-0}
if [ "$wait_quiet" -gt 0 ]; then
  deadline=$((SECONDS + wait_quiet))
  while :; do
    busy=$(busy_cores 3)
    if [ "$(echo "$busy < 0.2" | bc -l)" = 1 ]; then
      say "machine quiet ($(printf '%.2f' "$busy") cores busy)"
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "machine still busy ($(printf '%.2f' "$busy") cores) after ${wait_quiet}s: measuring anyway"
      break
    fi
    sleep 2
  done
fi
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$out/results.jsonl"
phase warmup-direct fixed "$upstream/v1/chat/completions" "$warmup_secs" >/dev/null
phase warmup-hop fixed "$hop/v1/chat/completions" "$warmup_secs" >/dev/null
phase warmup-gateway fixed "$gateway/v1/chat/completions" "$warmup_secs" >/dev/null
phase direct-fixed fixed "$upstream/v1/chat/completions"
phase hop-fixed fixed "$hop/v1/chat/completions"
phase gateway-fixed fixed "$gateway/v1/chat/completions"
phase direct-saturate saturate "$upstream/v1/chat/completions"
phase hop-saturate saturate "$hop/v1/chat/completions"
phase gateway-saturate saturate "$gateway/v1/chat/completions"

# === summary ===

get() { jq -r "select(.label == \"$1\") | $2" "$out/results.jsonl"; }
calc() { printf "%.${2:-3}f" "$(echo "$1" | bc -l)"; }
verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo met; else echo MISSED; fi; }
for p in direct hop gateway; do
  declare "${p}_f50=$(get "$p-fixed" .latency_ms.p50)" "${p}_f99=$(get "$p-fixed" .latency_ms.p99)"
  declare "${p}_fr=$(get "$p-fixed" .rps)" "${p}_s50=$(get "$p-saturate" .latency_ms.p50)"
  declare "${p}_s99=$(get "$p-saturate" .latency_ms.p99)" "${p}_sr=$(get "$p-saturate" .rps)"
done
add50=$(calc "$gateway_f50 - $direct_f50")
add99=$(calc "$gateway_f99 - $direct_f99")
per_request() { # per_request LABEL PROCESS: CPU microseconds per answered request
  jq -r "select(.label == \"$1\") | (.cpu_cores.$2 * .elapsed_s / .ok * 1e6 | round)" \
    "$out/results.jsonl"
}
row() { printf '%-28s %10s %10s %10s %10s %10s\n' "$@"; }

echo
echo "Data plane overhead, $(date -u '+%Y-%m-%d %H:%M UTC') (bench/run.sh)"
row "" direct "bare hop" gateway "hop added" "gw added"
row "${rate} req/s p50 (ms)" "$(calc "$direct_f50")" "$(calc "$hop_f50")" "$(calc "$gateway_f50")" \
  "$(calc "$hop_f50 - $direct_f50")" "$add50"
row "${rate} req/s p99 (ms)" "$(calc "$direct_f99")" "$(calc "$hop_f99")" "$(calc "$gateway_f99")" \
  "$(calc "$hop_f99 - $direct_f99")" "$add99"
row "${rate} req/s achieved" "$direct_fr" "$hop_fr" "$gateway_fr"
row "${connections} conns p50 (ms)" "$(calc "$direct_s50")" "$(calc "$hop_s50")" "$(calc "$gateway_s50")"
row "${connections} conns p99 (ms)" "$(calc "$direct_s99")" "$(calc "$hop_s99")" "$(calc "$gateway_s99")"
row "${connections} conns req/s" "$direct_sr" "$hop_sr" "$gateway_sr"
row "  ratio to direct" "1.00" "$(calc "$hop_sr / $direct_sr" 2)" "$(calc "$gateway_sr / $direct_sr" 2)"
row "  ratio to bare hop" "" "1.00" "$(calc "$gateway_sr / $hop_sr" 2)"
row "proxy CPU per request (µs)" "" "$(per_request hop-saturate bare_hop)" \
  "$(per_request gateway-saturate data_plane)"
echo
echo "targets (SPEC §12): added p50 <= 0.2 ms: $(verdict "$add50 <= 0.2");" \
  "added p99 <= 1 ms: $(verdict "$add99 <= 1");" \
  ">= 15000 req/s at ${connections} connections: $(verdict "$gateway_sr >= 15000");" \
  "aim >= half the bare hop: $(verdict "$gateway_sr * 2 >= $hop_sr")"
echo
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
  "$(uname -sr), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "control plane during measurement: $control_plane_mode;" \
  "quotas: $([ "$quotas" = 1 ] && echo 'on (user and project quota, leased from the control plane)' || echo off);" \
  "pinning: $([ "$pin" = 1 ] && echo 'data plane and bare hop on CPU 1, loadgen and upstream on CPU 0' || echo none)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CPU used by other processes per phase (cores of $(nproc)), and the share of time some task waited for a CPU:"
jq -r 'select(.label | startswith("warmup") | not)
  | "  \(.label): other \(.cpu_cores.other) cores, CPU wait \(.cpu_stall_pct)%"' "$out/results.jsonl"
