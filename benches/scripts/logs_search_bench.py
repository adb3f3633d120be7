#!/usr/bin/env python3
"""Log-search latencies against a running Osprey holding the lines logs_load.rs sent (issue 4's
search benchmark), with DuckDB over the very same Parquet files as the baseline, in one run.
Client-side wall time on loopback, over the whole time range held.

    benches/scripts/logs_search_bench.py --api http://127.0.0.1:23200 --data /tmp/osprey-bench-logs/data

- "newest 100 containing a term": GET /api/v1/logs?q=<term>&limit=100 (total exact), for terms of
  different frequency; DuckDB: the same rows by a case-insensitive regular expression on the word,
  ORDER BY time DESC LIMIT 100 (no index: a scan);
- log volume by severity over the whole range, per hour, through the SQL API and in DuckDB.

Needs `duckdb` and `requests` (benches/scripts/logs_10m.sh makes a venv for them).
"""
import argparse
import statistics

import duckdb
import requests

from search_bench import pct, timed

# Terms of the generator's vocabularies (benches/src/log_lines.rs), from common to rare, and a
# phrase and a field query as users write them.
QUERIES = [
    ("common term", "http"),
    ("rarer term", "exhausted"),
    ("rare term", "PSQLException"),
    ("phrase", '"connection reset by peer"'),
    ("identifier (several tokens)", "ORD-00042"),
    ("IP address (several tokens)", "10.20.30.40"),
    ("field + term", "service:payment AND card_expired"),
    ("severity + NOT", "severity:error AND NOT timeout"),
]
DUCK_PATTERN = {
    "http": "http",
    "exhausted": "exhausted",
    "PSQLException": "psqlexception",
    '"connection reset by peer"': "connection reset by peer",
}


def report(name, osprey_ms, duck_ms=None):
    line = f"{name:<32} osprey p50 {statistics.median(osprey_ms):8.1f} ms  p99 {pct(osprey_ms, 0.99):8.1f} ms"
    if duck_ms:
        line += f"   duckdb p50 {statistics.median(duck_ms):8.1f} ms   duckdb/osprey {statistics.median(duck_ms) / statistics.median(osprey_ms):5.1f}x"
    print(line, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", default="http://127.0.0.1:23200")
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", type=int, default=50)
    args = ap.parse_args()
    api = args.api

    def sql(text):
        r = requests.post(f"{api}/api/v1/sql", json={"sql": text}, timeout=300)
        r.raise_for_status()
        return r.json()["rows"]

    total, lo, hi = sql(
        "SELECT count(*), CAST(to_unixtime(min(time)) AS BIGINT), CAST(to_unixtime(max(time)) AS BIGINT) FROM logs"
    )[0]
    window = {"start": lo, "end": hi + 1}  # unix seconds: every line held
    print(f"logs: {total} lines over {(hi - lo) / 3600:.1f} h")
    duck = duckdb.connect()
    duck.execute("SET threads TO 2")
    logs = f"read_parquet('{args.data}/logs/**/*.parquet', hive_partitioning = false)"

    for name, q in QUERIES:
        def search():
            r = requests.get(f"{api}/api/v1/logs", params={"q": q, "limit": 100, **window}, timeout=300)
            r.raise_for_status()
            return r.json()

        first = search()
        assert len(first["hits"]) == min(100, first["total"]), first
        osprey_ms = timed(search, args.queries)
        duck_ms = None
        if q in DUCK_PATTERN:
            pattern = f"(?i)\\b{DUCK_PATTERN[q]}\\b"
            duck_sql = f"SELECT time, body FROM {logs} WHERE regexp_matches(body, '{pattern}') ORDER BY time DESC LIMIT 100"
            duck_total = duck.execute(f"SELECT count(*) FROM {logs} WHERE regexp_matches(body, '{pattern}')").fetchone()[0]
            print(f"  {q}: osprey total {first['total']} ({first['total'] / total:.1%}), duckdb total {duck_total}")
            assert first["total"] == duck_total, "the index and the scan disagree"
            duck_ms = timed(lambda: duck.execute(duck_sql).fetchall(), max(3, args.queries // 10))
        else:
            print(f"  {q}: osprey total {first['total']} ({first['total'] / total:.1%})")
        report(f"newest 100: {name}", osprey_ms, duck_ms)

    volume = "SELECT date_trunc('hour', time) AS hour, severity_text, count(*) FROM logs GROUP BY 1, 2 ORDER BY 1, 2"
    by_severity = "SELECT severity_text, count(*) FROM logs GROUP BY 1 ORDER BY 1"
    for name, text in [("volume by severity", by_severity), ("volume by hour and severity", volume)]:
        mine = sql(text)
        theirs = duck.execute(text.replace("FROM logs", f"FROM {logs}")).fetchall()
        assert len(mine) == len(theirs), (mine, theirs)
        assert sum(r[-1] for r in mine) == total == sum(r[-1] for r in theirs)
        osprey_ms = timed(lambda: sql(text), max(5, args.queries // 5))
        duck_ms = timed(lambda: duck.execute(text.replace("FROM logs", f"FROM {logs}")).fetchall(), max(3, args.queries // 10))
        report(name, osprey_ms, duck_ms)


if __name__ == "__main__":
    main()
