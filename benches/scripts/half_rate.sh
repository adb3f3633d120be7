#!/usr/bin/env bash
# Ack latency at a fixed rate on a fresh server (the half-rate phase of ingest.sh alone), with the latencies of the
# corpus's large requests listed: R=target/release benches/scripts/half_rate.sh RATE [extra loadgen args]
set -u
R=${R:-target/release}; RATE=${1:-33000}; shift || true
D=${D:-/tmp/osprey-bench-half}
export OSPREY_STORAGE__FLUSH__MAX_AGE=1h OSPREY_STORAGE__FLUSH__MAX_BYTES=268435456
. $(dirname $0)/fresh_server.sh
L=$D.latency
$R/loadgen --file $CORPUS_FILE --grpc http://127.0.0.1:24317 \
  --rate $RATE --concurrency 8 --seconds ${SECS:-20} --latency-log $L --server-pid $PID "$@" 2>/dev/null \
  | grep -E '^spans_per_s|ack_p50|ack_p99|spans_per_cpu_s'
echo "large (>= 7000 spans), ms: $(awk '$3>=7000 {printf "%d ", $2/1000}' $L)"
echo "medium (2000-6999 spans), ms: $(awk '$3>=2000 && $3<7000 {printf "%d ", $2/1000}' $L)"
kill $PID; wait $PID 2>/dev/null; rm -rf $D
