#!/usr/bin/env bash
# Issue 7's figures: replay astronomy until SPANS spans (default 10M) are accepted, spread over the
# last 24 h (--spread-hours 24), restart so everything is in Parquet, then time the service map for
# 24 h and 1 h against DuckDB computing the same edges with a self-join over the same span files.
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-map}
VENV=${VENV:-$HOME/.cache/osprey-bench-venv}
[ -x $VENV/bin/python ] || { python3 -m venv $VENV && $VENV/bin/pip install -q duckdb requests pytz; }
R=$R D=$D bash $(dirname $0)/replay_10m_24h.sh
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
$R/osprey serve --data-dir $D/data > $D/log2 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
$VENV/bin/python $(dirname $0)/service_map_bench.py --api http://127.0.0.1:23200 --data $D/data --queries ${QUERIES:-30}
kill $PID; wait $PID 2>/dev/null
