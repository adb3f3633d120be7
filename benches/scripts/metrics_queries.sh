#!/usr/bin/env bash
# SQL over the metrics table once flushed: R=target/release benches/scripts/metrics_queries.sh [corpus] [seconds]
# Fresh server; metrics_load replays the recording for `seconds` (default 8), then waits until the memtable is
# flushed; each query runs once to warm the caches, then 5 times: its rows and the server's `elapsed_ms`.
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-metrics-queries}
. $(dirname $0)/fresh_server.sh
$R/metrics_load --file ${DATA:-../shared/data}/otel-demo/${1:-hipstershop}-otelmetrics.zst --grpc http://127.0.0.1:24317 \
  --seconds ${2:-8} > /dev/null 2>&1
until [ "$(curl -s localhost:23200/metrics | awk '/^osprey_memtable_rows\{table="metrics"/ {print $2}')" = "0" ]; do sleep 0.5; done
echo "files: $(find $D/metrics -name '*.parquet' | wc -l)"
python3 - <<'PY'
import json, urllib.request
QUERIES = [
    "SELECT count(*) FROM metrics",
    "SELECT resource_attributes['k8s.namespace.name'] AS ns, count(*) FROM metrics GROUP BY 1 ORDER BY 2 DESC LIMIT 3",
    "SELECT attributes['state'] AS s, count(*), sum(value) FROM metrics WHERE metric_name = 'system.cpu.time' "
    "GROUP BY 1 ORDER BY 1 LIMIT 3",
    "SELECT time, value, attributes['cpu'] FROM metrics WHERE metric_name = 'system.cpu.time' ORDER BY time DESC LIMIT 3",
    "SELECT count(*), sum(value) FROM metrics WHERE metric_name = 'system.cpu.time'",
]
for q in QUERIES:
    ms = []
    for i in range(6):
        req = urllib.request.Request("http://127.0.0.1:23200/api/v1/sql", data=json.dumps({"sql": q}).encode(),
                                     headers={"content-type": "application/json"})
        out = json.loads(urllib.request.urlopen(req).read())
        if i:
            ms.append(round(out["elapsed_ms"], 1))
    print(f"{q}\n  rows {json.dumps(out['rows'])[:160]}\n  ms {ms}")
PY
kill $PID; wait $PID 2>/dev/null; rm -rf $D
