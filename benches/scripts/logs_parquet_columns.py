#!/usr/bin/env python3
"""Where the bytes of a logs data directory are (issue 4's size figures): each Parquet column's
compressed bytes over every file, and with --levels the `body` column alone rewritten at several
zstd levels (pyarrow, 1 MiB pages), against the raw bytes of the bodies.

    benches/scripts/logs_parquet_columns.py /tmp/osprey-bench-logs-ingest [--levels]

Needs pyarrow (the test venv at ~/.cache/osprey-test-venv has it). Keep a data dir with
KEEP=1 benches/scripts/logs_ingest.sh.
"""
import argparse
import collections
import glob
import os
import tempfile

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ap = argparse.ArgumentParser()
ap.add_argument("data_dir")
ap.add_argument("--levels", action="store_true", help="rewrite the body column at zstd 3, 6, 9, 15, 19")
args = ap.parse_args()
files = glob.glob(f"{args.data_dir}/logs/**/*.parquet", recursive=True)
compressed = collections.Counter()
for f in files:
    meta = pq.ParquetFile(f).metadata
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            compressed[column.path_in_schema] += column.total_compressed_size
bodies = pa.concat_tables([pq.read_table(f, columns=["body"]) for f in files])
raw = pc.sum(pc.binary_length(bodies.column("body"))).as_py()
print(f"{len(files)} files, {bodies.num_rows} rows, raw bodies {raw / 1e6:.1f} MB")
for name, size in compressed.most_common(12):
    print(f"{name:40s} {size / 1e6:8.2f} MB  {size / raw:.3f}x")
index = sum(os.path.getsize(p) for p in glob.glob(f"{args.data_dir}/log_index/**/*", recursive=True) if os.path.isfile(p))
print(f"{'parquet, all columns':40s} {sum(compressed.values()) / 1e6:8.2f} MB  {sum(compressed.values()) / raw:.3f}x")
print(f"{'index':40s} {index / 1e6:8.2f} MB  {index / raw:.3f}x")
if args.levels:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "body.parquet")
        for level in [3, 6, 9, 15, 19]:
            pq.write_table(bodies, out, compression="zstd", compression_level=level, data_page_size=1 << 20)
            size = os.path.getsize(out)
            print(f"body alone at zstd {level:2d}: {size / 1e6:.1f} MB  {size / raw:.3f}x")
