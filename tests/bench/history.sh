#!/usr/bin/env bash
# The customer-history part of make bench (issue 13), on the tenant run.sh fills itself: a customer
# update (PATCH, which appends customer.updated with its changes to the event log), logging an
# interaction, and the first timeline page of a customer with 10,000 events. Sourced by
# run.sh's run_backend (BACKEND, PORT, token, ids, measure).
set -euo pipefail
# shellcheck disable=SC2086
measure "update customer (PATCH, event appended)" 1 patch_customer.lua "$token" $ids
# shellcheck disable=SC2086
measure "update customer (PATCH, event appended)" 32 patch_customer.lua "$token" $ids
hist=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/customers" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d "{\"name\":\"History $BACKEND\",\"email\":\"history-$$-${BACKEND%% *}@bench.example\"}" \
  | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
measure "log an interaction" 1 log_interaction.lua "$token" "$hist"
measure "log an interaction" 32 log_interaction.lua "$token" "$hist"
# Top the customer's timeline up to 10,000 events (8 keep-alive clients), then read its first page.
python3 - "$PORT" "$token" "$hist" 10000 <<'PY'
import http.client, json, sys
from concurrent.futures import ThreadPoolExecutor
port, token, customer, want = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
def count():
    c = http.client.HTTPConnection("127.0.0.1", port); n = 0; cursor = None
    while True:
        c.request("GET", f"/api/v1/customers/{customer}/timeline?limit=200" + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        d = json.loads(c.getresponse().read()); n += len(d["data"]); cursor = d.get("next_cursor")
        if not cursor or n >= want: return n
def post(k):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(k):
        c.request("POST", f"/api/v1/customers/{customer}/notes", json.dumps({"body": f"Bench note {i}"}), headers)
        r = c.getresponse(); r.read()
        if r.status >= 300: raise SystemExit(f"note: HTTP {r.status}")
missing = max(0, want - count())
with ThreadPoolExecutor(8) as pool:
    list(pool.map(post, [missing // 8 + (1 if i < missing % 8 else 0) for i in range(8)]))
print(f"timeline of the history customer: {count()} events", file=sys.stderr)
PY
measure "timeline first page (10,000 events)" 1 get.lua "$token" "/api/v1/customers/$hist/timeline"
measure "timeline first page (10,000 events)" 32 get.lua "$token" "/api/v1/customers/$hist/timeline"
