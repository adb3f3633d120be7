use arrow::array::{Int64Array, TimestampNanosecondArray};

use super::*;
use crate::spans::{col, schema};
use crate::testdata::{self, T0};

#[test]
fn physical_schema_is_the_logical_one_without_end_time() {
    let logical = schema();
    let physical = physical_schema();
    assert_eq!(physical.fields().len(), logical.fields().len() - 1);
    assert!(physical.index_of(col::END_TIME).is_err());
    let others: Vec<_> = logical.fields().iter().filter(|f| f.name() != col::END_TIME).cloned().collect();
    assert_eq!(physical.fields().iter().cloned().collect::<Vec<_>>(), others);
    assert_eq!(virtual_inputs(col::END_TIME), Some([col::START_TIME, col::DURATION_NS]));
    assert_eq!(virtual_inputs(col::START_TIME), None);
}

#[test]
fn logical_and_physical_batches_convert_both_ways() {
    let logical = testdata::many(10, 3, T0);
    assert_eq!(logical.schema(), schema());
    let physical = to_physical(&logical).expect("to physical");
    assert_eq!(physical.schema(), physical_schema());
    assert_eq!(to_physical(&physical).expect("idempotent"), physical);
    let back = to_logical(&physical).expect("to logical");
    assert_eq!(back, logical);
    let end = back.column_by_name(col::END_TIME).expect("end").as_primitive::<TimestampNanosecondType>();
    assert_eq!(end.value(3), T0 + 3_000_000 + 1_500_000);
    assert_eq!(end.timezone(), Some("UTC"));
    // A logical batch is not physical, and a foreign batch is neither.
    assert!(to_logical(&logical).is_err());
    let foreign = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).expect("batch");
    assert!(to_physical(&foreign).is_err());
}

#[test]
fn end_times_saturate() {
    let start = TimestampNanosecondArray::from(vec![0, i64::MAX - 1, 5]);
    let duration = Int64Array::from(vec![7, 10, -2]);
    assert_eq!(end_times(&start, &duration).values().to_vec(), vec![7, i64::MAX, 3]);
}
