#!/usr/bin/env bash
# Issue 6's figures: 10M spans over 24 h (replay_10m_24h.sh) and, with LOGS=1, 10M generated log lines over the same
# 24 h (logs_load), then clickbench_spans.py: Osprey's SQL API vs DuckDB and chDB over the very same files, in one run.
#   R=target/release LOGS=1 benches/scripts/clickbench_10m.sh
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-map}
VENV=${VENV:-$HOME/.cache/osprey-bench-venv}
[ -x $VENV/bin/python ] || python3 -m venv $VENV
$VENV/bin/python -c "import duckdb, chdb, requests" 2>/dev/null || $VENV/bin/pip install -q duckdb chdb requests
[ -d $D/data/spans ] && [ -z "${FRESH:-}" ] || R=$R D=$D bash $(dirname $0)/replay_10m_24h.sh
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
LOGS_FLAG=""
if [ "${LOGS:-0}" = 1 ]; then
  LOGS_FLAG=--logs
  if [ ! -d $D/data/logs ]; then
    $R/osprey serve --data-dir $D/data > $D/log-logs 2>&1 & PID=$!
    until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
    $R/logs_load --lines ${LINES:-10000000} --variant short --spread-hours 24 --grpc http://127.0.0.1:24317 | grep -E "accepted|errors"
    kill $PID; wait $PID 2>/dev/null   # graceful: flushes the rest to Parquet
  fi
fi
# The group-by over every trace id needs more than the default 256 MiB SQL memory pool (a clear 422 says so);
# DuckDB and chDB run unbounded, so Osprey gets 2 GiB here.
export OSPREY_QUERY__SQL__MEMORY_BYTES=${SQL_MEMORY:-2147483648}
$R/osprey serve --data-dir $D/data > $D/log-clickbench 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
$VENV/bin/python $(dirname $0)/clickbench_spans.py $LOGS_FLAG --api http://127.0.0.1:23200 --data $D/data --runs ${RUNS:-5} --ids ${IDS:-1000} --client ${CLIENT:-requests}
kill $PID; wait $PID 2>/dev/null
