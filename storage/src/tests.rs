//! Engine-level tests: durability across simulated crashes, admission, the
//! background flusher and the counting equation.

use std::time::Duration;

use datafusion::prelude::SessionContext;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::*;
use crate::metrics::table_label;
use crate::testdata::{self, ids, rows_per_group, T0};

async fn all_rows(storage: &Arc<Storage>) -> Vec<RecordBatch> {
    let ctx = SessionContext::new();
    ctx.register_table("spans", storage.table_provider(Table::Spans)).expect("register");
    ctx.sql("SELECT * FROM spans").await.expect("plan").collect().await.expect("run")
}

/// A crash: the handle goes away without `close` (no drain, no flush). The WAL
/// writer thread and the flusher end on their own; what was acknowledged is on disk.
fn crash(storage: Arc<Storage>) {
    assert_eq!(Arc::strong_count(&storage), 1, "test holds the only handle");
    drop(storage);
}

fn input() -> Vec<RecordBatch> {
    vec![testdata::many(30, 7, T0), testdata::many(20, 3, T0 + 5 * testdata::HOUR), testdata::many(5, 5, T0 - 1)]
}

async fn append_all(storage: &Storage, batches: &[RecordBatch]) {
    for b in batches {
        storage.append(Table::Spans, b.clone()).await.expect("append");
    }
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("spans")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_rows_survive_a_crash_before_any_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input();
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    append_all(&storage, &input).await;
    crash(storage);

    let storage = Storage::open(testdata::config(dir.path())).await.expect("reopen");
    assert_eq!(ids(&all_rows(&storage).await), ids(&input));
    assert_eq!(storage.memtable_rows(Table::Spans), 55);
    // Replayed batches share one IPC buffer per frame: they are counted once, not once per column.
    let appended_bytes: usize = input.iter().map(|b| b.get_array_memory_size()).sum();
    let replayed_bytes = storage.budget.memtable();
    assert!(replayed_bytes > 0 && replayed_bytes <= appended_bytes * 2, "{replayed_bytes} vs {appended_bytes}");
    assert_eq!(storage.metrics().wal_replayed_rows.get_or_create(&table_label(Table::Spans)).get(), 55);

    // Crash again without new writes: nothing is lost or doubled.
    crash(storage);
    let storage = Storage::open(testdata::config(dir.path())).await.expect("reopen twice");
    assert_eq!(ids(&all_rows(&storage).await), ids(&input));
}

/// The parts of a large request: prepared apart, appended as one unit (one commit group),
/// and as durable as a single batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_prepared_apart_are_appended_together_and_survive_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input();
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    let frames: Vec<_> =
        input.iter().filter_map(|b| Storage::prepare(Table::Spans, b.clone()).expect("prepare")).collect();
    assert_eq!(frames.len(), 3);
    assert!(Storage::prepare(Table::Spans, input[0].slice(0, 0)).expect("empty").is_none());
    assert!(Storage::prepare(Table::ServiceEdges, input[0].clone()).is_err(), "a derived table takes no appends");
    let fsyncs = storage.metrics().wal_fsyncs.get();
    storage.append_frames(frames).await.expect("append");
    assert_eq!(storage.metrics().wal_fsyncs.get(), fsyncs + 1, "one commit");
    assert_eq!(ids(&all_rows(&storage).await), ids(&input));
    crash(storage);

    let storage = Storage::open(testdata::config(dir.path())).await.expect("reopen");
    assert_eq!(ids(&all_rows(&storage).await), ids(&input));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_rows_come_back_from_parquet_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input();
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    append_all(&storage, &input).await;
    storage.flush().await.expect("flush");
    assert_eq!(storage.memtable_rows(Table::Spans), 0);
    assert_eq!(parquet_files(dir.path()).len(), 2, "two hourly partitions");
    // Only the fresh (empty) segment is left in the WAL.
    let segments = wal::list_segments(&dir.path().join("wal")).expect("list");
    assert_eq!(segments.len(), 1);
    crash(storage);

    let storage = Storage::open(testdata::config(dir.path())).await.expect("reopen");
    assert_eq!(storage.memtable_rows(Table::Spans), 0, "nothing replayed: the rows are in Parquet");
    assert_eq!(ids(&all_rows(&storage).await), ids(&input));
    assert_eq!(storage.snapshot(Table::Spans).files.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_parquet_write_before_publish_removes_the_orphan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input();
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    append_all(&storage, &input).await;
    crash(storage);
    // The flush got as far as writing (and renaming) the files, not publishing them.
    let data_dir = std::fs::canonicalize(dir.path()).expect("canonical");
    let orphans = flush::write_table(&data_dir, "default", Table::Spans, &input, &rows_per_group(1000)).expect("write");
    assert_eq!(parquet_files(dir.path()).len(), 2);

    let storage = Storage::open(testdata::config(dir.path())).await.expect("reopen");
    for orphan in &orphans {
        assert!(!data_dir.join(&orphan.path).exists(), "orphan {} removed", orphan.path);
    }
    assert_eq!(ids(&all_rows(&storage).await), ids(&input), "rows once, from the WAL");
    // And a flush now publishes them exactly once.
    storage.flush().await.expect("flush");
    crash(storage);
    let storage = Storage::open(testdata::config(dir.path())).await.expect("reopen");
    assert_eq!(ids(&all_rows(&storage).await), ids(&input));
    assert_eq!(parquet_files(dir.path()).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_publish_before_wal_deletion_does_not_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input();
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    append_all(&storage, &input).await;
    crash(storage);
    // The flush wrote and published the files; the WAL segments were not deleted yet.
    let data_dir = std::fs::canonicalize(dir.path()).expect("canonical");
    let wal_dir = data_dir.join("wal");
    let segments = wal::list_segments(&wal_dir).expect("list");
    let checkpoint = segments.last().expect("a segment") + 1;
    let files = flush::write_table(&data_dir, "default", Table::Spans, &input, &rows_per_group(1000)).expect("write");
    Manifest::open(&data_dir).expect("manifest").publish(files, vec![], checkpoint).expect("publish");
    assert!(segments.iter().all(|s| wal::segment_path(&wal_dir, *s).exists()));

    let storage = Storage::open(testdata::config(dir.path())).await.expect("reopen");
    assert!(segments.iter().all(|s| !wal::segment_path(&wal_dir, *s).exists()), "covered segments deleted");
    assert_eq!(storage.memtable_rows(Table::Spans), 0);
    assert_eq!(ids(&all_rows(&storage).await), ids(&input), "rows once, from Parquet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_drains_flushes_and_refuses_new_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    assert!(storage.is_ready());
    append_all(&storage, &input()).await;
    storage.close().await.expect("close");
    assert!(!storage.is_ready());
    assert_eq!(storage.memtable_rows(Table::Spans), 0);
    let err = storage.append(Table::Spans, testdata::many(1, 1, T0)).await.expect_err("closed");
    assert!(matches!(err, StorageError::ShuttingDown) && err.retryable());
    assert!(matches!(storage.admit(1), Err(StorageError::ShuttingDown)));
    drop(storage);

    let storage = Storage::open(testdata::config(dir.path())).await.expect("reopen");
    assert_eq!(storage.memtable_rows(Table::Spans), 0);
    assert_eq!(ids(&all_rows(&storage).await), ids(&input()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_enforces_the_memory_budget_and_disk_reserve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = testdata::config(dir.path());
    // Small budgets keep half as headroom: admission gets 1 MiB of these 2.
    config.memory_budget_bytes = 2 << 20;
    assert_eq!(config.admission_limit(), 1 << 20);
    let storage = Storage::open(config).await.expect("open");
    let permit = storage.admit(600 << 10).expect("fits");
    let err = storage.admit(500 << 10).expect_err("over budget");
    assert!(matches!(err, StorageError::MemoryBudget { budget, .. } if budget == 1 << 20), "{err}");
    assert!(err.retryable());
    assert_eq!(err.class(), ErrorClass::Overloaded);
    drop(permit);
    let _again = storage.admit(500 << 10).expect("released on drop");
    let rejected = storage.metrics().admission_rejected.get_or_create(&vec![("reason", "memory")]).get();
    assert_eq!(rejected, 1);
    let wrong = arrow::array::RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()));
    assert!(matches!(storage.append(Table::Spans, wrong).await, Err(StorageError::InvalidInput(_))));

    let mut config = testdata::config(&dir.path().join("full"));
    config.disk_reserve_bytes = u64::MAX;
    let full = Storage::open(config).await.expect("open");
    assert!(matches!(full.admit(1), Err(StorageError::DiskFull { .. })));
    assert_eq!(full.metrics().admission_rejected.get_or_create(&vec![("reason", "disk")]).get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memtable_bytes_count_against_admission_until_flushed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = testdata::config(dir.path());
    // Memtables hold physical batches (no end_time), without spare capacity.
    let batch = Table::Spans.to_physical(&testdata::many(500, 50, T0)).expect("physical");
    let batch = crate::memtable::shrink_to_fit(batch).expect("shrink");
    let size = batch.get_array_memory_size();
    // The flusher triggers at half the admission limit (half the budget when it is this small):
    // keep the memtable just under it.
    config.memory_budget_bytes = (size * 2 + 2) * 2;
    assert_eq!(config.admission_limit(), size * 2 + 2);
    let storage = Storage::open(config).await.expect("open");
    storage.append(Table::Spans, batch).await.expect("append");
    assert_eq!(storage.budget.memtable(), size);
    assert!(matches!(storage.admit(size + 3), Err(StorageError::MemoryBudget { .. })));
    let _fits = storage.admit(size).expect("the rest of the budget");
    storage.flush().await.expect("flush");
    assert_eq!(storage.budget.memtable(), 0);
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_flush_by_size_and_by_age() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = testdata::config(dir.path());
    config.flush.max_bytes = 1; // any row is enough
    let storage = Storage::open(config).await.expect("open");
    storage.append(Table::Spans, testdata::many(10, 2, T0)).await.expect("append");
    wait_until("a size-triggered flush", || storage.memtable_rows(Table::Spans) == 0).await;
    assert_eq!(storage.snapshot(Table::Spans).files.len(), 1);

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = testdata::config(dir.path());
    config.flush.max_age = Duration::from_millis(200);
    let storage = Storage::open(config).await.expect("open");
    storage.append(Table::Spans, testdata::many(10, 2, T0)).await.expect("append");
    assert_eq!(storage.memtable_rows(Table::Spans), 10);
    // The outcome is counted just after the memtable is dropped: wait for the count.
    wait_until("an age-triggered flush", || {
        storage.metrics().flushes.get_or_create(&vec![("outcome", "ok")]).get() >= 1
    })
    .await;
    assert_eq!(storage.memtable_rows(Table::Spans), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_keeps_rows_queryable_and_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    let input = input();
    append_all(&storage, &input).await;
    // Make the table directory unwritable by putting a file where it should be.
    std::fs::write(dir.path().join("spans"), b"in the way").expect("block");
    assert!(storage.flush().await.is_err());
    assert_eq!(storage.metrics().flushes.get_or_create(&vec![("outcome", "error")]).get(), 1);
    assert_eq!(ids(&all_rows(&storage).await), ids(&input), "frozen rows stay visible");
    assert_eq!(storage.memtable_rows(Table::Spans), 55);

    // More rows arrive, the obstacle goes away, the next flush persists both generations.
    let more = testdata::many(4, 1, T0 + 1);
    storage.append(Table::Spans, more.clone()).await.expect("append");
    std::fs::remove_file(dir.path().join("spans")).expect("unblock");
    storage.flush().await.expect("flush");
    assert_eq!(storage.memtable_rows(Table::Spans), 0);
    let mut expected = input.clone();
    expected.push(more);
    assert_eq!(ids(&all_rows(&storage).await), ids(&expected));
    crash(storage);
    let storage = Storage::open(testdata::config(dir.path())).await.expect("reopen");
    assert_eq!(ids(&all_rows(&storage).await), ids(&expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_equation_and_exposition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    append_all(&storage, &input()).await;
    storage.flush().await.expect("flush");
    storage.append(Table::Spans, testdata::many(8, 2, T0)).await.expect("append");

    let m = storage.metrics();
    let label = table_label(Table::Spans);
    let appended = m.rows_appended.get_or_create(&label).get();
    let persisted = m.rows_persisted.get_or_create(&label).get();
    let in_memory = m.memtable_rows.get_or_create(&label).get();
    assert_eq!((appended, persisted, in_memory), (63, 55, 8));
    assert_eq!(appended as i64, persisted as i64 + in_memory);

    let mut registry = Registry::default();
    storage.register_metrics(&mut registry);
    let mut text = String::new();
    encode(&mut text, &registry).expect("encode");
    for needle in [
        "osprey_wal_bytes_total ",
        "osprey_wal_frames_total 4",
        "osprey_wal_fsync_seconds_count ",
        "osprey_wal_corrupt_frames_total 0",
        "osprey_memtable_rows{table=\"spans\"} 8",
        "osprey_memtable_bytes{table=\"spans\"} ",
        "osprey_rows_persisted_total{table=\"spans\"} 55",
        "osprey_rows_appended_total{table=\"spans\"} 63",
        "osprey_flushes_total{outcome=\"ok\"} 1",
        "osprey_flush_seconds_count 1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}
