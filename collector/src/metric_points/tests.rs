use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, UInt64Type};
use osprey_proto::metrics::exponential_histogram_data_point::Buckets;
use osprey_proto::metrics::summary_data_point::ValueAtQuantile;
use osprey_proto::metrics::{ExponentialHistogram, Gauge, Histogram, ResourceMetrics, ScopeMetrics, Sum, Summary};
use osprey_proto::metrics_service_client::MetricsServiceClient;
use osprey_proto::resource::Resource;
use prost::Message as _;
use serde_json::json;

use osprey_proto::metrics::{
    exemplar, number_data_point, Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint,
    SummaryDataPoint,
};

use super::*;
use crate::fixtures::*;
use crate::CollectorConfig;

const T: u64 = START;

pub(crate) fn metric(name: &str, data: Data) -> Metric {
    Metric { name: name.into(), unit: "ms".into(), description: "d".into(), data: Some(data), ..Default::default() }
}

pub(crate) fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![str_kv("service.name", "checkout")], ..Default::default() }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

pub(crate) fn number(value: number_data_point::Value) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: T,
        start_time_unix_nano: T - 1_000,
        value: Some(value),
        attributes: vec![str_kv("route", "/cart")],
        ..Default::default()
    }
}

/// `resources` resources of 100 gauge points each, ~330 bytes a point: a request large enough
/// to be cut, with a place to cut between every 100 points.
pub(crate) fn padded_request(resources: usize) -> ExportMetricsServiceRequest {
    let resource = |r: usize| {
        let points = (0..100)
            .map(|i| NumberDataPoint {
                attributes: vec![str_kv("pad", &"x".repeat(300)), str_kv("i", &format!("{r}-{i}"))],
                ..number(number_data_point::Value::AsInt(i))
            })
            .collect();
        request(vec![metric("big", Data::Gauge(Gauge { data_points: points }))]).resource_metrics
    };
    ExportMetricsServiceRequest { resource_metrics: (0..resources).flat_map(resource).collect() }
}

pub(crate) fn histogram(count: u64, buckets: Vec<u64>, bounds: Vec<f64>) -> HistogramDataPoint {
    HistogramDataPoint {
        time_unix_nano: T,
        count,
        sum: Some(12.5),
        min: Some(0.5),
        max: Some(9.0),
        bucket_counts: buckets,
        explicit_bounds: bounds,
        ..Default::default()
    }
}

pub(crate) fn every_type() -> ExportMetricsServiceRequest {
    use number_data_point::Value as N;
    let exemplar = Exemplar {
        time_unix_nano: T - 10,
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        value: Some(exemplar::Value::AsDouble(8.5)),
        filtered_attributes: vec![str_kv("user", "u1")],
    };
    request(vec![
        metric("temp", Data::Gauge(Gauge { data_points: vec![number(N::AsDouble(21.5))] })),
        metric(
            "requests",
            Data::Sum(Sum { data_points: vec![number(N::AsInt(7))], aggregation_temporality: 2, is_monotonic: true }),
        ),
        metric(
            "latency",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    exemplars: vec![exemplar],
                    ..histogram(4, vec![1, 2, 1], vec![1.0, 5.0])
                }],
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "size",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    time_unix_nano: T,
                    count: 4,
                    scale: 2,
                    zero_count: 1,
                    positive: Some(Buckets { offset: -1, bucket_counts: vec![1, 2] }),
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "rpc",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: T,
                    count: 3,
                    sum: 6.0,
                    quantile_values: vec![ValueAtQuantile { quantile: 0.5, value: 2.0 }],
                    ..Default::default()
                }],
            }),
        ),
    ])
}

fn f64s(batch: &RecordBatch, column: &str) -> Vec<Option<f64>> {
    let a = batch.column_by_name(column).unwrap().as_primitive::<Float64Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn u64_list(batch: &RecordBatch, column: &str, row: usize) -> Option<Vec<u64>> {
    let list = batch.column_by_name(column).unwrap().as_list::<i32>();
    list.is_valid(row).then(|| list.value(row).as_primitive::<UInt64Type>().values().to_vec())
}

#[test]
fn converts_every_point_type() {
    let c = convert(&every_type(), &LimitsConfig::default()).unwrap();
    assert_eq!((c.received, c.accepted, c.rejected()), (5, 5, 0));
    let b = c.batch.unwrap();
    assert_eq!(
        strings(&b, "metric_type"),
        ["gauge", "sum", "histogram", "exponential_histogram", "summary"].map(|s| Some(s.to_string()))
    );
    assert_eq!(strings(&b, "service_name")[0].as_deref(), Some("checkout"));
    assert_eq!(f64s(&b, "value"), [Some(21.5), Some(7.0), None, None, None]);
    assert_eq!(b.column_by_name("int_value").unwrap().as_primitive::<Int64Type>().value(1), 7);
    assert_eq!(
        strings(&b, "temporality"),
        [None, Some("cumulative".into()), Some("delta".into()), Some("cumulative".into()), None]
    );
    assert_eq!(f64s(&b, "sum"), [None, None, Some(12.5), None, Some(6.0)]);
    assert_eq!(u64_list(&b, "bucket_counts", 2), Some(vec![1, 2, 1]));
    assert_eq!(u64_list(&b, "bucket_counts", 0), None);
    assert_eq!(u64_list(&b, "positive_bucket_counts", 3), Some(vec![1, 2]));
    assert_eq!(attrs(&b, "attributes", "attribute_types", 0)[0].0, "route");
    let exemplars = b.column_by_name("exemplars").unwrap().as_list::<i32>().value(2);
    let exemplars = exemplars.as_struct();
    assert_eq!(exemplars.column_by_name("trace_id").unwrap().as_string::<i32>().value(0), TRACE_HEX);
    assert_eq!(exemplars.column_by_name("span_id").unwrap().as_string::<i32>().value(0), SPAN_HEX);
}

#[test]
fn invalid_points_are_rejected_one_by_one() {
    use number_data_point::Value as N;
    let bad = request(vec![
        metric(
            "h",
            Data::Histogram(Histogram {
                data_points: vec![
                    histogram(4, vec![1, 2, 1], vec![1.0, 5.0]),
                    histogram(4, vec![1, 3], vec![1.0, 5.0]),
                    histogram(5, vec![1, 2, 1], vec![1.0, 5.0]),
                    histogram(4, vec![1, 2, 1], vec![5.0, 1.0]),
                    histogram(2, vec![], vec![]),
                ],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "g",
            Data::Gauge(Gauge {
                data_points: vec![
                    NumberDataPoint { value: None, ..number(N::AsInt(1)) },
                    NumberDataPoint { value: None, flags: 1, ..number(N::AsInt(1)) },
                    NumberDataPoint { time_unix_nano: 0, ..number(N::AsInt(1)) },
                    NumberDataPoint {
                        exemplars: vec![Exemplar { trace_id: vec![1, 2], ..Default::default() }],
                        ..number(N::AsDouble(f64::NAN))
                    },
                ],
            }),
        ),
        metric("", Data::Gauge(Gauge { data_points: vec![number(N::AsInt(1))] })),
    ]);
    let c = convert(&bad, &LimitsConfig::default()).unwrap();
    assert_eq!((c.received, c.accepted, c.rejected_invalid), (10, 3, 7));
    let message = c.error_message("data points");
    assert!(message.starts_with("rejected 7 of 10 data points"), "{message}");
    assert!(message.contains("2 bucket counts for 2 explicit bounds"), "{message}");
    assert!(message.contains("add up to Some(4), not count 5"), "{message}");
    assert!(message.contains("strictly increasing"), "{message}");
    assert!(message.contains("no value"), "{message}");
    let b = c.batch.unwrap();
    // The flagged point is kept with a NULL value.
    assert_eq!(f64s(&b, "value")[2], None);
    assert_eq!(u32s(&b, "flags")[2], 1);
}

#[tokio::test]
async fn grpc_and_http_protobuf_and_json_all_store_points() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let mut client = MetricsServiceClient::connect(format!("http://{}", servers.grpc)).await.unwrap();
    let response = client.export(every_type()).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    assert_eq!(servers.sink.rows(), 5);

    let http = reqwest::Client::new();
    let response = http
        .post(servers.http_url("/v1/metrics"))
        .header("content-type", "application/x-protobuf")
        .body(every_type().encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(servers.sink.rows(), 10);

    let body = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "g", "gauge": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asDouble": "NaN"}]}},
        {"name": "h", "histogram": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE", "dataPoints": [
            {"timeUnixNano": "1700000000000000000", "count": "3", "bucketCounts": ["1", "1"], "explicitBounds": [1.0]}]}}
    ]}]}]});
    let response = http
        .post(servers.http_url("/v1/metrics"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(reply["partialSuccess"]["rejectedDataPoints"], "1");
    assert!(reply["partialSuccess"]["errorMessage"].as_str().unwrap().contains("not count 3"));
    assert_eq!(servers.sink.rows(), 11);
    let m = |name, labels: &[(&'static str, &'static str)]| servers.metric(name, labels);
    assert_eq!(m("received", &[("signal", "metrics"), ("transport", "grpc")]), 5);
    assert_eq!(m("received", &[("signal", "metrics"), ("transport", "http")]), 7);
    assert_eq!(m("accepted", &[("signal", "metrics")]), 11);
    assert_eq!(m("rejected", &[("signal", "metrics"), ("reason", "invalid")]), 1);
    // The protobuf requests' WAL frames hold the requests, each checked to replay to its rows;
    // the JSON one's holds its batch.
    assert_eq!(servers.sink.source_frames(), 2);
}

/// The builder is sized from the request's outline before converting it: rows and metric names
/// exactly; attribute text (keys and values together) at no less than the batch holds, since
/// the encoded points bound it, resource attributes once per point; past the presized maximum
/// everything is scaled down alike.
#[test]
fn the_builder_is_sized_to_what_the_request_holds() {
    use number_data_point::Value as N;
    let mut req = every_type();
    req.resource_metrics[0].scope_metrics[0].metrics.push(metric(
        "gauge.many",
        Data::Gauge(Gauge {
            data_points: (0..5)
                .map(|i| NumberDataPoint {
                    attributes: vec![str_kv("route", &format!("/r{i}")), str_kv("method", "GET")],
                    ..number(N::AsInt(i))
                })
                .collect(),
        }),
    ));
    let bytes = req.encode_to_vec();
    let c = capacity(&Outline::read(&bytes).expect("outline"));
    let batch = convert(&req, &CollectorConfig::default().limits).expect("convert").batch.expect("batch");
    assert_eq!(c.rows, batch.num_rows());
    for (column, counted) in [("attributes", c.attributes), ("resource_attributes", c.resource_attributes)] {
        let map = batch.column_by_name(column).expect(column).as_map();
        let text = |i: usize| map.entries().column(i).as_string::<i32>();
        let bytes = |i: usize| text(i).value_offsets().last().map_or(0, |l| *l as usize);
        assert!(counted.key_bytes + counted.value_bytes >= bytes(0) + bytes(1), "{column}: {counted:?}");
    }
    let resource_entries = batch.column_by_name("resource_attributes").expect("resource").as_map().entries().len();
    assert_eq!(c.resource_attributes.entries, resource_entries);
    let names = batch.column_by_name("metric_name").expect("name").as_string::<i32>();
    assert_eq!(c.name_bytes, names.value_offsets().last().map_or(0, |l| *l as usize));

    let many = request(vec![metric(
        "big",
        Data::Gauge(Gauge { data_points: (0..2 * MAX_PRESIZED_POINTS as i64).map(|i| number(N::AsInt(i))).collect() }),
    )]);
    let bytes = many.encode_to_vec();
    let c = capacity(&Outline::read(&bytes).expect("outline"));
    assert_eq!(c.rows, MAX_PRESIZED_POINTS);
    let point_bytes = number(N::AsInt(1)).encoded_len() + 2; // a point of 1..128 and its field key and length
    assert!(c.attributes.key_bytes.abs_diff(point_bytes * MAX_PRESIZED_POINTS / 2) <= MAX_PRESIZED_POINTS);
    assert_eq!(c.name_bytes, 3 * MAX_PRESIZED_POINTS);
}
