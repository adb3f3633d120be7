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

/// Metric points in several batches, over two hours, with many ties on every sort column.
fn metric_batches() -> Vec<RecordBatch> {
    use crate::attributes::AttrRef;
    use crate::metric_points::{MetricInfo, Number, PointData, PointRecord, PointScope, PointsBuilder};
    let names = ["system.cpu.time", "http.server.duration", "queue.size", "a"];
    let services = ["checkout", "cart", "Cart", "ünïcode"];
    let routes = ["/a", "/b", "/c"];
    let mut batches = Vec::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..5 {
        let mut builder = PointsBuilder::new();
        for _ in 0..200 {
            let service = services[next(services.len())];
            let scope = PointScope::new(service, &[], None, None);
            let info = MetricInfo { name: names[next(names.len())], description: "", unit: "" };
            let point = PointRecord {
                time_unix_nano: testdata::T0 + next(2) as i64 * testdata::HOUR + next(4) as i64,
                start_time_unix_nano: 0,
                attributes: vec![("http.route", AttrRef::Str(routes[next(routes.len())]))],
                flags: 0,
                data: PointData::Gauge(Number::Double(next(1000) as f64)),
                exemplars: vec![],
            };
            builder.append(&scope, &info, &point).expect("append");
        }
        batches.push(builder.finish().expect("finish"));
    }
    batches
}

/// For every table kind, the packed order gathers exactly what a stable sort with arrow's
/// comparators gives (`sort_batches`, then split by hour).
#[test]
fn metrics_and_spans_order_matches_a_stable_comparator_sort() {
    let cases = [(Table::Metrics, metric_batches()), (Table::Spans, testdata::span_batches_over_hours())];
    for (table, batches) in cases {
        let order = row_order(table, &batches).expect("order");
        let expected = split_by_hour(table, &sort_batches(table, &batches).expect("sort")).expect("split");
        assert_eq!(order.len(), expected.len(), "{}", table.name());
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        for hour in &order {
            let gathered = interleave_record_batch(&refs, &hour.rows).expect("interleave");
            assert_eq!(&gathered, &expected[&hour.hour], "{} hour {}", table.name(), hour.hour);
        }
    }
}

/// Integers and times keep their signed order; strings their byte order; ties keep arrival
/// order across batches.
#[test]
fn ordinals_keep_the_order_of_every_key_type() {
    use arrow::array::{Int32Array, StringArray, TimestampNanosecondArray, UInt32Array, UInt64Array};
    let hours = vec![0i64; 8];
    let strings_a = StringArray::from(vec!["b", "a", "B", "é"]);
    let strings_b = StringArray::from(vec!["a", "", "b", "a"]);
    let i64s = [Int64Array::from(vec![-1, i64::MIN, 5, 0]), Int64Array::from(vec![i64::MAX, -1, 0, -7])];
    let i32s = [Int32Array::from(vec![3, -3, 0, 3]), Int32Array::from(vec![-3, 1, i32::MIN, 3])];
    let u64s = [UInt64Array::from(vec![u64::MAX, 0, 9, 9]), UInt64Array::from(vec![1, 0, u64::MAX, 2])];
    let u32s = [UInt32Array::from(vec![7, 7, 0, 1]), UInt32Array::from(vec![u32::MAX, 7, 7, 0])];
    let times =
        [TimestampNanosecondArray::from(vec![10, -10, 10, 0]), TimestampNanosecondArray::from(vec![0, 10, -20, 10])];
    let columns: Vec<Vec<&dyn Array>> = vec![
        vec![&strings_a, &strings_b],
        vec![&i64s[0], &i64s[1]],
        vec![&i32s[0], &i32s[1]],
        vec![&u64s[0], &u64s[1]],
        vec![&u32s[0], &u32s[1]],
        vec![&times[0], &times[1]],
    ];
    for column in &columns {
        let one = std::slice::from_ref(column);
        assert_eq!(packed_order(&hours, one).expect("packed"), lexsorted(&hours, one).expect("lexsorted"));
    }
    // Two and four key columns at once (ties on the first broken by the next).
    for pair in columns.windows(2) {
        assert_eq!(packed_order(&hours, pair).expect("packed"), lexsorted(&hours, pair).expect("lexsorted"));
    }
    let four = &columns[..4];
    assert_eq!(packed_order(&hours, four).expect("packed"), lexsorted(&hours, four).expect("lexsorted"));
}

/// A key column with nulls, or of a type without an ordinal form, takes arrow's comparators.
#[test]
fn nulls_and_other_types_fall_back_to_arrow_comparators() {
    use arrow::array::{BooleanArray, StringArray};
    let hours = vec![1i64, 0, 1, 0];
    let with_null = StringArray::from(vec![Some("b"), None, Some("a"), None]);
    let bools = BooleanArray::from(vec![true, false, false, true]);
    for column in [vec![&with_null as &dyn Array], vec![&bools as &dyn Array]] {
        let columns = vec![column];
        assert!(packed_order(&hours, &columns).is_none());
        let order = lexsorted(&hours, &columns).expect("lexsorted");
        assert_eq!(order.len(), 4);
    }
    let columns = vec![vec![&with_null as &dyn Array]];
    // Nulls first (arrow's default), ties in arrival order, hour first.
    assert_eq!(lexsorted(&hours, &columns).expect("lexsorted"), vec![1, 3, 2, 0]);
}
