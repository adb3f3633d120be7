use serde_json::json;

use super::*;
use crate::metrics::exemplar::Value as E;
use crate::metrics::number_data_point::Value as N;
use crate::metrics::Metric;

fn metrics(body: serde_json::Value) -> Vec<Metric> {
    let req = decode_metrics_request(body.to_string().as_bytes()).unwrap();
    req.resource_metrics.into_iter().flat_map(|r| r.scope_metrics).flat_map(|s| s.metrics).collect()
}

fn one(metric: serde_json::Value) -> Metric {
    metrics(json!({"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeMetrics": [{"scope": {"name": "s"}, "metrics": [metric]}]}]}))
    .remove(0)
}

#[test]
fn sums_with_enum_names_int_strings_and_exemplar_ids_in_hex_or_base64() {
    let m = one(json!({"name": "requests", "unit": "1", "sum": {
    "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE", "isMonotonic": true,
    "dataPoints": [
        {"startTimeUnixNano": "1700000000000000000", "timeUnixNano": 1700000001000000000u64, "asInt": "42",
         "flags": "0", "attributes": [{"key": "code", "value": {"intValue": "200"}}],
         "exemplars": [
            {"timeUnixNano": "1700000000500000000", "asDouble": 0.25,
             "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "7uGbfsPBsXQ=",
             "filteredAttributes": [{"key": "user", "value": {"stringValue": "u1"}}]},
            {"timeUnixNano": "1", "asInt": 3}
         ]}
    ]}}));
    let Some(Data::Sum(sum)) = m.data else { panic!("not a sum: {:?}", m.data) };
    assert_eq!(sum.aggregation_temporality, 2);
    assert!(sum.is_monotonic);
    let p = &sum.data_points[0];
    assert_eq!(p.value, Some(N::AsInt(42)));
    assert_eq!(p.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(p.exemplars[0].trace_id, hex::decode("5b8efff798038103d269b633813fc60c").unwrap());
    assert_eq!(p.exemplars[0].span_id, hex::decode("eee19b7ec3c1b174").unwrap());
    assert_eq!(p.exemplars[0].value, Some(E::AsDouble(0.25)));
    assert!(p.exemplars[1].trace_id.is_empty());
    assert_eq!(p.exemplars[1].value, Some(E::AsInt(3)));
}

#[test]
fn non_finite_doubles_as_strings_are_kept() {
    let m = one(json!({"name": "g", "gauge": {"dataPoints": [
        {"timeUnixNano": "1", "asDouble": "NaN"},
        {"timeUnixNano": "2", "asDouble": "Infinity", "exemplars": [{"timeUnixNano": "2", "asDouble": "-Infinity"}]},
        {"timeUnixNano": "3", "asDouble": "1.5"}
    ]}}));
    let Some(Data::Gauge(g)) = m.data else { panic!("not a gauge") };
    assert!(matches!(g.data_points[0].value, Some(N::AsDouble(x)) if x.is_nan()));
    assert_eq!(g.data_points[1].value, Some(N::AsDouble(f64::INFINITY)));
    assert_eq!(g.data_points[1].exemplars[0].value, Some(E::AsDouble(f64::NEG_INFINITY)));
    assert_eq!(g.data_points[2].value, Some(N::AsDouble(1.5)));
}

#[test]
fn histograms_exponential_histograms_and_summaries() {
    let all = metrics(json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "h", "histogram": {"aggregationTemporality": 1, "dataPoints": [{
            "timeUnixNano": "5", "count": "6", "sum": "Infinity", "min": 1, "max": "30",
            "bucketCounts": ["1", 2, "3"], "explicitBounds": [5, "10"]}]}},
        {"name": "e", "exponentialHistogram": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA", "dataPoints": [{
            "timeUnixNano": "5", "count": "3", "scale": "-2", "zeroCount": "1", "zeroThreshold": "NaN",
            "positive": {"offset": "-3", "bucketCounts": ["1", "1"]}, "negative": null}]}},
        {"name": "s", "summary": {"dataPoints": [{
            "timeUnixNano": "5", "count": "10", "sum": "NaN",
            "quantileValues": [{"quantile": 0.5, "value": "Infinity"}, {"quantile": 1}]}]}}
    ]}]}]}));
    let Some(Data::Histogram(h)) = &all[0].data else { panic!("h") };
    let p = &h.data_points[0];
    assert_eq!((p.count, p.sum, p.min, p.max), (6, Some(f64::INFINITY), Some(1.0), Some(30.0)));
    assert_eq!(p.bucket_counts, [1, 2, 3]);
    assert_eq!(p.explicit_bounds, [5.0, 10.0]);
    let Some(Data::ExponentialHistogram(e)) = &all[1].data else { panic!("e") };
    assert_eq!(e.aggregation_temporality, 1);
    let p = &e.data_points[0];
    assert_eq!((p.scale, p.zero_count), (-2, 1));
    assert!(p.zero_threshold.is_nan());
    assert_eq!(p.positive.as_ref().map(|b| (b.offset, b.bucket_counts.clone())), Some((-3, vec![1, 1])));
    assert!(p.negative.is_none());
    let Some(Data::Summary(s)) = &all[2].data else { panic!("s") };
    let p = &s.data_points[0];
    assert!(p.sum.is_nan());
    assert_eq!(p.quantile_values[0].value, f64::INFINITY);
    assert_eq!(p.quantile_values[1].quantile, 1.0);
}

#[test]
fn unknown_fields_are_ignored_and_garbage_is_refused() {
    let m = one(json!({"name": "g", "future": 1, "gauge": {"dataPoints": [{"asInt": 1, "novel": {}}]}}));
    assert_eq!(m.name, "g");
    assert!(decode_metrics_request(b"[]").is_err());
    assert!(decode_metrics_request(b"{\"resourceMetrics\": 7}").is_err());
    let bad_double = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "g", "gauge": {"dataPoints": [{"asDouble": "lots"}]}}]}]}]});
    // The derive flattens the value oneof: a value it cannot read is no value, which the
    // collector rejects per point (an OTLP point without a value is invalid).
    let m = metrics(bad_double).remove(0);
    let Some(Data::Gauge(g)) = m.data else { panic!("gauge") };
    assert_eq!(g.data_points[0].value, None);
}

#[test]
fn responses_encode_partial_success() {
    assert_eq!(encode_metrics_response(&ExportMetricsServiceResponse::default()), b"{}");
    let partial = ExportMetricsServiceResponse {
        partial_success: Some(crate::ExportMetricsPartialSuccess {
            rejected_data_points: 2,
            error_message: "x".into(),
        }),
    };
    let v: serde_json::Value = serde_json::from_slice(&encode_metrics_response(&partial)).unwrap();
    assert_eq!(v, json!({"partialSuccess": {"rejectedDataPoints": "2", "errorMessage": "x"}}));
}
