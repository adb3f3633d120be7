#!/usr/bin/env bash
# The WAL a logs ingest writes, and how long a restart takes to replay it: LINES short lines sent to
# a fresh Osprey that does not flush (max_age 1 h; the memtable stays under the flush threshold up to
# ~300k lines), then kill -9, the WAL's bytes, and the time from the restart to /readyz (replay
# included). The replayed row count is read from /metrics (osprey_memtable_rows{table="logs"}).
#   R=target/release LINES=200000 benches/scripts/logs_replay.sh
set -u
R=${R:-target/release}
N=${LINES:-200000}
D=${D:-/tmp/osprey-bench-logs-replay}
export OSPREY_SERVER__LISTEN=127.0.0.1:23200 OSPREY_COLLECTOR__GRPC_LISTEN=127.0.0.1:24317 OSPREY_COLLECTOR__HTTP_LISTEN=127.0.0.1:24318 OSPREY_QUERY__FLIGHT_SQL__LISTEN=127.0.0.1:25051
export OSPREY_STORAGE__FLUSH__MAX_AGE=1h
rows() { curl -s localhost:23200/metrics | awk '/^osprey_memtable_rows\{table="logs"\}/ {print $2}'; }
rm -rf $D; $R/osprey serve --data-dir $D > /dev/null 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.1; done
$R/logs_load --lines $N --variant short --grpc http://127.0.0.1:24317 > /dev/null
before=$(rows)
kill -9 $PID; wait $PID 2>/dev/null
wal=$(du -sb $D/wal | cut -f1)
echo "lines $N  memtable_rows_before_kill $before  wal_bytes $wal  wal_bytes_per_line $((wal / N))"
t0=$(date +%s.%N)
$R/osprey serve --data-dir $D > /dev/null 2>&1 & PID=$!
until curl -sf localhost:23200/readyz >/dev/null; do sleep 0.02; done
t1=$(date +%s.%N)
echo "restart_to_ready_s $(echo "$t1 - $t0" | bc)  memtable_rows_after $(rows)"
kill $PID; wait $PID 2>/dev/null; rm -rf $D
