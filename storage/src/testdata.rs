//! Test rows built with the real `SpansBuilder`.

use std::path::Path;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};

use crate::attributes::AttrRef;
use crate::spans::{col, SpanRecord, SpanScope, SpansBuilder};
use crate::StorageConfig;

/// 2023-11-14T22:13:20Z, in ns.
pub const T0: i64 = 1_700_000_000_000_000_000;
pub const HOUR: i64 = 3_600_000_000_000;

/// One test span: trace number, span number, start.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub trace: u64,
    pub span: u64,
    pub start_ns: i64,
}

pub fn trace_id(trace: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&trace.to_be_bytes());
    id[8..].copy_from_slice(&(!trace).to_be_bytes());
    id
}

pub fn trace_hex(trace: u64) -> String {
    trace_id(trace).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn spans(specs: &[Span]) -> RecordBatch {
    let scope = SpanScope {
        service_name: "checkout",
        resource_attributes: vec![("service.name", AttrRef::Str("checkout")), ("host.name", AttrRef::Str("web-1"))],
        scope_name: Some("io.opentelemetry.http"),
        scope_version: Some("1.2.3"),
        ..Default::default()
    };
    let mut builder = SpansBuilder::new();
    let routes = ["/cart", "/checkout", "/pay", "/items/{id}", "/users/{id}"];
    for s in specs {
        let tid = trace_id(s.trace);
        let sid = s.span.to_be_bytes();
        let route = routes[(s.span % routes.len() as u64) as usize];
        let span = SpanRecord {
            trace_id: &tid,
            span_id: &sid,
            parent_span_id: if s.span % 4 == 0 { &[] } else { &[7; 8] },
            name: "GET",
            kind: 2,
            start_time_unix_nano: s.start_ns,
            end_time_unix_nano: s.start_ns + 1_500_000,
            status_code: 1,
            attributes: vec![
                ("http.route", AttrRef::Str(route)),
                ("http.response.status_code", AttrRef::Int(200)),
                ("http.request.method", AttrRef::Str("GET")),
            ],
            ..Default::default()
        };
        builder.append(&scope, &span).expect("append span");
    }
    builder.finish().expect("finish")
}

/// `n` spans of `traces` traces (round robin), starting at `start_ns`, 1 ms apart.
pub fn many(n: u64, traces: u64, start_ns: i64) -> RecordBatch {
    let specs: Vec<Span> =
        (0..n).map(|i| Span { trace: i % traces, span: i, start_ns: start_ns + i as i64 * 1_000_000 }).collect();
    spans(&specs)
}

pub fn config(dir: &Path) -> StorageConfig {
    let mut config = StorageConfig { data_dir: dir.to_path_buf(), disk_reserve_bytes: 0, ..Default::default() };
    config.wal.group_commit_window = Duration::from_millis(1);
    // Tests flush explicitly.
    config.flush.max_age = Duration::from_secs(3600);
    config
}

/// `(trace_id, span_id)` of every row, sorted.
pub fn ids(batches: &[RecordBatch]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for b in batches {
        let t = b.column_by_name(col::TRACE_ID).expect("trace_id").as_string::<i32>();
        let s = b.column_by_name(col::SPAN_ID).expect("span_id").as_string::<i32>();
        for i in 0..b.num_rows() {
            out.push((t.value(i).to_string(), s.value(i).to_string()));
        }
    }
    out.sort();
    out
}

/// Flush settings with `rows` rows per row group.
pub fn rows_per_group(rows: usize) -> crate::config::FlushConfig {
    crate::config::FlushConfig { row_group_rows: rows, ..Default::default() }
}

/// Physical span batches spread over three hours, one of them straddling an hour boundary,
/// with traces that recur across batches.
pub fn span_batches_over_hours() -> Vec<RecordBatch> {
    const HOUR: i64 = 3_600_000_000_000;
    let base = 1_700_002_800_000_000_000 - 1_700_002_800_000_000_000 % HOUR;
    [many(400, 7, base - 200_000_000), many(300, 5, base + 2 * HOUR), many(250, 7, base - 100_000_000)]
        .iter()
        .map(|b| crate::Table::Spans.to_physical(b).expect("physical"))
        .collect()
}
