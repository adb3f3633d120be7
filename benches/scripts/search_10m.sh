#!/usr/bin/env bash
# Issue 8's search figures over the data trace_by_id_10m.sh left (D, default /tmp/osprey-bench-10m):
# starts Osprey on it and runs search_bench.py (Osprey vs DuckDB over the same Parquet files).
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-10m}
VENV=${VENV:-$HOME/.cache/osprey-bench-venv}
[ -x $VENV/bin/python ] || { python3 -m venv $VENV && $VENV/bin/pip install -q duckdb requests pytz; }
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
$R/osprey serve --data-dir $D/data > $D/log-search 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
$VENV/bin/python $(dirname $0)/search_bench.py --api http://127.0.0.1:23200 --data $D/data --queries ${QUERIES:-50}
kill $PID; wait $PID 2>/dev/null
