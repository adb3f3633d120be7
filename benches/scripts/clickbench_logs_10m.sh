#!/usr/bin/env bash
# Issue 6's logs half: the ClickBench-shaped logs queries of clickbench_spans.py (--logs-only) over the 10M lines
# logs_10m.sh leaves with KEEP=1 (D, default /tmp/osprey-bench-logs-10m): Osprey's SQL API vs DuckDB and chDB
# over the very same logs files, in one run.
#   KEEP=1 benches/scripts/logs_10m.sh && benches/scripts/clickbench_logs_10m.sh
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-logs-10m}
VENV=${VENV:-$HOME/.cache/osprey-bench-venv}
$VENV/bin/python -c "import duckdb, chdb, requests" 2>/dev/null || $VENV/bin/pip install -q duckdb chdb requests
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
export OSPREY_QUERY__SQL__MEMORY_BYTES=${SQL_MEMORY:-2147483648}
$R/osprey serve --data-dir $D/data > $D/log-clickbench 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
$VENV/bin/python $(dirname $0)/clickbench_spans.py --logs-only --api http://127.0.0.1:23200 --data $D/data --runs ${RUNS:-5}
kill $PID; wait $PID 2>/dev/null
