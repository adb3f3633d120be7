use osprey_proto::metrics::metric::Data;

use super::*;
use crate::scrape::exposition::parse;

fn target(honor: bool) -> TargetLabels {
    TargetLabels::new("node", "127.0.0.1:9100", &[("env".into(), "prod".into())], honor)
}

fn attrs(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

const REPORT: ScrapeReport =
    ScrapeReport { start_ns: 1_700_000_000_000_000_000, duration_secs: 0.5, up: true, samples_scraped: 9 };

#[test]
fn counters_histograms_and_labels_like_prometheus() {
    let e = parse(
        "# TYPE c counter\nc{job=\"inner\",x=\"1\"} 5 1600000000000\n\
         # TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"5\"} 5\nh_bucket{le=\"+Inf\"} 6\nh_sum 9.5\nh_count 6\n",
    )
    .unwrap();
    let req = build(&target(false), Some(&e), REPORT);
    let rm = &req.resource_metrics[0];
    assert_eq!(attrs(&rm.resource.as_ref().unwrap().attributes)[0], ("service.name".into(), "node".into()));
    let metrics = &rm.scope_metrics[0].metrics;
    let names: Vec<_> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["c", "h", "up", "scrape_duration_seconds", "scrape_samples_scraped"]);
    let Some(Data::Sum(sum)) = &metrics[0].data else { panic!("sum") };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2);
    let p = &sum.data_points[0];
    assert_eq!(p.time_unix_nano, 1_600_000_000_000_000_000, "exposition timestamp honoured");
    assert_eq!(
        attrs(&p.attributes),
        [("exported_job", "inner"), ("x", "1"), ("env", "prod"), ("instance", "127.0.0.1:9100"), ("job", "node")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    let Some(Data::Histogram(h)) = &metrics[1].data else { panic!("histogram") };
    let p = &h.data_points[0];
    assert_eq!((p.count, p.sum), (6, Some(9.5)));
    assert_eq!(p.bucket_counts, [2, 3, 1]);
    assert_eq!(p.explicit_bounds, [1.0, 5.0]);
    assert_eq!(p.time_unix_nano, REPORT.start_ns);
    let Some(Data::Gauge(up)) = &metrics[2].data else { panic!("up") };
    assert_eq!(up.data_points[0].value, Some(number_data_point::Value::AsDouble(1.0)));

    let honored = build(&target(true), Some(&e), REPORT);
    let p = match &honored.resource_metrics[0].scope_metrics[0].metrics[0].data {
        Some(Data::Sum(s)) => s.data_points[0].clone(),
        _ => panic!("sum"),
    };
    assert!(attrs(&p.attributes).contains(&("job".into(), "inner".into())));
}

#[test]
fn a_failed_scrape_is_up_zero_and_nothing_else() {
    let req = build(&target(false), None, ScrapeReport { up: false, samples_scraped: 0, ..REPORT });
    let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 3);
    let Some(Data::Gauge(up)) = &metrics[0].data else { panic!("up") };
    assert_eq!(up.data_points[0].value, Some(number_data_point::Value::AsDouble(0.0)));
}

#[test]
fn histograms_whose_buckets_decrease_are_rejected_by_the_collector() {
    let e = parse("# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 3\nh_count 3\n").unwrap();
    let req = build(&target(false), Some(&e), REPORT);
    let c = crate::metric_points::convert(&req, &crate::LimitsConfig::default()).unwrap();
    assert_eq!((c.received, c.accepted, c.rejected_invalid), (4, 3, 1));
}
