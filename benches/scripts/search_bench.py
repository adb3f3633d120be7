#!/usr/bin/env python3
"""Trace-search latencies against a running Osprey, with DuckDB over the very same Parquet files as
the baseline, in one run (issue 8's benchmark). Client-side wall time on loopback.

    benches/scripts/search_bench.py --api http://127.0.0.1:23200 --data /tmp/osprey-bench-10m/data

Needs `duckdb` and `requests` (see benches/scripts/search_10m.sh, which makes a venv for them).
"""
import argparse
import http.client
import json
import math
import random
import statistics
import time
import urllib.parse

import duckdb
import requests


class KeepAlive:
    """POSTs JSON over one kept-alive `http.client` connection and decodes the JSON answer: about the least a
    client does per request (`requests` adds ~0.3 ms of its own on this machine)."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port)

    def post_json(self, path, body):
        self.conn.request("POST", path, body=json.dumps(body).encode(), headers={"content-type": "application/json"})
        response = self.conn.getresponse()
        raw = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {raw[:300]!r}")
        return json.loads(raw)


def pct(values, p):
    """Nearest-rank percentile: the ceil(p * n)-th smallest value (the 99th of 100 for p99, not the maximum)."""
    values = sorted(values)
    return values[max(0, min(len(values), math.ceil(len(values) * p)) - 1)]


def timed(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def report(name, osprey_ms, duck_ms):
    print(
        f"{name:<44} osprey p50 {statistics.median(osprey_ms):8.1f} ms  p99 {pct(osprey_ms, 0.99):8.1f} ms"
        f"   duckdb p50 {statistics.median(duck_ms):8.1f} ms  p99 {pct(duck_ms, 0.99):8.1f} ms"
        f"   ratio(p50) {statistics.median(duck_ms) / statistics.median(osprey_ms):6.1f}x"
    )


def sql(api, text):
    r = requests.post(f"{api}/api/v1/sql", json={"sql": text}, timeout=120)
    r.raise_for_status()
    return r.json()["rows"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", default="http://127.0.0.1:23200")
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", type=int, default=50)
    args = ap.parse_args()
    api = args.api
    files = f"{args.data}/spans/**/*.parquet"
    duck = duckdb.connect()
    duck.execute("SET threads TO 2")
    spans = f"read_parquet('{files}', hive_partitioning = false)"

    total, lo, hi = sql(api, "SELECT count(*), min(start_time), max(start_time) FROM spans")[0]
    print(f"spans stored: {total}, from {lo} to {hi}")
    end = int(time.time()) + 60
    start = end - 3600

    # 1. Trace by id through the Tempo API (protobuf, as Grafana asks) vs DuckDB's scan.
    ids = [r[0] for r in sql(api, "SELECT DISTINCT trace_id FROM spans LIMIT 20000")]
    random.seed(7)
    sample = random.sample(ids, min(len(ids), args.queries * 4))
    it = iter(sample)
    o = timed(lambda: requests.get(f"{api}/api/traces/{next(it)}", headers={"Accept": "application/protobuf"}).raise_for_status(), len(sample))
    few = sample[: max(3, args.queries // 5)]
    it2 = iter(few)
    d = timed(lambda: duck.execute(f"SELECT * FROM {spans} WHERE trace_id = ?", [next(it2)]).fetchall(), len(few))
    report("trace by id (Tempo API, protobuf)", o, d)

    # 2. TraceQL attribute searches over 1 h: the (new semantic conventions; no span of the
    # astronomy corpus has the key) and the same on the key the corpus does use (a tenth of its spans are
    # 500s). DuckDB runs each twice: on the attribute map, and on the dedicated column Osprey wrote.
    for key, column in [("http.response.status_code", "http_response_status_code"), ("http.status_code", "http_status_code")]:
        q = f"{{ span.{key} = 500 }}"
        url = f"{api}/api/search?" + urllib.parse.urlencode({"q": q, "start": start, "end": end, "limit": 20})
        hits = len(requests.get(url).json().get("traces", []))
        o = timed(lambda: requests.get(url).raise_for_status(), args.queries)
        window = f"start_time >= CAST(to_timestamp({start}) AS TIMESTAMPTZ_NS)"
        tail = "GROUP BY trace_id ORDER BY 2 DESC LIMIT 20"
        dq = f"SELECT trace_id, min(start_time) FROM {spans} WHERE TRY_CAST(attributes['{key}'] AS DOUBLE) = 500 AND {window} {tail}"
        d = timed(lambda: duck.execute(dq).fetchall(), max(3, args.queries // 5))
        report(f"TraceQL {q} 1 h ({hits} hits)", o, d)
        dq = f"SELECT trace_id, min(start_time) FROM {spans} WHERE {column} = 500 AND {window} {tail}"
        d = timed(lambda: duck.execute(dq).fetchall(), max(3, args.queries // 5))
        report(f"  same; DuckDB on the column {column}", o, d)

    # 3. Service + operation search over 1 h (Jaeger UI's search; the native API with the same plan).
    svc, op = sql(api, "SELECT service_name, name FROM spans WHERE kind = 'server' GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1")[0]
    url = f"{api}/api/v1/traces?" + urllib.parse.urlencode({"service": svc, "operation": op, "start": start, "end": end, "limit": 20})
    hits = len(requests.get(url).json().get("traces", []))
    o = timed(lambda: requests.get(url).raise_for_status(), args.queries)
    dq = (
        f"SELECT trace_id, min(start_time) FROM {spans} WHERE service_name = ? AND name = ? "
        f"AND start_time >= CAST(to_timestamp({start}) AS TIMESTAMPTZ_NS) GROUP BY trace_id ORDER BY 2 DESC LIMIT 20"
    )
    d = timed(lambda: duck.execute(dq, [svc, op]).fetchall(), max(3, args.queries // 5))
    report(f"service+operation search 1 h ({hits} hits)", o, d)
    # The same search as Grafana's Jaeger data source sends it (whole traces in Jaeger's model).
    jurl = f"{api}/jaeger/api/traces?" + urllib.parse.urlencode(
        {"service": svc, "operation": op, "start": start * 1_000_000, "end": end * 1_000_000, "limit": 20, "lookback": "custom"}
    )
    hits = len(requests.get(jurl).json().get("data") or [])
    o = timed(lambda: requests.get(jurl).raise_for_status(), args.queries)
    report(f"  same, Jaeger API /jaeger/api/traces ({hits} hits)", o, d)

    # 4. Tag values (Grafana's autocomplete).
    url = f"{api}/api/v2/search/tag/resource.service.name/values?" + urllib.parse.urlencode({"start": start, "end": end})
    n = len(requests.get(url).json().get("tagValues", []))
    o = timed(lambda: requests.get(url).raise_for_status(), args.queries)
    d = timed(lambda: duck.execute(f"SELECT DISTINCT service_name FROM {spans}").fetchall(), max(3, args.queries // 5))
    report(f"tag values resource.service.name ({n})", o, d)
    print(json.dumps({"note": "ratio = duckdb p50 / osprey p50; >1 means Osprey is faster"}))


if __name__ == "__main__":
    main()
