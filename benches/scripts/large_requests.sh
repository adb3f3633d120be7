#!/usr/bin/env bash
# One request at a time on an idle server; lists the latencies of the corpus's 7,343-8,212-span (5 MB) requests:
# R=target/release benches/scripts/large_requests.sh [extra loadgen args]
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-large}; rm -rf $D
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318
export OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
$R/osprey serve --data-dir $D > $D.log 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.1; done
L=$D.latency
$R/loadgen --file ${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst --grpc http://127.0.0.1:24317 \
  --rate 5000 --concurrency 1 --seconds 15 --latency-log $L --server-pid $PID "$@" 2>/dev/null | grep -E '^ack_p'
echo "large (>= 7000 spans), ms: $(awk '$3>=7000 {printf "%d ", $2/1000}' $L)"
kill $PID; wait $PID 2>/dev/null; rm -rf $D
