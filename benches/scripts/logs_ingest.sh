#!/usr/bin/env bash
# Issue 4's ingest and size figures, in one run: the tantivy ceiling (log_index_ceiling: plain
# single-thread tantivy, and Osprey's own index, over the same lines), then Osprey ingesting the
# same lines over OTLP/gRPC into a fresh data dir (logs_load: MB of lines per server CPU-second,
# counting the flush and index build after the last request; Parquet + index bytes vs raw).
#   benches/scripts/logs_ingest.sh            # short (~150 B) and long (~900 B) lines
#   LINES=2000000 VARIANTS=short benches/scripts/logs_ingest.sh
#   CEILING=0 ...   skips log_index_ceiling (server runs only, e.g. to alternate builds)
#   KEEP=1 ...      keeps the data dir of the last variant (benches/scripts/logs_parquet_columns.py reads it)
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-logs-ingest}
LINES=${LINES:-1000000}
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
# Flush soon after the last request instead of after the default 5 min (size-triggered flushes are unchanged).
export OSPREY_STORAGE__FLUSH__MAX_AGE=${MAX_AGE:-5s}
for variant in ${VARIANTS:-short long}; do
  n=$LINES; [ $variant = long ] && n=$((LINES / 6))
  echo "== $variant lines: $n"
  [ "${CEILING:-1}" = 0 ] || $R/log_index_ceiling --lines $n --variant $variant
  rm -rf $D; $R/osprey serve --data-dir $D > /dev/null 2>&1 & PID=$!
  until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.1; done
  $R/logs_load --lines $n --variant $variant --grpc http://127.0.0.1:24317 --server-pid $PID \
    --metrics http://127.0.0.1:23200/metrics --data-dir $D
  kill $PID; wait $PID 2>/dev/null
done
[ "${KEEP:-0}" = 1 ] || rm -rf $D
