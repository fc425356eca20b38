#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the cluster tests and prints its URL.
# Installs Debian's postgresql package when no server binaries are found (needs root and apt).
# Usage: PROBSFT_TEST_PG="$(.ci/postgres.sh)"   (env: PG_PORT, default 55432; PG_DIR, default a
# fresh temporary folder). Stop it with: pg_ctl -D "$PG_DIR/data" stop (run as the postgres user).
set -euo pipefail
port="${PG_PORT:-55432}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "postgres.sh: installing postgresql from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi
dir="${PG_DIR:-$(mktemp -d -t probsft-pg.XXXXXX)}"
mkdir -p "$dir"
run_as=()
if [ "$(id -u)" = "0" ]; then
  chown postgres:postgres "$dir"
  run_as=(runuser -u postgres --)
fi
if [ ! -f "$dir/data/PG_VERSION" ]; then
  "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
fi
"${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=off" start >&2 ||
  { cat "$dir/server.log" >&2; exit 1; }
echo "postgres://postgres@127.0.0.1:$port/postgres"
