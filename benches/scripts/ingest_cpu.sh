#!/usr/bin/env bash
# Server CPU per span, flat out: each osprey binary given in turn (twice, interleaved) ingests astronomy over
# gRPC for 20 s (8 requests in flight) into a fresh data dir; loadgen reports spans per server CPU-second.
#   benches/scripts/ingest_cpu.sh target/release/osprey [other/osprey ...]
set -u
LOADGEN=${LOADGEN:-target/release/loadgen}
FILE=${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst
D=${D:-/tmp/osprey-bench-cpu}
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
for round in 1 2; do for bin in "$@"; do
  rm -rf $D; $bin serve --data-dir $D > /dev/null 2>&1 & PID=$!
  until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.1; done
  echo "$bin $($LOADGEN --file $FILE --grpc http://127.0.0.1:24317 --seconds 20 --concurrency 8 --server-pid $PID 2>/dev/null | grep -E 'spans_per_s|per_cpu|cpu_s' | tr -s ' ' | paste -sd' ')"
  kill $PID; wait $PID 2>/dev/null
done; done
rm -rf $D
