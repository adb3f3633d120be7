#!/usr/bin/env bash
# Quick A/B of log searches on a kept data dir (e.g. one of `KEEP=1 benches/scripts/logs_10m.sh`):
# starts build R's server on D, then per query one warm-up and N timed requests; prints the p50
# and p90 in ms. Alternate builds or data dirs in one sitting to compare them.
#   R=target/release D=/tmp/osprey-bench-logs-10m/data benches/scripts/logs_search_times.sh
#   QUERIES='ORD-00042 "connection reset by peer"' N=9 ...   (one query per word; quote phrases)
#   SQL=0 ...   skips the volume-by-severity SQL query
set -u
R=${R:-target/release}; D=${D:?data dir}; N=${N:-15}
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
API=http://127.0.0.1:23200
$R/osprey serve --data-dir $D > /dev/null 2>&1 & PID=$!
trap 'kill $PID; wait $PID 2>/dev/null' EXIT
until curl -sf $API/readyz >/dev/null; do sleep 0.05; done
sql() { curl -s -o "${2:-/dev/stdout}" -w "${3:-}" $API/api/v1/sql -H 'content-type: application/json' -d "{\"sql\": \"$1\"}"; }
read -r S E < <(sql "SELECT CAST(min(time) AS BIGINT), CAST(max(time) AS BIGINT) FROM logs" |
  python3 -c "import json, sys; lo, hi = json.load(sys.stdin)['rows'][0]; print(lo // 10**9, hi // 10**9 + 1)")
stats() { sort -n | awk -v name="$1" '{a[NR] = $1} END {printf "%-34s p50 %7.1f ms  p90 %7.1f ms\n", name, a[int(NR / 2) + 1] * 1000, a[int(NR * 0.9)] * 1000}'; }
eval "set -- ${QUERIES:-ORD-00042 http exhausted PSQLException '\"connection reset by peer\"'}"
for q in "$@"; do
  get() { curl -s -o /dev/null -w "%{time_total}\n" -G $API/api/v1/logs --data-urlencode "q=$q" -d limit=100 -d start=$S -d end=$E; }
  get > /dev/null
  for _ in $(seq $N); do get; done | stats "$q"
done
if [ "${SQL:-1}" = 1 ]; then
  q="SELECT severity_text, count(*) FROM logs GROUP BY 1 ORDER BY 1"
  sql "$q" /dev/null
  for _ in $(seq $N); do sql "$q" /dev/null "%{time_total}\n"; done | stats "volume by severity (SQL)"
fi
