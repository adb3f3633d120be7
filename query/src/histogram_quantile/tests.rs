use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use osprey_storage::attributes::AttrRef;
use osprey_storage::metric_points::{MetricInfo, Number, PointData, PointRecord, PointScope, PointsBuilder};
use osprey_storage::Table;

use super::*;
use crate::{QueryConfig, QueryService};

/// Prometheus's documentation histogram (`http_request_duration_seconds`), per bucket.
const BOUNDS: [f64; 5] = [0.05, 0.1, 0.2, 0.5, 1.0];
const CUMULATIVE: [f64; 6] = [24054.0, 33444.0, 100392.0, 129389.0, 133988.0, 144320.0];

fn per_bucket() -> Vec<f64> {
    let mut prev = 0.0;
    CUMULATIVE
        .iter()
        .map(|c| {
            let d = c - prev;
            prev = *c;
            d
        })
        .collect()
}

#[test]
fn interpolates_like_prometheus() {
    let counts = per_bucket();
    let median = quantile(0.5, &counts, &BOUNDS);
    assert!((median - (0.1 + 0.1 * (72160.0 - 33444.0) / (100392.0 - 33444.0))).abs() < 1e-12, "{median}");
    // The lowest bucket starts at 0.
    let low = quantile(0.1, &counts, &BOUNDS);
    assert!((low - 0.05 * 14432.0 / 24054.0).abs() < 1e-12, "{low}");
    // A rank in the +Inf bucket: the highest finite bound.
    assert_eq!(quantile(0.99, &counts, &BOUNDS), 1.0);
    assert_eq!(quantile(-0.1, &counts, &BOUNDS), f64::NEG_INFINITY);
    assert_eq!(quantile(1.1, &counts, &BOUNDS), f64::INFINITY);
    assert!(quantile(0.5, &[0.0, 0.0], &[1.0]).is_nan(), "no observations");
    assert!(quantile(0.5, &[3.0], &[]).is_nan(), "fewer than two buckets");
    assert!(quantile(0.5, &[1.0, 2.0], &[1.0, 2.0]).is_nan(), "mismatched lengths");
    assert!(quantile(f64::NAN, &counts, &BOUNDS).is_nan());
}

/// A `metrics` table: one histogram point and a counter that resets.
fn metrics_service() -> QueryService {
    let mut b = PointsBuilder::new();
    let scope = PointScope::new("api", &[("service.name", AttrRef::Str("api"))], None, None);
    let counts: Vec<u64> = per_bucket().iter().map(|c| *c as u64).collect();
    let hist = PointData::Histogram {
        temporality: 2,
        count: Some(144320),
        sum: Some(53423.0),
        min: None,
        max: None,
        bucket_counts: &counts,
        explicit_bounds: &BOUNDS,
    };
    let t0 = 1_700_000_000_000_000_000i64;
    let point = |time: i64, data| PointRecord {
        time_unix_nano: time,
        start_time_unix_nano: 0,
        attributes: vec![("route", AttrRef::Str("/cart"))],
        flags: 0,
        data,
        exemplars: vec![],
    };
    let info = |name| MetricInfo { name, description: "", unit: "" };
    b.append(&scope, &info("http_request_duration_seconds"), &point(t0, hist)).unwrap();
    // 10 s apart: +50, +100, reset to 30 (the counter restarted), +20.
    for (i, v) in [100.0, 150.0, 250.0, 30.0, 50.0].into_iter().enumerate() {
        let sum = PointData::Sum { value: Number::Double(v), is_monotonic: true, temporality: 2 };
        b.append(&scope, &info("http_requests_total"), &point(t0 + i as i64 * 10_000_000_000, sum)).unwrap();
    }
    let batch: RecordBatch = b.finish().unwrap();
    let table = datafusion::datasource::MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap();
    QueryService::with_tables(vec![(Table::Metrics, Arc::new(table))], QueryConfig::default()).unwrap()
}

fn floats(result: &crate::sql::SqlResult, column: usize) -> Vec<Option<f64>> {
    result
        .batches
        .iter()
        .flat_map(|b| {
            let a = b.column(column).as_primitive::<Float64Type>().clone();
            (0..a.len()).map(move |i| a.is_valid(i).then(|| a.value(i)))
        })
        .collect()
}

#[tokio::test]
async fn histogram_quantile_in_sql() {
    let service = metrics_service();
    let sql = "SELECT histogram_quantile(0.5, bucket_counts, explicit_bounds), \
               histogram_quantile(0.99, bucket_counts, explicit_bounds) \
               FROM metrics WHERE metric_type = 'histogram'";
    let result = service.sql().run(sql.into()).await.unwrap();
    let p50 = floats(&result, 0)[0].unwrap();
    assert!((p50 - quantile(0.5, &per_bucket(), &BOUNDS)).abs() < 1e-12);
    assert_eq!(floats(&result, 1), [Some(1.0)]);
    // Gauges and sums have NULL buckets: NULL, not an error.
    let nulls = service
        .sql()
        .run(
            "SELECT histogram_quantile(0.5, bucket_counts, explicit_bounds) FROM metrics WHERE metric_type = 'sum'"
                .into(),
        )
        .await
        .unwrap();
    assert!(floats(&nulls, 0).iter().all(Option::is_none));
}

/// The `rate()` example of ARCHITECTURE.md, run as written.
#[tokio::test]
async fn the_documented_rate_query_is_reset_aware() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ARCHITECTURE.md")).unwrap();
    let start = doc.find("<!-- rate-example -->").expect("marker in ARCHITECTURE.md");
    let sql = doc[start..].split("```sql").nth(1).and_then(|s| s.split("```").next()).expect("sql block");
    let result = QueryService::sql(&metrics_service()).run(sql.to_string()).await.unwrap();
    let rates = floats(&result, 2);
    assert_eq!(rates, [None, Some(5.0), Some(10.0), Some(3.0), Some(2.0)], "{sql}");
}
