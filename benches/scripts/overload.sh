#!/usr/bin/env bash
# Memory under overload: offer RATE spans/s (default 70k, ~2x what this 2-core machine sustains)
# with CONC requests in flight (default 96) for SECS seconds against the default 1 GiB budget;
# report the server's peak RSS, the memtable bytes it accounted, and how many requests it refused
# (429 / UNAVAILABLE, which loadgen counts as errors).
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-overload}; rm -rf $D; mkdir -p $D
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318
export OSPREY_STORAGE__FLUSH__MAX_AGE=1h
$R/osprey serve --data-dir $D/data > $D/log 2>&1 & PID=$!
sleep 3
echo "idle_rss_kb $(grep VmRSS /proc/$PID/status | awk '{print $2}')"
# Samples: RSS MiB, memtable MiB (as accounted in the budget).
( while kill -0 $PID 2>/dev/null; do
    echo "$(grep VmRSS /proc/$PID/status | awk '{print int($2/1024)}') $(curl -s localhost:23200/metrics | awk '/^osprey_memtable_bytes/ {s+=$2} END {print int(s/1048576)}')"
    sleep 0.5
  done ) > $D/samples &
$R/loadgen --file ${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst --grpc http://127.0.0.1:24317 \
  --seconds ${SECS:-30} --concurrency ${CONC:-96} --rate ${RATE:-70000} --server-pid $PID
curl -s localhost:23200/metrics | grep -E "^osprey_(admission_rejected_total|flushes_total)"
echo "max_memtable_mib $(sort -k2 -n $D/samples | tail -1 | cut -d' ' -f2)"
kill $PID; wait $PID 2>/dev/null
