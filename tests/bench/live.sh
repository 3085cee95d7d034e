#!/usr/bin/env bash
# make bench-live: what the live stream and webhooks (issue 14) carry and cost, on SQLite and
# (when reachable) PostgreSQL, release build, one fresh tenant per backend:
# - write throughput (customer create, 32 connections) with 0, 1 and 10 webhook subscriptions
#   (the outbox's cost: one delivery row per event and subscription, written with the event),
#   and how fast the server then delivers them to a loopback receiver;
# - events per second through one SSE stream client while customers are created at full speed
#   (32 connections), and how long after the last write the stream has everything.
# Writes the "Live events and webhooks" block of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export BENCH_DIR="$ROOT/tests/bench"
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-8090}
HOOK_PORT=${BENCH_HOOK_PORT:-8091}
PG_ADMIN=${CRM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

command -v wrk >/dev/null || { echo "wrk is needed (make bench installs it)" >&2; exit 1; }
[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p crm-server
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/crm-server"

WORK=$(mktemp -d)
OUT="$WORK/live.md"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# A webhook receiver on loopback: answers 204 to every POST and counts them (GET /count).
cat > "$WORK/receiver.py" <<'PY'
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
count = 0
lock = threading.Lock()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with lock:
            count += 1
        self.send_response(204); self.send_header("content-length", "0"); self.end_headers()
    def do_GET(self):
        body = str(count).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY

api() { # method, path, token, [body]
  curl -s -X "$1" "http://127.0.0.1:$PORT$2" -H "Authorization: Bearer $3" \
    -H 'Content-Type: application/json' ${4:+-d "$4"}
}

received() { curl -s "http://127.0.0.1:$HOOK_PORT/count"; }

# wrk's RESULT line for customer creates at 32 connections: rps, p99, requests.
creates() { # tag, phone block
  wrk -t2 -c32 -d"$DURATION" --timeout 30s --latency -s "$BENCH_DIR/create_customer.lua" \
    "http://127.0.0.1:$PORT" -- "$TOKEN" "$1" "$2" 6285 | grep '^RESULT'
}
field() { sed -E "s/.*$1=([0-9.]+).*/\\1/" <<<"$2"; }

# Waits until the receiver has counted `target` deliveries (at most 300 s); prints the seconds
# it took from `since` (epoch seconds, fractional).
drain() { # target, since
  local n
  for _ in $(seq 1 3000); do
    n=$(received)
    [ "$n" -ge "$1" ] && break
    sleep 0.1
  done
  python3 -c "import time; print(f'{time.time() - $2:.1f}')"
}

run_backend() { # backend, database url
  BACKEND=$1
  export CRM_DATABASE_URL=$2 CRM_BIND=127.0.0.1:$PORT CRM_JWT_SECRET=bench-secret-0123456789abcdef-0123456789 CRM_DATA_DIR="$WORK/data-$1" CRM_LOG=warn
  export CRM_RATE_LIMIT_PER_TOKEN=0 CRM_RATE_LIMIT_PER_TENANT=0 CRM_WEBHOOKS_ALLOW_PRIVATE=true
  local tenant
  tenant=$("$BIN" tenant create --name Live --country ID --currency IDR)
  TOKEN=$("$BIN" token --tenant "$tenant" --role admin)
  "$BIN" serve & local pid=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
  python3 "$WORK/receiver.py" "$HOOK_PORT" & local hook=$!
  sleep 0.5

  # Events through one stream client while customers are created at full speed.
  curl -sN "http://127.0.0.1:$PORT/api/v1/events/stream?types=customer.created" \
    -H "Authorization: Bearer $TOKEN" > "$WORK/stream-$BACKEND.txt" & local stream=$!
  sleep 0.5
  local start line made got last lag
  start=$(date +%s.%N)
  line=$(creates s 0); made=$(field requests "$line")
  local wrote_at; wrote_at=$(date +%s.%N)
  for _ in $(seq 1 600); do
    got=$(grep -c '^event: customer.created' "$WORK/stream-$BACKEND.txt" || true)
    [ "$got" -ge "$made" ] && break
    sleep 0.1
  done
  last=$(date +%s.%N)
  kill "$stream" 2>/dev/null || true
  lag=$(python3 -c "print(f'{$last - $wrote_at:.1f}')")
  printf '| %s | one SSE client, customers created at 32 connections | %s events in %.1f s: %.0f events/s; all delivered %s s after the last write |\n' \
    "$BACKEND" "$got" "$(python3 -c "print($last - $start)")" "$(python3 -c "print($got / ($last - $start))")" "$lag" >> "$OUT"

  # Write throughput with 0, 1 and 10 subscriptions, and the delivery rate that follows.
  local subs block=1 base=0
  for subs in 0 1 10; do
    if [ "$subs" -gt 0 ]; then
      while [ "$(api GET '/api/v1/webhooks?limit=50' "$TOKEN" | grep -o '"url"' | wc -l)" -lt "$subs" ]; do
        api POST /api/v1/webhooks "$TOKEN" \
          "{\"url\":\"http://127.0.0.1:$HOOK_PORT/hook\",\"event_types\":[\"customer.created\"]}" >/dev/null
      done
    fi
    base=$(received)
    start=$(date +%s.%N)
    line=$(creates "w$subs" "$block"); block=$((block + 1))
    made=$(field requests "$line")
    local secs=""
    if [ "$subs" -gt 0 ]; then
      secs=$(drain $((base + made * subs)) "$start")
      got=$(( $(received) - base ))
      printf '| %s | create customer, 32 connections, %s subscription(s) | %s req/s, p99 %s ms | %s deliveries in %s s from the first write: %.0f deliveries/s |\n' \
        "$BACKEND" "$subs" "$(field rps "$line")" "$(field p99_ms "$line")" "$got" "$secs" "$(python3 -c "print($got / $secs)")" >> "$OUT"
    else
      printf '| %s | create customer, 32 connections, no subscription | %s req/s, p99 %s ms | - |\n' \
        "$BACKEND" "$(field rps "$line")" "$(field p99_ms "$line")" >> "$OUT"
    fi
  done
  echo "- $BACKEND: server peak RSS $(awk '/VmHWM/ {print $2" "$3}' /proc/$pid/status)" >> "$WORK/notes.md"
  kill "$hook" "$pid"; wait "$pid" 2>/dev/null || true
}

: > "$OUT"; : > "$WORK/notes.md"
run_backend sqlite "sqlite://$WORK/live.db"
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  db="crm_live_$$"
  psql "$PG_ADMIN" -qc "CREATE DATABASE $db" >/dev/null
  run_backend postgres "${PG_ADMIN%/*}/$db"
  psql "$PG_ADMIN" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
fi

MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
{
  echo "<!-- live:begin (written by make bench-live; do not edit by hand) -->"
  echo "Run of $(date -u +%Y-%m-%dT%H:%MZ) on $MACHINE; release build; wrk over loopback, $DURATION per row;"
  echo "server, load generator, stream client and webhook receiver (Python, loopback) share the machine;"
  echo "one fresh tenant per backend."
  echo
  echo "| backend | what | writes | delivered |"
  echo "| --- | --- | --- | --- |"
  cat "$OUT"
  echo
  cat "$WORK/notes.md"
  echo "<!-- live:end -->"
} > "$WORK/block.md"
python3 - "$ROOT/docs/BENCHMARKS.md" "$WORK/block.md" <<'PY'
import sys, re
doc, block = open(sys.argv[1]).read(), open(sys.argv[2]).read().strip()
pat = re.compile(r"<!-- live:begin.*?<!-- live:end -->", re.S)
doc = pat.sub(lambda _: block, doc) if pat.search(doc) else doc.rstrip() + "\n\n## Live events and webhooks (issue 14)\n\n" + block + "\n"
open(sys.argv[1], "w").write(doc)
PY
cat "$WORK/block.md"
