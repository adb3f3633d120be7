#!/usr/bin/env bash
# On-disk bytes per span, all files included (issue 3): replays a corpus flat out into a fresh Osprey
# (ids rewritten, timestamps shifted to the present, as live services send them), stops it gracefully so
# every span is in Parquet, then divides the bytes of every Parquet file of the spans and of the tables
# derived from them (service_red, service_edges) by the number of spans stored.
# MEASURE_ONLY=1 measures an existing data dir $D/data instead (e.g. the 10M spans of replay_10m_24h.sh).
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-bytes}
CORPUS=${CORPUS:-astronomy}
SPANS=${SPANS:-3000000}
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
if [ -z "${MEASURE_ONLY:-}" ]; then
  rm -rf $D; mkdir -p $D
  $R/osprey serve --data-dir $D/data > $D/log 2>&1 & PID=$!
  until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
  $R/loadgen --file ${DATA:-../shared/data}/otel-demo/$CORPUS-oteltraces.zst --grpc http://127.0.0.1:24317 --spans $SPANS --retry --concurrency 8 | grep -E "accepted"
  kill $PID; wait $PID 2>/dev/null   # graceful: flushes the rest to Parquet
fi
$R/osprey serve --data-dir $D/data > $D/log2 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
N=$(curl -sf -X POST -H 'Accept: text/csv' localhost:23200/api/v1/sql -d 'SELECT count(*) AS n FROM spans' | tail -1)
kill $PID; wait $PID 2>/dev/null
echo "spans stored: $N"
TOTAL=0
for t in spans service_edges service_red; do
  B=$(find $D/data/$t -name '*.parquet' -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print s+0}')
  F=$(find $D/data/$t -name '*.parquet' 2>/dev/null | wc -l)
  TOTAL=$((TOTAL + B))
  echo "$t: $B bytes in $F files = $(echo "scale=2; $B / $N" | bc) B/span"
done
echo "all files: $TOTAL bytes = $(echo "scale=2; $TOTAL / $N" | bc) B/span"
