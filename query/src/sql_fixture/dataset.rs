//! The fixed dataset of the SQL tests: six traces through real storage, two
//! flushes to Parquet (three files over two hourly partitions) and the rest in
//! the memtable, so every query reads both paths.
//!
//! | trace | id prefix | hour (UTC) | where             | route         | root / checkout / payment (ms) |
//! |-------|-----------|------------|-------------------|---------------|--------------------------------|
//! | A     | `1…`      | 22         | Parquet, flush 1  | /api/cart     | 100 / 60 / 20                  |
//! | B     | `2…`      | 23         | Parquet, flush 1  | /api/checkout | 200 / 150 / 80                 |
//! | C     | `3…`      | 22         | Parquet, flush 2  | /api/checkout | 300 / 250 / 120 (error)        |
//! | D     | `4…`      | 22         | Parquet, flush 2  | /api/cart     | 50 / 30 / —                    |
//! | E     | `5…`      | 23         | memtable          | /api/cart     | 400 / 300 / 200, + render 40   |
//! | F     | `6…`      | 22         | memtable          | /api/checkout | 150 / 100 / 50 (error)         |
//!
//! Times are offsets from 2023-11-14T22:13:20Z (`test_support::T0`). Parquet row groups
//! hold 2 rows, so a file has several and row-group pruning shows. Each trace also has logs
//! (see [`logs`]), flushed and in the memtable like its spans.

use std::sync::Arc;
use std::time::Duration;

use osprey_storage::attributes::AttrRef;
use osprey_storage::{Storage, StorageConfig, Table};
use tempfile::TempDir;

use crate::test_support::{batch, Span, T0};
use crate::{QueryConfig, QueryService};

const MS: i64 = 1_000_000;
const S: i64 = 1_000 * MS;

/// One trace of the table above.
struct TraceSpec {
    /// 1-based; the first hex digit of every id in the trace.
    n: u8,
    start: i64,
    route: &'static str,
    /// Root, checkout and (if any) payment durations in ms.
    ms: (i64, i64, Option<i64>),
    payment_error: bool,
    render_ms: Option<i64>,
}

const TRACES: [TraceSpec; 6] = [
    TraceSpec { n: 1, start: 0, route: "/api/cart", ms: (100, 60, Some(20)), payment_error: false, render_ms: None },
    TraceSpec {
        n: 2,
        start: 3000 * S,
        route: "/api/checkout",
        ms: (200, 150, Some(80)),
        payment_error: false,
        render_ms: None,
    },
    TraceSpec {
        n: 3,
        start: 600 * S,
        route: "/api/checkout",
        ms: (300, 250, Some(120)),
        payment_error: true,
        render_ms: None,
    },
    TraceSpec { n: 4, start: 1200 * S, route: "/api/cart", ms: (50, 30, None), payment_error: false, render_ms: None },
    TraceSpec {
        n: 5,
        start: 3600 * S,
        route: "/api/cart",
        ms: (400, 300, Some(200)),
        payment_error: false,
        render_ms: Some(40),
    },
    TraceSpec {
        n: 6,
        start: 1800 * S,
        route: "/api/checkout",
        ms: (150, 100, Some(50)),
        payment_error: true,
        render_ms: None,
    },
];

/// The trace id of trace `n` (1-based): `n000…000n`.
pub fn trace_id(n: u8) -> String {
    format!("{n:x}{:031x}", n)
}

/// The id of span `j` of trace `n`: `n00…0j`.
pub fn span_id(n: u8, j: u8) -> String {
    format!("{n:x}{:015x}", j)
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A trace of the table above as a `spans` batch.
fn trace(t: &TraceSpec) -> arrow::array::RecordBatch {
    let id = |j| leak(span_id(t.n, j));
    let (root_ms, checkout_ms, payment_ms) = t.ms;
    let mut spans = vec![
        Span {
            id: id(1),
            parent: "",
            service: "frontend",
            name: "GET",
            kind: 2,
            start: t.start,
            end: t.start + root_ms * MS,
            attributes: vec![("http.route", AttrRef::Str(t.route)), ("http.status_code", AttrRef::Int(200))],
            ..Default::default()
        },
        Span {
            id: id(2),
            parent: id(1),
            service: "checkout",
            name: "PlaceOrder",
            kind: 2,
            start: t.start + MS,
            end: t.start + MS + checkout_ms * MS,
            ..Default::default()
        },
    ];
    if let Some(ms) = payment_ms {
        spans.push(Span {
            id: id(3),
            parent: id(2),
            service: "payment",
            name: "Charge",
            kind: 3,
            start: t.start + 2 * MS,
            end: t.start + 2 * MS + ms * MS,
            status: if t.payment_error { 2 } else { 0 },
            status_message: t.payment_error.then_some("card declined"),
            ..Default::default()
        });
    }
    if let Some(ms) = t.render_ms {
        spans.push(Span {
            id: id(4),
            parent: id(1),
            service: "frontend",
            name: "render",
            kind: 1,
            start: t.start + 3 * MS,
            end: t.start + 3 * MS + ms * MS,
            ..Default::default()
        });
    }
    batch(leak(trace_id(t.n)), &spans)
}

/// The logs of a trace: the frontend's "GET <route> served" in the root span, and the
/// payment's "charged order ORD-0000n" (INFO) or "card declined for order ORD-0000n" (ERROR)
/// in the payment span, 1 ms after each span starts.
fn logs(t: &TraceSpec) -> arrow::array::RecordBatch {
    use osprey_storage::logs::{LogRecord, LogScope, LogsBuilder};
    let trace = hex::decode(trace_id(t.n)).expect("hex");
    let mut builder = LogsBuilder::new();
    let mut add = |service: &str, span: u8, at: i64, error: bool, body: String| {
        let span_id = hex::decode(span_id(t.n, span)).expect("hex");
        let record = LogRecord {
            time_unix_nano: T0 + at + MS,
            trace_id: &trace,
            span_id: &span_id,
            severity_number: if error { 17 } else { 9 },
            severity_text: Some(if error { "ERROR" } else { "INFO" }),
            body: AttrRef::Str(&body),
            attributes: vec![("order.id", AttrRef::Int(i64::from(t.n)))],
            ..Default::default()
        };
        builder.append(&LogScope { service_name: service, ..Default::default() }, &record).expect("log");
    };
    add("frontend", 1, t.start, false, format!("GET {} served", t.route));
    if t.ms.2.is_some() {
        let body = match t.payment_error {
            true => format!("card declined for order ORD-0000{}", t.n),
            false => format!("charged order ORD-0000{}", t.n),
        };
        add("payment", 3, t.start + 2 * MS, t.payment_error, body);
    }
    builder.finish().expect("logs batch")
}

/// Storage on a temp dir holding the dataset, and a query service over it.
pub struct Fixture {
    pub service: QueryService,
    pub storage: Arc<Storage>,
    _dir: TempDir,
}

impl Fixture {
    pub async fn open() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config =
            StorageConfig { data_dir: dir.path().to_path_buf(), disk_reserve_bytes: 0, ..Default::default() };
        config.wal.fsync = false;
        config.wal.group_commit_window = Duration::ZERO;
        config.flush.max_age = Duration::from_secs(3600);
        config.flush.row_group_rows = 2;
        let storage = Storage::open(config).await.expect("open storage");
        for group in [&TRACES[0..2], &TRACES[2..4]] {
            for t in group {
                storage.append(Table::Spans, trace(t)).await.expect("append");
                storage.append(Table::Logs, logs(t)).await.expect("append logs");
            }
            storage.flush().await.expect("flush");
        }
        for t in &TRACES[4..] {
            storage.append(Table::Spans, trace(t)).await.expect("append");
            storage.append(Table::Logs, logs(t)).await.expect("append logs");
        }
        assert_eq!(storage.snapshot(Table::Spans).files.len(), 3, "three Parquet files");
        assert_eq!(storage.memtable_rows(Table::Spans), 7, "traces E and F in the memtable");
        let service = QueryService::for_storage(Arc::clone(&storage), QueryConfig::default()).expect("service");
        Fixture { service, storage, _dir: dir }
    }
}
