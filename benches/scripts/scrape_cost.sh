#!/usr/bin/env bash
# Issue 5's scrape cost: server CPU time per 10k samples scraped. A static exposition of SAMPLES samples
# (gauges and counters with labels, and histograms) is served by python's http.server; Osprey scrapes it every
# second for SECONDS s. The same Osprey idle for the same time is the baseline; the difference in CPU, over the
# samples the `scrape_samples_scraped` series says were scraped, is the cost.
#   R=target/release benches/scripts/scrape_cost.sh
set -u
R=${R:-target/release}
D=${D:-/tmp/osprey-bench-scrape}; rm -rf $D; mkdir -p $D/www
SAMPLES=${SAMPLES:-50000}
SECONDS_RUN=${SECONDS_RUN:-30}
PORT=${PORT:-29100}
python3 - "$SAMPLES" > $D/www/metrics <<'PY'
import sys
n = int(sys.argv[1])
# A fifth histograms (12 buckets + sum + count = 14 samples a series), the rest gauges and counters.
hist_series = n // 5 // 14
print("# HELP bench_request_duration_seconds Request latency.\n# TYPE bench_request_duration_seconds histogram")
bounds = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
for s in range(hist_series):
    labels = f'handler="/api/{s % 50}",method="GET",code="{200 + s % 5}",pod="pod-{s // 250}"'
    for i, b in enumerate(bounds):
        print(f'bench_request_duration_seconds_bucket{{{labels},le="{b}"}} {i * 10 + s}')
    print(f"bench_request_duration_seconds_sum{{{labels}}} {s * 1.5}")
    print(f"bench_request_duration_seconds_count{{{labels}}} {110 + s}")
rest = n - hist_series * 14
print("# HELP bench_bytes_total Bytes.\n# TYPE bench_bytes_total counter")
for s in range(rest // 2):
    print(f'bench_bytes_total{{device="dev{s % 64}",direction="{"rx" if s % 2 else "tx"}",host="host-{s // 128}"}} {s * 1024}')
print("# HELP bench_temperature_celsius Temperature.\n# TYPE bench_temperature_celsius gauge")
for s in range(rest - rest // 2):
    print(f'bench_temperature_celsius{{sensor="s{s % 32}",rack="r{s // 32}"}} {20 + (s % 17) * 0.5}')
PY
echo "exposition: $(grep -vc '^#' $D/www/metrics) samples, $(du -k $D/www/metrics | cut -f1) KiB"
(cd $D/www && exec python3 -m http.server $PORT --bind 127.0.0.1 >/dev/null 2>&1) & WWW=$!
cat > $D/scrape.yaml <<EOF
scrape_configs:
  - job_name: bench
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
EOF
echo "scrape_configs: []" > $D/idle.yaml
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
cpu() { awk '{print ($14 + $15) / 100}' /proc/$1/stat; }
measure() {  # config → prints CPU seconds used over the run
  $R/osprey serve --config $1 --data-dir $D/data-$2 > $D/log-$2 2>&1 & PID=$!
  until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.1; done
  sleep 2; C0=$(cpu $PID); sleep $SECONDS_RUN; C1=$(cpu $PID)
  echo "$C0 $C1" > $D/cpu-$2
  if [ $2 = scrape ]; then
    curl -s localhost:23200/api/v1/sql -H 'content-type: application/json' -d "{\"sql\": \"SELECT count(*), sum(value) FROM metrics WHERE metric_name = 'scrape_samples_scraped' AND attributes['job'] = 'bench'\"}" > $D/scraped.json
  fi
  kill $PID; wait $PID 2>/dev/null
}
measure $D/idle.yaml idle
measure $D/scrape.yaml scrape
kill $WWW
python3 - $D "$SECONDS_RUN" <<'PY'
import json, sys
d, secs = sys.argv[1], float(sys.argv[2])
idle = [float(x) for x in open(f"{d}/cpu-idle").read().split()]
scrape = [float(x) for x in open(f"{d}/cpu-scrape").read().split()]
scrapes, samples = json.load(open(f"{d}/scraped.json"))["rows"][0]
per_scrape = samples / scrapes
# Samples scraped while CPU was measured: the run's seconds at one scrape a second.
measured = per_scrape * secs
extra = (scrape[1] - scrape[0]) - (idle[1] - idle[0])
print(f"scrapes stored {scrapes}, {per_scrape:.0f} samples each")
print(f"cpu idle {idle[1] - idle[0]:.2f} s, scraping {scrape[1] - scrape[0]:.2f} s over {secs:.0f} s")
print(f"cpu per 10k samples scraped: {extra / (measured / 10000) * 1000:.1f} ms")
PY
