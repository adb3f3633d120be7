#!/usr/bin/env python3
"""Groups a server profile by stage: reads `perf script` output of a `perf record --call-graph dwarf` run
and charges each sample to the first stage (in the order below) any frame of its stack belongs to. Prints the
share of samples per stage. Used for the profiles in BENCHMARKS.md: logs ingest (`ingest`, the default) and
SQL point lookups (`sql`) and metrics ingest (`metrics`):

    perf record -F 199 --call-graph dwarf,16384 -p $(pgrep -x osprey) -o /tmp/perf.data   # during logs_load
    perf script -i /tmp/perf.data | benches/scripts/perf_stages.py [ingest|sql]
"""
import collections
import re
import sys

# (substring of a frame, stage), first match wins.
INGEST = [
    ("add_indexing_worker", "tantivy indexing thread"),
    ("IndexBuilder::finish", "index finish (segment written)"),
    ("IndexBuilder::add", "index build (documents, tantivy)"),
    ("log_index::build", "index other"),
    ("ArrowWriter", "parquet write"),
    ("write_table", "flush sort/gather"),
    ("flush", "flush other"),
    ("Wal", "wal"),
    ("wal::", "wal"),
    ("logs::convert", "convert"),
    ("prost", "grpc decode"),
    ("tonic", "grpc other"),
    ("hyper", "http"),
    ("erge", "merge"),
]

# Metrics ingest (session 15): the Parquet writer first, since its own `write_gather` would match "gather".
METRICS = [
    ("ArrowWriter", "parquet write"),
    ("SeriesRows", "flush: find series"),
    ("flush::gather", "flush: gather"),
    ("row_order", "flush: sort"),
    ("flush", "flush other"),
    ("osprey_collector::wire", "convert: read in place"),  # from session 16: no decoded messages
    ("metric_points::messages", "convert: read in place"),
    ("metric_points::in_place", "convert"),
    ("convert_part", "convert"),
    ("Streaming<bytes::bytes::Bytes>", "receive body"),
    ("::decode", "decode"),
    ("merge", "decode"),
    ("prost", "decode"),
    ("drop_in_place<opentelemetry_proto", "free request"),
    ("Wal", "wal"),
    ("wal::", "wal"),
    ("tonic", "grpc other"),
    ("hyper", "http"),
]

SQL = [
    ("load_bloom_filters", "scan: row-group bloom filters"),
    ("with_predicate_options", "scan: predicate columns"),
    ("ZSTD_decompress", "scan: output columns (zstd)"),
    ("poll_scan", "scan: output columns and other"),
    ("StorageTable as datafusion_session::table::TableProvider>::scan", "plan: table scan (pruning)"),
    ("create_physical_plan", "plan: physical"),
    ("SessionState::optimize", "plan: logical optimizer"),
    ("statement_to_plan", "plan: SQL to logical"),
    ("query_state", "plan: per-query session"),  # before session 6
    ("query_runtime", "plan: per-query runtime"),
    ("guard::check", "parse and guard"),
    ("check_on_large_stack", "parse thread start"),  # before session 6
    ("sql::format", "response encoding"),
    ("serde_json", "response encoding"),
    ("object_store", "file reads"),
    ("hyper", "http"),
    ("blocking::pool", "tokio threads, other"),
    ("schedule", "kernel scheduling"),
]


def main():
    stages = {"sql": SQL, "metrics": METRICS}.get(sys.argv[1] if sys.argv[1:] else "", INGEST)
    counts, n = collections.Counter(), 0
    for sample in sys.stdin.read().split("\n\n"):
        lines = [l.strip() for l in sample.strip().split("\n")[1:] if l.strip()]
        if not lines:
            continue
        n += 1
        stack = " | ".join(re.sub(r"^[0-9a-f]+ ", "", l).rsplit(" (", 1)[0] for l in lines)
        counts[next((stage for key, stage in stages if key in stack), "other")] += 1
    for stage, c in counts.most_common():
        print(f"{c / max(n, 1) * 100:5.1f}%  {stage}")


if __name__ == "__main__":
    main()
