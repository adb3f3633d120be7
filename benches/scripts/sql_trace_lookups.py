#!/usr/bin/env python3
"""Trace lookups through the SQL API, one after another on a keep-alive connection: p50/p90/p99 client-side
and, with --pid, the server's CPU per lookup (from /proc). Ids are sampled from the data dir's span files.

    sql_trace_lookups.py --api http://127.0.0.1:23200 --data /tmp/osprey-bench-both/data --n 2000 --pid $PID
"""
import argparse

import duckdb
import requests

from search_bench import pct, timed  # the same directory: on sys.path when run as a script


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 10 ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--pid", type=int)
    args = ap.parse_args()
    ids = [r[0] for r in duckdb.connect().execute(
        f"SELECT trace_id FROM read_parquet('{args.data}/spans/**/*.parquet', hive_partitioning=false) USING SAMPLE 1000 ROWS").fetchall()]
    http = requests.Session()

    def lookup(i):
        q = f"SELECT span_id, name, duration_ns FROM spans WHERE trace_id = '{ids[i % len(ids)]}'"
        r = http.post(args.api + "/api/v1/sql", json={"sql": q})
        r.raise_for_status()

    for i in range(args.warmup):
        lookup(i)
    cpu0 = cpu_seconds(args.pid) if args.pid else 0
    calls = iter(range(args.n))
    times = timed(lambda: lookup(next(calls)), args.n)
    line = f"{args.n} lookups: p50 {pct(times, 0.5):.2f} ms  p90 {pct(times, 0.9):.2f} ms  p99 {pct(times, 0.99):.2f} ms"
    if args.pid:
        line += f"  server CPU {(cpu_seconds(args.pid) - cpu0) / args.n * 1e6:.0f} us per lookup"
    print(line)


if __name__ == "__main__":
    main()
