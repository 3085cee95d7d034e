#!/usr/bin/env bash
# make bench-events: what the event log (issue 13) costs, measured before/after in one run. Builds
# the release server of this checkout and of BENCH_BASELINE_REV (default dfd9671^, the last commit
# before the event log), then on fresh SQLite and PostgreSQL databases, alternating the two
# builds: `crm-server import customers` of the generated BENCH_IMPORT_ROWS-row CSV (default
# 1,000,000, tests/bench/customers_csv.py), and a customer PATCH (merge patch of one field; after
# the event log it also appends customer.updated with its change) at 1 and 32 connections. Writes
# the table between the event-cost markers of docs/BENCHMARKS.md.
# BENCH_BASELINE_PATCH (default 343a693, the BulkRows fix: the baseline's PostgreSQL import is
# quadratic without it, 85 rows/s near 88,000 rows) names a commit whose crates/crm-infra/src
# changes are applied to the baseline before it is built, so the two builds differ by the event
# log only; empty builds the baseline as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export BENCH_DIR="$ROOT/tests/bench"
REV=${BENCH_BASELINE_REV:-dfd9671^}
PATCH=${BENCH_BASELINE_PATCH-343a693}
ROWS=${BENCH_IMPORT_ROWS:-1000000}
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-8090}
PG_ADMIN=${CRM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; git -C "$ROOT" worktree remove --force "$WORK/src" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# Both builds share the target directory (dependencies compile once); each binary is copied out
# as soon as it is linked, and this checkout's is relinked last so target/release stays its own.
git -C "$ROOT" worktree add -q --detach "$WORK/src" "$REV"
if [ -n "$PATCH" ]; then
  git -C "$ROOT" diff "$PATCH^" "$PATCH" -- crates/crm-infra/src | git -C "$WORK/src" apply
fi
(cd "$WORK/src" && CARGO_TARGET_DIR=$TARGET cargo build --release -q -p crm-server)
cp "$TARGET/release/crm-server" "$WORK/before"
rm -f "$TARGET/release/crm-server"; touch "$ROOT/crates/crm-server/src/main.rs"
cargo build --release -q -p crm-server
cp "$TARGET/release/crm-server" "$WORK/after"
BASE=$(git -C "$ROOT" rev-parse --short "$REV"); HEAD=$(git -C "$ROOT" rev-parse --short HEAD)
[ -n "$PATCH" ] && BASE="$BASE with $(git -C "$ROOT" rev-parse --short "$PATCH")'s crm-infra fix applied"

python3 "$BENCH_DIR/customers_csv.py" "$ROWS" "$WORK/customers.csv"
OUT="$WORK/rows.md"; : > "$OUT"

fresh_db() { # backend, name -> database url
  if [ "$1" = sqlite ]; then rm -f "$WORK/$2.db"*; echo "sqlite://$WORK/$2.db"
  else psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $2 WITH (FORCE)" -c "CREATE DATABASE $2" >/dev/null; echo "${PG_ADMIN%/*}/$2"; fi
}
drop_db() { [ "$1" = postgres ] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $2 WITH (FORCE)" >/dev/null; true; }

wrk_line() { # connections, script, args... -> "rps p50 p99 failed"
  local conns=$1 script=$2; shift 2
  wrk -t$(( conns < 2 ? 1 : 2 )) -c"$conns" -d"$DURATION" --timeout 30s --latency -s "$BENCH_DIR/$script" \
    "http://127.0.0.1:$PORT" -- "$@" | grep '^RESULT' \
    | sed -E 's/.*rps=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+).*non2xx=([0-9]+).*/\1 \2 \3 \4/'
}

import_rate() { # backend, build
  local db="crm_evcost_$$_import" url tenant line
  url=$(fresh_db "$1" "$db")
  tenant=$(CRM_DATABASE_URL=$url "$WORK/$2" tenant create --name Import --country ID --currency IDR)
  line=$(CRM_DATABASE_URL=$url "$WORK/$2" import customers "$WORK/customers.csv" --tenant "$tenant" 2>&1 | tr '\r' '\n' | grep -E 'import (completed|failed)' | tail -1)
  drop_db "$1" "$db"
  echo "| $1 | import customers, $ROWS rows | $2 | $(sed -E 's/.*in ([0-9.]+ s) \(([0-9.]+) rows\/s\).*/\2 rows\/s (\1)/' <<<"$line") | |" >> "$OUT"
}

patch_rate() { # backend, build
  local db="crm_evcost_$$_patch" url tenant token pid ids
  url=$(fresh_db "$1" "$db")
  export CRM_DATABASE_URL=$url CRM_BIND=127.0.0.1:$PORT CRM_JWT_SECRET=bench-secret-0123456789abcdef-0123456789 \
    CRM_DATA_DIR="$WORK/data-$1-$2" CRM_LOG=warn CRM_RATE_LIMIT_PER_TOKEN=0 CRM_RATE_LIMIT_PER_TENANT=0
  tenant=$("$WORK/$2" tenant create --name Bench --country ID --currency IDR)
  token=$("$WORK/$2" token --tenant "$tenant" --role admin)
  "$WORK/$2" serve & pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
  DURATION=3s wrk_line 1 create_customer.lua "$token" "e$2" 0 >/dev/null
  ids=$(curl -s "http://127.0.0.1:$PORT/api/v1/customers?limit=200" -H "Authorization: Bearer $token" | grep -o '"id":"[^"]*"' | cut -d'"' -f4 | tr '\n' ' ')
  local c r
  for c in 1 32; do
    # shellcheck disable=SC2086
    read -r -a r <<<"$(wrk_line "$c" patch_customer.lua "$token" $ids)"
    echo "| $1 | PATCH customer, $c connection(s) | $2 | ${r[0]} requests/s | ${r[1]} / ${r[2]} ms (failed ${r[3]}) |" >> "$OUT"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  drop_db "$1" "$db"
}

backends=(sqlite); pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && backends+=(postgres)
for b in "${backends[@]}"; do
  for build in before after; do patch_rate "$b" "$build"; done
  for build in before after; do import_rate "$b" "$build"; done
done

MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
{
  echo "<!-- event-cost:begin (written by make bench-events; do not edit by hand) -->"
  echo "Run of $(date -u +%Y-%m-%dT%H:%MZ) on $MACHINE; release builds of $BASE (before: no event log)"
  echo "and $HEAD (after); fresh databases; wrk over loopback, $DURATION per row, PATCH over the 200 newest"
  echo "customers of a tenant of about a thousand; the import is \`crm-server import customers\`."
  echo
  echo "| backend | operation | build | throughput | p50 / p99 |"
  echo "| --- | --- | --- | --- | --- |"
  cat "$OUT"
  echo "<!-- event-cost:end -->"
} > "$WORK/block.md"
cat "$WORK/block.md"
python3 - "$ROOT/docs/BENCHMARKS.md" "$WORK/block.md" <<'PY'
import sys, re
doc, block = open(sys.argv[1]).read(), open(sys.argv[2]).read().strip()
pat = re.compile(r"<!-- event-cost:begin.*?<!-- event-cost:end -->", re.S)
doc = pat.sub(lambda _: block, doc) if pat.search(doc) else doc.rstrip() + "\n\n" + block + "\n"
open(sys.argv[1], "w").write(doc)
PY
