use super::*;
use crate::testdata::{self, Span, T0};

#[test]
fn tracks_rows_bytes_time_range_and_age() {
    let mut m = Memtable::default();
    assert!(m.is_empty());
    assert_eq!(m.time_range(), None);
    let a = testdata::spans(&[Span { trace: 1, span: 1, start_ns: T0 + 50 }, Span { trace: 1, span: 2, start_ns: T0 }]);
    let b = testdata::spans(&[Span { trace: 2, span: 3, start_ns: T0 + 900 }]);
    let before = Instant::now();
    m.insert(Table::Spans, a.clone(), 100);
    m.insert(Table::Spans, b.clone(), 20);
    m.insert(Table::Spans, a.slice(0, 0), 5); // empty batches are ignored
    assert_eq!(m.rows(), 3);
    assert_eq!(m.batches().len(), 2);
    assert_eq!(m.bytes(), 120);
    assert_eq!(m.time_range(), Some((T0, T0 + 900)));
    let oldest = m.oldest_insert().expect("set");
    assert!(oldest >= before && oldest <= Instant::now());
}

#[test]
fn set_aggregates_tables() {
    let mut set = MemtableSet::default();
    assert!(set.is_empty());
    let batch = testdata::many(5, 2, T0);
    set.insert(Table::Spans, batch.clone(), 77);
    assert!(!set.is_empty());
    assert_eq!(set.rows(Table::Spans), 5);
    assert_eq!(set.bytes(), 77);
    assert_eq!(set.iter().count(), 1);
    assert!(set.oldest_insert().is_some());
}

#[test]
fn shrinking_a_small_batch_frees_its_builders_spare_capacity_and_keeps_its_rows() {
    let batch = crate::Table::Spans.to_physical(&crate::testdata::many(20, 4, crate::testdata::T0)).expect("physical");
    let held = batch.get_array_memory_size();
    // A batch sharing its buffers with another is left alone.
    let other = batch.clone();
    let shared = shrink_to_fit(batch).expect("shrink");
    assert_eq!(shared.get_array_memory_size(), held);
    assert_eq!(shared, other);
    drop(other);
    let alone = shrink_to_fit(shared).expect("shrink");
    assert!(alone.get_array_memory_size() * 4 < held, "{} of {held} bytes left", alone.get_array_memory_size());
    let rebuilt = crate::Table::Spans.to_physical(&crate::testdata::many(20, 4, crate::testdata::T0)).expect("again");
    assert_eq!(alone, rebuilt);
}

/// `n` log records, the i-th at `T0 + first + i`.
fn logs(n: usize, first: i64) -> RecordBatch {
    logs_of(&["payment"], n, first)
}

/// `n` log records, the i-th at `T0 + first + i` from service `services[i % len]`.
fn logs_of(services: &[&str], n: usize, first: i64) -> RecordBatch {
    use crate::attributes::AttrRef;
    use crate::logs::{LogRecord, LogScope, LogsBuilder};
    let mut builder = LogsBuilder::new();
    for i in 0..n {
        let scope = LogScope { service_name: services[i % services.len()], ..Default::default() };
        let body = format!("line {}", first + i as i64);
        let record =
            LogRecord { time_unix_nano: T0 + first + i as i64, body: AttrRef::Str(&body), ..Default::default() };
        builder.append(&scope, &record).expect("append");
    }
    Table::Logs.to_physical(&builder.finish().expect("finish")).expect("physical")
}

#[test]
fn small_batches_of_a_table_nothing_derives_from_are_coalesced_8192_rows_at_a_time() {
    let mut m = Memtable::default();
    let mut sent = Vec::new();
    let mut counted = 0;
    // 150-row batches, as a metrics request brings: the 55th brings the run to 8,250 rows.
    for i in 0..60 {
        let batch = logs_of(&["payment", "cart", "ad"], 150, i * 150);
        counted += batch.get_array_memory_size();
        m.insert(Table::Logs, batch.clone(), batch.get_array_memory_size());
        sent.push(batch);
    }
    assert_eq!(m.rows(), 9000);
    assert_eq!(m.batches().len(), 1 + 5, "one of 55 small batches, then five new ones");
    assert_eq!(m.batches()[0].num_rows(), 8250);
    // The coalesced batch holds the 55 batches' rows in the order a flush writes them (by
    // service, then time); the batches after it as they came.
    let sorted = crate::flush::sort_batches(Table::Logs, &sent[..55]).expect("sort");
    assert_eq!(m.batches()[0], sorted);
    assert_ne!(m.batches()[0], arrow::compute::concat_batches(&sent[0].schema(), &sent[..55]).expect("concat"));
    assert_eq!(&m.batches()[1..], &sent[55..]);
    assert_eq!(m.time_range(), Some((T0, T0 + 8999)));
    let held: usize = m.batches().iter().map(RecordBatch::get_array_memory_size).sum();
    assert_eq!(m.bytes(), held, "bytes follow the coalesced batch");
    assert!(held < counted, "{held} < {counted}");
}

#[test]
fn a_large_batch_ends_a_run_and_spans_keep_their_batches() {
    let mut m = Memtable::default();
    m.insert(Table::Logs, logs(5000, 0), 1);
    m.insert(Table::Logs, logs(2000, 5000), 1);
    m.insert(Table::Logs, logs(900, 7000), 1);
    m.insert(Table::Logs, logs(900, 7900), 1);
    // 1,800 small rows after the large ones: nothing to coalesce yet.
    assert_eq!(m.batches().len(), 4);
    let mut spans = Memtable::default();
    for i in 0..20 {
        spans.insert(Table::Spans, testdata::many(500, 5, T0 + i), 1);
    }
    // The service map's rows are memoized per spans batch, so spans are kept as they came.
    assert_eq!(spans.batches().len(), 20);
}
