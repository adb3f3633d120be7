use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;
use crate::attributes::AttrRef;
use crate::spans::{SpanRecord, SpanScope, SpansBuilder};
use crate::testdata::T0;

/// (span, parent, service, kind, start ms, error, attributes); ids are one byte, repeated;
/// every span lasts 10 ms.
type Spec = (u8, u8, &'static str, i32, i64, bool, Vec<(&'static str, AttrRef<'static>)>);

const TRACE: [u8; 16] = [7; 16];

fn flush(specs: Vec<Spec>) -> RecordBatch {
    let mut builder = SpansBuilder::new();
    for (id, parent, service, kind, start_ms, error, attributes) in specs {
        let (id, parent_id) = ([id; 8], [parent; 8]);
        let scope = SpanScope { service_name: service, ..Default::default() };
        let start = T0 + start_ms * 1_000_000;
        let record = SpanRecord {
            trace_id: &TRACE,
            span_id: &id,
            parent_span_id: if parent == 0 { &[] } else { &parent_id },
            name: "op",
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 10_000_000,
            status_code: if error { 2 } else { 0 },
            attributes,
            ..Default::default()
        };
        builder.append(&scope, &record).expect("append");
    }
    builder.finish().expect("finish")
}

/// (row_kind, source, target, kind, calls, errors) of the rows that queries read.
fn counted(batches: &[RecordBatch]) -> Vec<(String, String, String, String, i64, i64)> {
    let mut out = Vec::new();
    for batch in batches {
        let text = |name: &str| batch.column_by_name(name).expect(name).as_string::<i32>().clone();
        let (row_kind, source, target, kind) = (text("row_kind"), text("source"), text("target"), text("kind"));
        let calls = batch.column_by_name("call_count").expect("calls").as_primitive::<Int64Type>().clone();
        let errors = batch.column_by_name("error_count").expect("errors").as_primitive::<Int64Type>().clone();
        for i in 0..batch.num_rows() {
            if !["edge", "peer", "joined"].contains(&row_kind.value(i)) {
                continue;
            }
            let opt = |a: &arrow::array::StringArray| if a.is_null(i) { "-".into() } else { a.value(i).to_string() };
            out.push((opt(&row_kind), opt(&source), opt(&target), opt(&kind), calls.value(i), errors.value(i)));
        }
    }
    out.sort();
    out
}

fn row(k: &str, s: &str, t: &str, kind: &str, calls: i64, errors: i64) -> (String, String, String, String, i64, i64) {
    (k.into(), s.into(), t.into(), kind.into(), calls, errors)
}

fn http() -> Vec<(&'static str, AttrRef<'static>)> {
    vec![("http.request.method", AttrRef::Str("GET"))]
}

#[test]
fn a_child_flushed_after_its_parent_is_joined_by_its_own_flush() {
    let mut state = LateJoin::default();
    let first =
        state.flush(&[flush(vec![(1, 0, "frontend", 2, 0, false, vec![]), (2, 1, "frontend", 3, 1, false, http())])]);
    assert_eq!(counted(&first.expect("first")), vec![]);
    assert_eq!(state.len(), 1, "the client span waits for a child");
    let second = state.flush(&[flush(vec![(3, 2, "checkout", 2, 2, true, vec![])])]).expect("second");
    assert_eq!(
        counted(&second),
        vec![row("edge", "frontend", "checkout", "http", 1, 1), row("joined", "frontend", "frontend", "-", 0, 0)]
    );
    // The late pair is also a single `call` row at the child's exact start.
    let calls: Vec<(String, i64)> = second
        .iter()
        .flat_map(|b| {
            let kinds = b.column_by_name("row_kind").expect("row_kind").as_string::<i32>().clone();
            let starts = b
                .column_by_name("start_time")
                .expect("start_time")
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .clone();
            (0..b.num_rows()).map(move |i| (kinds.value(i).to_string(), starts.value(i) * 1000)).collect::<Vec<_>>()
        })
        .filter(|(k, _)| k == "call")
        .collect();
    assert_eq!(calls, vec![("call".to_string(), T0 + 2_000_000)]);
}

#[test]
fn a_parent_flushed_after_its_child_is_joined_by_the_parents_flush() {
    let mut state = LateJoin::default();
    let child = flush(vec![(3, 2, "checkout", 2, 2, false, vec![("rpc.system", AttrRef::Str("grpc"))])]);
    assert_eq!(counted(&state.flush(&[child]).expect("child")), vec![]);
    assert_eq!(state.len(), 1, "the child waits for its parent");
    let parent = flush(vec![
        (1, 0, "frontend", 2, 0, false, vec![]),
        (2, 1, "frontend", 3, 1, false, vec![("server.address", AttrRef::Str("checkout:8080"))]),
    ]);
    let rows = state.flush(&[parent]).expect("parent");
    // The parent names a peer and had no child in its flush: its provisional peer row is
    // cancelled by the `joined` marker written with the edge.
    assert_eq!(
        counted(&rows),
        vec![
            row("edge", "frontend", "checkout", "grpc", 1, 0),
            row("joined", "frontend", "frontend", "-", 0, 0),
            row("peer", "frontend", "checkout:8080", "external", 1, 0),
        ]
    );
    assert_eq!(state.len(), 1, "the child is forgotten, the caller kept for more children");
}

#[test]
fn a_second_child_of_a_caller_paired_in_its_flush_is_joined_too() {
    // A retried request: one client span, two server spans, the second one flushed later.
    let mut state = LateJoin::default();
    let first = state
        .flush(&[flush(vec![(2, 1, "loadgenerator", 3, 0, false, http()), (3, 2, "proxy", 2, 1, true, vec![])])])
        .expect("first");
    assert_eq!(counted(&first), vec![row("edge", "loadgenerator", "proxy", "http", 1, 1)]);
    // The paired caller is not written, only remembered.
    let kinds: Vec<String> = first
        .iter()
        .flat_map(|b| {
            let k = b.column_by_name("row_kind").expect("row_kind").as_string::<i32>().clone();
            (0..b.num_rows()).map(move |i| k.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect();
    assert!(!kinds.contains(&"caller".to_string()), "{kinds:?}");
    // The caller, and the client span itself waiting for its own parent (span 1).
    assert_eq!(state.len(), 2);
    let second = state.flush(&[flush(vec![(4, 2, "proxy", 2, 5, false, vec![])])]).expect("second");
    assert_eq!(
        counted(&second),
        vec![
            row("edge", "loadgenerator", "proxy", "http", 1, 0),
            row("joined", "loadgenerator", "loadgenerator", "-", 0, 0)
        ]
    );
}

#[test]
fn a_late_pair_within_one_service_is_no_edge_but_still_cancels_the_peer() {
    let mut state = LateJoin::default();
    let caller = flush(vec![(2, 1, "api", 3, 1, false, vec![("peer.service", AttrRef::Str("cache"))])]);
    state.flush(&[caller]).expect("caller");
    let rows = state.flush(&[flush(vec![(3, 2, "api", 1, 2, false, vec![])])]).expect("child");
    assert_eq!(counted(&rows), vec![row("joined", "api", "api", "-", 0, 0)]);
}

#[test]
fn memtable_units_pair_across_units_and_with_the_state() {
    let state = {
        let mut s = LateJoin::default();
        s.flush(&[flush(vec![(2, 1, "frontend", 3, 1, false, http())])]).expect("flushed caller");
        s
    };
    // Two memtable units, each derived on its own: a child of the flushed caller, and a
    // caller/child pair split across the units.
    let unit_a = super::super::edges::derive_edges(&[flush(vec![
        (3, 2, "checkout", 2, 2, false, vec![]),
        (4, 3, "checkout", 4, 3, false, vec![]),
    ])]);
    let unit_b = super::super::edges::derive_edges(&[flush(vec![(5, 4, "accounting", 5, 4, false, vec![])])]);
    let units: Vec<RecordBatch> = [unit_a, unit_b].into_iter().flat_map(|u| u.expect("derive")).collect();
    let open = Open::from_rows(&units).expect("open");
    let joined = state.join(&open).expect("join");
    assert_eq!(joined.pairs(), 2);
    assert_eq!(
        counted(&joined.rows.into_iter().collect::<Vec<_>>()),
        vec![
            row("edge", "checkout", "accounting", "messaging", 1, 0),
            row("edge", "frontend", "checkout", "http", 1, 0),
            row("joined", "checkout", "checkout", "-", 0, 0),
            row("joined", "frontend", "frontend", "-", 0, 0),
        ]
    );
}

/// The open sides of three server spans `first..first + 3` whose parents were not seen.
fn orphans(first: u8) -> Open {
    let specs: Vec<Spec> = (first..first + 3).map(|i| (i, 100 + i, "svc", 2, 0, false, vec![])).collect();
    Open::from_rows(&super::super::edges::derive_edges(&[flush(specs)]).expect("derive")).expect("open")
}

#[test]
fn open_sides_expire_after_the_window_and_past_the_cap() {
    let t0 = Instant::now();
    let mut state = LateJoin::new(Duration::from_secs(60), 4);
    state.absorb(orphans(1), &Joined::default(), t0, t0);
    assert_eq!((state.len(), state.evicted), (3, 0));
    // Three more: the cap of 4 evicts the two oldest.
    state.absorb(orphans(10), &Joined::default(), t0, t0);
    assert_eq!((state.len(), state.evicted), (4, 2));
    // A minute later the window has passed for all of them: expired, not evicted.
    let later = t0 + Duration::from_secs(61);
    state.absorb(Open::default(), &Joined::default(), later, later);
    assert_eq!((state.len(), state.evicted), (0, 2));
}

/// The rows a scan of `service_edges` reads: memtable-derived and flushed.
fn scanned(storage: &crate::Storage) -> Vec<(String, String, String, String, i64, i64)> {
    let snapshot = storage.snapshot(crate::Table::ServiceEdges);
    let mut batches = snapshot.batches;
    for file in snapshot.files {
        let f = std::fs::File::open(storage.data_dir().join(&file.path)).expect("open file");
        let reader = ParquetRecordBatchReaderBuilder::try_new(f).expect("reader").build().expect("build");
        batches.extend(reader.map(|b| b.expect("batch")));
    }
    counted(&batches)
}

#[tokio::test]
async fn storage_joins_across_flushes_memtables_and_restarts_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::testdata::config(dir.path());
    let storage = crate::Storage::open(config.clone()).await.expect("open");
    let table = crate::Table::Spans;
    storage.append(table, flush(vec![(3, 2, "checkout", 2, 2, false, vec![])])).await.expect("child");
    assert_eq!(scanned(&storage), vec![]);
    storage.flush().await.expect("flush");
    assert_eq!(storage.catalog.read().late_join.len(), 1);

    // The parent arrives: the memtable scan pairs it with the flushed child.
    storage.append(table, flush(vec![(2, 1, "frontend", 3, 1, false, http())])).await.expect("parent");
    let one = vec![row("edge", "frontend", "checkout", "http", 1, 0), row("joined", "frontend", "frontend", "-", 0, 0)];
    assert_eq!(scanned(&storage), one);

    // After a crash the state is reloaded from the flushed file; the parent is replayed
    // from the WAL.
    drop(storage);
    let storage = crate::Storage::open(config.clone()).await.expect("reopen");
    assert_eq!(scanned(&storage), one);
    storage.flush().await.expect("flush");
    assert_eq!(scanned(&storage), one, "now from the parent's flush");
    assert_eq!(storage.metrics().late_joined.get(), 1);

    // A second child of the flushed caller (a retry, a second consumer) joins it too.
    storage.append(table, flush(vec![(4, 2, "checkout", 2, 5, true, vec![])])).await.expect("child 2");
    storage.flush().await.expect("flush");
    let rows = scanned(&storage);
    let calls: i64 = rows.iter().filter(|r| r.0 == "edge").map(|r| r.4).sum();
    let errors: i64 = rows.iter().filter(|r| r.0 == "edge").map(|r| r.5).sum();
    assert_eq!((calls, errors), (2, 1), "{rows:?}");
}

#[test]
fn the_state_reports_the_memory_it_holds() {
    let t0 = Instant::now();
    let mut state = LateJoin::new(Duration::from_secs(60), 1_000_000);
    let empty = state.bytes();
    state.absorb(orphans(1), &Joined::default(), t0, t0);
    let three = state.bytes();
    assert!(three > empty, "{three} > {empty}");
    // A waiting child's list holds one child, not the four a default `Vec` reserves.
    assert!(state.waiting.values().all(|c| c.capacity() == 1));
    state.absorb(Open::default(), &Joined::default(), t0 + Duration::from_secs(61), t0 + Duration::from_secs(61));
    assert_eq!(state.len(), 0);
}
