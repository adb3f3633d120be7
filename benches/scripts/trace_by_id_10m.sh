#!/usr/bin/env bash
# Trace by id with 10M spans stored: replay astronomy flat out until SPANS spans are accepted
# (default 10M, flushed to Parquet as they come), restart so everything is in Parquet, then fetch
# random traces of the replayed passes through GET /api/v1/traces/{id}.
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-10m}; rm -rf $D; mkdir -p $D
SPANS=${SPANS:-10000000}
FILE=${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318
$R/osprey serve --data-dir $D/data > $D/log 2>&1 & PID=$!
sleep 2
$R/loadgen --file $FILE --grpc http://127.0.0.1:24317 --spans $SPANS --retry --concurrency 8 --server-pid $PID | grep -E "accepted|spans_per_s|requests|rss"
kill $PID; wait $PID 2>/dev/null   # graceful: flushes the rest to Parquet
$R/osprey serve --data-dir $D/data > $D/log2 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
STORED=$(curl -s -X POST localhost:23200/api/v1/sql -H 'accept: text/csv' -d 'SELECT count(*) AS n FROM spans' | tail -1)
echo "stored_spans $STORED in $(find $D/data/spans -name '*.parquet' | wc -l) files, $(du -sb $D/data/spans | cut -f1) bytes"
PASSES=$(( SPANS / 64151 - 1 ))   # astronomy: 64,151 spans a pass; passes before the last are whole (--retry)
echo "--- trace by id, $PASSES passes, all in Parquet"
$R/querybench --file $FILE --passes $PASSES --queries 500 --api http://127.0.0.1:23200
kill $PID; wait $PID 2>/dev/null
