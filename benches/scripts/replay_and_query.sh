#!/usr/bin/env bash
# WAL replay rate (no flush during ingest), trace-by-id and 1000-span waterfall latency.
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-replay_and_query}; rm -rf $D; mkdir -p $D
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318
export OSPREY_STORAGE__FLUSH__MAX_AGE=1h OSPREY_STORAGE__MEMORY_BUDGET_BYTES=8589934592 OSPREY_STORAGE__FLUSH__MAX_BYTES=6442450944
$R/osprey serve --data-dir $D/data > $D/log 2>&1 & PID=$!
sleep 2
$R/loadgen --file ${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst --grpc http://127.0.0.1:24317 --seconds 10 --concurrency 8 | grep -E "accepted|spans_per_s|requests"
kill -9 $PID; sleep 1
T0=$(date +%s.%N)
$R/osprey serve --data-dir $D/data > $D/log2 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.02; done
T1=$(date +%s.%N)
echo "replay_seconds $(echo "$T1 - $T0" | bc)"
curl -s localhost:23200/metrics | grep -E "^osprey_wal_replayed_rows_total"
echo "--- trace by id, memtable only"
$R/querybench --file ${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst --passes 5 --queries 300 --api http://127.0.0.1:23200
curl -s -X POST localhost:23200/api/v1/sql -d 'SELECT count(*) FROM spans' ; echo
kill $PID; wait $PID 2>/dev/null   # graceful: flushes to Parquet
$R/osprey serve --data-dir $D/data > $D/log3 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.02; done
echo "--- trace by id, all in Parquet ($(find $D/data/spans -name '*.parquet' | wc -l) files)"
$R/querybench --file ${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst --passes 5 --queries 300 --api http://127.0.0.1:23200
echo "--- 1000-span waterfall"
$R/querybench --synthetic 1000 --queries 200 --otlp-http http://127.0.0.1:24318/v1/traces --api http://127.0.0.1:23200
kill $PID; wait $PID 2>/dev/null
