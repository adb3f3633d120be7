#!/usr/bin/env bash
# Memtable bytes per span: replays the corpus at RATE spans/s (default 20,000) for 8 s into a fresh server that
# does not flush by age, then prints osprey_memtable_rows and osprey_memtable_bytes of the spans table.
#   R=target/release benches/scripts/memtable_bytes.sh [extra loadgen args, e.g. --max-batch-spans 512]
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-memtable}
export OSPREY_STORAGE__FLUSH__MAX_AGE=1h
. $(dirname $0)/fresh_server.sh
$R/loadgen --file $CORPUS_FILE --grpc http://127.0.0.1:24317 \
  --rate ${RATE:-20000} --concurrency 8 --seconds 8 "$@" >/dev/null 2>&1
curl -s localhost:23200/metrics | grep -E '^osprey_memtable_(bytes|rows)\{table="spans"'
kill $PID; wait $PID 2>/dev/null; rm -rf $D
