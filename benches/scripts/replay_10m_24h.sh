#!/usr/bin/env bash
# Replays astronomy until SPANS spans (default 10M) are accepted, spread over the last 24 h
# (--spread-hours 24: pass p of the corpus is shifted back by p × 10 min), then stops Osprey gracefully so
# everything is in Parquet under $D/data. Used by service_map_24h.sh and clickbench_10m.sh.
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-map}; rm -rf $D; mkdir -p $D
SPANS=${SPANS:-10000000}
FILE=${DATA:-../shared/data}/otel-demo/astronomy-oteltraces.zst
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
$R/osprey serve --data-dir $D/data > $D/log 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.05; done
$R/loadgen --file $FILE --grpc http://127.0.0.1:24317 --spans $SPANS --retry --concurrency 8 --spread-hours 24 --server-pid $PID | grep -E "accepted|spans_per_s|rss"
kill $PID; wait $PID 2>/dev/null   # graceful: flushes the rest to Parquet
echo "files: $(find $D/data/spans -name '*.parquet' | wc -l) spans, $(find $D/data/service_edges -name '*.parquet' | wc -l) service_edges, $(find $D/data/service_red -name '*.parquet' | wc -l) service_red"
