#!/usr/bin/env bash
# make bench-rls: what PostgreSQL row-level security costs (issue 16, "a second wall").
#
# One PostgreSQL database with two tenants of BENCH_RLS_ROWS customers each (default 50,000;
# imported with `crm-server import customers`, so through the walled repositories), then
#   1. pgbench (prepared, 1 and 32 clients) of the get-by-id SQL: as the owner without the wall,
#      as the owner inside BEGIN / set_config / COMMIT (what the transaction alone costs), and as
#      the service role crm_app with the policy (what the service runs);
#   2. wrk against the release server at 1 and 32 connections, with CRM_DB_ROLE=crm_app (the
#      default) and with CRM_DB_ROLE= (the wall off): get by id, first page, a search;
# and writes the figures between the rls markers of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export BENCH_DIR="$ROOT/tests/bench"
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-8091}
ROWS=${BENCH_RLS_ROWS:-50000}
PG_ADMIN=${CRM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL is not reachable at 127.0.0.1:5432" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "pgbench is needed (postgresql-client)" >&2; exit 1; }
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then cargo build --release -q -p crm-server; fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/crm-server"

WORK=$(mktemp -d)
DB="crm_bench_rls_$$"
URL="${PG_ADMIN%/*}/$DB"
trap 'kill $(jobs -p) 2>/dev/null || true; psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
psql "$PG_ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
export CRM_DATABASE_URL=$URL CRM_JWT_SECRET=bench-secret-0123456789abcdef-0123456789 CRM_DATA_DIR="$WORK/data" CRM_LOG=warn
export CRM_RATE_LIMIT_PER_TOKEN=0 CRM_RATE_LIMIT_PER_TENANT=0 CRM_BIND=127.0.0.1:$PORT

python3 - "$ROWS" "$WORK/customers.csv" <<'PY'
import random, sys
rows, path = int(sys.argv[1]), sys.argv[2]
first = ["Budi", "Siti", "Agus", "Dewi", "Rina", "Joko", "Ayu", "Andi", "Putri", "Eko", "Maria", "John", "Linda", "David", "Sarah"]
last = ["Santoso", "Wijaya", "Saputra", "Lestari", "Hidayat", "Kusuma", "Pratama", "Smith", "Brown", "Tan", "Lim", "Nugroho"]
random.seed(11)
with open(path, "w") as f:
    f.write("Nama;E-mail;No HP;Kota\n")
    for i in range(rows):
        a, b = random.choice(first), random.choice(last)
        f.write(f"{a} {b};{a.lower()}.{b.lower()}{i}@example.id;0812{(i * 7919) % 100000000:08d};Jakarta\n")
PY
TENANTS=()
for name in A B; do
  t=$("$BIN" tenant create --name "$name" --country ID --currency IDR)
  "$BIN" import customers "$WORK/customers.csv" --tenant "$t" >/dev/null 2>&1
  TENANTS+=("$t")
done
T=${TENANTS[0]}
psql "$URL" -qc "VACUUM ANALYZE" >/dev/null
ID=$(psql "$URL" -Atc "SELECT id FROM customers WHERE tenant_id = '$T' ORDER BY customer_number LIMIT 1 OFFSET $((ROWS / 2))")
COUNT=$(psql "$URL" -Atc "SELECT count(*) FROM customers")

OUT="$WORK/results.md"
# 1. pgbench: the SQL of GET /customers/{id} (the repository's find).
GET="SELECT * FROM customers WHERE tenant_id = '$T' AND id = '$ID' AND deleted_at IS NULL;"
printf '%s\n' "$GET" > "$WORK/plain.sql"
printf 'BEGIN;\nSELECT set_config('"'"'app.tenant_id'"'"', '"'"'%s'"'"', true);\n%s\nCOMMIT;\n' "$T" "$GET" > "$WORK/walled.sql"
tps() { # clients, script, extra PGOPTIONS
  PGOPTIONS="${3:-}" pgbench -n -M prepared -c "$1" -j $(( $1 < 2 ? 1 : 2 )) -T "${DURATION%s}" -f "$2" "$URL" 2>/dev/null \
    | awk '/^tps/ {printf "%.0f", $3; exit}'
}
{
  echo "| SQL of get by id (pgbench, prepared) | clients | tps |"
  echo "| --- | --- | --- |"
  for c in 1 32; do
    echo "| one SELECT, as the owner (no wall) | $c | $(tps "$c" "$WORK/plain.sql") |"
    echo "| BEGIN; set_config; SELECT; COMMIT, as the owner (no policy) | $c | $(tps "$c" "$WORK/walled.sql") |"
    echo "| BEGIN; set_config; SELECT; COMMIT, as crm_app (policy) | $c | $(tps "$c" "$WORK/walled.sql" "-c role=crm_app") |"
    echo "| one SELECT, as crm_app, no tenant set (sees nothing) | $c | $(tps "$c" "$WORK/plain.sql" "-c role=crm_app") |"
  done
} > "$OUT"

# 2. HTTP, with and without the wall.
measure() { # label, connections, script, args...
  local label=$1 conns=$2 script=$3; shift 3
  local line
  line=$(wrk -t$(( conns < 2 ? 1 : 2 )) -c"$conns" -d"$DURATION" --timeout 30s --latency -s "$BENCH_DIR/$script" "http://127.0.0.1:$PORT" -- "$@" | grep '^RESULT')
  local rps p50 p99 non2xx
  rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line"); p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
  p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line"); non2xx=$(sed -E 's/.*non2xx=([0-9]+).*/\1/' <<<"$line")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$WALL" "$label" "$conns" "$rps" "$p50 / $p99" "$non2xx" >> "$WORK/http.md"
}
TOKEN=$("$BIN" token --tenant "$T" --role admin)
echo "| wall | operation | connections | requests/s | p50 / p99 ms | failed |" > "$WORK/http.md"
echo "| --- | --- | --- | --- | --- | --- |" >> "$WORK/http.md"
for role in crm_app ""; do
  WALL=${role:+on (CRM_DB_ROLE=crm_app)}; WALL=${WALL:-off (CRM_DB_ROLE=)}
  CRM_DB_ROLE=$role "$BIN" serve & pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
  for c in 1 32; do
    measure "get customer by id" "$c" get.lua "$TOKEN" "/api/v1/customers/$ID"
    measure "first page (20)" "$c" get.lua "$TOKEN" "/api/v1/customers?limit=20"
    measure "search q=santoso (20)" "$c" get.lua "$TOKEN" "/api/v1/customers?q=santoso&limit=20"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, PostgreSQL $(psql "$URL" -Atc 'SHOW server_version')"
{
  echo "<!-- rls:begin (written by make bench-rls; do not edit by hand) -->"
  echo "Run of $(date -u +%Y-%m-%dT%H:%MZ) on $MACHINE; release build; $DURATION per row; server, database and"
  echo "load generator share the machine. Data: $COUNT customers in two tenants of $ROWS (imported through the"
  echo "walled repositories); the customer read is one in the middle of tenant A."
  echo
  cat "$OUT"
  echo
  cat "$WORK/http.md"
  echo "<!-- rls:end -->"
} > "$WORK/block.md"
cat "$WORK/block.md"
python3 - "$ROOT/docs/BENCHMARKS.md" "$WORK/block.md" <<'PY'
import sys, re
doc, block = open(sys.argv[1]).read(), open(sys.argv[2]).read().strip()
pat = re.compile(r"<!-- rls:begin.*?<!-- rls:end -->", re.S)
if pat.search(doc):
    doc = pat.sub(lambda _: block, doc)
else:
    doc = doc.rstrip() + "\n\n## Row-level security\n\n" + block + "\n"
open(sys.argv[1], "w").write(doc)
PY
echo "written to docs/BENCHMARKS.md"
