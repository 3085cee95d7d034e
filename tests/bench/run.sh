#!/usr/bin/env bash
# make bench: drive the release server over loopback with wrk at 1 and 32 connections, on SQLite
# and (when reachable) PostgreSQL, first on a tenant the run fills itself, then on the bench data
# set (tests/bench/scale.sh), and write the figures into docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export BENCH_DIR="$ROOT/tests/bench"
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-8090}
PG_ADMIN=${CRM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"
  (apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y wrk >/dev/null)) \
    || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
fi
cargo build --release -q -p crm-server
BIN="$ROOT/target/release/crm-server"
[ -n "${CARGO_TARGET_DIR:-}" ] && BIN="$CARGO_TARGET_DIR/release/crm-server"

WORK=$(mktemp -d)
OUT="$WORK/results.md"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

measure() { # name, connections, script, args...
  local name=$1 conns=$2 script=$3; shift 3
  local threads=$(( conns < 2 ? 1 : 2 ))
  local line
  line=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --timeout 30s --latency -s "$BENCH_DIR/$script" "http://127.0.0.1:$PORT" -- "$@" | grep '^RESULT')
  local rps p50 p99 non2xx
  rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line"); p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
  p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line"); non2xx=$(sed -E 's/.*non2xx=([0-9]+).*/\1/' <<<"$line")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$BACKEND" "$name" "$conns" "$rps" "$p50 / $p99" "$non2xx" | tee -a "$OUT"
}

run_backend() { # backend, database url
  BACKEND=$1
  export CRM_DATABASE_URL=$2 CRM_BIND=127.0.0.1:$PORT CRM_JWT_SECRET=bench-secret-0123456789abcdef-0123456789 CRM_DATA_DIR="$WORK/data-$1" CRM_LOG=warn
  # The bench measures throughput from one token: rate limits off.
  export CRM_RATE_LIMIT_PER_TOKEN=0 CRM_RATE_LIMIT_PER_TENANT=0
  local tenant token
  tenant=$("$BIN" tenant create --name Bench --country ID --currency IDR)
  token=$("$BIN" token --tenant "$tenant" --role admin)
  "$BIN" serve & local pid=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
  measure "create customer" 1 create_customer.lua "$token" c1 0
  measure "create customer" 32 create_customer.lua "$token" c32 1
  # Let the database settle after the write burst (GIN pending list, autovacuum, checkpoint), so
  # the read rows measure reads.
  if [ "$BACKEND" = postgres ]; then
    psql "$CRM_DATABASE_URL" -qc "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
  fi
  local ids id
  ids=$(curl -s "http://127.0.0.1:$PORT/api/v1/customers?limit=200" -H "Authorization: Bearer $token" | grep -o '"id":"[^"]*"' | cut -d'"' -f4 | tr '\n' ' ')
  id=${ids%% *}
  measure "get customer by id" 1 get.lua "$token" "/api/v1/customers/$id"
  measure "get customer by id" 32 get.lua "$token" "/api/v1/customers/$id"
  measure "first page (20)" 1 get.lua "$token" "/api/v1/customers?limit=20"
  measure "first page (20)" 32 get.lua "$token" "/api/v1/customers?limit=20"
  # Issue 12: a B2B customer with two addresses and two contacts, created in one call, and read
  # back with its default addresses and primary contact.
  measure "create customer + 2 addresses + 2 contacts" 1 create_b2b.lua "$token" b1 2
  measure "create customer + 2 addresses + 2 contacts" 32 create_b2b.lua "$token" b32 3
  # As after the first burst: the tables this one filled get their statistics before the reads.
  if [ "$BACKEND" = postgres ]; then
    psql "$CRM_DATABASE_URL" -qc "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
  fi
  local b2b
  b2b=$(curl -s "http://127.0.0.1:$PORT/api/v1/customers?limit=1&q=PT%20Bench" -H "Authorization: Bearer $token" | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
  measure "get customer with addresses + contacts" 1 get.lua "$token" "/api/v1/customers/$b2b"
  measure "get customer with addresses + contacts" 32 get.lua "$token" "/api/v1/customers/$b2b"
  # shellcheck disable=SC2086
  measure "create order (2 lines)" 1 create_order.lua "$token" o1 $ids
  # shellcheck disable=SC2086
  measure "create order (2 lines)" 32 create_order.lua "$token" o32 $ids
  # Issue 13: the event log's cost on updates, logging an interaction, a long timeline.
  # shellcheck source=tests/bench/history.sh
  source "$BENCH_DIR/history.sh"
  local customers orders
  customers=$(curl -s "http://127.0.0.1:$PORT/api/v1/customers?limit=1" -H "Authorization: Bearer $token" | grep -o '"customer_number":[0-9]*' | cut -d: -f2)
  echo "- $BACKEND: $customers customers and the orders above in one tenant at the end; server peak RSS $(awk '/VmHWM/ {print $2" "$3}' /proc/$pid/status)" >> "$WORK/notes.md"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "| backend | operation | connections | requests/s | p50 / p99 ms | failed |" > "$OUT"
echo "| --- | --- | --- | --- | --- | --- |" >> "$OUT"
: > "$WORK/notes.md"
run_backend sqlite "sqlite://$WORK/bench.db"
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  db="crm_bench_$$"
  psql "$PG_ADMIN" -qc "CREATE DATABASE $db" >/dev/null
  run_backend postgres "${PG_ADMIN%/*}/$db"
  psql "$PG_ADMIN" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
else
  echo "PostgreSQL not reachable: skipped" | tee -a "$WORK/notes.md"
fi

# The scale runs (bench data set; BENCH_SCALE=0 skips them).
: > "$WORK/ceiling.md"
if [ "${BENCH_SCALE:-1}" != 0 ]; then
  # shellcheck source=tests/bench/scale.sh
  source "$BENCH_DIR/scale.sh"
fi

# Bulk import of a generated customers file (BENCH_IMPORT=0 skips it).
if [ "${BENCH_IMPORT:-1}" != 0 ]; then
  # shellcheck source=tests/bench/import.sh
  source "$BENCH_DIR/import.sh"
fi

# CLV model fits on the full CDNOW history (domain code of POST /analytics/clv/fit).
cargo build --release -q -p crm-blackbox-tests --bin crm-bench-clv
CLV_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/crm-bench-clv"
CLV_SUMMARY="$WORK/cdnow_calibration_summary.csv"
echo "- CLV fits, CDNOW_master.csv (calibration to 1997-09-30, weeks): $("$CLV_BIN" "$ROOT/examples/cdnow/CDNOW_master.csv" --summary-out "$CLV_SUMMARY" | tr '\n' ';' | sed 's/;$//; s/;/; /g')" >> "$WORK/notes.md"
# The same calibration summaries fitted by the Python lifetimes package (0.11.3), for
# comparison, in a virtualenv of its own (LIFETIMES_VENV); skipped with a note without
# python3 -m venv or pip.
LIFETIMES_VENV="${LIFETIMES_VENV:-$HOME/.cache/crm-lifetimes}"
if [ ! -x "$LIFETIMES_VENV/bin/python" ] && command -v python3 >/dev/null 2>&1; then
  python3 -m venv "$LIFETIMES_VENV" >/dev/null 2>&1 || rm -rf "$LIFETIMES_VENV"
fi
if [ -x "$LIFETIMES_VENV/bin/python" ] && ! "$LIFETIMES_VENV/bin/python" -c 'import lifetimes' 2>/dev/null; then
  "$LIFETIMES_VENV/bin/python" -m pip install -q lifetimes==0.11.3 >/dev/null 2>&1 || true
fi
if [ -x "$LIFETIMES_VENV/bin/python" ] && "$LIFETIMES_VENV/bin/python" -c 'import lifetimes' 2>/dev/null; then
  echo "- The same summaries fitted by lifetimes $("$LIFETIMES_VENV/bin/python" -c 'import lifetimes; print(lifetimes.__version__)') (Python $("$LIFETIMES_VENV/bin/python" -c 'import platform; print(platform.python_version())')): $("$LIFETIMES_VENV/bin/python" "$BENCH_DIR/clv_lifetimes.py" "$CLV_SUMMARY" | tr '\n' ';' | sed 's/;$//; s/;/; /g')" >> "$WORK/notes.md"
else
  echo "- lifetimes comparison skipped: no python3 with venv and pip to install lifetimes==0.11.3" | tee -a "$WORK/notes.md"
fi

MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
{
  echo "<!-- bench:begin (written by make bench; do not edit by hand) -->"
  echo "Run of $(date -u +%Y-%m-%dT%H:%MZ) on $MACHINE; release build; wrk over loopback, $DURATION per row;"
  echo "server and load generator share the machine. Rows without (scale): one tenant created by the run"
  echo "itself; (scale) rows: the largest tenant of the make bench-data set."
  echo
  cat "$OUT"
  echo
  cat "$WORK/notes.md"
  if [ -s "$WORK/ceiling.md" ]; then
    echo
    echo "PostgreSQL's own ceiling for the same SQL (pgbench, 32 clients, 2 threads, prepared, $DURATION)"
    echo "against our HTTP throughput at 32 connections, scale data set:"
    echo
    echo "| operation | pgbench tps | HTTP requests/s | share |"
    echo "| --- | --- | --- | --- |"
    cat "$WORK/ceiling.md"
  fi
  echo "<!-- bench:end -->"
} > "$WORK/block.md"
python3 - "$ROOT/docs/BENCHMARKS.md" "$WORK/block.md" <<'PY'
import sys, re
doc, block = open(sys.argv[1]).read(), open(sys.argv[2]).read().strip()
pat = re.compile(r"<!-- bench:begin.*?<!-- bench:end -->", re.S)
doc = pat.sub(lambda _: block, doc) if pat.search(doc) else doc.rstrip() + "\n\n" + block + "\n"
open(sys.argv[1], "w").write(doc)
PY
echo "written to docs/BENCHMARKS.md"
# Live events and webhooks (issue 14): the stream's throughput and the outbox's cost.
BENCH_SKIP_BUILD=1 "$BENCH_DIR/live.sh"
# The tenant wall's cost (PostgreSQL row-level security), with and without it in the same run.
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  BENCH_SKIP_BUILD=1 "$BENCH_DIR/rls.sh"
fi
