#!/usr/bin/env bash
# Metrics through OTLP, the whole durable path: R=target/release benches/scripts/metrics_ingest.sh [hostandcollector|hipstershop]
# (fresh server; metrics_load replays the recording for 20 s, 8 requests in flight; points per server CPU-second).
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-metrics}
. $(dirname $0)/fresh_server.sh
$R/metrics_load --file ${DATA:-../shared/data}/otel-demo/${1:-hostandcollector}-otelmetrics.zst --grpc http://127.0.0.1:24317 \
  --seconds 20 --server-pid $PID | grep -E 'points_per_cpu_s|points_per_s '
kill $PID; wait $PID 2>/dev/null; rm -rf $D
