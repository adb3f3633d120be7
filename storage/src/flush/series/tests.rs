use std::sync::Arc;

use arrow::array::{ArrayRef, UInt64Array};
use arrow::compute::{concat_batches, interleave_record_batch};
use arrow::datatypes::UInt32Type;

use super::*;
use crate::attributes::AttrRef;
use crate::flush::gather::SeriesSources;
use crate::metric_points::{col, SERIES_COLUMNS};
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

/// A file's rows, gathered a slice at a time, hold each series' columns once (10 series per
/// batch: 2 services × 5 attribute sets, the metric name not counted), even when every hash
/// collides; every row names a holder whose columns are the row's own, and every other column is
/// what a plain gather gives.
#[test]
fn a_file_holds_each_series_once_and_every_row_names_its_holder() {
    let batches: Vec<RecordBatch> = (0..4).map(batch).collect();
    for batches in [batches.clone(), batches.iter().map(colliding).collect()] {
        let series = SeriesRows::find(&batches).expect("series");
        let sources: Vec<&RecordBatch> = batches.iter().collect();
        let split = SeriesSources::split(&sources).expect("split");
        let rows = across(&batches);
        let mut holders = Holders::default();
        let slices: Vec<RecordBatch> = rows
            .chunks(7)
            .map(|slice| split.gather(slice, &holders.place(&series, slice).expect("place")).expect("gather"))
            .collect();
        let file = concat_batches(&crate::metric_points::file_schema(), &slices).expect("concat");
        let expected = interleave_record_batch(&sources, &rows).expect("interleave");
        let series_row = file.column_by_name(col::SERIES_ROW).expect("series_row").as_primitive::<UInt32Type>();
        let held = file.column_by_name(col::ATTRIBUTES).expect("attributes");
        assert_eq!(held.len() - held.null_count(), 10, "one holder per attribute set");
        for (i, field) in expected.schema().fields().iter().enumerate() {
            let (want, got) = (expected.column(i), file.column_by_name(field.name()).expect("column"));
            if !SERIES_COLUMNS.contains(&field.name().as_str()) {
                assert_eq!(got.as_ref(), want.as_ref(), "{}", field.name());
                continue;
            }
            for row in 0..file.num_rows() {
                let holder = series_row.value(row) as usize;
                assert!(got.is_valid(holder) && (holder == row || got.is_null(row)), "{} row {row}", field.name());
                assert_eq!(got.slice(holder, 1).as_ref(), want.slice(row, 1).as_ref(), "{} row {row}", field.name());
            }
        }
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
    assert!(Holders::default().place(&series, &[(0, rows)]).is_err());
    let sources: Vec<&RecordBatch> = batches.iter().collect();
    let split = SeriesSources::split(&sources).expect("split");
    let placement = Holders::default().place(&series, &[(0, 0)]).expect("place");
    assert!(split.gather(&[(0, rows)], &placement).is_err());
    assert!(split.gather(&[(0, 0), (0, 1)], &placement).is_err(), "a placement of another slice");
}
