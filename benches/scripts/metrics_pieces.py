#!/usr/bin/env python3
"""How much a metrics recording repeats inside the 512 KiB pieces the collector converts one at a time
(`collector::parts::PIECE_BYTES`): distinct scopes and series per piece, summed over the first request.
Needs `pip install opentelemetry-proto zstandard`.

    benches/scripts/metrics_pieces.py ../shared/data/otel-demo/hipstershop-otelmetrics.zst
"""
import struct
import sys

import zstandard
from opentelemetry.proto.metrics.v1 import metrics_pb2

PIECE_BYTES = 512 * 1024


def main():
    data = zstandard.ZstdDecompressor().stream_reader(open(sys.argv[1], "rb")).read()
    n = struct.unpack(">I", data[:4])[0]
    request = metrics_pb2.MetricsData()
    request.ParseFromString(data[4 : 4 + n])
    pieces, piece, size = [], [], 0
    for rm in request.resource_metrics:
        piece.append(rm)
        size += rm.ByteSize()
        if size >= PIECE_BYTES:
            pieces.append(piece)
            piece, size = [], 0
    if piece:
        pieces.append(piece)
    points = series = scopes = 0
    for piece in pieces:
        piece_series, piece_scopes = set(), set()
        for rm in piece:
            resource = rm.resource.SerializeToString()
            for sm in rm.scope_metrics:
                scope = (resource, sm.scope.SerializeToString())
                piece_scopes.add(scope)
                for metric in sm.metrics:
                    for p in getattr(metric, metric.WhichOneof("data")).data_points:
                        points += 1
                        piece_series.add((scope, tuple(kv.SerializeToString() for kv in p.attributes)))
        series += len(piece_series)
        scopes += len(piece_scopes)
    entries = len(request.resource_metrics)
    print(f"pieces {len(pieces)} points {points} resource entries {entries} "
          f"distinct scopes per piece, summed {scopes} distinct series per piece, summed {series}")


if __name__ == "__main__":
    main()
