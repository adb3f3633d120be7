#!/usr/bin/env python3
"""Groups a server profile by ingest stage: reads `perf script` output of a `perf record --call-graph dwarf` run
and charges each sample to the first stage (in the order below) any frame of its stack belongs to. Prints the
share of samples per stage. Used for the logs ingest profile in BENCHMARKS.md:

    perf record -F 199 --call-graph dwarf,16384 -p $(pgrep -x osprey) -o /tmp/perf.data   # during logs_load
    perf script -i /tmp/perf.data | benches/scripts/perf_stages.py
"""
import collections
import re
import sys

# (substring of a frame, stage), first match wins.
STAGES = [
    ("add_indexing_worker", "tantivy indexing thread"),
    ("IndexBuilder::finish", "index finish/commit"),
    ("IndexBuilder::add", "index doc building"),
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


def main():
    counts, n = collections.Counter(), 0
    for sample in sys.stdin.read().split("\n\n"):
        lines = [l.strip() for l in sample.strip().split("\n")[1:] if l.strip()]
        if not lines:
            continue
        n += 1
        stack = " | ".join(re.sub(r"^[0-9a-f]+ ", "", l).rsplit(" (", 1)[0] for l in lines)
        counts[next((stage for key, stage in STAGES if key in stack), "other")] += 1
    for stage, c in counts.most_common():
        print(f"{c / max(n, 1) * 100:5.1f}%  {stage}")


if __name__ == "__main__":
    main()
