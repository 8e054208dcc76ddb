#!/usr/bin/env bash
# Prints `export DATABASE_URL=...` for a Postgres the control-plane tests can use:
#
#   eval "$(scripts/ensure-postgres.sh)"
#
# In order: DATABASE_URL when already set; a server answering on 127.0.0.1:5432 as user
# postgres; else a throwaway cluster of this repo's own (trust auth, 127.0.0.1 only, a
# free port), started with the installed Postgres binaries, which are installed with apt
# when missing. Idempotent: a second run reuses the running cluster. Only the export line
# goes to stdout; everything else goes to stderr.
set -euo pipefail

say() { echo "ensure-postgres: $*" >&2; }

if [ -n "${DATABASE_URL:-}" ]; then
  printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"
  exit 0
fi

# An existing local server with the default superuser and trust (or .pgpass) auth.
if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 \
  && command -v psql >/dev/null \
  && PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -w -Atqc 'SELECT 1' >/dev/null 2>&1; then
  echo 'export DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres'
  exit 0
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
# Under /tmp rather than the repo: the server runs as an unprivileged user, who must be
# able to reach its data directory whatever the checkout's permissions are.
base="${TMPDIR:-/tmp}/policy-gateway-postgres-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)"
data="$base/data"

find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bin=$(find_bin)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "no Postgres binaries found and not root: install postgresql, or set DATABASE_URL"
    exit 1
  fi
  say "installing postgresql with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bin=$(find_bin)
  if [ -z "$bin" ]; then
    say "postgresql installed but no binaries under /usr/lib/postgresql/*/bin"
    exit 1
  fi
fi

# Postgres refuses to run as root: run it as `postgres` (created when missing).
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres >&2
  fi
  run_as=(runuser -u postgres --)
fi

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Already running from an earlier call: reuse it.
if [ -f "$base/port" ] && "${run_as[@]}" "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1; then
  port=$(cat "$base/port")
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
    exit 0
  fi
fi

mkdir -p "$base"
if [ ${#run_as[@]} -gt 0 ]; then
  chown postgres "$base"
fi
if [ ! -f "$data/PG_VERSION" ]; then
  say "creating a throwaway cluster in $data"
  "${run_as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
    --no-instructions >&2
fi

port=54329
while ! port_free "$port"; do
  port=$((port + 1))
done
echo "$port" >"$base/port"

say "starting Postgres on 127.0.0.1:$port"
"${run_as[@]}" "$bin/pg_ctl" start -D "$data" -w -t 60 -l "$base/server.log" \
  -o "-p $port -c listen_addresses=127.0.0.1 -k $base -c max_connections=200 -c fsync=off" >&2
echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
