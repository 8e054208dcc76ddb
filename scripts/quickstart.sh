#!/usr/bin/env bash
# Quickstart: the whole gateway on this machine, in one command.
#
# Finds or starts Postgres (scripts/ensure-postgres.sh) and makes a throwaway database in
# it, builds the binaries, migrates, starts one control plane, two data planes (dp-a,
# dp-b) and a small DEMO upstream (canned OpenAI-compatible answers, not a model), saves
# the two seed policies plus a tiny-quota one, creates projects and keys through the REST
# API, then sends requests through both data planes and prints what was decided: ALLOW,
# REWRITE, REFUSE, REDACT and a 429 once a user quota is used up. Everything keeps
# running until Ctrl-C, which stops exactly the processes this script started.
#
# For real answers, run the data planes with UPSTREAM_BASE_URL pointing at OpenAI, vLLM,
# Ollama or any OpenAI-compatible server (docs/data-plane.md).
#
# Knobs (environment):
#   QUICKSTART_PORT_BASE       first port (47800): control plane HTTP = base, gRPC = base+1,
#                              dp-a = base+10, dp-b = base+11, demo upstream = base+20
#   QUICKSTART_CP_HTTP_PORT, QUICKSTART_CP_GRPC_PORT, QUICKSTART_DP_A_PORT,
#   QUICKSTART_DP_B_PORT, QUICKSTART_UPSTREAM_PORT   one port each, overriding the base
#   QUICKSTART_STATE_DIR       logs, data-plane state, demo keys (default: a new temp dir;
#                              when given it must be empty or not exist)
#   QUICKSTART_DATABASE_URL    an empty database to use as is (default: a new database
#                              on the server scripts/ensure-postgres.sh finds, dropped at exit)
#   QUICKSTART_BIN_DIR         directory with prebuilt control-plane, data-plane and
#                              demo-upstream binaries (skips the build)
#   QUICKSTART_PROFILE         cargo profile to build (release)
#   QUICKSTART_EXIT=1          stop everything after the demo instead of waiting for Ctrl-C
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

say() { echo "quickstart: $*" >&2; }
die() {
  say "$*"
  exit 1
}

for tool in python3 setsid; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

base=${QUICKSTART_PORT_BASE:-47800}
if ! [[ "$base" =~ ^[0-9]+$ ]] || [ "$base" -gt 65515 ]; then
  die "QUICKSTART_PORT_BASE must be a port number up to 65515, not '$base'"
fi
cp_http_port=${QUICKSTART_CP_HTTP_PORT:-$base}
cp_grpc_port=${QUICKSTART_CP_GRPC_PORT:-$((base + 1))}
dp_a_port=${QUICKSTART_DP_A_PORT:-$((base + 10))}
dp_b_port=${QUICKSTART_DP_B_PORT:-$((base + 11))}
upstream_port=${QUICKSTART_UPSTREAM_PORT:-$((base + 20))}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for port in "$cp_http_port" "$cp_grpc_port" "$dp_a_port" "$dp_b_port" "$upstream_port"; do
  if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    die "bad port '$port'"
  fi
  if ! port_free "$port"; then
    die "port $port is in use: pick other ports with QUICKSTART_PORT_BASE (or QUICKSTART_*_PORT)"
  fi
done

if [ -n "${QUICKSTART_STATE_DIR:-}" ]; then
  state=$QUICKSTART_STATE_DIR
  mkdir -p "$state"
  [ -z "$(ls -A "$state")" ] || die "QUICKSTART_STATE_DIR=$state is not empty"
else
  state=$(mktemp -d "${TMPDIR:-/tmp}/policy-gateway-quickstart.XXXXXX")
  created_state=1
fi
state=$(cd "$state" && pwd)

# === cleanup: stop what we started, by PID, newest first ===
pids=()
names=()
created_db=""
server_url=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    echo
    echo "==> stopping"
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      kill -TERM "${pids[$i]}" 2>/dev/null || true
    done
    local deadline=$((SECONDS + 15))
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      while kill -0 "${pids[$i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.1
      done
      if kill -0 "${pids[$i]}" 2>/dev/null; then
        kill -KILL "${pids[$i]}" 2>/dev/null || true
        echo "    ${names[$i]} (pid ${pids[$i]}) killed after 15 s"
      else
        echo "    ${names[$i]} (pid ${pids[$i]}) stopped"
      fi
      wait "${pids[$i]}" 2>/dev/null || true
    done
  fi
  if [ -n "$created_db" ]; then
    if psql "$server_url" -w -Atqc "DROP DATABASE IF EXISTS $created_db WITH (FORCE)" \
      >/dev/null 2>&1; then
      echo "    database $created_db dropped"
    else
      echo "    could not drop database $created_db; drop it by hand"
    fi
  fi
  if [ ${#pids[@]} -gt 0 ]; then
    echo "    logs and state kept in $state"
  elif [ -n "${created_state:-}" ]; then
    rm -rf -- "$state"   # nothing ran: nothing worth keeping
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts NAME with a clean environment plus the given VAR=value settings, in a session of
# its own so that a Ctrl-C in the terminal reaches only this script, which then stops it.
# setsid and env exec, so the PID recorded is the binary's own.
start() {
  local name=$1
  shift
  setsid env -i PATH="$PATH" HOME="${HOME:-/}" RUST_LOG="${RUST_LOG:-info}" "$@" \
    >"$state/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

# === binaries ===
if [ -n "${QUICKSTART_BIN_DIR:-}" ]; then
  [ -d "$QUICKSTART_BIN_DIR" ] || die "QUICKSTART_BIN_DIR=$QUICKSTART_BIN_DIR is not a directory"
  bin=$(cd "$QUICKSTART_BIN_DIR" && pwd)
else
  profile=${QUICKSTART_PROFILE:-release}
  command -v cargo >/dev/null || die "cargo is not installed; install Rust with rustup first"
  echo "==> building control-plane, data-plane and demo-upstream ($profile; minutes the first time)"
  cargo build --quiet --locked --profile "$profile" -p control-plane -p data-plane -p demo-upstream
  [ "$profile" = dev ] && profile_dir=debug || profile_dir=$profile
  bin="${CARGO_TARGET_DIR:-$repo/target}/$profile_dir"
fi
for binary in control-plane data-plane demo-upstream; do
  [ -x "$bin/$binary" ] || die "$bin/$binary is missing"
done

# === Postgres and a database of our own ===
if [ -n "${QUICKSTART_DATABASE_URL:-}" ]; then
  database_url=$QUICKSTART_DATABASE_URL
else
  eval "$(scripts/ensure-postgres.sh)"
  server_url=${DATABASE_URL:?scripts/ensure-postgres.sh set no DATABASE_URL}
  command -v psql >/dev/null \
    || die "psql is needed to create the demo database (or set QUICKSTART_DATABASE_URL)"
  name="policy_gateway_quickstart_$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')"
  psql "$server_url" -w -Atqc "CREATE DATABASE $name" >/dev/null \
    || die "cannot create a database on $server_url"
  created_db=$name
  # Same server and credentials, our database: replace the path of the URL (or add one).
  without_query=${server_url%%\?*}
  query=${server_url#"$without_query"}
  authority=${without_query#*://}
  if [[ "$authority" == */* ]]; then
    database_url="${without_query%/*}/$name$query"
  else
    database_url="$without_query/$name$query"
  fi
  echo "==> Postgres: a throwaway database $name (dropped when the quickstart stops)"
fi

random_hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
QS_JWT_SECRET=$(random_hex)
export QS_JWT_SECRET
node_token=$(random_hex)
export QS_REPO=$repo
export QS_CP_URL="http://127.0.0.1:$cp_http_port"
export QS_DP_A_URL="http://127.0.0.1:$dp_a_port"
export QS_DP_B_URL="http://127.0.0.1:$dp_b_port"
upstream_url="http://127.0.0.1:$upstream_port/v1"
demo=(python3 "$repo/scripts/quickstart_demo.py")

echo "==> control-plane migrate"
env -i PATH="$PATH" DATABASE_URL="$database_url" "$bin/control-plane" migrate \
  >"$state/migrate.log" 2>&1 || die "migration failed: $(tail -n 5 "$state/migrate.log")"

echo "==> starting the control plane on $QS_CP_URL (gRPC 127.0.0.1:$cp_grpc_port)"
start control-plane DATABASE_URL="$database_url" \
  CP_HTTP_ADDR="127.0.0.1:$cp_http_port" CP_GRPC_ADDR="127.0.0.1:$cp_grpc_port" \
  CP_JWT_HS256_SECRET="$QS_JWT_SECRET" CP_NODE_TOKEN="$node_token" HOSTNAME=quickstart-cp \
  "$bin/control-plane" serve --no-migrate
"${demo[@]}" wait control-plane "$QS_CP_URL/api/policy-gateway/configs" "${pids[-1]}" \
  "$state/control-plane.log" "$("${demo[@]}" token viewer)"

"${demo[@]}" seed "$state"

echo "==> starting the demo upstream on $upstream_url (canned answers, not a model)"
start demo-upstream "$bin/demo-upstream" --addr "127.0.0.1:$upstream_port"
"${demo[@]}" wait demo-upstream "$upstream_url/models" "${pids[-1]}" "$state/demo-upstream.log"

for node in dp-a dp-b; do
  [ "$node" = dp-a ] && port=$dp_a_port || port=$dp_b_port
  echo "==> starting data plane $node on http://127.0.0.1:$port"
  mkdir -p "$state/$node"
  start "$node" DP_HTTP_ADDR="127.0.0.1:$port" \
    DP_CONTROL_PLANE="http://127.0.0.1:$cp_grpc_port" DP_NODE_TOKEN="$node_token" \
    DP_NODE_ID="$node" DP_STATE_DIR="$state/$node" UPSTREAM_BASE_URL="$upstream_url" \
    "$bin/data-plane"
done
"${demo[@]}" wait dp-a "$QS_DP_A_URL/readyz" "${pids[-2]}" "$state/dp-a.log"
"${demo[@]}" wait dp-b "$QS_DP_B_URL/readyz" "${pids[-1]}" "$state/dp-b.log"

demo_status=0
"${demo[@]}" demo "$state" || demo_status=$?

cat <<EOF

==> running (logs and state in $state)
    control plane   $QS_CP_URL/api/policy-gateway   gRPC 127.0.0.1:$cp_grpc_port
    data plane dp-a $QS_DP_A_URL/v1/chat/completions
    data plane dp-b $QS_DP_B_URL/v1/chat/completions
    demo upstream   $upstream_url   (a DEMO with canned answers: for real use point
                    UPSTREAM_BASE_URL at OpenAI, vLLM, Ollama or any compatible server)

Try it: the admin token and the demo keys are in $state/demo.json
    key=\$(python3 -c 'import json; print(json.load(open("$state/demo.json"))["keys"]["support-bot"])')
    curl -s $QS_DP_A_URL/v1/chat/completions -H "Authorization: Bearer \$key" \\
      -H 'Content-Type: application/json' \\
      -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about account support"}]}'
    token=\$(python3 -c 'import json; print(json.load(open("$state/demo.json"))["token"])')
    curl -s "$QS_CP_URL/api/policy-gateway/history?limit=5" -H "Authorization: Bearer \$token"
EOF

if [ "${QUICKSTART_EXIT:-0}" = 1 ]; then
  exit "$demo_status"
fi

echo
echo "Press Ctrl-C to stop everything (stops only what this script started: pids ${pids[*]})."
# Returns when a service exits on its own (reported, then everything stops) or on Ctrl-C.
set +e
wait -n "${pids[@]}"
set -e
for i in "${!pids[@]}"; do
  if ! kill -0 "${pids[$i]}" 2>/dev/null; then
    say "${names[$i]} exited on its own; the end of its log:"
    tail -n 20 "$state/${names[$i]}.log" >&2
  fi
done
exit 1
