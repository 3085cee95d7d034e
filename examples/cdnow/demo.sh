#!/usr/bin/env bash
# make demo: the CDNOW purchase history end to end through the API (README, "The main job on
# real data"). Needs curl and python3 (for reading JSON answers).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CRM_DATA_DIR=${CRM_DATA_DIR:-$(mktemp -d)} CRM_BIND=127.0.0.1:${DEMO_PORT:-8099} CRM_LOG=warn
cargo build --release -q -p crm-server
BIN=${CARGO_TARGET_DIR:-target}/release/crm-server
API=http://$CRM_BIND/api/v1
json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

TENANT=$("$BIN" tenant create --name CDNOW --country US --currency USD)
TOKEN=$("$BIN" token --tenant "$TENANT" --role admin)
AUTH="Authorization: Bearer $TOKEN"
"$BIN" serve & PID=$!
trap 'kill $PID' EXIT
until curl -sf "http://$CRM_BIND/health/ready" >/dev/null; do sleep 0.2; done

echo "1. Import 69,659 purchases as orders (customers created from the CDNOW ids, USD)"
curl -sf -X POST "$API/imports?wait=true" -H "$AUTH" \
  -F file=@examples/cdnow/CDNOW_master.csv -F 'options={"kind": "orders"}' \
  | json "p=d['progress']; print(f\"   {d['state']}: {p['rows_read']} rows, {p['created']} orders, {p['failed']} failed, {p['duration_ms']/1000:.0f} s\")"
curl -sf "$API/customers/stats" -H "$AUTH" \
  | json "r=d['revenue_by_currency'][0]; print(f\"   {d['total']} customers, revenue {r['total_revenue']} {r['currency']}\")"

echo "2. RFM as of 1998-07-01"
curl -sf -X POST "$API/analytics/rfm/recompute?wait=true" -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"reference": "1998-07-01T00:00:00Z"}' >/dev/null
curl -sf "$API/analytics/rfm" -H "$AUTH" \
  | json "[print(f\"   {s['label']:<20} {s['customers']:>6}  {100*s['share']:5.1f}%  {s['revenue'].get('USD', '0'):>12} USD\") for s in d['segments']]"

echo "3. BG/NBD + Gamma-Gamma, calibration 1997-01-01..1997-09-30, weeks"
curl -sf -X POST "$API/analytics/clv/fit" -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"calibration_end": "1997-09-30", "time_unit": "week"}' \
  | json "b=d['bgnbd']; g=d['gamma_gamma']; print(f\"   r={b['r']:.4f} alpha={b['alpha']:.4f} a={b['a']:.4f} b={b['b']:.4f}; p={g['p']:.3f} q={g['q']:.3f} gamma={g['gamma']:.3f} ({d['customers']} customers, {d['fit_ms']} ms)\")"

echo "4. Top customers by total spent"
TOP=$(curl -sf "$API/customers?sort=-total_spent&limit=5" -H "$AUTH")
echo "$TOP" | json "[print(f\"   CDNOW {c['external_ref']}: {c['total_orders']} orders, {c['total_spent']} USD, {c['rfm']['segment']}\") for c in d['data']]"
ID=$(echo "$TOP" | json "print(d['data'][0]['id'])")

echo "5. The top customer's prediction as of 1998-06-30 (12 months, 1% a month)"
curl -sf "$API/customers/$ID/analytics?as_of=1998-06-30&horizon_months=12&discount_rate=0.01" -H "$AUTH" \
  | json "p=d['prediction']; print(f\"   P(alive)={p['probability_alive']:.3f}, expected purchases={p['expected_purchases']:.2f}, expected order value={p['expected_order_value']:.2f} USD, CLV={p['clv']:.2f} USD\")"

echo "6. The 2,357-customer sample in its own tenant: the published estimates"
SAMPLE=$("$BIN" tenant create --name "CDNOW sample" --country US --currency USD)
STOKEN=$("$BIN" token --tenant "$SAMPLE" --role admin)
curl -sf -X POST "$API/imports?wait=true" -H "Authorization: Bearer $STOKEN" \
  -F file=@examples/cdnow/CDNOW_sample.csv -F 'options={"kind": "orders"}' >/dev/null
curl -sf -X POST "$API/analytics/clv/fit" -H "Authorization: Bearer $STOKEN" -H 'Content-Type: application/json' \
  -d '{"calibration_end": "1997-09-30", "time_unit": "week"}' \
  | json "b=d['bgnbd']; g=d['gamma_gamma']; print(f\"   fitted:    r={b['r']:.3f} alpha={b['alpha']:.3f} a={b['a']:.3f} b={b['b']:.3f}; p={g['p']:.2f} q={g['q']:.2f} gamma={g['gamma']:.2f}\")"
echo "   published: r=0.243 alpha=4.414 a=0.793 b=2.426; p=6.25 q=3.74 gamma=15.44"
