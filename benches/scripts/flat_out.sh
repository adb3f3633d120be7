#!/usr/bin/env bash
# Flat-out ingest on a fresh server: R=target/release CONC=8 benches/scripts/flat_out.sh [extra loadgen args]
# (e.g. --max-batch-spans 512 for SDK-sized requests).
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-flat}; rm -rf $D
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318
export OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
export OSPREY_STORAGE__FLUSH__MAX_AGE=1h OSPREY_STORAGE__FLUSH__MAX_BYTES=268435456
$R/osprey serve --data-dir $D > $D.log 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.1; done
$R/loadgen --file ${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst --grpc http://127.0.0.1:24317 \
  --concurrency ${CONC:-8} --seconds ${SECS:-20} --server-pid $PID "$@" 2>/dev/null \
  | grep -E '^spans_per_s|ack_p99_ms |spans_per_cpu_s'
kill $PID; wait $PID 2>/dev/null; rm -rf $D
