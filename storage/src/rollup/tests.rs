use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use sketches_ddsketch::DDSketch;

use super::*;
use crate::testdata::{self, T0};
use crate::{Storage, Table};

fn int(batch: &RecordBatch, name: &str, row: usize) -> i64 {
    batch.column_by_name(name).expect(name).as_primitive::<Int64Type>().value(row)
}

#[test]
fn spans_roll_up_per_minute_service_operation_and_kind() {
    // 120 spans 1 ms apart from T0 (20 s into its minute): one bucket; then 30 more a
    // minute later.
    let spans = [testdata::many(120, 3, T0), testdata::many(30, 3, T0 + BUCKET_NS)];
    let red = derive_red(&spans).expect("derive").expect("rows");
    assert_eq!(red.num_rows(), 2);
    let buckets = red.column_by_name(red_col::BUCKET_START).expect("bucket").as_primitive::<TimestampNanosecondType>();
    assert_eq!(buckets.value(0), T0 - T0.rem_euclid(BUCKET_NS));
    assert_eq!(buckets.value(1), buckets.value(0) + BUCKET_NS);
    assert_eq!((int(&red, red_col::REQUEST_COUNT, 0), int(&red, red_col::REQUEST_COUNT, 1)), (120, 30));
    assert_eq!(int(&red, red_col::ERROR_COUNT, 0), 0);
    assert_eq!(int(&red, red_col::DURATION_SUM_NS, 0), 120 * 1_500_000);
    let service = red.column_by_name(red_col::SERVICE_NAME).expect("service").as_string::<i32>();
    let operation = red.column_by_name(red_col::OPERATION).expect("operation").as_string::<i32>();
    let kind = red.column_by_name(red_col::KIND).expect("kind").as_string::<i32>();
    assert_eq!((service.value(0), operation.value(0), kind.value(0)), ("checkout", "GET", "server"));

    let bytes = red.column_by_name(red_col::DURATION_SKETCH).expect("sketch").as_binary::<i32>().value(0);
    let sketch = DDSketch::from_java_bytes(bytes).expect("decode");
    assert_eq!(sketch.count(), 120);
    let p50 = sketch.quantile(0.5).expect("quantile").expect("non-empty");
    assert!((p50 - 1_500_000.0).abs() <= 1_500_000.0 * SKETCH_RELATIVE_ACCURACY, "p50 {p50}");
    assert!(derive_red(&[]).expect("derive").is_none());
}

async fn red_totals(storage: &Arc<Storage>) -> (i64, i64) {
    let ctx = SessionContext::new();
    ctx.register_table("service_red", storage.table_provider(Table::ServiceRed)).expect("register");
    let batches = ctx
        .sql("SELECT CAST(SUM(request_count) AS BIGINT) AS n, COUNT(*) AS rows FROM service_red")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let n = batches[0].column(0).as_primitive::<Int64Type>();
    (if n.is_null(0) { 0 } else { n.value(0) }, batches[0].column(1).as_primitive::<Int64Type>().value(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_red_covers_memtables_and_flushed_files_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    assert_eq!(red_totals(&storage).await.0, 0);
    let derived = derive_red(&[testdata::many(1, 1, T0)]).expect("derive").expect("row");
    assert!(storage.append(Table::ServiceRed, derived).await.is_err(), "derived tables take no appends");

    storage.append(Table::Spans, testdata::many(50, 5, T0)).await.expect("append");
    assert_eq!(red_totals(&storage).await, (50, 1), "derived from the memtable at scan time");

    storage.flush().await.expect("flush");
    assert_eq!(red_totals(&storage).await, (50, 1), "now from the flushed file");
    let files: Vec<_> = storage.snapshot(Table::ServiceRed).files;
    assert_eq!(files.len(), 1);
    assert!(files[0].path.starts_with("service_red/tenant=default/date=2023-11-14/hour=22/"), "{}", files[0].path);
    // Derived rows are not "persisted rows": the counting equation is about appends.
    let persisted = storage.metrics().rows_persisted.get_or_create(&crate::metrics::table_label(Table::Spans)).get();
    assert_eq!(persisted, 50);

    // The same minute again, in memory: the bucket now has a file row and a memtable row.
    storage.append(Table::Spans, testdata::many(20, 5, T0 + 100_000_000)).await.expect("append");
    assert_eq!(red_totals(&storage).await, (70, 2));

    // After a restart (WAL replay) and another flush, still exactly once.
    storage.close().await.expect("close");
    drop(storage);
    let storage = Storage::open(testdata::config(dir.path())).await.expect("reopen");
    assert_eq!(red_totals(&storage).await, (70, 2));
    storage.flush().await.expect("flush");
    assert_eq!(red_totals(&storage).await, (70, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_between_appends_reuse_derived_rows_and_stay_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    storage.append(Table::Spans, testdata::many(50, 5, T0)).await.expect("append");
    assert_eq!(red_totals(&storage).await, (50, 1));
    // Same minute: the memo keeps the first unit's row and derives the new batch alone.
    storage.append(Table::Spans, testdata::many(20, 5, T0 + 100_000_000)).await.expect("append");
    assert_eq!(red_totals(&storage).await, (70, 2));
    assert_eq!(red_totals(&storage).await, (70, 2), "a repeated scan is served from the memo");
    // A flush clears it: the files hold one row for the minute, as the flush derives at once.
    storage.flush().await.expect("flush");
    assert_eq!(red_totals(&storage).await, (70, 1));
    storage.append(Table::Spans, testdata::many(5, 5, T0)).await.expect("append");
    assert_eq!(red_totals(&storage).await, (75, 2));
}

#[test]
fn binned_durations_sketch_like_the_exact_ones() {
    // Durations from 0 ns to ~17 s on a ragged grid, including the few-ns range where
    // rounding to whole nanoseconds could cross a bin.
    let exact: Vec<i64> = (0..20_000i64).map(|i| i * i * 43 + i % 7).collect();
    let (mut a, mut b) = (new_sketch(), new_sketch());
    for d in &exact {
        let binned = binned_duration(*d);
        // Within the sketch's accuracy, plus the rounding to a whole nanosecond.
        assert!((binned - d).abs() as f64 <= *d as f64 * SKETCH_RELATIVE_ACCURACY + 0.5, "{d} → {binned}");
        a.add(*d as f64);
        b.add(binned as f64);
    }
    for q in [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999] {
        assert_eq!(a.quantile(q).expect("q"), b.quantile(q).expect("q"), "quantile {q}");
    }
    let distinct: std::collections::HashSet<i64> = exact.iter().map(|d| binned_duration(*d)).collect();
    assert!(distinct.len() < 2_500, "{} distinct values", distinct.len());
    assert_eq!(binned_duration(0), 0);
    assert_eq!(binned_duration(-5), -5);
}
