use arrow::compute::interleave_record_batch;

use super::*;
use crate::flush::{sort_batches, split_by_hour};
use crate::testdata;

/// The addresses gather exactly the rows `sort_batches` + `split_by_hour` produce.
#[test]
fn matches_concat_sort_and_split() {
    let batches = testdata::span_batches_over_hours();
    let order = row_order(Table::Spans, &batches).expect("order");
    let expected = split_by_hour(Table::Spans, &sort_batches(Table::Spans, &batches).expect("sort")).expect("split");
    assert_eq!(order.iter().map(|h| h.hour).collect::<Vec<_>>(), expected.keys().copied().collect::<Vec<_>>());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    for hour in &order {
        let gathered = interleave_record_batch(&refs, &hour.rows).expect("interleave");
        assert_eq!(&gathered, &expected[&hour.hour], "hour {}", hour.hour);
    }
    assert_eq!(order.iter().map(|h| h.rows.len()).sum::<usize>(), batches.iter().map(|b| b.num_rows()).sum::<usize>());
}

#[test]
fn no_rows_no_hours() {
    assert!(row_order(Table::Spans, &[]).expect("order").is_empty());
}
