#!/usr/bin/env python3
"""Issue 6's ClickBench-shaped comparison: the same analytical questions over the `spans` (and, with --logs, the
`logs`) Parquet files Osprey wrote, asked of Osprey's SQL API (`POST /api/v1/sql`), DuckDB and chDB (ClickHouse in-process) in one run.
Each engine reads the very same files; DuckDB and chDB get 2 threads (the machine has 2 cores). Client-side wall
time on loopback for Osprey (JSON answers of at most 10 rows). Reports each query's median over --runs and the
geometric mean of the Osprey/DuckDB and Osprey/chDB ratios, then trace-by-id through SQL (p50/p99 over random ids).

    benches/scripts/clickbench_spans.py --api http://127.0.0.1:23200 --data /tmp/osprey-bench-map/data
    benches/scripts/clickbench_spans.py --logs --api http://127.0.0.1:23200 --data /tmp/osprey-bench-both/data
"""
import argparse
import math
import random
import statistics
import time

import chdb.session
import duckdb
import requests

from search_bench import KeepAlive, pct, timed  # the same directory: on sys.path when run as a script

# (name, Osprey/DataFusion SQL, DuckDB SQL, ClickHouse SQL); `spans` is a view over the files in each engine.
QUERIES = [
    ("count", "SELECT count(*) FROM spans", None, None),
    ("filtered count", "SELECT count(*) FROM spans WHERE status_code = 'error'", None, None),
    (
        "top services",
        "SELECT service_name, count(*) AS c FROM spans GROUP BY service_name ORDER BY c DESC LIMIT 10",
        None,
        None,
    ),
    (
        "top service+operation",
        "SELECT service_name, name, count(*) AS c FROM spans GROUP BY service_name, name ORDER BY c DESC LIMIT 10",
        None,
        None,
    ),
    (
        "high-cardinality group by trace_id",
        "SELECT trace_id, count(*) AS c FROM spans GROUP BY trace_id ORDER BY c DESC LIMIT 10",
        None,
        None,
    ),
    (
        "p99 latency per service",
        "SELECT service_name, approx_percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ns) AS p99 "
        "FROM spans GROUP BY service_name ORDER BY p99 DESC LIMIT 10",
        "SELECT service_name, approx_quantile(duration_ns, 0.99) AS p99 FROM spans GROUP BY service_name ORDER BY p99 DESC LIMIT 10",
        "SELECT service_name, quantile(0.99)(duration_ns) AS p99 FROM spans GROUP BY service_name ORDER BY p99 DESC LIMIT 10",
    ),
    (
        "spans and errors per hour",
        "SELECT date_bin(INTERVAL '1 hour', start_time) AS h, count(*) AS n, "
        "sum(CASE WHEN status_code = 'error' THEN 1 ELSE 0 END) AS e FROM spans GROUP BY h ORDER BY h LIMIT 10",
        "SELECT time_bucket(INTERVAL '1 hour', CAST(start_time AS TIMESTAMPTZ)) AS h, count(*) AS n, "
        "sum(CASE WHEN status_code = 'error' THEN 1 ELSE 0 END) AS e FROM spans GROUP BY h ORDER BY h LIMIT 10",
        "SELECT toStartOfHour(start_time) AS h, count(*) AS n, countIf(status_code = 'error') AS e "
        "FROM spans GROUP BY h ORDER BY h LIMIT 10",
    ),
    (
        "substring filter on span name",
        "SELECT count(*) FROM spans WHERE name LIKE '%cart%'",
        None,
        None,
    ),
    (
        "attribute filter",
        "SELECT count(*) FROM spans WHERE attributes['http.response.status_code'] = '500'",
        "SELECT count(*) FROM spans WHERE attributes['http.response.status_code'] = '500'",
        "SELECT count(*) FROM spans WHERE attributes['http.response.status_code'] = '500'",
    ),
]

# The same shapes over `logs`; the full-text filter is Osprey's index-backed `matches()` against each engine's
# own way to find a word: DuckDB a case-insensitive regular expression with word boundaries, ClickHouse
# `hasTokenCaseInsensitive` (its token search, here without a skip index).
LOG_QUERIES = [
    ("logs: count", "SELECT count(*) FROM logs", None, None),
    ("logs: filtered count", "SELECT count(*) FROM logs WHERE severity_text = 'ERROR'", None, None),
    (
        "logs: top services",
        "SELECT service_name, count(*) AS c FROM logs GROUP BY service_name ORDER BY c DESC LIMIT 10",
        None,
        None,
    ),
    (
        "logs: high-cardinality group by trace_id",
        "SELECT trace_id, count(*) AS c FROM logs WHERE trace_id IS NOT NULL GROUP BY trace_id ORDER BY c DESC LIMIT 10",
        None,
        None,
    ),
    (
        "logs: volume per hour and severity",
        "SELECT date_bin(INTERVAL '1 hour', time) AS h, severity_text, count(*) AS n FROM logs "
        "GROUP BY h, severity_text ORDER BY h, severity_text LIMIT 10",
        "SELECT time_bucket(INTERVAL '1 hour', CAST(time AS TIMESTAMPTZ)) AS h, severity_text, count(*) AS n FROM logs "
        "GROUP BY h, severity_text ORDER BY h, severity_text LIMIT 10",
        "SELECT toStartOfHour(time) AS h, severity_text, count(*) AS n FROM logs "
        "GROUP BY h, severity_text ORDER BY h, severity_text LIMIT 10",
    ),
    (
        "logs: full-text filter",
        "SELECT count(*) FROM logs WHERE matches(body, 'exhausted')",
        "SELECT count(*) FROM logs WHERE regexp_matches(body, '(?i)\\bexhausted\\b')",
        "SELECT count(*) FROM logs WHERE hasTokenCaseInsensitive(body, 'exhausted')",
    ),
    (
        "logs: full-text filter, newest 10",
        "SELECT time, service_name, body FROM logs WHERE matches(body, 'PSQLException') ORDER BY time DESC LIMIT 10",
        "SELECT time, service_name, body FROM logs WHERE regexp_matches(body, '(?i)\\bpsqlexception\\b') "
        "ORDER BY time DESC LIMIT 10",
        "SELECT time, service_name, body FROM logs WHERE hasTokenCaseInsensitive(body, 'PSQLException') "
        "ORDER BY time DESC LIMIT 10",
    ),
    ("logs: substring filter", "SELECT count(*) FROM logs WHERE body LIKE '%exhausted%'", None, None),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", default="http://127.0.0.1:23200")
    ap.add_argument("--data", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ids", type=int, default=100)
    ap.add_argument("--logs", action="store_true", help="also the logs queries (the data dir holds logs)")
    ap.add_argument("--client", choices=["requests", "http.client"], default="requests",
                    help="HTTP client of the trace lookups: `requests`, or a bare kept-alive http.client connection")
    args = ap.parse_args()
    files = f"{args.data}/spans/**/*.parquet"
    log_files = f"{args.data}/logs/**/*.parquet"

    # One keep-alive connection, as any HTTP client library keeps (DuckDB and chDB run in-process).
    http = requests.Session()

    def osprey(sql):
        r = http.post(f"{args.api}/api/v1/sql", json={"sql": sql}, timeout=300)
        r.raise_for_status()
        return r.json()["rows"]

    duck = duckdb.connect()
    duck.execute("SET threads TO 2")
    ch = chdb.session.Session()
    ch.query("SET max_threads = 2")
    ch.query("CREATE DATABASE IF NOT EXISTS bench")
    ch.query("USE bench")
    queries = []
    for table, glob in [("spans", files)] + ([("logs", log_files)] if args.logs else []):
        duck.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{glob}', hive_partitioning = false)")
        ch.query(f"CREATE VIEW IF NOT EXISTS bench.{table} AS SELECT * FROM file('{glob}', Parquet)")
        total = osprey(f"SELECT count(*) FROM {table}")[0][0]
        print(f"{table}: {total} (Osprey), {duck.execute(f'SELECT count(*) FROM {table}').fetchone()[0]} (DuckDB), "
              f"{ch.query(f'SELECT count(*) FROM {table}', 'CSV').bytes().decode().strip()} (chDB)")
        queries += QUERIES if table == "spans" else LOG_QUERIES

    vs_duck, vs_ch = [], []
    for name, ours, duck_sql, ch_sql in queries:
        duck_sql, ch_sql = duck_sql or ours, ch_sql or ours
        o = statistics.median(timed(lambda: osprey(ours), args.runs))
        d = statistics.median(timed(lambda: duck.execute(duck_sql).fetchall(), args.runs))
        c = statistics.median(timed(lambda: ch.query(ch_sql, "CSV"), args.runs))
        vs_duck.append(o / d)
        vs_ch.append(o / c)
        print(f"{name:<36} osprey {o:9.1f} ms   duckdb {d:9.1f} ms   chdb {c:9.1f} ms   osprey/duckdb {o / d:5.2f}   osprey/chdb {o / c:5.2f}")
    geo = lambda xs: math.exp(sum(math.log(x) for x in xs) / len(xs))
    print(f"geomean osprey/duckdb {geo(vs_duck):.2f}   osprey/chdb {geo(vs_ch):.2f}   (lower is better for Osprey)")

    ids = [r[0] for r in duck.execute(f"SELECT trace_id FROM spans USING SAMPLE {args.ids} ROWS").fetchall()]
    random.shuffle(ids)
    lean = KeepAlive(args.api)
    lookup = osprey if args.client == "requests" else lambda sql: lean.post_json("/api/v1/sql", {"sql": sql})["rows"]
    o = []
    for t in ids:
        t0 = time.perf_counter()
        rows = lookup(f"SELECT span_id, name, duration_ns FROM spans WHERE trace_id = '{t}'")
        o.append((time.perf_counter() - t0) * 1000)
        assert rows, t
    # A third as many DuckDB lookups (each ~25 ms): enough for its p99 not to be the second-worst of 100.
    d = timed(lambda: duck.execute(f"SELECT span_id, name, duration_ns FROM spans WHERE trace_id = '{random.choice(ids)}'").fetchall(), max(5, args.ids // 3))
    print(f"trace by id via SQL ({len(ids)} ids, {args.client})  osprey p50 {statistics.median(o):7.1f} ms  p99 {pct(o, 0.99):7.1f} ms"
          f"   duckdb p50 {statistics.median(d):7.1f} ms  p99 {pct(d, 0.99):7.1f} ms")


if __name__ == "__main__":
    main()
