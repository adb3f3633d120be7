#!/usr/bin/env bash
# Ingest benchmark: idle RSS, flat-out gRPC ingest, half-rate ack latency, kill -9 + WAL replay.
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-ingest}; rm -rf $D; mkdir -p $D
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318
export OSPREY_STORAGE__FLUSH__MAX_AGE=1h OSPREY_STORAGE__FLUSH__MAX_BYTES=${MAXB:-268435456}
$R/osprey serve --data-dir $D/data > $D/log 2>&1 & PID=$!
sleep 3
echo "idle_rss_kb $(grep VmRSS /proc/$PID/status | awk '{print $2}')"
$R/loadgen --file ${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst --grpc http://127.0.0.1:24317 --seconds ${SECS:-20} --concurrency 8 --server-pid $PID
RATE=$(( $(curl -s localhost:23200/metrics | awk '/^osprey_rows_appended_total/ {s+=$2} END {print int(s)}') / ${SECS:-20} / 2 ))
echo "--- half rate: $RATE spans/s"
$R/loadgen --file ${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst --grpc http://127.0.0.1:24317 --seconds 15 --concurrency 8 --rate $RATE
curl -s localhost:23200/metrics | grep -E "^osprey_(rows_appended_total|rows_persisted_total|memtable_rows|wal_fsyncs_total|wal_bytes_total)" 
kill -9 $PID; sleep 1
T0=$(date +%s.%N)
$R/osprey serve --data-dir $D/data > $D/log2 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
T1=$(date +%s.%N)
echo "replay_seconds $(echo "$T1 - $T0" | bc)"
curl -s localhost:23200/metrics | grep -E "^osprey_wal_replayed_rows_total"
echo "rss_after_replay_kb $(grep VmRSS /proc/$PID/status | awk '{print $2}')"
kill $PID; wait $PID 2>/dev/null
