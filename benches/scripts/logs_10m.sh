#!/usr/bin/env bash
# Issue 4's search figures: LINES (default 10M) short generated lines spread over the last 24 h are
# sent to a fresh Osprey (logs_load), then logs_search_bench.py times "newest 100 containing a term"
# and log volume by severity over the whole range, with DuckDB over the same Parquet files.
#   benches/scripts/logs_10m.sh          # KEEP=1 keeps the data dir for another run
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-logs-10m}
LINES=${LINES:-10000000}
VENV=${VENV:-$HOME/.cache/osprey-bench-venv}
[ -x $VENV/bin/python ] || { python3 -m venv $VENV && $VENV/bin/pip install -q duckdb requests; }
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
export OSPREY_STORAGE__FLUSH__MAX_AGE=${MAX_AGE:-5s}
mkdir -p $D
if [ ! -d $D/data/logs ]; then
  $R/osprey serve --data-dir $D/data > $D/log-ingest 2>&1 & PID=$!
  until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.1; done
  $R/logs_load --lines $LINES --variant short --spread-hours 24 --grpc http://127.0.0.1:24317 --server-pid $PID \
    --metrics http://127.0.0.1:23200/metrics --data-dir $D/data
  kill $PID; wait $PID 2>/dev/null
fi
$R/osprey serve --data-dir $D/data > $D/log-search 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
$VENV/bin/python $(dirname $0)/logs_search_bench.py --api http://127.0.0.1:23200 --data $D/data --queries ${QUERIES:-50}
kill $PID; wait $PID 2>/dev/null
[ "${KEEP:-0}" = 1 ] || rm -rf $D
