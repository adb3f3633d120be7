use super::*;

const TEXT: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# A comment
metric_without_timestamp_and_labels 12.47
# TYPE temp gauge
temp{room="a"} -Inf
temp{room="b"} NaN
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn the_reference_exposition_groups_into_points() {
    let e = parse(TEXT).unwrap();
    assert_eq!(e.sample_lines, 14);
    assert_eq!(e.samples.len(), 7);
    assert_eq!(e.samples[0].name, "http_requests_total");
    assert_eq!(e.samples[0].labels, labels(&[("code", "200"), ("method", "post")]));
    assert_eq!(e.samples[0].value, Value::Counter(1027.0));
    assert_eq!(e.samples[0].timestamp_ms, Some(1_395_066_363_000));
    assert_eq!(e.samples[2].value, Value::Untyped(12.47));
    assert_eq!(e.samples[2].timestamp_ms, None);
    assert_eq!(e.samples[3].value, Value::Gauge(f64::NEG_INFINITY));
    assert!(matches!(e.samples[4].value, Value::Gauge(v) if v.is_nan()));
    assert_eq!(
        e.samples[5].value,
        Value::Histogram {
            buckets: vec![(0.05, 24054.0), (0.1, 33444.0), (f64::INFINITY, 144320.0)],
            sum: Some(53423.0),
            count: Some(144320.0)
        }
    );
    assert_eq!(
        e.samples[6].value,
        Value::Summary {
            quantiles: vec![(0.01, 3102.0), (0.99, 76656.0)],
            sum: Some(1.7560473e7),
            count: Some(2693.0)
        }
    );
    assert_eq!(e.help["http_requests_total"], "The total number of HTTP requests.");
}

#[test]
fn label_values_with_quotes_newlines_commas_braces_and_unicode() {
    let e =
        parse("m{a=\"say \\\"hi\\\"\",b=\"line1\\nline2\",c=\"x,y=z}\",d=\"ünï 🚀\",e=\"back\\\\slash\"} 1\n").unwrap();
    assert_eq!(
        e.samples[0].labels,
        labels(&[("a", "say \"hi\""), ("b", "line1\nline2"), ("c", "x,y=z}"), ("d", "ünï 🚀"), ("e", "back\\slash")])
    );
}

#[test]
fn malformed_lines_fail_the_scrape_with_the_line_number() {
    for (text, line) in [
        ("ok 1\nnot a sample\n", 2),
        ("m{a=\"unterminated} 1\n", 1),
        ("m{a=unquoted} 1\n", 1),
        ("m 1 notatime\n", 1),
        ("m\n", 1),
        ("9bad 1\n", 1),
        ("# TYPE h histogram\nh_bucket 1\n", 2),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.line, line, "{text:?}: {err}");
    }
}

#[test]
fn a_hundred_thousand_series() {
    let mut text = String::from("# TYPE big gauge\n");
    for i in 0..100_000 {
        text.push_str(&format!("big{{series=\"{i}\"}} {i}\n"));
    }
    let e = parse(&text).unwrap();
    assert_eq!(e.samples.len(), 100_000);
    assert_eq!(e.samples[99_999].value, Value::Gauge(99_999.0));
}

#[test]
fn openmetrics_counters_are_named_without_total_in_their_type_line() {
    let e = parse("# TYPE requests counter\nrequests_total{code=\"200\"} 7\nrequests_created 1.7e9\n# EOF\n").unwrap();
    assert_eq!(e.samples[0].name, "requests_total");
    assert_eq!(e.samples[0].value, Value::Counter(7.0));
    assert_eq!(e.samples[1].value, Value::Untyped(1.7e9));
}
