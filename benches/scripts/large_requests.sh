#!/usr/bin/env bash
# One request at a time on an idle server; lists the latencies of the corpus's 7,343-8,212-span (5 MB) requests:
# R=target/release benches/scripts/large_requests.sh [extra loadgen args]
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-large}
. $(dirname $0)/fresh_server.sh
L=$D.latency
$R/loadgen --file $CORPUS_FILE --grpc http://127.0.0.1:24317 \
  --rate 5000 --concurrency 1 --seconds 15 --latency-log $L --server-pid $PID "$@" 2>/dev/null | grep -E '^ack_p'
echo "large (>= 7000 spans), ms: $(awk '$3>=7000 {printf "%d ", $2/1000}' $L)"
kill $PID; wait $PID 2>/dev/null; rm -rf $D
