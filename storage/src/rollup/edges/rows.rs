//! The column builders of `service_edges`: one [`Row`] at a time, by kind.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
    TimestampNanosecondBuilder,
};

use super::{edges_schema, protocol_hint, span_key, EdgeCells, SpanView};
use crate::error::Result;
use crate::rollup::{binned_duration, new_sketch};

/// One `service_edges` row; absent fields are null (counts 0).
#[derive(Default)]
pub(in crate::rollup) struct Row<'a> {
    pub bucket: i64,
    pub row_kind: &'a str,
    pub source: Option<&'a str>,
    pub target: &'a str,
    pub kind: Option<&'a str>,
    pub node_kind: Option<&'a str>,
    pub calls: i64,
    pub errors: i64,
    pub sketch: Option<Vec<u8>>,
    pub duration: Option<i64>,
    pub key: Option<i64>,
    pub callee_hint: Option<&'a str>,
    pub start: Option<i64>,
}

/// Column builders of `service_edges`.
#[derive(Default)]
pub(in crate::rollup) struct Rows {
    len: usize,
    bucket: TimestampNanosecondBuilder,
    row_kind: StringBuilder,
    source: StringBuilder,
    target: StringBuilder,
    kind: StringBuilder,
    node_kind: StringBuilder,
    calls: Int64Builder,
    errors: Int64Builder,
    sketch: BinaryBuilder,
    duration: Int64Builder,
    key: Int64Builder,
    callee_hint: StringBuilder,
    start: TimestampMicrosecondBuilder,
}

impl Rows {
    pub(in crate::rollup) fn append(&mut self, row: Row<'_>) {
        self.len += 1;
        self.bucket.append_value(row.bucket);
        self.row_kind.append_value(row.row_kind);
        self.source.append_option(row.source);
        self.target.append_value(row.target);
        self.kind.append_option(row.kind);
        self.node_kind.append_option(row.node_kind);
        self.calls.append_value(row.calls);
        self.errors.append_value(row.errors);
        self.sketch.append_option(row.sketch);
        self.duration.append_option(row.duration.map(binned_duration));
        self.key.append_option(row.key);
        self.callee_hint.append_option(row.callee_hint);
        // Whole microseconds: see `edge_col::START_TIME`.
        self.start.append_option(row.start.map(|ns| ns.div_euclid(1000)));
    }

    /// Aggregated `edge` rows.
    pub(in crate::rollup) fn edges(&mut self, edges: EdgeCells<'_>) {
        for ((bucket, source, target, kind), cell) in edges {
            let sketch = cell.sketch.unwrap_or_else(new_sketch).to_java_bytes();
            self.append(Row {
                bucket,
                row_kind: "edge",
                source: Some(source),
                target,
                kind: Some(kind),
                calls: cell.calls,
                errors: cell.errors,
                sketch: Some(sketch),
                ..Row::default()
            });
        }
    }

    /// A `call` row: one call from `source` into a callee span of `target`, at its exact
    /// start. `node` is the callee's span kind when the row also stands for its `request`
    /// (a server/consumer span paired in its own flush writes no separate `request` row).
    #[allow(clippy::too_many_arguments)]
    pub(in crate::rollup) fn call(
        &mut self,
        bucket: i64,
        start: i64,
        source: &str,
        target: &str,
        kind: &str,
        (duration, error): (i64, bool),
        node: Option<&str>,
    ) {
        self.append(Row {
            bucket,
            row_kind: "call",
            source: Some(source),
            target,
            kind: Some(kind),
            node_kind: node,
            calls: 1,
            errors: i64::from(error),
            duration: Some(duration),
            start: Some(start),
            ..Row::default()
        });
    }

    /// A `joined` marker: the caller `key` of `service` got a child late.
    pub(in crate::rollup) fn joined(&mut self, bucket: i64, service: &str, key: i64) {
        self.append(Row {
            bucket,
            row_kind: "joined",
            source: Some(service),
            target: service,
            key: Some(key),
            ..Row::default()
        });
    }

    pub(super) fn caller(&mut self, bucket: i64, s: &SpanView<'_>, hint: Option<&str>, paired: bool) {
        self.append(Row {
            bucket,
            row_kind: "caller",
            source: Some(s.service),
            target: s.service,
            kind: hint,
            calls: i64::from(paired),
            key: span_key(s.trace_id, s.span_id),
            ..Row::default()
        });
    }

    pub(super) fn request(&mut self, bucket: i64, s: &SpanView<'_>) {
        self.append(Row {
            bucket,
            row_kind: "request",
            target: s.service,
            kind: Some(s.kind),
            calls: 1,
            errors: i64::from(s.error),
            duration: Some(s.duration_ns),
            start: Some(s.start_ns),
            ..Row::default()
        });
    }

    pub(super) fn pending(&mut self, bucket: i64, s: &SpanView<'_>, callee_hint: Option<&str>) {
        self.append(Row {
            bucket,
            row_kind: "pending",
            target: s.service,
            calls: 1,
            errors: i64::from(s.error),
            duration: Some(s.duration_ns),
            key: span_key(s.trace_id, s.parent_span_id),
            callee_hint,
            start: Some(s.start_ns),
            ..Row::default()
        });
    }

    pub(super) fn peer(&mut self, bucket: i64, s: &SpanView<'_>, peer: &str) {
        let kind = protocol_hint(s.kind, &s.hints, false).unwrap_or("external");
        let node_kind = if s.hints.db.is_some() { "database" } else { "external" };
        self.append(Row {
            bucket,
            row_kind: "peer",
            source: Some(s.service),
            target: peer,
            kind: Some(kind),
            node_kind: Some(node_kind),
            calls: 1,
            errors: i64::from(s.error),
            duration: Some(s.duration_ns),
            key: span_key(s.trace_id, s.span_id),
            start: Some(s.start_ns),
            ..Row::default()
        });
    }

    pub(in crate::rollup) fn finish(mut self) -> Result<Option<RecordBatch>> {
        if self.len == 0 {
            return Ok(None);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.bucket.finish().with_timezone("UTC")),
            Arc::new(self.row_kind.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.target.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.node_kind.finish()),
            Arc::new(self.calls.finish()),
            Arc::new(self.errors.finish()),
            Arc::new(self.sketch.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.callee_hint.finish()),
            Arc::new(self.start.finish().with_timezone("UTC")),
        ];
        Ok(Some(RecordBatch::try_new(edges_schema(), columns)?))
    }
}
