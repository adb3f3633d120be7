//! A scrape as an OTLP `ExportMetricsServiceRequest`, so it goes the receivers' way (validation,
//! limits, the durable append, the counters): resource `service.name` = job and
//! `service.instance.id` = instance; every point carries `job`, `instance` and the target's
//! static labels as attributes, like Prometheus labels; plus the synthetic `up`,
//! `scrape_duration_seconds` and `scrape_samples_scraped` gauges.
//!
//! Counters become monotonic cumulative sums, gauges and untyped samples gauges, histograms one
//! histogram point (cumulative `le` counts turned into per-bucket counts; the `+Inf` bucket is
//! the last one), summaries one summary point.

use osprey_proto::common::{any_value, AnyValue, InstrumentationScope, KeyValue};
use osprey_proto::metrics::summary_data_point::ValueAtQuantile;
use osprey_proto::metrics::{
    metric::Data, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use osprey_proto::resource::Resource;
use osprey_proto::ExportMetricsServiceRequest;

use super::exposition::{Exposition, Sample, Value};

/// The scope of scraped points.
pub const SCOPE: &str = "osprey.scrape";
const CUMULATIVE: i32 = 2;

/// Who was scraped: the labels Prometheus would attach.
#[derive(Debug, Clone)]
pub struct TargetLabels {
    pub job: String,
    pub instance: String,
    /// `job`, `instance` and the static labels, sorted by name.
    pub labels: Vec<(String, String)>,
    pub honor_labels: bool,
}

impl TargetLabels {
    pub fn new(job: &str, instance: &str, static_labels: &[(String, String)], honor_labels: bool) -> Self {
        let mut labels: Vec<(String, String)> = static_labels.to_vec();
        labels.retain(|(k, _)| k != "job" && k != "instance");
        labels.push(("job".into(), job.into()));
        labels.push(("instance".into(), instance.into()));
        labels.sort();
        Self { job: job.into(), instance: instance.into(), labels, honor_labels }
    }

    /// The point's labels merged with the target's (see `honor_labels`); empty values dropped.
    fn merge(&self, exposed: &[(String, String)]) -> Vec<KeyValue> {
        let mut out: Vec<(String, String)> = Vec::with_capacity(exposed.len() + self.labels.len());
        let clashes = |k: &str| self.labels.iter().any(|(t, _)| t == k);
        for (k, v) in exposed {
            if self.honor_labels || !clashes(k) {
                out.push((k.clone(), v.clone()));
            } else {
                out.push((format!("exported_{k}"), v.clone()));
            }
        }
        for (k, v) in &self.labels {
            if !(self.honor_labels && exposed.iter().any(|(e, _)| e == k)) {
                out.push((k.clone(), v.clone()));
            }
        }
        out.retain(|(_, v)| !v.is_empty());
        out.into_iter().map(|(k, v)| string_kv(k, v)).collect()
    }
}

/// What a scrape produced, for the synthetic series.
#[derive(Debug, Clone, Copy)]
pub struct ScrapeReport {
    pub start_ns: u64,
    pub duration_secs: f64,
    pub up: bool,
    pub samples_scraped: usize,
}

fn string_kv(key: String, value: String) -> KeyValue {
    KeyValue { key, value: Some(AnyValue { value: Some(any_value::Value::StringValue(value)) }), ..Default::default() }
}

/// The request for one scrape (`exposition` is `None` when the scrape failed).
pub fn build(
    target: &TargetLabels,
    exposition: Option<&Exposition>,
    report: ScrapeReport,
) -> ExportMetricsServiceRequest {
    let mut metrics = Vec::with_capacity(exposition.map_or(0, |e| e.samples.len()) + 3);
    if let Some(exposition) = exposition {
        for sample in &exposition.samples {
            let help = exposition.help.get(&sample.name).cloned().unwrap_or_default();
            metrics.push(metric(target, sample, help, report.start_ns));
        }
    }
    let synthetic = [
        ("up", if report.up { 1.0 } else { 0.0 }),
        ("scrape_duration_seconds", report.duration_secs),
        ("scrape_samples_scraped", report.samples_scraped as f64),
    ];
    for (name, value) in synthetic {
        let point = number_point(target.merge(&[]), report.start_ns, value);
        metrics.push(Metric {
            name: name.into(),
            data: Some(Data::Gauge(Gauge { data_points: vec![point] })),
            ..Default::default()
        });
    }
    let resource = Resource {
        attributes: vec![
            string_kv("service.name".into(), target.job.clone()),
            string_kv("service.instance.id".into(), target.instance.clone()),
        ],
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope { name: SCOPE.into(), ..Default::default() }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn number_point(attributes: Vec<KeyValue>, time: u64, value: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn metric(target: &TargetLabels, sample: &Sample, description: String, scrape_ns: u64) -> Metric {
    let time = sample
        .timestamp_ms
        .and_then(|ms| u64::try_from(ms).ok())
        .and_then(|ms| ms.checked_mul(1_000_000))
        .unwrap_or(scrape_ns);
    let attributes = target.merge(&sample.labels);
    let data = match &sample.value {
        Value::Gauge(v) | Value::Untyped(v) => {
            Data::Gauge(Gauge { data_points: vec![number_point(attributes, time, *v)] })
        }
        Value::Counter(v) => Data::Sum(Sum {
            data_points: vec![number_point(attributes, time, *v)],
            aggregation_temporality: CUMULATIVE,
            is_monotonic: true,
        }),
        Value::Histogram { buckets, sum, count } => {
            let mut explicit_bounds = Vec::with_capacity(buckets.len());
            let mut bucket_counts = Vec::with_capacity(buckets.len() + 1);
            let mut previous = 0.0;
            for (le, cumulative) in buckets {
                if le.is_finite() {
                    explicit_bounds.push(*le);
                }
                bucket_counts.push(whole(cumulative - previous));
                previous = *cumulative;
            }
            let total = count.unwrap_or(previous);
            if buckets.last().is_none_or(|(le, _)| le.is_finite()) {
                // No `+Inf` bucket: what `_count` has beyond the last bound.
                bucket_counts.push(whole(total - previous));
            }
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes,
                    time_unix_nano: time,
                    count: whole(total),
                    sum: *sum,
                    bucket_counts,
                    explicit_bounds,
                    ..Default::default()
                }],
                aggregation_temporality: CUMULATIVE,
            })
        }
        Value::Summary { quantiles, sum, count } => Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                attributes,
                time_unix_nano: time,
                count: count.map_or(0, whole),
                sum: sum.unwrap_or(0.0),
                quantile_values: quantiles
                    .iter()
                    .map(|(quantile, value)| ValueAtQuantile { quantile: *quantile, value: *value })
                    .collect(),
                ..Default::default()
            }],
        }),
    };
    Metric { name: sample.name.clone(), description, data: Some(data), ..Default::default() }
}

/// A count exposed as a float. A negative or non-finite one becomes `u64::MAX`, so the point's
/// buckets cannot add up to its count and the collector rejects it as invalid.
fn whole(x: f64) -> u64 {
    if x.is_finite() && x >= 0.0 {
        x.round() as u64
    } else {
        u64::MAX
    }
}

#[cfg(test)]
mod tests;
