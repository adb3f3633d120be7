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
