#!/usr/bin/env bash
# make bench-data: load the scale data set (1,000,000 customers over 10 tenants, the largest with
# 500,000; see tests/src/bin/crm-bench-data.rs) into a SQLite file and, when reachable, a
# PostgreSQL database. Kept under target/bench-data and in database crm_bench_data; a second run
# reuses them (BENCH_RELOAD=1 reloads). Sizes: BENCH_CUSTOMERS, BENCH_LARGEST, BENCH_TENANTS.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
DATA=${BENCH_DATA_DIR:-$ROOT/target/bench-data}
PG_ADMIN=${CRM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=${BENCH_PG_DB:-crm_bench_data}
ARGS=(--customers "${BENCH_CUSTOMERS:-1000000}" --largest "${BENCH_LARGEST:-500000}" --tenants "${BENCH_TENANTS:-10}")
# The data set's shape: a set loaded by an older generator is reloaded (2: one billing address
# with coordinates per customer).
SHAPE=2
mkdir -p "$DATA"
cargo build --release -q -p crm-blackbox-tests --bin crm-bench-data
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/crm-bench-data"

load() { # backend, url
  local marker="$DATA/$1.tenants"
  if [ -s "$marker" ] && [ -z "${BENCH_RELOAD:-}" ] && [ "$(cat "$DATA/$1.args" 2>/dev/null)" = "${ARGS[*]} shape $SHAPE" ]; then
    echo "$1: bench data already loaded ($(awk '{s+=$2} END {print s}' "$marker") customers); BENCH_RELOAD=1 reloads"
    return
  fi
  echo "$1: loading ${ARGS[*]}"
  local start=$SECONDS
  "$BIN" --database-url "$2" "${ARGS[@]}" > "$marker.tmp"
  mv "$marker.tmp" "$marker"; echo "${ARGS[*]} shape $SHAPE" > "$DATA/$1.args"
  echo "$1: loaded in $((SECONDS - start)) s" | tee "$DATA/$1.load-time"
}

rm -f "$DATA/sqlite.tenants.tmp"
if [ -n "${BENCH_RELOAD:-}" ] || [ "$(cat "$DATA/sqlite.args" 2>/dev/null)" != "${ARGS[*]} shape $SHAPE" ]; then
  rm -f "$DATA"/crm.db*
fi
load sqlite "sqlite://$DATA/crm.db"
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if [ -n "${BENCH_RELOAD:-}" ] || [ "$(cat "$DATA/postgres.args" 2>/dev/null)" != "${ARGS[*]} shape $SHAPE" ] \
     || ! psql "${PG_ADMIN%/*}/$PG_DB" -qc "SELECT 1" >/dev/null 2>&1; then
    rm -f "$DATA/postgres.tenants"
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB" >/dev/null
  fi
  load postgres "${PG_ADMIN%/*}/$PG_DB"
  psql "${PG_ADMIN%/*}/$PG_DB" -qc "VACUUM ANALYZE" >/dev/null
else
  echo "PostgreSQL not reachable: only SQLite loaded"
fi
