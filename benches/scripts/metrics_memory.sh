#!/usr/bin/env bash
# Peak RSS against what the memory budget accounts for, during a metrics replay:
#   R=target/release benches/scripts/metrics_memory.sh [hipstershop|hostandcollector] [out.tsv]
# Fresh server, `metrics_load` for 20 s (8 requests in flight); every ~0.1 s one row of the server's
# `/metrics`: seconds, RSS MiB, then the budget's parts in MiB (requests, memtables, derived, flush) and their sum.
# Prints the load generator's summary and the five rows of highest RSS.
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-metrics-memory}
OUT=${2:-$D.tsv}
. $(dirname $0)/fresh_server.sh
$R/metrics_load --file ${DATA:-../shared/data}/otel-demo/${1:-hipstershop}-otelmetrics.zst --grpc http://127.0.0.1:24317 \
  --seconds 20 --server-pid $PID > $D.load 2>&1 &
LOAD=$!
echo -e "s\trss\trequests\tmemtables\tderived\tflush\taccounted" > $OUT
t0=$(date +%s%N)
while kill -0 $LOAD 2>/dev/null; do
  curl -s localhost:23200/metrics | awk -v t=$(( ($(date +%s%N) - t0) / 1000000 )) '
    /^process_resident_memory_bytes/ {rss=$2}
    /^osprey_memory_accounted_bytes\{part="requests"/ {rq=$2}
    /^osprey_memory_accounted_bytes\{part="memtables"/ {mt=$2}
    /^osprey_memory_accounted_bytes\{part="derived"/ {dv=$2}
    /^osprey_memory_accounted_bytes\{part="flush"/ {fl=$2}
    END {m=1048576; printf "%.1f\t%d\t%d\t%d\t%d\t%d\t%d\n", t/1000, rss/m, rq/m, mt/m, dv/m, fl/m, (rq+mt+dv+fl)/m}' >> $OUT
  sleep 0.1
done
grep -E 'points_per_cpu_s|server_peak_rss_mb|errors' $D.load
sort -t$'\t' -k2 -n $OUT | tail -5
kill $PID; wait $PID 2>/dev/null; rm -rf $D
