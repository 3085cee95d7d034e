#!/usr/bin/env bash
# The import part of make bench: a generated customers CSV of BENCH_IMPORT_ROWS rows (default
# 1,000,000; tests/bench/customers_csv.py: names, unique e-mails and mobile numbers, tags and a
# complete Indonesian address stored as the default billing address) imported with
# `crm-server import customers` into a fresh SQLite file and a fresh PostgreSQL database;
# reports rows/s and the importer's peak RSS. Then the CDNOW purchase history
# (examples/cdnow/CDNOW_master.csv, 69,659 orders creating 23,570 customers) with
# `crm-server import orders` the same way. Sourced by run.sh (BIN, WORK, PG_ADMIN, ROOT, notes).
set -euo pipefail
ROWS=${BENCH_IMPORT_ROWS:-1000000}
CSV="$WORK/customers-$ROWS.csv"
python3 "$ROOT/tests/bench/customers_csv.py" "$ROWS" "$CSV"
import_into() { # backend, database url, kind, file, label
  local start=$SECONDS tenant out rss
  if [ "$3" = orders ]; then
    tenant=$(CRM_DATABASE_URL=$2 "$BIN" tenant create --name CDNOW --country US --currency USD)
  else
    tenant=$(CRM_DATABASE_URL=$2 "$BIN" tenant create --name Import --country ID --currency IDR)
  fi
  out=$(CRM_DATABASE_URL=$2 /usr/bin/time -f 'RSS %M' "$BIN" import "$3" "$4" --tenant "$tenant" 2>&1 | tr '\r' '\n' | grep -E 'import (completed|failed)|^RSS')
  rss=$(grep '^RSS' <<<"$out" | awk '{printf "%.0f MiB", $2 / 1024}')
  echo "- $1 import: \`crm-server import $3\` of $5: $(grep import <<<"$out" | sed "s/^$3 import //"); importer peak RSS $rss; $((SECONDS - start)) s in all" >> "$WORK/notes.md"
}
CDNOW="$ROOT/examples/cdnow/CDNOW_master.csv"
rm -f "$WORK/import.db" "$WORK/cdnow.db"
import_into sqlite "sqlite://$WORK/import.db" customers "$CSV" "a $ROWS-row CSV"
import_into sqlite "sqlite://$WORK/cdnow.db" orders "$CDNOW" "CDNOW_master.csv (69,659 orders)"
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  for kind in customers orders; do
    db="crm_bench_import_$$_$kind"
    psql "$PG_ADMIN" -qc "CREATE DATABASE $db" >/dev/null
    if [ "$kind" = customers ]; then
      import_into "postgres (a fresh database)" "${PG_ADMIN%/*}/$db" customers "$CSV" "a $ROWS-row CSV"
    else
      import_into "postgres (a fresh database)" "${PG_ADMIN%/*}/$db" orders "$CDNOW" "CDNOW_master.csv (69,659 orders)"
    fi
    psql "$PG_ADMIN" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
  done
fi
