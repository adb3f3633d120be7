use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, UInt64Array};
use arrow::compute::interleave_record_batch;

use super::*;
use crate::attributes::AttrRef;
use crate::flush::gather::gather;
use crate::metric_points::{MetricInfo, Number, PointData, PointRecord, PointScope, PointsBuilder};
use crate::testdata::T0;
use crate::Table;

/// Batch `b` of a metrics stream: two services, each with points of three metrics over series
/// whose attributes differ in value, in type only (`5` against `"5"`: the same text), in a null
/// value, or in nothing at all but the metric.
fn batch(b: i64) -> RecordBatch {
    let mut builder = PointsBuilder::new();
    for service in ["cart", "checkout"] {
        let resource = [("service.name", AttrRef::Str(service)), ("host.name", AttrRef::Str("web-1"))];
        let scope = PointScope::new(service, &resource, Some("lib"), None);
        let point_attributes: [Vec<(&str, AttrRef<'_>)>; 5] = [
            vec![],
            vec![("code", AttrRef::Int(5))],
            vec![("code", AttrRef::Str("5"))],
            vec![("code", AttrRef::Empty)],
            vec![("code", AttrRef::Str("5")), ("route", AttrRef::Str("/ü"))],
        ];
        for name in ["requests", "latency", "errors"] {
            for (i, attributes) in point_attributes.iter().enumerate() {
                let point = PointRecord {
                    time_unix_nano: T0 + b * 1_000_000_000 + i as i64,
                    start_time_unix_nano: T0,
                    attributes: attributes.clone(),
                    flags: 0,
                    data: PointData::Gauge(Number::Double(b as f64)),
                    exemplars: vec![],
                };
                builder.append(&scope, &MetricInfo { name, description: "", unit: "" }, &point).expect("append");
            }
        }
    }
    Table::Metrics.to_physical(&builder.finish().expect("finish")).expect("physical")
}

/// The batch with every `series` hash replaced by the same value: every series collides.
fn colliding(batch: &RecordBatch) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let index = batch.schema().index_of(col::SERIES).expect("series column");
    columns[index] = Arc::new(UInt64Array::from(vec![7u64; batch.num_rows()]));
    RecordBatch::try_new(batch.schema(), columns).expect("batch")
}

/// Every address of `batches`, interleaved across them the way a flush sorted by series is.
fn across(batches: &[RecordBatch]) -> Vec<(usize, usize)> {
    let rows = batches.iter().map(RecordBatch::num_rows).max().unwrap_or(0);
    (0..rows)
        .rev()
        .flat_map(|r| (0..batches.len()).map(move |b| (b, r)))
        .filter(|&(b, r)| r < batches[b].num_rows())
        .collect()
}

/// Copying the series columns from the first row of each series gives exactly the rows a
/// plain gather gives, and the series found are the distinct attribute sets (10 per batch:
/// 2 services × 5, the metric name not counted), even when every hash collides.
#[test]
fn rows_gathered_by_series_equal_a_plain_gather() {
    let batches: Vec<RecordBatch> = (0..4).map(batch).collect();
    for batches in [batches.clone(), batches.iter().map(colliding).collect()] {
        let series = SeriesRows::find(&batches).expect("series");
        let firsts: HashSet<(usize, usize)> =
            across(&batches).into_iter().map(|a| series.first_of(a).expect("first")).collect();
        assert_eq!(firsts.len(), 10, "one first row per attribute set");
        assert!(firsts.iter().all(|&(b, _)| b == 0), "every series starts in the first batch");
        let sources: Vec<&RecordBatch> = batches.iter().collect();
        let rows = across(&batches);
        let expected = interleave_record_batch(&sources, &rows).expect("interleave");
        assert_eq!(gather(&sources, &rows, Some(&series)).expect("gather by series"), expected);
    }
}

/// An address outside the batches is an error, not a panic.
#[test]
fn an_address_past_the_batches_is_an_error() {
    let batches = vec![batch(0)];
    let series = SeriesRows::find(&batches).expect("series");
    let rows = batches[0].num_rows();
    assert!(series.first_of((0, rows)).is_err());
    assert!(series.first_of((1, 0)).is_err());
    let sources: Vec<&RecordBatch> = batches.iter().collect();
    assert!(gather(&sources, &[(0, rows)], Some(&series)).is_err());
}
