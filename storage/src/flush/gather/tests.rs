use arrow::array::{Int64Array, MapBuilder, StringBuilder};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::{Field, Schema};

use super::*;
use crate::testdata::{self, T0};
use crate::Table;

/// Gathering by runs of slices gives exactly what arrow's row-by-row gather gives, whether the
/// addresses come in long runs, alternate between batches, or mix both; an address past a
/// batch is an error, not a panic.
#[test]
fn gather_by_slices_equals_interleave() {
    let batches: Vec<RecordBatch> =
        (0..3).map(|i| Table::Spans.to_physical(&testdata::many(100, 7, T0 + i * 1000)).expect("physical")).collect();
    let sources: Vec<&RecordBatch> = batches.iter().collect();
    let runs: Vec<(usize, usize)> =
        (0..3).rev().flat_map(|b| (10..60).map(move |r| (b, r)).chain((0..10).map(move |r| (b, r)))).collect();
    let alternating: Vec<(usize, usize)> = (0..100).flat_map(|r| (0..3).map(move |b| (b, r))).collect();
    let mixed: Vec<(usize, usize)> = runs.iter().chain(alternating.iter().take(40)).copied().collect();
    for rows in [&runs, &alternating, &mixed] {
        let expected = interleave_record_batch(&sources, rows).expect("interleave");
        assert_eq!(gather(&sources, rows).expect("gather"), expected);
        assert_eq!(interleave(&sources, rows).expect("interleave by rows"), expected);
    }
    let past_the_end: Vec<(usize, usize)> = (90..101).map(|r| (1, r)).collect();
    assert!(gather(&sources, &past_the_end).is_err());
    assert!(gather(&sources, &[(3, 0); 10]).is_err());
    assert!(interleave(&sources, &past_the_end).is_err());
    assert!(interleave(&sources, &[(3, 0); 10]).is_err());
    assert!(interleave(&[], &[]).is_err());
}

/// A batch of `rows` rows whose map column has, row by row: null maps, empty maps, null values,
/// empty strings and non-ASCII text, in a mix that depends on `seed`.
fn maps(rows: usize, seed: u64) -> RecordBatch {
    let mut map = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for row in 0..rows {
        match next() % 10 {
            0 => map.append(false).expect("null map"),
            1 => map.append(true).expect("empty map"),
            _ => {
                for entry in 0..next() % 20 {
                    map.keys().append_value(format!("k{entry}.é{}", "x".repeat(next() % 3)));
                    match next() % 5 {
                        0 => map.values().append_null(),
                        1 => map.values().append_value(""),
                        _ => map.values().append_value(format!("v{row}-{entry}-ü{seed}")),
                    }
                }
                map.append(true).expect("map");
            }
        }
    }
    let map = map.finish();
    let ids = Int64Array::from_iter_values((0..rows as i64).map(|r| r + 1000 * seed as i64));
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("attributes", map.data_type().clone(), true),
    ]);
    RecordBatch::try_new(Arc::new(schema), vec![Arc::new(ids), Arc::new(map)]).expect("batch")
}

/// Maps of strings copied a row at a time equal arrow's entry-by-entry gather, for null maps,
/// empty maps, null values, sliced sources and sources with and without null values.
#[test]
fn string_maps_gathered_by_rows_equal_interleave() {
    let whole: Vec<RecordBatch> = (0..4).map(|seed| maps(300, seed)).collect();
    // Sliced sources: their map offsets and string offsets do not start at zero.
    let sliced: Vec<RecordBatch> = whole.iter().enumerate().map(|(i, b)| b.slice(7 * i + 3, 200)).collect();
    let mut no_nulls = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for row in 0..200 {
        no_nulls.keys().append_value(format!("only{row}"));
        no_nulls.values().append_value("set");
        no_nulls.append(true).expect("map");
    }
    let no_nulls = no_nulls.finish();
    let plain = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("attributes", no_nulls.data_type().clone(), true),
        ])),
        vec![Arc::new(Int64Array::from_iter_values(0..200)), Arc::new(no_nulls)],
    )
    .expect("batch");
    for sources in [whole.iter().collect::<Vec<_>>(), sliced.iter().chain([&plain]).collect()] {
        let n = sources.len();
        let alternating: Vec<(usize, usize)> = (0..200).flat_map(|r| (0..n).map(move |b| (b, (r * 7) % 200))).collect();
        let backwards: Vec<(usize, usize)> = (0..200).rev().map(|r| (r % n, r)).collect();
        for rows in [&alternating, &backwards, &Vec::new()] {
            let expected = interleave_record_batch(&sources, rows).expect("arrow interleave");
            let got = interleave(&sources, rows).expect("interleave");
            assert_eq!(got, expected);
            got.column(1).to_data().validate_full().expect("valid map");
        }
    }
    // Without null values anywhere, the values column gets no null buffer at all.
    let got = interleave(&[&plain, &plain], &[(0, 1), (1, 0)]).expect("interleave");
    assert!(got.column(1).as_map().entries().column(1).nulls().is_none());
}

/// Metrics batches of gauges only leave the histogram, summary and exponential-histogram
/// columns null and the exemplars empty: those columns are built at once, and the gather still
/// equals arrow's row by row, also once a batch with a histogram and an exemplar joins.
#[test]
fn null_and_empty_columns_are_built_at_once() {
    use crate::attributes::AttrRef;
    use crate::metric_points::{ExemplarRecord, MetricInfo, Number, PointData, PointRecord, PointScope, PointsBuilder};
    let scope = PointScope::new("api", &[("service.name", AttrRef::Str("api"))], None, None);
    let info = MetricInfo { name: "m", description: "", unit: "" };
    let batch = |n: i64, histogram: bool| {
        let mut builder = PointsBuilder::new();
        for i in 0..n {
            let data = match histogram && i == 3 {
                true => PointData::Histogram {
                    temporality: 2,
                    count: Some(3),
                    sum: Some(1.0),
                    min: None,
                    max: None,
                    bucket_counts: &[1, 2],
                    explicit_bounds: &[0.5],
                },
                false => PointData::Gauge(Number::Int(i)),
            };
            let exemplars = match histogram && i == 4 {
                true => vec![ExemplarRecord { time_unix_nano: T0, value: Some(Number::Int(1)), ..Default::default() }],
                false => vec![],
            };
            let attributes = vec![("i", AttrRef::Int(i % 3))];
            let point =
                PointRecord { time_unix_nano: T0 + i, start_time_unix_nano: 0, attributes, flags: 0, data, exemplars };
            builder.append(&scope, &info, &point).expect("append");
        }
        builder.finish().expect("finish")
    };
    let gauges = [batch(20, false), batch(30, false).slice(5, 20)];
    let sources: Vec<&RecordBatch> = gauges.iter().collect();
    let rows: Vec<(usize, usize)> = (0..20).flat_map(|r| [(1, 19 - r), (0, r)]).collect();
    let gathered = interleave(&sources, &rows).expect("gather");
    assert_eq!(gathered, interleave_record_batch(&sources, &rows).expect("arrow interleave"));
    let schema = gauges[0].schema();
    let uniform_columns: Vec<&str> = (0..schema.fields().len())
        .filter(|&c| {
            let arrays: Vec<&dyn Array> = sources.iter().map(|b| b.column(c).as_ref()).collect();
            uniform(schema.field(c).data_type(), &arrays, rows.len()).is_some()
        })
        .map(|c| schema.field(c).name().as_str())
        .collect();
    // 14 of the other point types, exemplars, and 7 these gauges leave null (no start time, unit,
    // description, monotonicity, temporality or scope).
    assert_eq!(uniform_columns.len(), 22, "{uniform_columns:?}");
    assert!(uniform_columns.contains(&"exemplars") && uniform_columns.contains(&"start_time"));

    let mixed = [batch(20, false), batch(10, true)];
    let sources: Vec<&RecordBatch> = mixed.iter().collect();
    let rows: Vec<(usize, usize)> = (0..10).flat_map(|r| [(1, r), (0, r), (0, 19 - r)]).collect();
    let gathered = interleave(&sources, &rows).expect("gather");
    assert_eq!(gathered, interleave_record_batch(&sources, &rows).expect("arrow interleave"));
    gathered.columns().iter().for_each(|c| c.to_data().validate_full().expect("valid"));
}
