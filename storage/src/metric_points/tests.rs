use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;

use super::*;
use crate::testdata::{self, T0};
use crate::{Storage, Table};

fn scope() -> PointScope<'static> {
    PointScope::new(
        "checkout",
        &[("service.name", AttrRef::Str("checkout")), ("host.name", AttrRef::Str("web-1"))],
        Some("io.opentelemetry.runtime"),
        Some("1.0"),
    )
}

fn point(time: i64, data: PointData<'_>) -> PointRecord<'_> {
    PointRecord {
        time_unix_nano: time,
        start_time_unix_nano: T0 - 60_000_000_000,
        attributes: vec![("http.route", AttrRef::Str("/cart"))],
        flags: 0,
        data,
        exemplars: vec![],
    }
}

/// One point of every type, plus an exemplar and a no-recorded-value gauge.
fn every_type() -> RecordBatch {
    let mut b = PointsBuilder::new();
    let s = scope();
    let info = |name| MetricInfo { name, description: "d", unit: "ms" };
    b.append(&s, &info("g"), &point(T0, PointData::Gauge(Number::Double(1.5)))).expect("gauge");
    let mut missing = point(T0 + 1, PointData::Gauge(Number::None));
    missing.flags = FLAG_NO_RECORDED_VALUE;
    b.append(&s, &info("g"), &missing).expect("stale");
    let mut sum =
        point(T0, PointData::Sum { value: Number::Int(9_007_199_254_740_993), is_monotonic: true, temporality: 2 });
    sum.exemplars.push(ExemplarRecord {
        time_unix_nano: T0 - 5,
        value: Some(Number::Int(3)),
        trace_id: &[0xab; 16],
        span_id: &[0xcd; 8],
        filtered_attributes: vec![("user", AttrRef::Str("u1"))],
    });
    b.append(&s, &info("requests"), &sum).expect("sum");
    let hist = PointData::Histogram {
        temporality: 1,
        count: Some(6),
        sum: Some(60.0),
        min: Some(1.0),
        max: Some(30.0),
        bucket_counts: &[1, 2, 3],
        explicit_bounds: &[5.0, 10.0],
    };
    b.append(&s, &info("latency"), &point(T0, hist)).expect("histogram");
    let exp = PointData::ExponentialHistogram {
        temporality: 2,
        count: Some(5),
        sum: Some(12.0),
        min: None,
        max: None,
        scale: 3,
        zero_count: 1,
        zero_threshold: 0.0,
        positive: (-2, &[1, 2]),
        negative: (0, &[1]),
    };
    b.append(&s, &info("size"), &point(T0, exp)).expect("exp");
    let summary = PointData::Summary { count: Some(10), sum: Some(f64::NAN), quantiles: vec![(0.5, 2.0), (0.99, 9.0)] };
    b.append(&s, &info("rpc"), &point(T0, summary)).expect("summary");
    assert_eq!(b.len(), 6);
    b.finish().expect("finish")
}

async fn sql(storage: &Arc<Storage>, query: &str) -> Vec<Vec<String>> {
    let ctx = SessionContext::new();
    ctx.register_table("metrics", storage.table_provider(Table::Metrics)).expect("register");
    let batches = ctx.sql(query).await.expect("plan").collect().await.expect("run");
    let mut rows = Vec::new();
    for batch in batches {
        let options = FormatOptions::default().with_null("NULL");
        let formatters: Vec<_> =
            batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("fmt")).collect();
        for r in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    rows
}

#[test]
fn the_builder_matches_the_schema_and_the_table() {
    let batch = every_type();
    assert_eq!(batch.schema().fields(), Table::Metrics.schema().fields());
    assert_eq!(Table::from_name("metrics"), Some(Table::Metrics));
    assert_eq!(Table::from_code(3), Some(Table::Metrics));
    assert!(Table::Metrics.to_physical(&batch).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_point_type_round_trips_through_wal_and_parquet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    storage.append(Table::Metrics, every_type()).await.expect("append");
    let query = "SELECT metric_name, metric_type, value, int_value, is_monotonic, temporality, count, sum, \
                 bucket_counts, explicit_bounds, scale, positive_offset, positive_bucket_counts, \
                 negative_bucket_counts, quantiles, flags, attributes['http.route'] \
                 FROM metrics ORDER BY metric_name, time";
    let before = sql(&storage, query).await;
    storage.flush().await.expect("flush");
    assert_eq!(storage.memtable_rows(Table::Metrics), 0);
    assert!(dir.path().join("metrics/tenant=default").is_dir());
    let after = sql(&storage, query).await;
    assert_eq!(before, after, "memtable and Parquet read the same");
    let row = |name: &str| after.iter().find(|r| r[0] == name).cloned().expect(name);
    assert_eq!(after.iter().filter(|r| r[0] == "g").map(|r| r[2].as_str()).collect::<Vec<_>>(), ["1.5", "NULL"]);
    let sum = row("requests");
    assert_eq!(&sum[1..6], ["sum", "9007199254740992.0", "9007199254740993", "true", "cumulative"]);
    let hist = row("latency");
    assert_eq!(&hist[5..10], ["delta", "6", "60.0", "[1, 2, 3]", "[5.0, 10.0]"]);
    assert_eq!(hist[16], "/cart");
    let exp = row("size");
    assert_eq!(&exp[10..14], ["3", "-2", "[1, 2]", "[1]"]);
    let summary = row("rpc");
    assert_eq!(summary[7], "NaN");
    assert_eq!(summary[14], "[{quantile: 0.5, value: 2.0}, {quantile: 0.99, value: 9.0}]");
    let exemplars = sql(
        &storage,
        "SELECT exemplars[1]['trace_id'], exemplars[1]['span_id'], exemplars[1]['int_value'], \
         exemplars[1]['filtered_attributes']['user'] FROM metrics WHERE metric_name = 'requests'",
    )
    .await;
    assert_eq!(exemplars, [[&"ab".repeat(16), &"cd".repeat(8), "3", "u1"]]);
    storage.close().await.expect("close");
}

/// Parquet bytes per point of 1,000 gauge/counter series scraped every 15 s for an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauges_and_counters_take_at_most_8_bytes_per_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    let base = T0 - T0 % testdata::HOUR;
    let hosts: Vec<String> = (0..50).map(|h| format!("host-{h}")).collect();
    let cpus: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let mut points = 0usize;
    for step in 0..240i64 {
        let mut b = PointsBuilder::new();
        for (h, host) in hosts.iter().enumerate() {
            let s = PointScope::new(
                "node",
                &[("service.name", AttrRef::Str("node")), ("host.name", AttrRef::Str(host))],
                None,
                None,
            );
            for (c, cpu) in cpus.iter().enumerate() {
                let time = base + step * 15_000_000_000;
                let counter = (step * 1500 + (h * 10 + c) as i64 * 7) as f64 * 0.01;
                let mut p =
                    point(time, PointData::Sum { value: Number::Double(counter), is_monotonic: true, temporality: 2 });
                p.attributes = vec![("cpu", AttrRef::Str(cpu)), ("mode", AttrRef::Str("user"))];
                b.append(&s, &MetricInfo { name: "node_cpu_seconds_total", description: "", unit: "s" }, &p)
                    .expect("counter");
                let load = ((step + c as i64) % 17) as f64 / 4.0;
                let mut g = point(time, PointData::Gauge(Number::Double(load)));
                g.attributes = vec![("cpu", AttrRef::Str(cpu))];
                b.append(&s, &MetricInfo { name: "node_load", description: "", unit: "" }, &g).expect("gauge");
                points += 2;
            }
        }
        storage.append(Table::Metrics, b.finish().expect("finish")).await.expect("append");
    }
    storage.flush().await.expect("flush");
    let bytes: u64 = storage.snapshot(Table::Metrics).files.iter().map(|f| f.bytes).sum();
    let per_point = bytes as f64 / points as f64;
    eprintln!("metrics: {points} points, {bytes} bytes, {per_point:.2} bytes/point");
    assert!(per_point <= 8.0, "{per_point:.2} bytes/point");
    storage.close().await.expect("close");
}

#[test]
fn the_series_key_is_stable_and_tells_series_apart() {
    let s = scope();
    let a = point(T0, PointData::Gauge(Number::Double(1.0)));
    let mut b = a.clone();
    b.attributes = vec![("http.route", AttrRef::Str("/pay"))];
    let key = |p: &PointRecord<'_>| series_key(s.series_prefix, &p.attributes);
    assert_eq!(key(&a), key(&point(T0 + 5, PointData::Gauge(Number::Int(2)))));
    assert_ne!(key(&a), key(&b));
    // Stored on disk: a change of this value splits every series in two.
    assert_eq!(key(&a), 0xc7eb_b7a5_7fd3_e66c, "FNV-1a of service, then key/tag/value bytes");
    assert_eq!(s.series_row(&a.attributes).series, key(&a));
}

/// A point appended with its series row is the row `append` makes of the point with those
/// attributes: same series key, same attribute map and signature, for values of every type.
#[test]
fn a_series_row_appends_what_its_attributes_do() {
    let s = scope();
    let info = MetricInfo { name: "g", description: "d", unit: "ms" };
    let attributes = vec![
        ("http.route", AttrRef::Str("/cart")),
        ("ok", AttrRef::Bool(true)),
        ("n", AttrRef::Int(-3)),
        ("ratio", AttrRef::Double(0.5)),
        ("raw", AttrRef::Bytes(&[1, 2, 3])),
        ("none", AttrRef::Empty),
        ("list", AttrRef::Array(vec![AttrRef::Int(1), AttrRef::KvList(vec![("k", AttrRef::Str("v"))])])),
        ("", AttrRef::Str("")),
    ];
    let row = s.series_row(&attributes);
    let (mut direct, mut by_row) = (PointsBuilder::new(), PointsBuilder::new());
    for time in [T0, T0 + 1] {
        let with = PointRecord { attributes: attributes.clone(), ..point(time, PointData::Gauge(Number::Int(1))) };
        direct.append(&s, &info, &with).expect("append");
        let without = PointRecord { attributes: vec![], ..point(time, PointData::Gauge(Number::Int(1))) };
        by_row.append_series(&s, &info, &without, &row).expect("append_series");
    }
    assert_eq!(direct.finish().expect("direct"), by_row.finish().expect("by row"));
    let other = PointScope::new("other", &[], None, None);
    assert_ne!(other.series_row(&attributes), row, "the scope's prefix is part of the series");
    assert_ne!(other.series_prefix(), s.series_prefix());
}
