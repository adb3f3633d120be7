#!/usr/bin/env bash
# Flat-out ingest on a fresh server: R=target/release CONC=8 benches/scripts/flat_out.sh [extra loadgen args]
# (e.g. --max-batch-spans 512 for SDK-sized requests).
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-flat}
export OSPREY_STORAGE__FLUSH__MAX_AGE=1h OSPREY_STORAGE__FLUSH__MAX_BYTES=268435456
. $(dirname $0)/fresh_server.sh
$R/loadgen --file $CORPUS_FILE --grpc http://127.0.0.1:24317 \
  --concurrency ${CONC:-8} --seconds ${SECS:-20} --server-pid $PID "$@" 2>/dev/null \
  | grep -E '^spans_per_s|ack_p99_ms |spans_per_cpu_s'
kill $PID; wait $PID 2>/dev/null; rm -rf $D
