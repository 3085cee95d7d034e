# crm: the two commands a newcomer needs are `make run` and `make test`.
.PHONY: run test fault contract bench bench-events bench-live bench-rls bench-data demo openapi openapi-check lint fmt ci

CARGO ?= cargo

## Serve on 127.0.0.1:8080 with the embedded default: a SQLite file under ./data (no setup).
run:
	$(CARGO) run -p crm-server -- serve

## Every test: unit, repository and black-box, on SQLite, and on PostgreSQL when it is reachable
## at 127.0.0.1:5432 (mandatory when CI=true).
test:
	$(CARGO) test --workspace --no-fail-fast

## The fault suite: the real server binary against a PostgreSQL cluster of its own (initdb'd in a
## temporary folder): PostgreSQL restarted under load, SIGTERM under load, a saturated pool, the
## server killed during an import; and three replicas on one database (every stream sees every
## event once, in one order; 1,000 webhook deliveries, each once). Needs PostgreSQL's server
## binaries (pg_config --bindir).
fault:
	$(CARGO) build -p crm-server
	$(CARGO) test -p crm-blackbox-tests --test faults --test replicas -- --ignored --test-threads=1

## The API contract: docs/openapi.json validated as OpenAPI 3.1 (openapi-spec-validator), then
## schemathesis against the live server with a fixed seed, on SQLite and on PostgreSQL when it is
## reachable (mandatory when CI=true): no 5xx, every status, content type, header and body as
## documented. The tools are pinned in tests/contract/requirements.txt and installed into a venv
## under ~/.cache. About 5 minutes.
contract:
	tests/contract/run.sh

## Load-test the release server (wrk, 1 and 32 connections, SQLite and PostgreSQL; a tenant the
## run fills, then the bench-data set with pgbench ceilings; then make bench-rls when PostgreSQL
## answers) and write docs/BENCHMARKS.md.
bench:
	tests/bench/run.sh

## What the event log costs: customer PATCH and the 1,000,000-row import, release builds of this
## checkout and of the commit before the event log, side by side (BENCH_BASELINE_REV).
bench-events:
	tests/bench/event_cost.sh

## What the live stream and webhooks carry and cost: customer creates at 32 connections with 0,
## 1 and 10 webhook subscriptions and the delivery rate to a loopback receiver; events per second
## through one SSE client while customers are created at full speed. Writes its block of
## docs/BENCHMARKS.md.
bench-live:
	tests/bench/live.sh

## What PostgreSQL row-level security costs: pgbench of the get-by-id SQL with and without
## set_config and the policy, and the HTTP reads at 1 and 32 connections with CRM_DB_ROLE=crm_app
## and with the wall off; writes the "Row-level security" section of docs/BENCHMARKS.md.
bench-rls:
	tests/bench/rls.sh

## Load the scale data set (1,000,000 customers over 10 tenants, one with 500,000) into a SQLite
## file under target/bench-data and, when reachable, PostgreSQL database crm_bench_data.
bench-data:
	tests/bench/data.sh

## The CDNOW purchase history end to end: import, RFM, CLV fit, top customers, a prediction.
demo:
	examples/cdnow/demo.sh

## Regenerate the committed OpenAPI document from the code.
openapi:
	$(CARGO) run -q -p crm-server -- openapi > docs/openapi.json

## Fail when docs/openapi.json differs from what the code generates.
openapi-check:
	$(CARGO) run -q -p crm-server -- openapi | diff -u docs/openapi.json - \
		|| (echo "docs/openapi.json is stale: run 'make openapi' and commit it" >&2; exit 1)

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## What CI runs (see .ci/run).
ci: lint openapi-check test contract
