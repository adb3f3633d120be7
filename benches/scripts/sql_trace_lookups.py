#!/usr/bin/env python3
"""Trace lookups through the SQL API, one after another on a keep-alive connection: p50/p90/p99 as the client sees
them and as the server reports them (`elapsed_ms`: from receiving the text to the last row), and, with --pid, the
server's CPU per lookup (from /proc). Ids are sampled from the data dir's span files.

    sql_trace_lookups.py --api http://127.0.0.1:23200 --data D/data --n 2000 --pid $PID          # warm: 1,000 first
    sql_trace_lookups.py --api … --data D/data --n 300 --warmup 0 --fresh                         # right after a start
    sql_trace_lookups.py --api … --data D/data --n 1000 --warmup 0 --fresh --duckdb 400           # vs DuckDB
    sql_trace_lookups.py --api … --data D/data --n 2000 --sql "SELECT 1"                          # fixed cost
    sql_trace_lookups.py --api … --data D/data --n 1000 --warmup 0 --fresh --duckdb 400 --client http.client

--fresh looks each sampled id up once (no repeats); --duckdb N also times N lookups of the same ids in DuckDB
(in-process, 2 threads) over the very same files, and prints the ratios.
"""
import argparse
import random

import duckdb
import requests

from search_bench import KeepAlive, pct, timed  # the same directory: on sys.path when run as a script


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
    ap.add_argument("--fresh", action="store_true", help="each sampled id once: --n distinct ids")
    ap.add_argument("--duckdb", type=int, default=0, metavar="N", help="also N lookups in DuckDB")
    ap.add_argument("--sql", help="time this statement instead of trace lookups")
    ap.add_argument("--client", choices=["requests", "http.client"], default="requests",
                    help="the HTTP client: `requests`, or a bare kept-alive http.client connection")
    args = ap.parse_args()
    files = f"{args.data}/spans/**/*.parquet"
    duck = duckdb.connect()
    duck.execute("SET threads TO 2")
    sample = args.n if args.fresh else 1000
    ids = [r[0] for r in duck.execute(
        f"SELECT trace_id FROM read_parquet('{files}', hive_partitioning=false) USING SAMPLE {sample} ROWS").fetchall()]
    random.shuffle(ids)
    http = requests.Session()
    lean = KeepAlive(args.api)
    server_ms = []

    def post(body):
        if args.client == "http.client":
            return lean.post_json("/api/v1/sql", body)
        r = http.post(args.api + "/api/v1/sql", json=body)
        r.raise_for_status()
        return r.json()

    def query(i):
        q = args.sql or f"SELECT span_id, name, duration_ns FROM spans WHERE trace_id = '{ids[i % len(ids)]}'"
        server_ms.append(post({"sql": q})["elapsed_ms"])

    for i in range(args.warmup):
        query(i)
    server_ms.clear()
    cpu0 = cpu_seconds(args.pid) if args.pid else 0
    calls = iter(range(args.n))
    times = timed(lambda: query(next(calls)), args.n)
    what = "queries" if args.sql else "lookups"
    line = (f"{args.n} {what}: p50 {pct(times, 0.5):.2f} ms  p90 {pct(times, 0.9):.2f} ms  p99 {pct(times, 0.99):.2f} ms"
            f"  (server: p50 {pct(server_ms, 0.5):.2f}  p90 {pct(server_ms, 0.9):.2f}  p99 {pct(server_ms, 0.99):.2f}"
            f"  max {max(server_ms):.2f} ms)")
    if args.pid:
        line += f"  server CPU {(cpu_seconds(args.pid) - cpu0) / args.n * 1e6:.0f} us per lookup"
    print(line)
    if args.duckdb:
        duck.execute(f"CREATE VIEW spans AS SELECT * FROM read_parquet('{files}', hive_partitioning = false)")
        d = timed(lambda: duck.execute(
            f"SELECT span_id, name, duration_ns FROM spans WHERE trace_id = '{random.choice(ids)}'").fetchall(),
            args.duckdb)
        print(f"{args.duckdb} DuckDB lookups: p50 {pct(d, 0.5):.2f} ms  p99 {pct(d, 0.99):.2f} ms"
              f"   ratio p50 {pct(d, 0.5) / pct(times, 0.5):.1f}x  p99 {pct(d, 0.99) / pct(times, 0.99):.1f}x")


if __name__ == "__main__":
    main()
