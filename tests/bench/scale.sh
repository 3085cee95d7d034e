#!/usr/bin/env bash
# The scale part of make bench: the release server on the bench data set (make bench-data), the
# largest tenant (500,000 customers by default), driven by wrk at 1 and 32 connections; on
# PostgreSQL also the database's own ceiling for the same SQL through pgbench (32 clients,
# prepared). Sourced by run.sh, which provides BIN, PORT, DURATION, WORK, OUT, measure().
set -euo pipefail
DATA=${BENCH_DATA_DIR:-$ROOT/target/bench-data}
PG_DB=${BENCH_PG_DB:-crm_bench_data}
"$ROOT/tests/bench/data.sh"

api() { curl -sf "http://127.0.0.1:$PORT$1" -H "Authorization: Bearer $TOKEN"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

scale_backend() { # backend, url
  BACKEND="$1 (scale)"
  local tenant size
  read -r tenant size < "$DATA/$1.tenants"
  export CRM_DATABASE_URL=$2 CRM_BIND=127.0.0.1:$PORT CRM_JWT_SECRET=bench-secret-0123456789abcdef-0123456789 CRM_DATA_DIR="$WORK/data-scale-$1" CRM_LOG=warn
  # The bench measures throughput from one token: rate limits off.
  export CRM_RATE_LIMIT_PER_TOKEN=0 CRM_RATE_LIMIT_PER_TENANT=0
  TOKEN=$("$BIN" token --tenant "$tenant" --role admin)
  "$BIN" serve & local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
  local s="$WORK/scale-$1"; mkdir -p "$s"
  # 1,000 customers spread over the tenant (five orders of the list), for get by id and phones.
  for sort in name -total_spent created_at -updated_at total_orders; do
    api "/api/v1/customers?limit=200&sort=$sort" | json "'\n'.join(c['id']+' '+(c['mobile_phone'] or '') for c in d['data'])"
  done > "$s/sample"
  awk '{print "/api/v1/customers/" $1}' "$s/sample" > "$s/get"
  # A cursor after 100,000 rows of the default order (500 pages of 200).
  local cursor=""
  for _ in $(seq 1 500); do
    cursor=$(api "/api/v1/customers?limit=200${cursor:+&cursor=$cursor}" | json "d['next_cursor']")
  done
  echo "/api/v1/customers?limit=20&cursor=$cursor" > "$s/deep"
  printf '/api/v1/customers?limit=20&q=%s\n' smit john will brow jone mill davi wils ande tayl thom moor > "$s/search"
  printf '/api/v1/customers?limit=20&q=%s\n' smiht jonhson wiliams brwon andersn tayler thomsa moroe > "$s/typo"
  # Six digits from the middle of sampled mobile numbers, written nationally with a dash.
  awk '$2 != "" && n < 200 {n++; d=substr($2, 7, 6); print "/api/v1/customers?limit=20&q=" substr(d,1,3) "-" substr(d,4,3)}' "$s/sample" > "$s/phone"
  echo "/api/v1/customers?limit=20&status=active&tag=premium&min_total_spent=1000000" > "$s/filters"
  echo "/api/v1/customers/stats" > "$s/stats"
  # Radius searches (issue 12): 10 km around points in six cities, nearest first, and 25 km in
  # the default order (every bench customer has a billing address near one of 20 cities).
  printf '/api/v1/customers?limit=20&near=%s&within_km=10&sort=distance\n' \
    -6.2000,106.8166 -7.2575,112.7521 -6.9147,107.6098 3.5952,98.6722 -8.6705,115.2126 -7.7956,110.3695 > "$s/radius"
  printf '/api/v1/customers?limit=20&near=%s&within_km=25\n' -6.2000,106.8166 -7.2575,112.7521 -0.9471,100.4172 > "$s/radius25"
  echo "/api/v1/customers?limit=20" > "$s/first"
  for c in 1 32; do
    measure "get customer by id" "$c" paths.lua "$TOKEN" "$s/get"
    measure "first page (20)" "$c" paths.lua "$TOKEN" "$s/first"
    measure "deep page (after 100,000 rows)" "$c" paths.lua "$TOKEN" "$s/deep"
    measure "search: name fragment" "$c" paths.lua "$TOKEN" "$s/search"
    measure "search: one typo" "$c" paths.lua "$TOKEN" "$s/typo"
    measure "search: phone fragment" "$c" paths.lua "$TOKEN" "$s/phone"
    measure "three filters" "$c" paths.lua "$TOKEN" "$s/filters"
    measure "stats (whole tenant)" "$c" paths.lua "$TOKEN" "$s/stats"
    measure "radius 10 km, by distance" "$c" paths.lua "$TOKEN" "$s/radius"
    measure "radius 25 km" "$c" paths.lua "$TOKEN" "$s/radius25"
  done
  # RFM recompute of the whole tenant, in the database (make bench, not a timed test).
  local rfm
  rfm=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/analytics/rfm/recompute?wait=true" -H "Authorization: Bearer $TOKEN" \
    | json "str(d['result']['duration_ms']) + ' ms for ' + str(d['result']['scored']) + ' scored customers'")
  echo "- $1 (scale): RFM recompute of the largest tenant (POST /analytics/rfm/recompute?wait=true): $rfm" >> "$WORK/notes.md"
  # Phones +6285<d><8 digits>: the run's own block of numbers, as the data set is kept.
  local offset=$(( ($(date +%s) / 60 % 90) * 1000000 ))
  measure "create customer" 1 create_customer.lua "$TOKEN" "s1$$" 0 6285 "$offset"
  measure "create customer" 32 create_customer.lua "$TOKEN" "s32$$" 1 6285 "$offset"
  echo "- $1 (scale): largest tenant $size customers of $(awk '{s+=$2} END {print s}' "$DATA/$1.tenants") in $(wc -l < "$DATA/$1.tenants") tenants; $(cat "$DATA/$1.load-time" 2>/dev/null || echo 'load time not recorded'); server peak RSS $(awk '/VmHWM/ {print $2" "$3}' /proc/$pid/status)" >> "$WORK/notes.md"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  if [ "$1" = postgres ]; then pgbench_ceiling "$2" "$tenant" "$s"; fi
}

# The SQL the server issues for get by id, first page, deep page and a name search (as logged by
# PostgreSQL with log_statement=all), run by pgbench: 32 clients, 2 threads, prepared.
pgbench_ceiling() { # url, tenant, scale dir
  local url=$1 tenant=$2 s=$3 cols p="$3/pgbench"
  mkdir -p "$p"
  cols=$(psql "$url" -Atc "SELECT string_agg(format('%I', column_name), ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'customers' AND table_schema = 'public'")
  psql "$url" -qc "DROP TABLE IF EXISTS bench_ids; CREATE TABLE bench_ids (n int PRIMARY KEY, id uuid NOT NULL)" >/dev/null
  awk '{print NR "," $1}' "$s/sample" | psql "$url" -qc "\copy bench_ids FROM STDIN WITH (FORMAT csv)"
  local last_at last_id
  IFS='|' read -r last_at last_id < <(psql "$url" -AtF'|' -c "SELECT created_at, id FROM customers WHERE tenant_id = '$tenant' AND deleted_at IS NULL ORDER BY created_at DESC, id DESC OFFSET 99999 LIMIT 1")
  cat > "$p/get.sql" <<SQL
\set n random(1, $(wc -l < "$s/sample"))
SELECT $cols FROM customers WHERE tenant_id = :t AND id = (SELECT id FROM bench_ids WHERE n = :n) AND deleted_at IS NULL LIMIT 1;
SQL
  echo "SELECT $cols FROM customers WHERE tenant_id = :t AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 21;" > "$p/first.sql"
  echo "SELECT $cols FROM customers WHERE tenant_id = :t AND deleted_at IS NULL AND created_at <= :at AND (created_at < :at OR (created_at = :at AND id < :id)) ORDER BY created_at DESC, id DESC LIMIT 21;" > "$p/deep.sql"
  echo "SELECT $cols FROM customers WHERE tenant_id = :t AND deleted_at IS NULL AND id IN (SELECT id FROM customers WHERE tenant_id = :t AND search_text LIKE '%smit%' UNION ALL SELECT id FROM customers WHERE tenant_id = :t AND string_to_array(search_terms, ' ') && ARRAY['mit', 'sit', 'smi', 'smit', 'smt']::text[]) ORDER BY (CASE WHEN sort_name = 'smit' THEN 4 WHEN sort_name LIKE 'smit%' THEN 3 WHEN search_text LIKE '%smit%' THEN 2 ELSE 1 END) DESC, id DESC LIMIT 21;" > "$p/search.sql"
  local name file tps ours
  for pair in "get customer by id:get" "first page (20):first" "deep page (after 100,000 rows):deep" "search: name fragment:search"; do
    name=${pair%:*}; file=${pair##*:}
    tps=$(pgbench -n -M prepared -c 32 -j 2 -T "${DURATION%s}" -D t="$tenant" -D at="$last_at" -D id="$last_id" -f "$p/$file.sql" "$url" 2>/dev/null \
      | awk '/^tps/ {print $3; exit}')
    ours=$(awk -F'|' -v n=" $name " '$2 ~ /postgres \(scale\)/ && $3 == n && $4 == " 32 " {print $5}' "$OUT" | tr -d ' ')
    printf '| %s | %s | %s | %s |\n' "$name" "$tps" "$ours" \
      "$(awk -v a="$ours" -v b="$tps" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }')" >> "$WORK/ceiling.md"
  done
  psql "$url" -qc "DROP TABLE bench_ids" >/dev/null
}

scale_backend sqlite "sqlite://$DATA/crm.db"
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  scale_backend postgres "${PG_ADMIN%/*}/$PG_DB"
fi
