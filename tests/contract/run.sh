#!/usr/bin/env bash
# make contract: prove the API contract.
#
# 1. docs/openapi.json is valid OpenAPI 3.1 (openapi-spec-validator, independent of utoipa).
# 2. schemathesis fuzzes the live server with a fixed seed, on a fresh SQLite file and on a fresh
#    PostgreSQL database: every response must be a non-5xx status the document lists for the
#    operation, with the documented content type, headers and body schema. Positive and negative
#    data (bodies, path, query and header parameters), boundary values, then random cases.
#
# The tools live in a venv outside the repository (pinned in tests/contract/requirements.txt).
# Environment:
#   CRM_CONTRACT_VENV     the venv (default ${XDG_CACHE_HOME:-$HOME/.cache}/crm-contract-venv)
#   CRM_CONTRACT_SEED     schemathesis seed (default 16)
#   CRM_CONTRACT_EXAMPLES most generated cases per operation and phase (default 25)
#   CRM_CONTRACT_BACKENDS backends to run (default "sqlite postgres")
#   CRM_TEST_POSTGRES_URL admin URL of the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
#   CI=true               PostgreSQL is mandatory (else it is skipped when unreachable)
# Reports (JUnit, server logs) are left in <target>/contract/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

VENV=${CRM_CONTRACT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/crm-contract-venv}
SEED=${CRM_CONTRACT_SEED:-16}
EXAMPLES=${CRM_CONTRACT_EXAMPLES:-25}
BACKENDS=${CRM_CONTRACT_BACKENDS:-sqlite postgres}
PG_ADMIN=${CRM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SECRET=contract-test-secret-0123456789abcdef0123
REQUIREMENTS=$ROOT/tests/contract/requirements.txt

log() { printf '== contract: %s\n' "$*"; }

# --- the tools -----------------------------------------------------------------------------------
stamp=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements-sha256" 2>/dev/null)" != "$stamp" ]; then
  log "installing the pinned tools into $VENV"
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    log "installing Python's venv (Debian packages)"
    (apt-get install -y python3 python3-venv >/dev/null 2>&1 \
      || (apt-get update >/dev/null && apt-get install -y python3 python3-venv >/dev/null)) \
      || { echo "python3 with venv is needed: apt-get install python3-venv" >&2; exit 1; }
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$stamp" > "$VENV/.requirements-sha256"
fi

# --- 1. the document -----------------------------------------------------------------------------
log "validating docs/openapi.json as OpenAPI 3.1"
"$VENV/bin/openapi-spec-validator" --schema 3.1 docs/openapi.json

# --- 2. the live server --------------------------------------------------------------------------
cargo build -q -p crm-server
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET/debug/crm-server
REPORTS=$TARGET/contract
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
# Hypothesis's own files (unicode tables, constants) go under the target, not the work tree.
export HYPOTHESIS_STORAGE_DIRECTORY=$TARGET/contract-hypothesis

WORK=$(mktemp -d)
SERVER_PID=
PG_DB=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
cleanup() {
  stop_server
  if [ -n "$PG_DB" ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A member of the JSON on stdin.
member() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# POST JSON with the admin token; prints the response body, fails on a non-2xx status.
post() { # path, body
  curl -sS --fail-with-body -X POST "$BASE$1" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d "$2"
}

# A few records, so that lists return real ids and schemathesis reuses them as path parameters.
# (Called in a condition, where `set -e` does not hold: every step checks its own status.)
seed_data() {
  local i id
  for i in 1 2 3; do
    id=$(post /api/v1/customers "{\"name\": \"Contract Customer $i\", \"email\": \"c$i@example.com\", \"phone\": \"+62812000000$i\", \"tags\": [\"seed\", \"t$i\"]}" | member id) || return 1
    post "/api/v1/customers/$id/orders" "{\"order_ref\": \"SEED-$i-1\", \"status\": \"completed\", \"lines\": [{\"sku\": \"SKU-$i\", \"quantity\": \"2\", \"unit_price\": \"37500\"}]}" >/dev/null || return 1
    post "/api/v1/customers/$id/orders" "{\"order_ref\": \"SEED-$i-2\", \"lines\": [{\"sku\": \"SKU-9\", \"quantity\": \"1\", \"unit_price\": \"120000\"}]}" >/dev/null || return 1
  done
  post /api/v1/customer-segments '{"name": "Seeded", "segment_type": "manual"}' >/dev/null || return 1
  post /api/v1/customer-views '{"name": "Seeded view", "sort": ["name"]}' >/dev/null || return 1
  # The token works: a run where every request is a 401 would prove little.
  curl -sS --fail-with-body "$BASE/api/v1/customers?limit=1" -H "Authorization: Bearer $TOKEN" >/dev/null
}

run_backend() { # name, database url
  local backend=$1 url=$2 port tenant status=0
  log "$backend: starting the server"
  port=$(free_port)
  BASE=http://127.0.0.1:$port
  export CRM_DATABASE_URL=$url CRM_BIND=127.0.0.1:$port CRM_JWT_SECRET=$SECRET \
    CRM_DATA_DIR=$WORK/data-$backend CRM_LOG=${CRM_LOG:-warn}
  "$BIN" migrate >/dev/null || return 1
  tenant=$("$BIN" tenant create --name Contract --country ID --currency IDR) || return 1
  TOKEN=$("$BIN" token --tenant "$tenant" --role admin --ttl 2h) || return 1
  "$BIN" serve >"$REPORTS/server-$backend.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "$BASE/health/ready" >/dev/null && break
    sleep 0.2
  done
  curl -sf "$BASE/health/ready" >/dev/null || { echo "the server did not start" >&2; cat "$REPORTS/server-$backend.log" >&2; return 1; }
  seed_data || { echo "seeding the $backend database failed" >&2; return 1; }
  log "$backend: schemathesis (seed $SEED, at most $EXAMPLES cases per operation and phase)"
  "$VENV/bin/schemathesis" --no-color --config-file "$ROOT/tests/contract/schemathesis.toml" \
    run "$BASE/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --seed "$SEED" \
    --max-examples "$EXAMPLES" \
    --report junit --report-junit-path "$REPORTS/junit-$backend.xml" \
    || status=$?
  stop_server
  if grep -q 'panicked' "$REPORTS/server-$backend.log"; then
    echo "the server logged a panic (see $REPORTS/server-$backend.log)" >&2
    status=1
  fi
  return "$status"
}

passed=0
failed=0
for backend in $BACKENDS; do
  case $backend in
    sqlite)
      if run_backend sqlite "sqlite://$WORK/contract.db"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
      stop_server
      ;;
    postgres)
      if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
        if [ "${CI:-}" = true ]; then
          echo "PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true makes it mandatory" >&2
          failed=$((failed + 1))
          continue
        fi
        log "PostgreSQL is not reachable: skipped"
        continue
      fi
      PG_DB=crm_contract_$$
      psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null || { failed=$((failed + 1)); PG_DB=; continue; }
      if run_backend postgres "${PG_ADMIN%/*}/$PG_DB"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
      stop_server
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
      PG_DB=
      ;;
    *)
      echo "unknown backend $backend (sqlite, postgres)" >&2
      exit 2
      ;;
  esac
done

echo "contract: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
