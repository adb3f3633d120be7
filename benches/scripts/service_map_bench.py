#!/usr/bin/env python3
"""Service-map latencies against a running Osprey (issue 7), with DuckDB computing the same edges
from the raw spans (a self-join child -> parent over the very same Parquet files) as the baseline in
the same run. Client-side wall time on loopback. Also checks that both give the same call counts.

    benches/scripts/service_map_bench.py --api http://127.0.0.1:23200 --data /tmp/osprey-bench-map/data
"""
import argparse
import statistics
import time

import duckdb
import requests

from search_bench import pct, timed  # the same directory: on sys.path when run as a script


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", default="http://127.0.0.1:23200")
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", type=int, default=30)
    args = ap.parse_args()
    api = args.api
    spans = f"read_parquet('{args.data}/spans/**/*.parquet', hive_partitioning = false)"
    duck = duckdb.connect()
    duck.execute("SET threads TO 2")
    r = requests.post(f"{api}/api/v1/sql", json={"sql": "SELECT count(*), min(start_time), max(start_time) FROM spans"})
    r.raise_for_status()
    print("spans stored, first, last:", r.json()["rows"][0])
    end = int(time.time()) + 60
    for label, hours in (("24 h", 24), ("1 h", 1)):
        start = end - hours * 3600
        url = f"{api}/api/v1/service-map?start={start}&end={end}"
        first = requests.get(url, timeout=120)
        body = first.json() if first.ok else {}
        calls = {(e["source"], e["target"]): e["call_count"] for e in body.get("edges", [])}
        statuses = []
        o = timed(lambda: statuses.append(requests.get(url, timeout=120).status_code), args.queries)
        dq = (
            f"SELECT p.service_name, c.service_name, count(*) AS calls, "
            f"sum(CASE WHEN c.status_code = 'error' THEN 1 ELSE 0 END) AS errors, "
            f"quantile_cont(c.duration_ns, [0.5, 0.95, 0.99]) AS pct "
            f"FROM {spans} c JOIN {spans} p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id "
            f"WHERE p.service_name <> c.service_name "
            f"AND c.start_time >= CAST(to_timestamp({start}) AS TIMESTAMPTZ_NS) "
            f"AND c.start_time < CAST(to_timestamp({end}) AS TIMESTAMPTZ_NS) GROUP BY 1, 2"
        )
        rows = duck.execute(dq).fetchall()
        d = timed(lambda: duck.execute(dq).fetchall(), max(3, args.queries // 10))
        duck_calls = {(a, b): n for a, b, n, _, _ in rows}
        same = sum(1 for k, n in duck_calls.items() if calls.get(k) == n)
        print(
            f"service map {label:<5} osprey p50 {statistics.median(o):8.1f} ms  p99 {pct(o, 0.99):8.1f} ms"
            f"   duckdb self-join p50 {statistics.median(d):9.1f} ms"
            f"   ratio(p50) {statistics.median(d) / statistics.median(o):6.1f}x"
            f"   edges osprey {len(calls)} duckdb {len(duck_calls)}, same call count on {same}"
            f"   osprey statuses {sorted(set(statuses))}"
        )


if __name__ == "__main__":
    main()
